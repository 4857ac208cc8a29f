package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/workflows/refund"
)

// TestOperatorPagesOnTheRealStack drives the operator pages (/ops/) in a
// real headless Chromium against the dev runner's whole stack: Temporal,
// the worker, the gateway, the simulators and the demo's orders. The
// demo's operator waits an hour before approving d09, so d09 stays in the
// "awaiting approval" tab for the whole test.
//
// It registers two https_gateway orders whose refunds need a GW-4
// approval and has demo-operator request both, then, in Chromium: a
// console token cannot log in; demo-operator finds the first under
// "awaiting approval" and cannot approve it (GW-4, nothing changes);
// demo-operator2 approves it with a note and the order page ends up
// showing it paid; the second refund, still before any irreversible step,
// is cancelled with a reason that the audit trail then shows; a form
// posted without its CSRF token is refused and changes nothing.
//
// Without Chromium it skips, unless CERTFLOW_REQUIRE_BROWSER is set.
// With CERTFLOW_SCREENSHOTS=1 it writes docs/ops-queue.png and
// docs/ops-order.png.
func TestOperatorPagesOnTheRealStack(t *testing.T) {
	chromium := findChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	r := startDevRunner(t, ctx, "-approve-after", "1h")
	api := &gatewayAPI{t: t, base: r.Endpoints.Gateway}
	console, op, op2 := r.Endpoints.Tokens["console"], r.Endpoints.Tokens["operator"], r.Endpoints.Tokens["operator2"]
	const (
		toApprove = "ops-gw-approve" // GW-4, approved by the second operator
		toCancel  = "ops-gw-cancel"  // GW-4, cancelled while it awaits approval
		untouched = "d09-gateway-grcq"
	)
	for _, id := range []string{toApprove, toCancel} {
		api.putGatewayOrder(console, id)
		if code, body := api.do(op, http.MethodPost, "/v1/orders/"+id+"/refund", nil); code != http.StatusAccepted && code != http.StatusOK && code != http.StatusCreated {
			t.Fatalf("requesting the refund of %s as demo-operator: %d %s", id, code, body)
		}
	}
	for _, id := range []string{toApprove, toCancel, untouched} {
		api.waitState(console, id, "awaiting_approval", 2*time.Minute)
	}

	b := startChromium(t, ctx, chromium, r.Endpoints.Gateway)
	// Each step builds on the one before: stop at the first that fails.
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, func(t *testing.T) { b.t = t; f(t) }) {
			t.FailNow()
		}
	}

	step("a console token cannot log in", func(t *testing.T) {
		b.login(console)
		got := b.text("#login-error")
		if !strings.Contains(got, "403 forbidden") || !strings.Contains(got, "demo-console has the console role") ||
			!strings.Contains(got, "only operators may use these pages") {
			t.Fatalf("the login page says %q", got)
		}
	})

	step("the GW-4 refund is under awaiting approval", func(t *testing.T) {
		b.login(op)
		b.run(chromedp.WaitVisible(chromedp.CSS("#queue")))
		if who := b.text("header .who"); !strings.Contains(who, "demo-operator") {
			t.Fatalf("header says %q", who)
		}
		b.logFirstPaint("/ops/?tab=approval")
		row := b.text(`tr[data-order="` + toApprove + `"]`)
		// 16.00 USD paid, 60 of 300 GRCQ consumed: 12.80 USD is due.
		for _, want := range []string{"12.80 USD", "demo-operator", "GW-4", "awaiting_approval"} {
			if !strings.Contains(row, want) {
				t.Errorf("the row of %s, %q, lacks %q", toApprove, row, want)
			}
		}
		for _, id := range []string{toCancel, untouched} {
			b.text(`tr[data-order="` + id + `"]`)
		}
		b.screenshot("ops-queue.png", false)
	})

	step("its requester cannot approve it (GW-4)", func(t *testing.T) {
		b.follow(`tr[data-order="` + toApprove + `"] a[href="/ops/orders/` + toApprove + `"]`)
		b.run(chromedp.WaitVisible(chromedp.CSS("#approve-form")),
			chromedp.SendKeys(chromedp.CSS("#note"), "I asked for it and checked it myself"))
		b.follow("#approve")
		if got := b.text("#refund"); !strings.Contains(got, "Amount due\n12.80 USD") || !strings.Contains(got, "Requested by\ndemo-operator") {
			t.Errorf("the order page shows the refund as %q", got)
		}
		got := b.text("#refusal")
		want := "403 forbidden — GW-4: demo-operator requested this refund and cannot also approve it; another operator must"
		if !strings.Contains(got, want) || !strings.Contains(got, "Nothing was changed") {
			t.Errorf("the refusal reads %q, want it to say %q", got, want)
		}
		if o := b.text("#refund-outcome"); o != "awaiting_approval" {
			t.Errorf("the page shows the outcome %q after the refusal", o)
		}
		st := api.status(console, toApprove)
		if st.State != "awaiting_approval" || hasAudit(st, domain.AuditRefundApproved) {
			t.Fatalf("the refused approval changed the refund: state %s, audit %+v", st.State, st.Audit)
		}
		b.logout()
	})

	step("a second operator approves it and sees it paid", func(t *testing.T) {
		b.login(op2)
		b.run(chromedp.WaitVisible(chromedp.CSS("#queue")))
		b.follow(`tr[data-order="` + toApprove + `"] a[href="/ops/orders/` + toApprove + `"]`)
		b.run(chromedp.WaitVisible(chromedp.CSS("#approve-form")),
			chromedp.SendKeys(chromedp.CSS("#note"), "second pair of eyes: GRCQ usage checked"))
		b.follow("#approve")
		if got := b.text("#done"); !strings.Contains(got, "Approved") {
			t.Fatalf("after approving the page says %q", got)
		}
		// The workflow pays in the background: reload until it shows.
		approved := time.Now()
		deadline := approved.Add(2 * time.Minute)
		for b.text("#refund-outcome") != "refunded" {
			if time.Now().After(deadline) {
				t.Fatalf("the order page still shows %q (state %q) 2m after the approval", b.text("#refund-outcome"), b.text("#refund-state"))
			}
			time.Sleep(time.Second)
			b.run(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#refund-outcome")))
		}
		t.Logf("the order page showed the refund paid %v after the approval", time.Since(approved).Round(100*time.Millisecond))
		if got := b.text("#refund"); !strings.Contains(got, "original_method") || !strings.Contains(got, "payment pay_") {
			t.Errorf("the refund shows no payment: %q", got)
		}
		if got := b.text("#steps"); !strings.Contains(got, "approved") || !strings.Contains(got, "paid") {
			t.Errorf("the timeline lacks the approval or the payment: %q", got)
		}
		if got := b.text("#audit"); !strings.Contains(got, "demo-operator2") || !strings.Contains(got, "second pair of eyes: GRCQ usage checked") {
			t.Errorf("the audit trail lacks the approval: %q", got)
		}
		if st := api.status(console, toApprove); st.Outcome != refund.OutcomeRefunded {
			t.Errorf("the API says %s/%s", st.State, st.Outcome)
		}
		b.screenshot("ops-order.png", true)
	})

	step("another refund is cancelled with a reason", func(t *testing.T) {
		const reason = "customer withdrew the request by phone"
		b.run(chromedp.Navigate(b.base+"/ops/orders/"+toCancel),
			chromedp.WaitVisible(chromedp.CSS("#cancel-form")),
			chromedp.SendKeys(chromedp.CSS("#reason"), reason))
		b.follow("#cancel")
		if got := b.text("main"); strings.Contains(got, "Nothing was changed") {
			t.Fatalf("the cancel was refused: %q", b.text("#refusal"))
		}
		if got := b.text("#done"); got != "Cancelled." {
			t.Errorf("after cancelling the page says %q", got)
		}
		if got := b.text("#audit"); !strings.Contains(got, domain.AuditRefundCancelled) || !strings.Contains(got, reason) {
			t.Errorf("the audit trail lacks the cancel and its reason: %q", got)
		}
		if got := b.text("#cancel-reason"); got != reason {
			t.Errorf("the cancel reason shows as %q", got)
		}
		if st := api.status(console, toCancel); st.Outcome != refund.OutcomeCancelled {
			t.Errorf("the API says %s/%s", st.State, st.Outcome)
		}
	})

	step("a form without its CSRF token is refused", func(t *testing.T) {
		b.run(chromedp.Navigate(b.base+"/ops/orders/"+untouched),
			chromedp.WaitVisible(chromedp.CSS("#approve-form")),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#approve-form input[name=csrf]').remove()`),
			chromedp.SendKeys(chromedp.CSS("#note"), "forged"))
		b.follow("#approve")
		if got := b.text("#message"); !strings.Contains(got, "CSRF") || !strings.Contains(got, "Nothing was changed") {
			t.Fatalf("the refusal reads %q", got)
		}
		st := api.status(console, untouched)
		if st.State != "awaiting_approval" || hasAudit(st, domain.AuditRefundApproved) {
			t.Fatalf("the forged form changed %s: state %s, audit %+v", untouched, st.State, st.Audit)
		}
	})
}

