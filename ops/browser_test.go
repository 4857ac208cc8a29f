package ops

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/ports"
)

// chromiumPath finds the browser: CERTFLOW_CHROMIUM, else Debian's
// /usr/bin/chromium. Without one the test skips, unless
// CERTFLOW_REQUIRE_BROWSER is set (CI), where it fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CERTFLOW_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		if os.Getenv("CERTFLOW_REQUIRE_BROWSER") != "" {
			t.Fatalf("CERTFLOW_REQUIRE_BROWSER is set but no Chromium at %s (set CERTFLOW_CHROMIUM): %v", p, err)
		}
		t.Skipf("no Chromium at %s (set CERTFLOW_CHROMIUM, or apt-get install chromium): %v", p, err)
	}
	return p
}

// browser drives one headless Chromium tab against the pages.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("in Chromium at %s: %v", loc, err)
	}
}

func run[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("in Chromium: %v", err)
	}
	return v
}

// text is the visible text of the first element matching the CSS selector,
// once it is visible.
func (b *browser) text(sel string) string {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	return strings.TrimSpace(run(b, chromedp.Text(chromedp.CSS(sel))))
}

func (b *browser) login(token string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+"/ops/login"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("form.card button[type=submit]")))
}

func (b *browser) logout() {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS("header form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#token")))
}

