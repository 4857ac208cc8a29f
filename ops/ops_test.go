package ops

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/refund"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

type env struct {
	t     *testing.T
	h     *Handler
	clock *fakeClock
	stack *fakeStack
	srv   *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clock := &fakeClock{t: t0}
	stack := newFakeStack(clock.Now)
	seed(stack, t0)
	h, err := New(Config{Reader: stack, Actions: stack, Authenticate: fakeAuth, Now: clock.Now,
		WebUI: "http://temporal.example:8233/", Namespace: "certflow"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, h: h, clock: clock, stack: stack, srv: srv}
}

// client is one browser: its own cookies, redirects not followed.
type client struct {
	e  *env
	hc *http.Client
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (c *client) do(method, path string, form url.Values) response {
	c.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, location: res.Header.Get("Location"), body: string(b), header: res.Header}
}

func (c *client) get(path string) response { c.e.t.Helper(); return c.do("GET", path, nil) }
func (c *client) post(path string, form url.Values) response {
	c.e.t.Helper()
	return c.do("POST", path, form)
}

// login logs in with token and returns the session's CSRF token.
func (c *client) login(token string) string {
	c.e.t.Helper()
	r := c.post("/ops/login", url.Values{"token": {token}})
	if r.status != http.StatusSeeOther || r.location != "/ops/" {
		c.e.t.Fatalf("login: %d → %q\n%s", r.status, r.location, r.body)
	}
	return c.csrf()
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
var keyRe = regexp.MustCompile(`id="(approve|cancel)-form"[^>]*>\s*<h3>[^<]*</h3>\s*<input type="hidden" name="csrf" value="[^"]+">\s*<input type="hidden" name="key" value="([^"]+)">`)

func (c *client) csrf() string {
	c.e.t.Helper()
	r := c.get("/ops/")
	m := csrfRe.FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		c.e.t.Fatalf("queue: %d, no CSRF token\n%s", r.status, r.body)
	}
	return m[1]
}

// formKeys returns the order page's form keys by form.
func (c *client) formKeys(orderID string) map[string]string {
	c.e.t.Helper()
	r := c.get("/ops/orders/" + orderID)
	keys := map[string]string{}
	for _, m := range keyRe.FindAllStringSubmatch(r.body, -1) {
		keys[m[1]] = m[2]
	}
	return keys
}

func TestLoginSetsAStrictCookieAndLogoutEndsTheSession(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	if r := c.get("/ops/"); r.status != http.StatusSeeOther || r.location != "/ops/login?next=%2Fops%2F" {
		t.Fatalf("no session: %d → %q, want the login page", r.status, r.location)
	}
	r := c.post("/ops/login", url.Values{"token": {"alice-operator-token-0123456789"}, "next": {"/ops/orders/o-ca"}})
	if r.status != http.StatusSeeOther || r.location != "/ops/orders/o-ca" {
		t.Fatalf("login: %d → %q", r.status, r.location)
	}
	ck := r.header.Get("Set-Cookie")
	for _, want := range []string{"certflow_ops=", "Path=/ops/", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(ck, want) {
			t.Errorf("cookie %q lacks %s", ck, want)
		}
	}
	if strings.Contains(ck, "Secure") || strings.Contains(ck, "alice-operator-token") {
		t.Errorf("cookie %q: Secure on plain HTTP, or holds the token", ck)
	}
	csrf := c.csrf()
	if q := c.get("/ops/"); !strings.Contains(q.body, "Logged in as <strong>alice</strong>") {
		t.Fatalf("queue does not say who is logged in:\n%s", q.body)
	}
	if r := c.post("/ops/logout", url.Values{"csrf": {csrf}}); r.status != http.StatusSeeOther || r.location != "/ops/login?out=1" {
		t.Fatalf("logout: %d → %q", r.status, r.location)
	}
	// The old cookie, replayed, no longer opens a session.
	old := &http.Cookie{Name: cookieName, Value: strings.TrimPrefix(strings.Split(ck, ";")[0], cookieName+"=")}
	replay := e.client()
	u, _ := url.Parse(e.srv.URL + "/ops/")
	replay.hc.Jar.SetCookies(u, []*http.Cookie{old})
	if r := replay.get("/ops/"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/ops/login") {
		t.Fatalf("after logout: %d → %q, want the login page", r.status, r.location)
	}
}

func TestLoginRefusesConsoleRoleAndUnknownTokens(t *testing.T) {
	tests := map[string]struct {
		token  string
		status int
		says   string
	}{
		"console role":  {"console-token-0123456789abcdef", http.StatusForbidden, "403 forbidden — console-backend has the console role; only operators may use these pages."},
		"unknown token": {"nobody-knows-this-token-000000", http.StatusUnauthorized, "401 unauthenticated — the bearer token is not known."},
		"empty":         {"", http.StatusUnauthorized, "401 unauthenticated — paste a token to log in."},
		// OIDC tokens: the gateway's reason is shown as it is.
		"expired OIDC token": {"eyJ.expired.sig", http.StatusUnauthorized, "401 unauthenticated — the token expired at 2026-12-01T08:00:00Z."},
		"OIDC token without a role": {"eyJ.norole.sig", http.StatusForbidden,
			"403 forbidden — oidc:dave&#39;s token has no &#34;roles&#34; claim, so no certflow role."},
		"identity provider down": {"eyJ.idp-down.sig", http.StatusServiceUnavailable, "503 unavailable — the identity provider https://idp.example cannot be reached"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			c := e.client()
			r := c.post("/ops/login", url.Values{"token": {tc.token}})
			if r.status != tc.status || !strings.Contains(r.body, tc.says) {
				t.Fatalf("%d, want %d saying %q\n%s", r.status, tc.status, tc.says, r.body)
			}
			if r.header.Get("Set-Cookie") != "" {
				t.Errorf("a refused login set a cookie: %s", r.header.Get("Set-Cookie"))
			}
			if tc.token != "" && strings.Contains(r.body, tc.token) {
				t.Error("the page repeats the token")
			}
			if r := c.get("/ops/"); r.status != http.StatusSeeOther {
				t.Errorf("queue after a refused login: %d", r.status)
			}
		})
	}
}