func hasAudit(st refund.Status, action string) bool {
	for _, a := range st.Audit {
		if a.Action == action {
			return true
		}
	}
	return false
}

// findChromium finds the browser: CERTFLOW_CHROMIUM, else Debian's
// /usr/bin/chromium. Without one the test skips, unless
// CERTFLOW_REQUIRE_BROWSER is set (CI), where it fails.
func findChromium(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CERTFLOW_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		if os.Getenv("CERTFLOW_REQUIRE_BROWSER") != "" {
			t.Fatalf("CERTFLOW_REQUIRE_BROWSER is set but there is no Chromium at %s (set CERTFLOW_CHROMIUM): %v", p, err)
		}
		t.Skipf("no Chromium at %s (set CERTFLOW_CHROMIUM, or apt-get install chromium): %v", p, err)
	}
	return p
}

// gatewayAPI calls the gateway's console API.
type gatewayAPI struct {
	t    *testing.T
	base string
}

func (a *gatewayAPI) do(token, method, path string, body any) (int, []byte) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp.StatusCode, out
}

// putGatewayOrder registers an https_gateway order with GRCQ consumed, as
// docs/console-api.md's walk-through does: its refund is reset-free, needs
// an operator's approval (GW-4) and is prorated.
func (a *gatewayAPI) putGatewayOrder(token, id string) {
	a.t.Helper()
	paid := time.Now().UTC().Add(-24 * time.Hour).Format(time.RFC3339)
	order := map[string]any{
		"id": id, "product": "https_gateway", "profile": "aliyun-intl", "paid_at": paid,
		"currency": "USD", "price": "16.00", "payment": map[string]any{"cash": "16.00", "voucher": "0", "gift_card": "0", "benefit_points": 0},
		"promotion": nil, "usage": map[string]any{"grcq_total": 300, "grcq_consumed": 60, "domain_added": true},
	}
	if code, body := a.do(token, http.MethodPut, "/v1/orders/"+id, order); code != http.StatusCreated {
		a.t.Fatalf("PUT /v1/orders/%s: %d %s", id, code, body)
	}
}