func (b *browser) screenshot(name string, full bool) {
	b.t.Helper()
	var png []byte
	if full {
		png = run(b, chromedp.FullScreenshot(100))
	} else {
		png = run(b, chromedp.CaptureScreenshot())
	}
	tmp := filepath.Join(b.t.TempDir(), name)
	if err := os.WriteFile(tmp, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	// The screenshots in docs/ are the real stack's
	// (e2e/ops_browser_test.go): these pages run on fakes, so they stay
	// in the test's folder.
	b.t.Logf("screenshot %s (%d bytes)", tmp, len(png))
}

// seedMany adds n orders spread over the situations, as a busy store
// would hold them. Their waits began within the last hour, so the seeded
// refunds of seed stay on each tab's first page.
func seedMany(f *fakeStack, now time.Time, n int) {
	for i := range n {
		id := fmt.Sprintf("o-bulk-%04d", i)
		since := now.Add(-time.Duration(i%60) * time.Minute)
		deadline := now.Add(time.Duration(24+i%200) * time.Hour)
		var rec *ports.RefundRecord
		switch i % 6 {
		case 0:
			rec = &ports.RefundRecord{State: "awaiting_approval", Outcome: "awaiting_approval", Cash: "150.00", RequestedBy: "erin", UpdatedAt: since,
				WaitingOn: []domain.Wait{{Kind: domain.WaitOperatorApproval, Since: since, Rule: "GW-4", Detail: "150.00 USD exceeds the approval threshold"}}}
		case 1:
			rec = &ports.RefundRecord{State: "releasing", Outcome: "pending", Cash: "40.00", RequestedBy: "console", UpdatedAt: since,
				WaitingOn: []domain.Wait{{Kind: domain.WaitCustomer, Certificate: id + "-c1", Since: since, Deadline: &deadline, Rule: "SSL-6", Detail: "resubmission refused"}}}
		case 2:
			rec = &ports.RefundRecord{State: "committed", Outcome: "pending", Cash: "90.00", RequestedBy: "console", UpdatedAt: since,
				WaitingOn: []domain.Wait{{Kind: domain.WaitCAReview, Certificate: id + "-c1", Since: since, Deadline: &deadline, Rule: "T-3", Detail: "revocation review"}}}
		case 3:
			rec = &ports.RefundRecord{State: "paying", Outcome: "pending", Cash: "30.00", RequestedBy: "console", UpdatedAt: since,
				WaitingOn: []domain.Wait{{Kind: domain.WaitPaymentProvider, Since: since, Rule: "GEN-4", Detail: "no answer"}}}
		case 4:
			rec = &ports.RefundRecord{State: "refunded", Outcome: "refunded", Cash: "25.00", PaymentID: "pay-" + id, Destination: domain.OriginalMethod, UpdatedAt: since}
		}
		f.addOrder(id, rec)
	}
}

type paint struct {
	Name  string  `json:"name"`
	Start float64 `json:"start"`
}

// TestOperatorInChromium drives the pages in a real headless Chromium:
// the GW-4 approval by a second operator, a cancel with its reason, the
// console role and a form without its CSRF token refused, with 2,000
// orders in the store.
func TestOperatorInChromium(t *testing.T) {
	path := chromiumPath(t)
	clock := &fakeClock{t: t0}
	stack := newFakeStack(clock.Now)
	seed(stack, t0)
	seedMany(stack, t0, 2000)
	h, err := New(Config{Reader: stack, Actions: stack, Authenticate: fakeAuth, Now: clock.Now,
		WebUI: "http://localhost:8233", Namespace: "certflow", CountsEvery: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first Run starts the browser: no timeout on it (see chromedp.Run).
	started := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium %s: %v", path, err)
	}
	t.Logf("Chromium started in %v", time.Since(started).Round(time.Millisecond))
	b := &browser{t: t, ctx: ctx, base: srv.URL}
	// Each step builds on the one before: stop at the first that fails.
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	// Without a session the queue sends the browser to the login page.
	b.do(chromedp.Navigate(srv.URL+"/ops/"), chromedp.WaitVisible(chromedp.CSS("#token")))

	step("console token cannot log in", func(t *testing.T) {
		b.t = t
		b.login("console-token-0123456789abcdef")
		if got := b.text("#login-error"); !strings.Contains(got, "403 forbidden") || !strings.Contains(got, "only operators may use these pages") {
			t.Fatalf("login error %q", got)
		}
	})

	step("queue with 2,000 orders", func(t *testing.T) {
		b.t = t
		b.login("alice-operator-token-0123456789")
		b.do(chromedp.WaitVisible(chromedp.CSS("#queue")))
		// First paint of a tab, measured by the browser (logged, not asserted).
		for _, tab := range []string{"approval", "ca", "finished"} {
			start := time.Now()
			b.do(chromedp.Navigate(srv.URL+"/ops/?tab="+tab), chromedp.WaitVisible(chromedp.CSS("#queue")))
			wall := time.Since(start)
			// Paint entries are recorded a frame after the paint: wait for them.
			pctx, pcancel := context.WithTimeout(b.ctx, 3*time.Second)
			perr := chromedp.Do(pctx, chromedp.Poll[chromedp.Void](`performance.getEntriesByName("first-contentful-paint").length > 0`))
			pcancel()
			if perr != nil {
				t.Logf("tab %s: no first-contentful-paint entry from Chromium: %v", tab, perr)
			}
			paints := run(b, chromedp.Evaluate[[]paint](`performance.getEntriesByType("paint").map(e => ({name: e.name, start: Math.round(e.startTime)}))`))
			resp := run(b, chromedp.Evaluate[float64](`(() => { const n = performance.getEntriesByType("navigation")[0]; return n.responseEnd - n.requestStart; })()`))
			t.Logf("tab %s, 2,000 orders in the store: %v ms after navigation start; server response %.0f ms; navigate to table visible %v", tab, paints, resp, wall.Round(time.Millisecond))
		}
		b.do(chromedp.Navigate(srv.URL + "/ops/?tab=approval"))
		if got := b.text(`[data-count="approval"]`); got != "336" {
			t.Errorf("approval count %q, want 336 (334 seeded in bulk + 2)", got)
		}
		row := b.text(`tr[data-order="o-approve-1"]`)
		for _, s := range []string{"80.00 USD", "alice", "GW-4"} {
			if !strings.Contains(row, s) {
				t.Errorf("row of o-approve-1 %q lacks %q", row, s)
			}
		}
		// The counts follow the store without a reload.
		stack.addOrder("o-late", &ports.RefundRecord{State: "awaiting_approval", Outcome: "awaiting_approval", Cash: "10.00", RequestedBy: "erin", UpdatedAt: t0})
		b.do(chromedp.Evaluate[chromedp.Void](`document.body.dataset.marker = "no-reload"`))
		b.do(chromedp.Poll[chromedp.Void](`document.querySelector('[data-count="approval"]').textContent === "337"`, chromedp.WithPollingTimeout(10*time.Second)))
		if m := run(b, chromedp.Evaluate[string](`document.body.dataset.marker`)); m != "no-reload" {
			t.Error("the page reloaded to update its counts")
		}
		b.do(chromedp.EmulateViewport(1280, 900))
		b.screenshot("ops-queue.png", false)
	})

	step("requester cannot approve (GW-4)", func(t *testing.T) {
		b.t = t
		b.do(chromedp.Click(chromedp.CSS(`tr[data-order="o-approve-1"] a[href="/ops/orders/o-approve-1"]`)),
			chromedp.WaitVisible(chromedp.CSS("#approve-form")),
			chromedp.SendKeys(chromedp.CSS("#note"), "I checked it myself"),
			chromedp.Click(chromedp.CSS("#approve")))
		got := b.text("#refusal")
		if !strings.Contains(got, "403 forbidden — GW-4: alice requested the refund of o-approve-1 and cannot also approve it") {
			t.Fatalf("refusal %q", got)
		}
		if o := b.text("#refund-outcome"); o != "awaiting_approval" || stack.actionCount() != 0 {
			t.Fatalf("after the refusal: outcome %q, %d actions", o, stack.actionCount())
		}
		if v := run(b, chromedp.Value(chromedp.CSS("#note"))); v != "I checked it myself" {
			t.Errorf("the note typed was lost: %q", v)
		}
		b.logout()
	})

	step("second operator approves and sees it paid", func(t *testing.T) {
		b.t = t
		b.login("bob-operator-token-0123456789ab")
		b.do(chromedp.WaitVisible(chromedp.CSS("#queue")),
			chromedp.Click(chromedp.CSS(`tr[data-order="o-approve-1"] a[href="/ops/orders/o-approve-1"]`)),
			chromedp.WaitVisible(chromedp.CSS("#approve-form")),
			chromedp.SendKeys(chromedp.CSS("#note"), "second pair of eyes: invoice matches"),
			chromedp.Click(chromedp.CSS("#approve")))
		if got := b.text("#done"); !strings.Contains(got, "Approved") {
			t.Fatalf("done %q", got)
		}
		if o := b.text("#refund-outcome"); o != "refunded" {
			t.Fatalf("outcome %q, want refunded", o)
		}
		steps := b.text("#steps")
		audit := b.text("#audit")
		if !strings.Contains(steps, "paid") || !strings.Contains(audit, "bob") || !strings.Contains(audit, "second pair of eyes") {
			t.Errorf("steps %q\naudit %q", steps, audit)
		}
		if stack.actionCount() != 1 {
			t.Errorf("%d actions, want 1", stack.actionCount())
		}
		b.screenshot("ops-order.png", true)
	})

	step("cancel with a reason shows it in the audit trail", func(t *testing.T) {
		b.t = t
		// o-cancel waits for the customer without a deadline: among the
		// bulk refunds it is not on the tab's first page; open it directly.
		b.do(chromedp.Navigate(srv.URL+"/ops/orders/o-cancel"),
			chromedp.WaitVisible(chromedp.CSS("#cancel-form")),
			chromedp.SendKeys(chromedp.CSS("#reason"), "customer withdrew by phone"),
			chromedp.Click(chromedp.CSS("#cancel")))
		b.text("#done")
		if got := b.text("#audit"); !strings.Contains(got, "refund_cancelled") || !strings.Contains(got, "customer withdrew by phone") {
			t.Fatalf("audit %q", got)
		}
		if got := b.text("#cancel-reason"); got != "customer withdrew by phone" {
			t.Errorf("cancel reason %q", got)
		}
		if got := b.text("#events"); !strings.Contains(got, "refund.cancelled") {
			t.Errorf("events %q", got)
		}
	})

	step("without JavaScript the pages still work", func(t *testing.T) {
		b.t = t
		noJS := func(off bool) chromedp.Action[chromedp.Void] {
			return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
				_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: off})
				return chromedp.Void{}, err
			}
		}
		b.do(noJS(true))
		defer b.do(noJS(false))
		b.do(chromedp.Navigate(srv.URL+"/ops/?tab=payment"), chromedp.WaitVisible(chromedp.CSS("#queue")))
		if got := b.text(`[data-count="payment"]`); got != "334" {
			t.Errorf("payment count %q without JavaScript", got)
		}
		b.do(chromedp.Click(chromedp.CSS(`#queue tbody tr:first-child td:first-child a`)),
			chromedp.WaitVisible(chromedp.CSS("#waiting")))
		if got := b.text("#waiting"); !strings.Contains(got, "payment_provider") {
			t.Errorf("waiting %q", got)
		}
	})

	step("form without its CSRF token is refused", func(t *testing.T) {
		b.t = t
		before := stack.record("o-approve-2")
		b.do(chromedp.Navigate(srv.URL+"/ops/orders/o-approve-2"), chromedp.WaitVisible(chromedp.CSS("#approve-form")),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#approve-form input[name=csrf]').remove()`),
			chromedp.SendKeys(chromedp.CSS("#note"), "forged"),
			chromedp.Click(chromedp.CSS("#approve")))
		if got := b.text("#message"); !strings.Contains(got, "CSRF") || !strings.Contains(got, "Nothing was changed") {
			t.Fatalf("message %q", got)
		}
		if after := stack.record("o-approve-2"); after.Outcome != before.Outcome || stack.actionCount() != 2 {
			t.Fatalf("the forged form changed something: %s, %d actions", after.Outcome, stack.actionCount())
		}
	})
}