func TestPostsWithoutTheSessionsCSRFTokenChangeNothing(t *testing.T) {
	tests := map[string]url.Values{
		"missing":             {"note": {"fine"}},
		"wrong":               {"note": {"fine"}, "csrf": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
		"another session's":   nil, // filled in below
		"cross-site (Origin)": nil,
	}
	for name, form := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			bob := e.client()
			csrf := bob.login("bob-operator-token-0123456789ab")
			keys := bob.formKeys("o-approve-2")
			var r response
			switch name {
			case "another session's":
				other := e.client().login("alice-operator-token-0123456789")
				form = url.Values{"note": {"fine"}, "csrf": {other}, "key": {keys["approve"]}}
			case "cross-site (Origin)":
				req, _ := http.NewRequest("POST", e.srv.URL+"/ops/orders/o-approve-2/approve",
					strings.NewReader(url.Values{"note": {"fine"}, "csrf": {csrf}, "key": {keys["approve"]}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", "https://evil.example")
				res, err := bob.hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				r.status = res.StatusCode
			}
			if r.status == 0 {
				form.Set("key", keys["approve"])
				r = bob.post("/ops/orders/o-approve-2/approve", form)
			}
			if r.status != http.StatusForbidden {
				t.Fatalf("approve: %d, want 403\n%s", r.status, r.body)
			}
			if e.stack.actionCount() != 0 || e.stack.record("o-approve-2").Outcome != "awaiting_approval" {
				t.Fatalf("a refused form changed the refund: %d actions, %+v", e.stack.actionCount(), e.stack.record("o-approve-2"))
			}
			// Logout needs the token too: the session lives on.
			if r := bob.post("/ops/logout", url.Values{}); r.status != http.StatusForbidden {
				t.Errorf("logout without CSRF: %d, want 403", r.status)
			}
			if r := bob.get("/ops/"); r.status != http.StatusOK {
				t.Errorf("session after refused logout: %d", r.status)
			}
		})
	}
}

func TestAnIdleSessionExpiresAndGoesBackToTheLoginPage(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	csrf := c.login("bob-operator-token-0123456789ab")
	keys := c.formKeys("o-approve-2")
	// A page opened within the idle timeout renews it; polling counts does not.
	e.clock.Advance(7 * time.Hour)
	if r := c.get("/ops/?tab=ca"); r.status != http.StatusOK {
		t.Fatalf("after 7 h: %d", r.status)
	}
	for range 3 {
		e.clock.Advance(3 * time.Hour)
		if r := c.get("/ops/counts"); r.status != http.StatusOK && r.status != http.StatusUnauthorized {
			t.Fatalf("counts: %d", r.status)
		}
	}
	if r := c.get("/ops/counts"); r.status != http.StatusUnauthorized {
		t.Fatalf("counts 9 h after the last page: %d, want 401", r.status)
	}
	if r := c.get("/ops/orders/o-ca"); r.status != http.StatusSeeOther || r.location != "/ops/login?next=%2Fops%2Forders%2Fo-ca" {
		t.Fatalf("expired session: %d → %q, want the login page", r.status, r.location)
	}
	r := c.post("/ops/orders/o-approve-2/approve", url.Values{"csrf": {csrf}, "key": {keys["approve"]}, "note": {"ok"}})
	if r.status != http.StatusSeeOther || r.location != "/ops/login?expired=1" {
		t.Fatalf("POST with an expired session: %d → %q", r.status, r.location)
	}
	if e.stack.actionCount() != 0 {
		t.Fatal("an expired session's form changed a refund")
	}
	if r := c.get("/ops/login?expired=1"); !strings.Contains(r.body, "Your session ended") {
		t.Errorf("login page does not say the session ended")
	}
}

// rowsOf lists the order IDs of a queue page's rows, in order.
func rowsOf(body string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`<tr data-order="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func TestEachTabListsItsRefundsMostUrgentFirst(t *testing.T) {
	e := newEnv(t)
	// o-ca2's review ends before o-ca's: it comes first; o-ca3 has no
	// deadline and comes last although it is the oldest.
	at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	e.stack.addOrder("o-ca2", waitingCA(t0.Add(-time.Hour), at(5*time.Hour)))
	e.stack.addOrder("o-ca3", waitingCA(t0.Add(-90*time.Hour), nil))
	c := e.client()
	c.login("bob-operator-token-0123456789ab")
	tests := map[string]struct {
		rows []string
		says []string
	}{
		"approval":  {[]string{"o-approve-2", "o-approve-1"}, []string{"300.00 USD", "carol", "1d 2h ago", "alice"}},
		"escalated": {[]string{"o-escalated"}, []string{"T-3", "has not decided the revocation review", "(its deadline 2026-12-01 08:00 UTC passed)", "5d 0h left"}},
		"customer":  {[]string{"o-customer", "o-cancel"}, []string{"SSL-6", "missing organisation data", "3d 0h left"}},
		"ca":        {[]string{"o-ca2", "o-ca", "o-committed", "o-escalated", "o-ca3"}, []string{"5h 0m left", "1d 6h left"}},
		"payment":   {[]string{"o-paying"}, []string{"did not answer", "10m ago"}},
		"finished":  {[]string{"o-paid", "o-rejected", "o-cancelled"}, []string{"paid 55.00 USD to account_balance", "rules GEN-1, SSL-2", "reason: customer withdrew the request"}},
	}
	for key, tc := range tests {
		t.Run(key, func(t *testing.T) {
			r := c.get("/ops/?tab=" + key)
			if got := rowsOf(r.body); !slices.Equal(got, tc.rows) {
				t.Errorf("rows %v, want %v", got, tc.rows)
			}
			for _, s := range tc.says {
				if !strings.Contains(r.body, s) {
					t.Errorf("tab does not say %q", s)
				}
			}
			want := `data-count="` + key + `">` + itoa(len(tc.rows)) + "<"
			if !strings.Contains(r.body, want) {
				t.Errorf("count: no %s", want)
			}
			if !strings.Contains(r.body, `href="http://temporal.example:8233/namespaces/certflow/workflows/refund%2F`+tc.rows[0]+`"`) {
				t.Errorf("no Web UI link for %s", tc.rows[0])
			}
			if !strings.Contains(r.body, `href="/ops/orders/`+tc.rows[0]+`"`) {
				t.Errorf("no order link for %s", tc.rows[0])
			}
		})
	}
	var counts map[string]string
	if err := json.Unmarshal([]byte(c.get("/ops/counts").body), &counts); err != nil {
		t.Fatal(err)
	}
	if counts["approval"] != "2" || counts["ca"] != "5" || counts["finished"] != "3" {
		t.Errorf("counts %v", counts)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func waitingCA(since time.Time, deadline *time.Time) *ports.RefundRecord {
	return &ports.RefundRecord{State: "committed", Outcome: "pending", RequestedBy: "console", UpdatedAt: since,
		WaitingOn: []domain.Wait{{Kind: domain.WaitCAReview, Since: since, Deadline: deadline, Rule: "T-3", Detail: "revocation review"}}}
}

func TestRefusalsShowOnTheOrderPageAndChangeNothing(t *testing.T) {
	tests := map[string]struct {
		who, order, form, text string
		status                 int
		says                   string
	}{
		"requester approves (GW-4)": {"alice-operator-token-0123456789", "o-approve-1", "approve", "looks fine", http.StatusForbidden,
			"403 forbidden — GW-4: alice requested the refund of o-approve-1 and cannot also approve it"},
		"approve without a note": {"bob-operator-token-0123456789ab", "o-approve-1", "approve", "  ", http.StatusUnprocessableEntity,
			"422 invalid — a note is required to approve; nothing was sent"},
		"cancel without a reason": {"bob-operator-token-0123456789ab", "o-cancel", "cancel", "", http.StatusUnprocessableEntity,
			"422 invalid — a reason is required to cancel; nothing was sent"},
		"cancel once committed (CAN-1)": {"bob-operator-token-0123456789ab", "o-committed", "cancel", "customer asked", http.StatusConflict,
			"409 conflict — CAN-1: the refund of o-committed can no longer be cancelled: it is committed"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			c := e.client()
			csrf := c.login(tc.who)
			before := e.stack.record(tc.order)
			field := map[string]string{"approve": "note", "cancel": "reason"}[tc.form]
			r := c.post("/ops/orders/"+tc.order+"/"+tc.form, url.Values{"csrf": {csrf}, "key": {c.formKeys(tc.order)[tc.form]}, field: {tc.text}})
			if r.status != tc.status || !strings.Contains(r.body, tc.says) {
				t.Fatalf("%d, want %d saying %q\n%s", r.status, tc.status, tc.says, r.body)
			}
			if !strings.Contains(r.body, `id="refusal"`) || !strings.Contains(r.body, "Nothing was changed.") {
				t.Error("the refusal is not shown as the page's alert")
			}
			if after := e.stack.record(tc.order); e.stack.actionCount() != 0 || after.State != before.State || len(after.Audit) != len(before.Audit) {
				t.Errorf("the refused %s changed the refund: %+v", tc.form, after)
			}
		})
	}
}

func TestApprovalActsAsTheSessionsOperatorOnce(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	csrf := c.login("bob-operator-token-0123456789ab")
	key := c.formKeys("o-approve-1")["approve"]
	form := url.Values{"csrf": {csrf}, "key": {key}, "note": {"checked the invoice"}}
	for range 2 { // a double submit of the same form
		if r := c.post("/ops/orders/o-approve-1/approve", form); r.status != http.StatusSeeOther || r.location != "/ops/orders/o-approve-1?done=approved" {
			t.Fatalf("approve: %d → %q\n%s", r.status, r.location, r.body)
		}
	}
	rec := e.stack.record("o-approve-1")
	if e.stack.actionCount() != 1 || rec.Outcome != "refunded" {
		t.Fatalf("%d actions, outcome %s; want one approval, refunded", e.stack.actionCount(), rec.Outcome)
	}
	a := rec.Audit[len(rec.Audit)-1]
	if a.Subject != "bob" || a.Role != "operator" || a.IdempotencyKey != key || a.Note != "checked the invoice" {
		t.Errorf("audit entry %+v", a)
	}
	page := c.get("/ops/orders/o-approve-1?done=approved").body
	for _, s := range []string{"Approved.", "refunded", "checked the invoice", "refund.paid", "pay-o-approve-1"} {
		if !strings.Contains(page, s) {
			t.Errorf("order page does not show %q", s)
		}
	}
	if strings.Contains(page, `id="approve-form"`) {
		t.Error("a paid refund still offers Approve")
	}
}

func TestOrderPageFallsBackToTheRecordWhenTheWorkflowDoesNotAnswer(t *testing.T) {
	e := newEnv(t)
	e.stack.statusErr = errs.E(errs.Unavailable, "temporal unavailable")
	c := e.client()
	c.login("bob-operator-token-0123456789ab")
	r := c.get("/ops/orders/o-customer")
	for _, s := range []string{"the store&#39;s record", "503 unavailable — temporal unavailable", "missing organisation data", "o-customer-c1"} {
		if !strings.Contains(r.body, s) {
			t.Errorf("page does not show %q", s)
		}
	}
	if r := c.get("/ops/orders/nope"); r.status != http.StatusNotFound || !strings.Contains(r.body, "404 not found — order nope not found") {
		t.Errorf("unknown order: %d\n%s", r.status, r.body)
	}
}

func TestATabPagesItsRows(t *testing.T) {
	e := newEnv(t)
	h, err := New(Config{Reader: e.stack, Actions: e.stack, Authenticate: fakeAuth, Now: e.clock.Now, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Config.Handler = h
	c := e.client()
	c.login("bob-operator-token-0123456789ab")
	first := c.get("/ops/?tab=ca")
	if got := rowsOf(first.body); !slices.Equal(got, []string{"o-ca", "o-committed"}) {
		t.Errorf("page 1: %v", got)
	}
	if !strings.Contains(first.body, "Showing 1–2 of 3") || !strings.Contains(first.body, `href="/ops/?tab=ca&amp;page=2"`) {
		t.Errorf("page 1 does not say 1–2 of 3 with a next page link")
	}
	if got := rowsOf(c.get("/ops/?tab=ca&page=2").body); !slices.Equal(got, []string{"o-escalated"}) {
		t.Errorf("page 2: %v", got)
	}
	if r := c.get("/ops/?tab=nope"); r.status != http.StatusNotFound {
		t.Errorf("unknown tab: %d", r.status)
	}
}

func TestWhatOperatorsTypeIsEscaped(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	csrf := c.login("bob-operator-token-0123456789ab")
	reason := `<script>alert("x")</script>`
	r := c.post("/ops/orders/o-cancel/cancel", url.Values{"csrf": {csrf}, "key": {c.formKeys("o-cancel")["cancel"]}, "reason": {reason}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("cancel: %d\n%s", r.status, r.body)
	}
	page := c.get("/ops/orders/o-cancel").body
	if strings.Contains(page, reason) || !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Errorf("the reason is not escaped on the order page")
	}
	if q := c.get("/ops/?tab=finished").body; strings.Contains(q, reason) || !strings.Contains(q, "reason: &lt;script&gt;") {
		t.Errorf("the reason is not escaped in the queue")
	}
}

func TestSecureCookieBehindATLSProxy(t *testing.T) {
	e := newEnv(t)
	h, err := New(Config{Reader: e.stack, Actions: e.stack, Authenticate: fakeAuth, Now: e.clock.Now, SecureCookie: true})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Config.Handler = h
	r := e.client().post("/ops/login", url.Values{"token": {"bob-operator-token-0123456789ab"}})
	if ck := r.header.Get("Set-Cookie"); !strings.Contains(ck, "Secure") {
		t.Errorf("cookie %q is not Secure", ck)
	}
}

// indexedStack is a store that finds an order's events itself.
type indexedStack struct {
	*fakeStack
	asked string
}

func (s *indexedStack) OrderEvents(_ context.Context, orderID string, limit int) ([]ports.Event, error) {
	s.asked = orderID
	return []ports.Event{{ID: "ev-indexed", Type: ports.EventRefundRequested, OrderID: orderID, OccurredAt: t0}}, nil
}

func TestOrderEventsComeFromTheStoresIndexWhenItHasOne(t *testing.T) {
	e := newEnv(t)
	st := &indexedStack{fakeStack: e.stack}
	h, err := New(Config{Reader: st, Actions: e.stack, Authenticate: fakeAuth, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Config.Handler = h
	c := e.client()
	c.login("bob-operator-token-0123456789ab")
	if page := c.get("/ops/orders/o-ca").body; st.asked != "o-ca" || !strings.Contains(page, "ev-indexed") || strings.Contains(page, "ev-000001") {
		t.Errorf("asked %q; the page does not show the indexed events only", st.asked)
	}
}

func TestOrderEventsScanIsBounded(t *testing.T) {
	e := newEnv(t)
	h, err := New(Config{Reader: e.stack, Actions: e.stack, Authenticate: fakeAuth, Now: e.clock.Now, EventScan: 3})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Config.Handler = h
	c := e.client()
	c.login("bob-operator-token-0123456789ab")
	// o-approve-2's event is the second of the outbox; o-ca's the fifth.
	if page := c.get("/ops/orders/o-approve-2").body; !strings.Contains(page, "ev-000002") || !strings.Contains(page, "Only the first 3 events") {
		t.Errorf("o-approve-2: its event, or the note that the scan stopped, is missing")
	}
	if page := c.get("/ops/orders/o-ca").body; strings.Contains(page, "ev-000005") || !strings.Contains(page, "None among the 3 events read") {
		t.Errorf("o-ca: the page read past the bound or does not say so")
	}
}

func TestLoggingInAgainEndsThePreviousSession(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.login("alice-operator-token-0123456789")
	u, _ := url.Parse(e.srv.URL + "/ops/")
	first := c.hc.Jar.Cookies(u)[0].Value
	c.login("bob-operator-token-0123456789ab")
	if second := c.hc.Jar.Cookies(u)[0].Value; second == first {
		t.Fatal("the session ID did not change at login")
	}
	if _, ok := e.h.sessions.get(first, false); ok {
		t.Error("alice's session lives on after bob logged in in the same browser")
	}
}

// The workflows' refusals begin with their rule ("GW-4: demo-operator
// requested this refund…"), the fakes' do not: either way the page cites
// the rule once.
func TestRefusalCitesEachRuleOnce(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{errs.R(errs.Forbidden, []string{"GW-4"}, "GW-4: demo-operator requested this refund and cannot also approve it; another operator must"),
			"403 forbidden — GW-4: demo-operator requested this refund and cannot also approve it; another operator must"},
		{errs.R(errs.Forbidden, []string{"GW-4"}, "alice requested the refund of o-1 and cannot also approve it"),
			"403 forbidden — GW-4: alice requested the refund of o-1 and cannot also approve it"},
		{errs.R(errs.Conflict, []string{"CAN-1"}, "the refund can no longer be cancelled: an irreversible step (revoke, reset or payment) has already been taken"),
			"409 conflict — CAN-1: the refund can no longer be cancelled: an irreversible step (revoke, reset or payment) has already been taken"},
		{errs.R(errs.Conflict, []string{"CAN-2", "TC-3"}, "a submitted refund request cannot be cancelled"),
			"409 conflict — CAN-2, TC-3: a submitted refund request cannot be cancelled"},
	}
	for _, tc := range tests {
		if got := refusal(tc.err); got != tc.want {
			t.Errorf("refusal(%v)\n got %q\nwant %q", tc.err, got, tc.want)
		}
	}
}

// The store's record has cash only once paid: while a refund awaits its
// approval, the order page shows the amount its decision will pay.
func TestOrderPageShowsTheAmountDueBeforeThePayment(t *testing.T) {
	usd, err := money.LookupCurrency("USD")
	if err != nil {
		t.Fatal(err)
	}
	due, err := money.New(decimal.RequireFromString("12.80"), usd)
	if err != nil {
		t.Fatal(err)
	}
	st := refund.Status{State: "awaiting_approval", Outcome: refund.OutcomeAwaitingApproval,
		Decision: &policy.Decision{Refund: &policy.Breakdown{Cash: due, Destination: domain.OriginalMethod}}}
	v := viewOfStatus(st, ports.RefundRecord{RequestedBy: "demo-operator"}, t0)
	if v.Amount != "12.80 USD" || !v.AmountDue {
		t.Errorf("awaiting approval: amount %q, due %v; want 12.80 USD due", v.Amount, v.AmountDue)
	}
	st.Outcome, st.State = refund.OutcomeRefunded, "refunded"
	st.Payout = &refund.Payout{Cash: "12.80", Currency: "USD", Destination: domain.OriginalMethod, PaymentID: "pay_1"}
	if v := viewOfStatus(st, ports.RefundRecord{}, t0); v.Amount != "12.80 USD" || v.AmountDue {
		t.Errorf("paid: amount %q, due %v; want 12.80 USD paid", v.Amount, v.AmountDue)
	}
	st.Payout, st.Outcome, st.State = nil, refund.OutcomeCancelled, "cancelled"
	if v := viewOfStatus(st, ports.RefundRecord{}, t0); v.Amount != "" {
		t.Errorf("cancelled: amount %q, want none", v.Amount)
	}
}

// The store's record carries the amount due from the judgement on: the
// queue and the order page show it for a refund not paid yet (GW-4: what
// the approver lets through), the payout once paid, nothing once ended.
func TestQueueAndOrderPageShowTheRecordsAmountDue(t *testing.T) {
	e := newEnv(t)
	since := t0.Add(-time.Hour)
	due := &ports.RefundDue{Cash: "45.10", Currency: "USD", Destination: domain.OriginalMethod}
	e.stack.addOrder("o-due", &ports.RefundRecord{State: "awaiting_approval", Outcome: "awaiting_approval", RequestedBy: "erin", UpdatedAt: since,
		WaitingOn: []domain.Wait{{Kind: domain.WaitOperatorApproval, Since: since, Rule: "GW-4", Detail: "over the threshold"}}, Due: due})
	c := e.client()
	c.login("alice-operator-token-0123456789")
	q := c.get("/ops/?tab=approval")
	row := regexp.MustCompile(`(?s)<tr data-order="o-due">.*?</tr>`).FindString(q.body)
	if !strings.Contains(row, "<td>45.10 USD<br><small>due</small></td>") {
		t.Fatalf("approval row of o-due = %q, want the amount due 45.10 USD", row)
	}
	const shown = `<dt>Amount due</dt><dd id="refund-amount">45.10 USD</dd>`
	if p := c.get("/ops/orders/o-due"); !strings.Contains(p.body, shown) {
		t.Errorf("order page (workflow status) lacks %q:\n%s", shown, p.body)
	}
	e.stack.mu.Lock()
	e.stack.statusErr = errs.E(errs.Unavailable, "temporal is down")
	e.stack.mu.Unlock()
	if p := c.get("/ops/orders/o-due"); !strings.Contains(p.body, shown) {
		t.Errorf("order page (store record) lacks %q:\n%s", shown, p.body)
	}

	for name, tc := range map[string]struct {
		rec    ports.RefundRecord
		amount string
		due    bool
	}{
		"unpaid":     {ports.RefundRecord{State: "committed", Outcome: "pending", Due: due}, "45.10 USD", true},
		"paid":       {ports.RefundRecord{State: "refunded", Outcome: "refunded", Cash: "45.10", Currency: "USD", PaymentID: "pay_1", Due: due}, "45.10 USD", false},
		"cancelled":  {ports.RefundRecord{State: "cancelled", Outcome: "cancelled", Due: due}, "", false},
		"not judged": {ports.RefundRecord{State: "refund_requested", Outcome: "pending"}, "", false},
	} {
		t.Run(name, func(t *testing.T) {
			if v := viewOfRecord(tc.rec, t0); v.Amount != tc.amount || v.AmountDue != tc.due {
				t.Errorf("record view: amount %q, due %v; want %q, %v", v.Amount, v.AmountDue, tc.amount, tc.due)
			}
			if v := viewOfStatus(refund.Status{State: statemachine.OrderState(tc.rec.State), Outcome: refund.Outcome(tc.rec.Outcome)}, tc.rec, t0); v.Amount != tc.amount || v.AmountDue != tc.due {
				t.Errorf("status view: amount %q, due %v; want %q, %v", v.Amount, v.AmountDue, tc.amount, tc.due)
			}
			r, ok := e.h.rowOf(tabs[1], ports.OrderSummary{Order: domain.Order{ID: "o-x"}, Refund: &tc.rec}, t0)
			if ok && (r.Amount != tc.amount || r.AmountDue != tc.due) {
				t.Errorf("queue row: amount %q, due %v; want %q, %v", r.Amount, r.AmountDue, tc.amount, tc.due)
			}
		})
	}
}

// An address that keeps failing to log in is told to wait (429 with
// Retry-After) before its next token is checked, a successful login costs
// nothing, and the allowance comes back with time.
func TestFailedLoginsAreLimited(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.login("alice-operator-token-0123456789") // success: nothing spent
	for i := range loginBurst {
		if r := c.post("/ops/login", url.Values{"token": {"nobody-knows-this-token-000000"}}); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, r.status)
		}
	}
	r := c.post("/ops/login", url.Values{"token": {"alice-operator-token-0123456789"}})
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "6" ||
		!strings.Contains(r.body, "too many failed logins from this address; try again in 6 s") {
		t.Fatalf("after %d failures: %d (Retry-After %q)\n%s", loginBurst, r.status, r.header.Get("Retry-After"), r.body)
	}
	e.clock.Advance(loginEvery)
	if r := c.post("/ops/login", url.Values{"token": {"alice-operator-token-0123456789"}}); r.status != http.StatusSeeOther {
		t.Fatalf("after waiting: %d, want the login to go through", r.status)
	}
}