// status is the refund's status; ok false while the order has none yet.
func (a *gatewayAPI) refund(token, id string) (st refund.Status, ok bool) {
	a.t.Helper()
	code, body := a.do(token, http.MethodGet, "/v1/orders/"+id+"/refund", nil)
	if code == http.StatusNotFound {
		return st, false
	}
	if code != http.StatusOK {
		a.t.Fatalf("GET /v1/orders/%s/refund: %d %s", id, code, body)
	}
	var v struct {
		Status refund.Status `json:"status"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		a.t.Fatalf("GET /v1/orders/%s/refund: %v\n%s", id, err, body)
	}
	return v.Status, true
}

func (a *gatewayAPI) status(token, id string) refund.Status {
	a.t.Helper()
	st, ok := a.refund(token, id)
	if !ok {
		a.t.Fatalf("order %s has no refund", id)
	}
	return st
}

// waitState waits until the order's refund is in state (the demo
// requests its refunds one after the other: d09's may not exist yet).
func (a *gatewayAPI) waitState(token, id, state string, limit time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		st, ok := a.refund(token, id)
		if ok && string(st.State) == state {
			return
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("the refund of %s is %q/%q after %s, not %s (requested: %v)", id, st.State, st.Outcome, limit, state, ok)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// chromiumTab is one headless Chromium tab on the gateway at base.
type chromiumTab struct {
	t    *testing.T
	ctx  context.Context
	base string
}

func startChromium(t *testing.T, ctx context.Context, path, base string) *chromiumTab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	// The first action starts the browser: no timeout on it.
	started := time.Now()
	if err := chromedp.Do(tctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium %s: %v", path, err)
	}
	t.Logf("Chromium started in %v", time.Since(started).Round(time.Millisecond))
	return &chromiumTab{t: t, ctx: tctx, base: base}
}

// run performs the actions, failing the test (with the page's address)
// when one fails or takes more than 30 s.
func (b *chromiumTab) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("in Chromium at %s: %v", loc, err)
	}
}

func get[T any](b *chromiumTab, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("in Chromium at %s: %v", loc, err)
	}
	return v
}

// text is the visible text of the first element matching the CSS
// selector, once it is visible.
func (b *chromiumTab) text(sel string) string {
	b.t.Helper()
	b.run(chromedp.WaitVisible(chromedp.CSS(sel)))
	return strings.TrimSpace(get(b, chromedp.Text(chromedp.CSS(sel))))
}

func (b *chromiumTab) login(token string) {
	b.t.Helper()
	b.run(chromedp.Navigate(b.base+"/ops/login"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token))
	b.follow(`main form button[type=submit]`)
}

func (b *chromiumTab) logout() {
	b.t.Helper()
	b.follow(`header form button[type=submit]`)
	if got := b.text("main"); !strings.Contains(got, "You are logged out") {
		b.t.Errorf("after logging out the page says %q", got)
	}
}

// follow clicks a link or a form's button and waits until the page it
// leads to has loaded: the old page is marked first, and the new one is
// the one without the mark. (Reading right after the click could read the
// old page, or lose its context mid-navigation.)
func (b *chromiumTab) follow(sel string) {
	b.t.Helper()
	b.run(chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](`document.documentElement.dataset.left = "yes"`),
		chromedp.Click(chromedp.CSS(sel)))
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.documentElement.dataset.left && document.readyState === "complete"`))
		cancel()
		if err == nil && loaded {
			return
		}
		if time.Now().After(deadline) {
			loc, _ := chromedp.Run(b.ctx, chromedp.Location())
			b.t.Fatalf("clicking %s at %s: no new page within 30s (last error: %v)", sel, loc, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logFirstPaint opens path and logs when Chromium first painted it and
// how long the server took to answer (logged, not asserted).
func (b *chromiumTab) logFirstPaint(path string) {
	b.t.Helper()
	start := time.Now()
	b.run(chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS("main")))
	wall := time.Since(start)
	// Paint entries are recorded a frame after the paint.
	b.run(chromedp.Poll[chromedp.Void](`performance.getEntriesByName("first-contentful-paint").length > 0`, chromedp.WithPollingTimeout(5*time.Second)))
	fcp := get(b, chromedp.Evaluate[float64](`performance.getEntriesByName("first-contentful-paint")[0].startTime`))
	server := get(b, chromedp.Evaluate[float64](`(() => { const n = performance.getEntriesByType("navigation")[0]; return n.responseEnd - n.requestStart; })()`))
	b.t.Logf("%s on the real stack: first contentful paint %.0f ms after navigation start; server answered in %.0f ms; navigate to visible %v",
		path, fcp, server, wall.Round(time.Millisecond))
}

// screenshot saves the page (the viewport, or all of it) as name in the
// test's folder and, with CERTFLOW_SCREENSHOTS=1, in docs/.
func (b *chromiumTab) screenshot(name string, full bool) {
	b.t.Helper()
	var png []byte
	if full {
		png = get(b, chromedp.FullScreenshot(100))
	} else {
		png = get(b, chromedp.CaptureScreenshot())
	}
	dst := filepath.Join(b.t.TempDir(), name)
	if os.Getenv("CERTFLOW_SCREENSHOTS") == "1" {
		dst = filepath.Join("..", "docs", name)
	}
	if err := os.WriteFile(dst, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s (%d bytes)", dst, len(png))
}
