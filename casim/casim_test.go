package casim_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/webhook"
)

const (
	token       = "test-token"
	reviewDelay = 5 * time.Second
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	start  = time.Date(2026, 3, 6, 2, 0, 0, 0, time.UTC)
)

// delivery is one callback the receiver got.
type delivery struct {
	header http.Header
	body   []byte
}

// receiver is the callback endpoint: it answers with the scripted statuses
// in turn (the last one repeating; 204 when none) and hands each delivery
// to got.
type receiver struct {
	srv      *httptest.Server
	got      chan delivery
	mu       sync.Mutex
	statuses []int
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	t.Helper()
	rc := &receiver{got: make(chan delivery, 16), statuses: statuses}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		status := http.StatusNoContent
		if len(rc.statuses) > 0 {
			status = rc.statuses[0]
			if len(rc.statuses) > 1 {
				rc.statuses = rc.statuses[1:]
			}
		}
		rc.mu.Unlock()
		rc.got <- delivery{header: r.Header.Clone(), body: body}
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// next waits for the next delivery.
func (rc *receiver) next(t *testing.T) delivery {
	t.Helper()
	select {
	case d := <-rc.got:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no callback arrived")
		return delivery{}
	}
}

// none asserts that no delivery is waiting.
func (rc *receiver) none(t *testing.T) {
	t.Helper()
	select {
	case d := <-rc.got:
		t.Fatalf("unexpected callback %s", d.body)
	default:
	}
}

// fixture is a simulator on a fake clock, served by httptest, posting to a
// receiver.
type fixture struct {
	sim   *casim.Sim
	clock *casim.FakeClock
	srv   *httptest.Server
	rc    *receiver
}

func newFixture(t *testing.T, cfg casim.Config, statuses ...int) *fixture {
	t.Helper()
	f := &fixture{clock: casim.NewFakeClock(start), rc: newReceiver(t, statuses...)}
	var n atomic.Int64
	cfg.Token = token
	cfg.CallbackURL = f.rc.srv.URL
	cfg.WebhookSecret = secret
	if cfg.ReviewDelay == 0 {
		cfg.ReviewDelay = reviewDelay
	}
	cfg.Clock = f.clock
	cfg.Logger = zaptest.NewLogger(t)
	cfg.NewID = func() string { return strconv.FormatInt(n.Add(1), 10) }
	sim, err := casim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.sim = sim
	f.srv = httptest.NewServer(sim.Handler())
	t.Cleanup(func() { f.srv.Close(); sim.Close() })
	return f
}

// response is a decoded answer of the simulator.
type response struct {
	status int
	body   map[string]any
}

func (r response) errorCode() string {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (r response) errorMessage() string {
	e, _ := r.body["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

func (f *fixture) do(t *testing.T, method, path, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&out.body); err != nil && err != io.EOF {
		t.Fatalf("%s %s: decoding answer: %v", method, path, err)
	}
	return out
}

// waitReviewTimer waits until the simulator waits on the fake clock.
func (f *fixture) waitTimers(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.clock.BlockUntil(ctx, n); err != nil {
		t.Fatalf("waiting for %d timers: %v", n, err)
	}
}

// verify checks a delivery's Standard Webhooks signature twice — with an
// independent implementation of the algorithm and with the receiver's
// webhook.Verifier — and returns its callback.
func (f *fixture) verify(t *testing.T, d delivery) casim.Callback {
	t.Helper()
	v := webhook.Verifier{Secrets: [][]byte{secret}, Now: f.clock.Now}
	if _, err := v.Verify(d.header, d.body); err != nil {
		t.Fatalf("webhook.Verifier refused the callback: %v", err)
	}
	id, ts := d.header.Get("webhook-id"), d.header.Get("webhook-timestamp")
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(id + "." + ts + "." + string(d.body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := d.header.Get("webhook-signature"); !hmac.Equal([]byte(got), []byte(want)) {
		t.Fatalf("signature %q, want %q", got, want)
	}
	var cb casim.Callback
	if err := json.Unmarshal(d.body, &cb); err != nil {
		t.Fatal(err)
	}
	if cb.EventID != id {
		t.Fatalf("body event_id %q, webhook-id %q", cb.EventID, id)
	}
	return cb
}

func TestAuth(t *testing.T) {
	f := newFixture(t, casim.Config{})
	tests := map[string]struct {
		path   string
		auth   string
		status int
	}{
		"no token":             {path: "/v1/certificates/c1/revocation", status: http.StatusUnauthorized},
		"wrong token":          {path: "/v1/certificates/c1/revocation", auth: "Bearer nope", status: http.StatusUnauthorized},
		"token without scheme": {path: "/v1/certificates/c1/revocation", auth: token, status: http.StatusUnauthorized},
		"admin needs a token":  {path: "/admin/certificates/c1", status: http.StatusUnauthorized},
		"right token":          {path: "/admin/certificates/c1", auth: "Bearer " + token, status: http.StatusOK},
		"healthz is open":      {path: "/healthz", status: http.StatusOK},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, f.srv.URL+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestActions(t *testing.T) {
	type step struct {
		action string
		status int
		code   string
		msg    string
	}
	tests := map[string]struct {
		behaviour casim.Behaviour
		steps     []step
	}{
		"submit is accepted": {steps: []step{{action: "submit", status: 200}}},
		"a repeated action is accepted again": {steps: []step{
			{action: "withdraw", status: 200}, {action: "withdraw", status: 200},
		}},
		"SSL-6 resubmission rejected with the CA's reason, every time": {
			behaviour: casim.Behaviour{ResubmitRejected: "missing contact ID number"},
			steps: []step{
				{action: "resubmit", status: 409, code: casim.CodeResubmissionRejected, msg: "missing contact ID number"},
				{action: "resubmit", status: 409, code: casim.CodeResubmissionRejected, msg: "missing contact ID number"},
				{action: "withdraw", status: 200},
			},
		},
		"a removed certificate refuses all but cancel and delete": {steps: []step{
			{action: "cancel", status: 200},
			{action: "cancel", status: 200},
			{action: "submit", status: 409, code: casim.CodeCertificateRemoved},
			{action: "delete", status: 200},
		}},
		"an action accepted before removal stays accepted": {steps: []step{
			{action: "withdraw", status: 200}, {action: "cancel", status: 200}, {action: "withdraw", status: 200},
		}},
		"unknown action":          {steps: []step{{action: "frobnicate", status: 400, code: casim.CodeInvalidRequest}}},
		"revoke is not an action": {steps: []step{{action: "revoke", status: 400, code: casim.CodeInvalidRequest}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, casim.Config{Behaviours: map[string]casim.Behaviour{"c1": tc.behaviour}})
			for i, s := range tc.steps {
				r := f.do(t, http.MethodPost, "/v1/certificates/c1/actions/"+s.action, "")
				if r.status != s.status || r.errorCode() != s.code {
					t.Fatalf("step %d %s: %d %q, want %d %q", i, s.action, r.status, r.errorCode(), s.status, s.code)
				}
				if s.msg != "" && r.errorMessage() != s.msg {
					t.Fatalf("step %d %s: message %q, want %q", i, s.action, r.errorMessage(), s.msg)
				}
				if s.status == 200 && r.body["status"] != "accepted" {
					t.Fatalf("step %d %s: body %v", i, s.action, r.body)
				}
			}
		})
	}
}

func TestBehaviourEndpointTogglesResubmitRejection(t *testing.T) {
	f := newFixture(t, casim.Config{})
	if r := f.do(t, http.MethodPost, "/admin/certificates/c1/behaviour", `{"resubmit_rejected":"missing contact ID number"}`); r.status != 200 {
		t.Fatalf("set behaviour: %d %v", r.status, r.body)
	}
	if r := f.do(t, http.MethodPost, "/v1/certificates/c1/actions/resubmit", ""); r.status != 409 || r.errorMessage() != "missing contact ID number" {
		t.Fatalf("resubmit: %d %v", r.status, r.body)
	}
	f.do(t, http.MethodPost, "/admin/certificates/c1/behaviour", `{}`)
	if r := f.do(t, http.MethodPost, "/v1/certificates/c1/actions/resubmit", ""); r.status != 200 {
		t.Fatalf("resubmit after fix: %d %v", r.status, r.body)
	}
	if r := f.do(t, http.MethodPost, "/admin/certificates/c1/behaviour", `{"revocation":"maybe"}`); r.status != 400 {
		t.Fatalf("bad behaviour: %d %v", r.status, r.body)
	}
}

func TestRevocationApprovedAfterDelay(t *testing.T) {
	f := newFixture(t, casim.Config{})
	r := f.do(t, http.MethodPost, "/v1/certificates/c1/revocations", `{"reason":"refund","future_field":1}`)
	if r.status != http.StatusAccepted || r.body["status"] != "pending" || r.body["review_id"] == "" {
		t.Fatalf("revoke: %d %v", r.status, r.body)
	}
	reviewID := r.body["review_id"]
	if again := f.do(t, http.MethodPost, "/v1/certificates/c1/revocations", `{"reason":"refund"}`); again.status != 202 || again.body["review_id"] != reviewID {
		t.Fatalf("repeated revoke: %d %v, want review %v", again.status, again.body, reviewID)
	}
	if g := f.do(t, http.MethodGet, "/v1/certificates/c1/revocation", ""); g.body["status"] != "pending" || g.body["decided_at"] != nil {
		t.Fatalf("status while pending: %v", g.body)
	}

	f.waitTimers(t, 1)
	f.clock.Advance(reviewDelay - time.Second)
	if f.clock.Waiters() != 1 {
		t.Fatal("review decided before its delay")
	}
	f.rc.none(t)
	f.clock.Advance(time.Second)

	d := f.rc.next(t)
	cb := f.verify(t, d)
	decided := start.Add(reviewDelay)
	want := casim.Callback{EventID: cb.EventID, ReviewID: "rev_1", Type: casim.EventRevocationApproved, Certificate: "c1", Reason: "refund", OccurredAt: decided}
	if cb != want || cb.EventID == "" {
		t.Fatalf("callback %+v, want %+v", cb, want)
	}
	if ts := d.header.Get("webhook-timestamp"); ts != strconv.FormatInt(decided.Unix(), 10) {
		t.Fatalf("webhook-timestamp %s, want %d", ts, decided.Unix())
	}
	g := f.do(t, http.MethodGet, "/v1/certificates/c1/revocation", "")
	if g.body["status"] != "approved" || g.body["event_id"] != cb.EventID || g.body["decided_at"] != decided.Format(time.RFC3339) {
		t.Fatalf("status after decision: %v", g.body)
	}
}

func TestRevocationRejected(t *testing.T) {
	f := newFixture(t, casim.Config{Behaviours: map[string]casim.Behaviour{
		"c1": {Revocation: casim.RevocationReject, RejectionReason: "domain still in use"},
	}})
	f.do(t, http.MethodPost, "/v1/certificates/c1/revocations", `{"reason":"refund"}`)
	f.waitTimers(t, 1)
	f.clock.Advance(reviewDelay)
	cb := f.verify(t, f.rc.next(t))
	if cb.Type != casim.EventRevocationRejected || cb.Reason != "domain still in use" {
		t.Fatalf("callback %+v", cb)
	}
	if g := f.do(t, http.MethodGet, "/v1/certificates/c1/revocation", ""); g.body["status"] != "rejected" || g.body["reason"] != "domain still in use" {
		t.Fatalf("status %v", g.body)
	}
}

func TestRevocationNeverUntilBehaviourChanges(t *testing.T) {
	f := newFixture(t, casim.Config{Behaviours: map[string]casim.Behaviour{"c1": {Revocation: casim.RevocationNever}}})
	f.do(t, http.MethodPost, "/v1/certificates/c1/revocations", `{}`)
	f.waitTimers(t, 1)
	f.clock.Advance(24 * time.Hour)

	deadline := time.Now().Add(5 * time.Second)
	for {
		rev, _ := f.do(t, http.MethodGet, "/admin/certificates/c1", "").body["revocation"].(map[string]any)
		if rev["parked"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("review never came due: %v", rev)
		}
		time.Sleep(time.Millisecond)
	}
	f.rc.none(t)
	if g := f.do(t, http.MethodGet, "/v1/certificates/c1/revocation", ""); g.body["status"] != "pending" {
		t.Fatalf("status %v", g.body)
	}

	f.do(t, http.MethodPost, "/admin/certificates/c1/behaviour", `{"revocation":"approve"}`)
	f.waitTimers(t, 1)
	f.clock.Advance(reviewDelay)
	if cb := f.verify(t, f.rc.next(t)); cb.Type != casim.EventRevocationApproved {
		t.Fatalf("callback %+v", cb)
	}
}

func TestCallbackDelivery(t *testing.T) {
	retry := casim.Retry{Initial: time.Second, Max: 2 * time.Second, Attempts: 4}
	tests := map[string]struct {
		statuses []int
		attempts int
	}{
		"retried on 503 until 200":       {statuses: []int{503, 503, 503, 200}, attempts: 4},
		"stops on 4xx":                   {statuses: []int{400}, attempts: 1},
		"gives up after Attempts on 5xx": {statuses: []int{500}, attempts: 4},
		"one 2xx ends it":                {statuses: []int{204}, attempts: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, casim.Config{Retry: retry}, tc.statuses...)
			f.do(t, http.MethodPost, "/v1/certificates/c1/revocations", `{"reason":"refund"}`)
			f.waitTimers(t, 1)
			f.clock.Advance(reviewDelay)

			first := f.rc.next(t)
			f.verify(t, first)
			backoff := retry.Initial
			for i := 2; i <= tc.attempts; i++ {
				f.waitTimers(t, 1)
				f.clock.Advance(backoff - time.Nanosecond)
				f.rc.none(t)
				f.clock.Advance(time.Nanosecond)
				d := f.rc.next(t)
				f.verify(t, d)
				if d.header.Get("webhook-id") != first.header.Get("webhook-id") || !bytes.Equal(d.body, first.body) {
					t.Fatalf("attempt %d: id %s body %s, want the first attempt's %s %s", i,
						d.header.Get("webhook-id"), d.body, first.header.Get("webhook-id"), first.body)
				}
				backoff = min(2*backoff, retry.Max)
			}
			f.sim.Close() // waits for the delivery goroutine to end
			f.rc.none(t)
			if n := f.clock.Waiters(); n != 0 {
				t.Fatalf("%d timers still pending after delivery ended", n)
			}
		})
	}
}

// Several callback URLs (one per gateway) take the attempts in turn: a
// retry goes to the next receiver, and the next result to the one after.
func TestCallbackURLsTakeTurns(t *testing.T) {
	retry := casim.Retry{Initial: time.Second, Max: time.Second, Attempts: 3}
	f := newFixture(t, casim.Config{Retry: retry}, 503, 204)
	other := newReceiver(t, 204)
	f.sim.Close()
	cfg := casim.Config{Token: token, CallbackURL: f.rc.srv.URL + "," + other.srv.URL, WebhookSecret: secret, ReviewDelay: reviewDelay,
		Clock: f.clock, Logger: zaptest.NewLogger(t), Retry: retry}
	sim, err := casim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	f.sim = sim
	f.srv.Config.Handler = sim.Handler()

	f.do(t, http.MethodPost, "/v1/certificates/c1/revocations", `{"reason":"refund"}`)
	f.waitTimers(t, 1)
	f.clock.Advance(reviewDelay)
	first := f.rc.next(t) // 503 from the first receiver
	f.verify(t, first)
	other.none(t)
	f.waitTimers(t, 1)
	f.clock.Advance(retry.Initial)
	retried := other.next(t) // the retry goes to the second
	f.verify(t, retried)
	if retried.header.Get("webhook-id") != first.header.Get("webhook-id") {
		t.Fatalf("the retry carries %s, want %s", retried.header.Get("webhook-id"), first.header.Get("webhook-id"))
	}
	f.do(t, http.MethodPost, "/v1/certificates/c2/revocations", `{"reason":"refund"}`)
	f.waitTimers(t, 1)
	f.clock.Advance(reviewDelay)
	f.verify(t, f.rc.next(t)) // and the next result to the first again
	other.none(t)
}

// TestCallbackRateLimited: a 429 is called again after its Retry-After,
// not the backoff, and does not count as a failed attempt: five 429s
// against a budget of four attempts, then a 200, deliver the result.
func TestCallbackRateLimited(t *testing.T) {
	retry := casim.Retry{Initial: time.Second, Max: 2 * time.Second, Attempts: 4}
	f := newFixture(t, casim.Config{Retry: retry}, 429, 429, 429, 429, 429, 200)
	f.do(t, http.MethodPost, "/v1/certificates/c1/revocations", `{"reason":"refund"}`)
	f.waitTimers(t, 1)
	f.clock.Advance(reviewDelay)
	f.verify(t, f.rc.next(t))
	for i := 2; i <= 6; i++ {
		f.waitTimers(t, 1)
		f.clock.Advance(7*time.Second - time.Nanosecond)
		f.rc.none(t)
		f.clock.Advance(time.Nanosecond)
		f.verify(t, f.rc.next(t))
	}
	f.sim.Close()
	f.rc.none(t)
	if n := f.clock.Waiters(); n != 0 {
		t.Fatalf("%d timers still pending after the 200", n)
	}
}

func TestResendCallback(t *testing.T) {
	f := newFixture(t, casim.Config{})
	f.do(t, http.MethodPost, "/v1/certificates/c1/revocations", `{"reason":"refund"}`)
	f.waitTimers(t, 1)
	f.clock.Advance(reviewDelay)
	first := f.rc.next(t)
	id := first.header.Get("webhook-id")

	r := f.do(t, http.MethodPost, "/admin/callbacks/"+id+"/resend", "")
	if r.status != 200 || r.body["delivered"] != true || r.body["status_code"] != float64(204) {
		t.Fatalf("resend: %d %v", r.status, r.body)
	}
	dup := f.rc.next(t)
	f.verify(t, dup)
	if dup.header.Get("webhook-id") != id || !bytes.Equal(dup.body, first.body) {
		t.Fatalf("resent %s %s, want %s %s", dup.header.Get("webhook-id"), dup.body, id, first.body)
	}
	if r := f.do(t, http.MethodPost, "/admin/callbacks/evt_nope/resend", ""); r.status != 404 {
		t.Fatalf("unknown event: %d", r.status)
	}
}

func TestRevocationRefusals(t *testing.T) {
	f := newFixture(t, casim.Config{})
	if r := f.do(t, http.MethodGet, "/v1/certificates/unknown/revocation", ""); r.status != 404 || r.errorCode() != casim.CodeNotFound {
		t.Fatalf("unknown certificate: %d %v", r.status, r.body)
	}
	f.do(t, http.MethodPost, "/v1/certificates/c1/actions/delete", "")
	if r := f.do(t, http.MethodPost, "/v1/certificates/c1/revocations", `{}`); r.status != 409 || r.errorCode() != casim.CodeCertificateRemoved {
		t.Fatalf("revoking a removed certificate: %d %v", r.status, r.body)
	}
	if r := f.do(t, http.MethodPost, "/v1/certificates/c2/revocations", `{`); r.status != 400 {
		t.Fatalf("malformed body: %d %v", r.status, r.body)
	}
}

func TestReset(t *testing.T) {
	tests := map[string]struct {
		body   string
		status int
	}{
		"GW-3 gateway reset":         {body: `{"product":"https_gateway"}`, status: 200},
		"PCA-3 private CA reset":     {body: `{"product":"private_ca"}`, status: 200},
		"certificates are not reset": {body: `{"product":"ssl_certificate"}`, status: 400},
		"body required":              {body: ``, status: 400},
		"malformed body":             {body: `{"product":`, status: 400},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, casim.Config{})
			for range 2 { // idempotent
				if r := f.do(t, http.MethodPost, "/v1/orders/o1/reset", tc.body); r.status != tc.status {
					t.Fatalf("status %d %v, want %d", r.status, r.body, tc.status)
				}
			}
		})
	}
}

func TestIdempotencyKey(t *testing.T) {
	f := newFixture(t, casim.Config{})
	for range 2 {
		if r := f.do(t, http.MethodPost, "/v1/certificates/c1/actions/submit", "", "Idempotency-Key", "k1"); r.status != 200 {
			t.Fatalf("submit: %d %v", r.status, r.body)
		}
	}
	r := f.do(t, http.MethodPost, "/v1/certificates/c2/actions/submit", "", "Idempotency-Key", "k1")
	if r.status != 409 || r.errorCode() != casim.CodeIdempotencyKeyReused {
		t.Fatalf("key reused elsewhere: %d %v", r.status, r.body)
	}
}

func TestEscapedCertificateID(t *testing.T) {
	f := newFixture(t, casim.Config{})
	f.do(t, http.MethodPost, "/v1/certificates/a%2Fb/actions/cancel", "")
	v := f.do(t, http.MethodGet, "/admin/certificates/a%2Fb", "")
	if v.body["id"] != "a/b" || v.body["removed"] != true {
		t.Fatalf("view %v", v.body)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	tests := map[string]casim.Config{
		"no token":                 {},
		"callback without secret":  {Token: "t", CallbackURL: "http://localhost:1/cb"},
		"relative callback URL":    {Token: "t", CallbackURL: "/cb", WebhookSecret: secret},
		"one of two URLs relative": {Token: "t", CallbackURL: "http://localhost:1/cb,/cb", WebhookSecret: secret},
		"unknown behaviour":        {Token: "t", Behaviours: map[string]casim.Behaviour{"c1": {Revocation: "maybe"}}},
		"negative delay":           {Token: "t", ReviewDelay: -time.Second},
		"retry with no attempts":   {Token: "t", Retry: casim.Retry{Initial: time.Second, Max: time.Second}},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := casim.New(cfg); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	clock := casim.NewFakeClock(start)
	sim, err := casim.New(casim.Config{Token: token, ReviewDelay: time.Hour, Clock: clock, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- sim.Serve(ctx, ln) }()

	req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/v1/certificates/c1/revocations", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer bcancel()
	if err := clock.BlockUntil(bctx, 1); err != nil {
		t.Fatal(err)
	}

	cancel() // the review timer is pending: Serve must still return
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

// TestDeliveriesBounded: reviews decided at once are delivered at most
// MaxDeliveries at a time, so a burst of decisions never opens a
// connection per review to the receiver; the others wait their turn and
// all arrive.
func TestDeliveriesBounded(t *testing.T) {
	const n, limit = 6, 2
	var inFlight, most atomic.Int64
	release := make(chan struct{})
	got := make(chan struct{}, n)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := inFlight.Add(1)
		for {
			m := most.Load()
			if now <= m || most.CompareAndSwap(m, now) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
		got <- struct{}{}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	clock := casim.NewFakeClock(start)
	sim, err := casim.New(casim.Config{Token: token, CallbackURL: rcv.URL, WebhookSecret: secret, ReviewDelay: reviewDelay, Clock: clock,
		MaxDeliveries: limit, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{sim: sim, clock: clock, srv: httptest.NewServer(sim.Handler())}
	t.Cleanup(func() { f.srv.Close(); sim.Close() })
	for i := range n {
		if r := f.do(t, http.MethodPost, fmt.Sprintf("/v1/certificates/c%d/revocations", i), `{"reason":"refund"}`); r.status != http.StatusAccepted {
			t.Fatalf("revoke c%d: %d %v", i, r.status, r.body)
		}
	}
	f.waitTimers(t, n)
	f.clock.Advance(reviewDelay)
	deadline := time.After(5 * time.Second)
	for inFlight.Load() < limit {
		select {
		case <-deadline:
			t.Fatalf("%d deliveries in flight, want %d", inFlight.Load(), limit)
		case <-time.After(10 * time.Millisecond):
		}
	}
	time.Sleep(100 * time.Millisecond) // room for a third, had the bound not held
	close(release)
	for i := range n {
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d callbacks delivered", i, n)
		}
	}
	if m := most.Load(); m != limit {
		t.Errorf("at most %d deliveries in flight, want %d", m, limit)
	}
}
