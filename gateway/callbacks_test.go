package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/webhook"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

const approved = `{"event_id":"evt-1","type":"revocation_approved","certificate":"c-1","reason":"ok","occurred_at":"2026-03-06T09:58:00Z"}`

func TestCallbackDelivered(t *testing.T) {
	e := newEnv(t)
	rec := e.signed(t, testSecret, "msg-1", testNow, approved)
	wantStatus(t, rec, http.StatusOK)
	if got := decodeInto[Accepted](t, rec); got.Status != "accepted" {
		t.Errorf("answer = %+v", got)
	}
	want := certificate.CAResult{EventID: "evt-1", Certificate: "c-1", Result: statemachine.RevocationApproved, Reason: "ok",
		At: time.Date(2026, 3, 6, 9, 58, 0, 0, time.UTC)}
	if len(e.wf.signals) != 1 || !reflect.DeepEqual(e.wf.signals[0], want) {
		t.Errorf("signalled %+v, want %+v", e.wf.signals, want)
	}
	wantIn := certificate.Input{OrderID: "o-1", Certificate: domain.Certificate{ID: "c-1", State: statemachine.Issued}}
	if !reflect.DeepEqual(e.wf.signalInputs[0], wantIn) {
		t.Errorf("start input = %+v, want %+v", e.wf.signalInputs[0], wantIn)
	}
}

// TestCallbackToRunningWorkflowIsOneSignal: a certificate whose workflow
// runs gets a plain signal and no workflow is started, even when the
// store, read first for the holder, does not answer.
func TestCallbackToRunningWorkflowIsOneSignal(t *testing.T) {
	e := newEnv(t)
	e.wf.certs["c-1"] = certificate.Status{ID: "c-1", State: statemachine.ValidatingRevocation}
	e.orders.err = errs.E(errs.Unavailable, "store down")
	wantStatus(t, e.signed(t, testSecret, "msg-1", testNow, approved), http.StatusOK)
	if e.wf.plainSignals != 1 || len(e.wf.signals) != 1 || len(e.wf.signalInputs) != 0 {
		t.Errorf("plain signals %d, signals %+v, starts %+v; want one plain signal", e.wf.plainSignals, e.wf.signals, e.wf.signalInputs)
	}
	if e.orders.holderReads != 1 || len(e.wf.refundSignals) != 0 {
		t.Errorf("holder reads %d, refund signals %+v; want one read and no refund signal", e.orders.holderReads, e.wf.refundSignals)
	}
}

// TestCallbackToHoldingRefundIsOneSignal: the path refunds use. The
// holder is read first and the refund signalled once; the certificate's
// workflow is never asked (no NotFound round trip before the signal).
func TestCallbackToHoldingRefundIsOneSignal(t *testing.T) {
	e := newEnv(t)
	e.orders.holders["c-1"] = refund.WorkflowID("o-1")
	e.wf.running["o-1"] = refund.Status{OrderID: "o-1", State: statemachine.OrderCommitted}
	wantStatus(t, e.signed(t, testSecret, "msg-1", testNow, approved), http.StatusOK)
	if len(e.wf.refundSignals) != 1 || len(e.wf.signals) != 0 || e.wf.plainSignals != 0 || len(e.wf.signalInputs) != 0 {
		t.Errorf("refund signals %+v, certificate signals %+v (plain %d), starts %+v; want one refund signal only",
			e.wf.refundSignals, e.wf.signals, e.wf.plainSignals, e.wf.signalInputs)
	}
	if e.orders.holderReads != 1 {
		t.Errorf("holder reads %d, want 1", e.orders.holderReads)
	}
}

// TestCallbackRoutedToTheHolder: with no certificate workflow running, the
// holder decides. A refund that holds the certificate gets one plain
// signal and no certificate workflow is started; a refund that ended
// meanwhile (it handed the certificate over), or no holder, makes the
// gateway read the certificate and signal-with-start its workflow; a
// holder or refund that cannot be reached is a 5xx the CA retries.
func TestCallbackRoutedToTheHolder(t *testing.T) {
	res := certificate.CAResult{EventID: "evt-1", Certificate: "c-1", Result: statemachine.RevocationApproved, Reason: "ok",
		At: time.Date(2026, 3, 6, 9, 58, 0, 0, time.UTC)}
	tests := map[string]struct {
		holder        string
		refundRunning bool
		refundErr     error
		holderErr     error
		// taking: the running refund is taking the hold of c-1.
		taking   bool
		offerErr error
		status   int
		toRefund bool
		// offered: the result was offered to the order's refund.
		offered bool
		started bool
	}{
		"held by a running refund: one signal to it":        {holder: "refund/o-1", refundRunning: true, status: 200, toRefund: true},
		"held by a refund that ended: signal-with-start":    {holder: "refund/o-1", status: 200, started: true},
		"held by nobody, no refund runs: signal-with-start": {status: 200, offered: true, started: true},
		"held by nobody while its refund takes the hold: the refund takes it, nothing started": {refundRunning: true, taking: true,
			status: 200, offered: true},
		"held by nobody, its refund does not hold it: signal-with-start": {refundRunning: true, status: 200, offered: true, started: true},
		// The refund's worker does not answer within offerWait: the
		// certificate's workflow takes the result (the server accepts it
		// without a worker) and hands it to the refund if it holds it.
		"held by nobody, the refund offered it does not answer in time: signal-with-start": {refundRunning: true, taking: true,
			offerErr: errs.E(errs.Unavailable, "the refund of order o-1 did not answer in time; retry"), status: 200, offered: true, started: true},
		"held by its own workflow, which ended: signal-with-start": {holder: "certificate/c-1", status: 200, started: true},
		"refund unreachable: 503, nothing started": {holder: "refund/o-1", refundRunning: true,
			refundErr: errs.E(errs.Unavailable, "the refund of order o-1 did not answer in time; retry"), status: 503},
		"store unreachable: 503, nothing started": {holderErr: errs.E(errs.Unavailable, "database busy"), status: 503},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if tc.holder != "" {
				e.orders.holders["c-1"] = tc.holder
			}
			if tc.refundRunning {
				e.wf.running["o-1"] = refund.Status{OrderID: "o-1", State: statemachine.OrderReleasing}
			}
			if tc.taking {
				e.wf.taking["o-1"] = []string{"c-1"}
			}
			e.wf.refundSignalErr, e.orders.holderErr, e.wf.refundOfferErr = tc.refundErr, tc.holderErr, tc.offerErr
			rec := e.signed(t, testSecret, "msg-1", testNow, approved)
			if tc.status != 200 {
				wantError(t, rec, tc.status, errs.Unavailable, "")
			} else {
				wantStatus(t, rec, tc.status)
			}
			if e.orders.holderReads != 1 {
				t.Errorf("holder reads = %d, want 1", e.orders.holderReads)
			}
			wantRefund := []refundSignal(nil)
			if tc.toRefund {
				wantRefund = []refundSignal{{OrderID: "o-1", Result: res}}
			}
			if !reflect.DeepEqual(e.wf.refundSignals, wantRefund) {
				t.Errorf("refund signals = %+v, want %+v", e.wf.refundSignals, wantRefund)
			}
			wantOffers := []refundSignal(nil)
			if tc.offered {
				wantOffers = []refundSignal{{OrderID: "o-1", Result: res}}
			}
			if !reflect.DeepEqual(e.wf.refundOffers, wantOffers) {
				t.Errorf("offers to the refund = %+v, want %+v", e.wf.refundOffers, wantOffers)
			}
			wantIn := []certificate.Input(nil)
			if tc.started {
				wantIn = []certificate.Input{{OrderID: "o-1", Certificate: domain.Certificate{ID: "c-1", State: statemachine.Issued}}}
			}
			if !reflect.DeepEqual(e.wf.signalInputs, wantIn) {
				t.Errorf("signal-with-start inputs = %+v, want %+v", e.wf.signalInputs, wantIn)
			}
			if tc.started && (len(e.wf.signals) != 1 || !reflect.DeepEqual(e.wf.signals[0], res)) {
				t.Errorf("certificate signals = %+v, want %+v", e.wf.signals, res)
			}
		})
	}
}

// TestCallbackForRemovedCertificate: removed is final, so a late callback
// for a certificate nobody holds any more is acknowledged without
// starting a workflow that could only end at once.
func TestCallbackForRemovedCertificate(t *testing.T) {
	e := newEnv(t)
	e.orders.orders["o-1"] = sslOrder("o-1", domain.Certificate{ID: "c-1", State: statemachine.Removed})
	wantStatus(t, e.signed(t, testSecret, "msg-1", testNow, approved), http.StatusOK)
	if len(e.wf.signalInputs) != 0 || len(e.wf.refundSignals) != 0 {
		t.Errorf("signal-with-start %+v, refund signals %+v: want nothing started or signalled", e.wf.signalInputs, e.wf.refundSignals)
	}
}

// TestCallbackRepeated: a redelivery is acknowledged again and signalled
// again with the same event ID, which the workflow dedupes.
func TestCallbackRepeated(t *testing.T) {
	e := newEnv(t)
	wantStatus(t, e.signed(t, testSecret, "msg-1", testNow, approved), http.StatusOK)
	wantStatus(t, e.signed(t, testSecret, "msg-1", testNow.Add(time.Minute), approved), http.StatusOK)
	if len(e.wf.signals) != 2 || e.wf.signals[0].EventID != "evt-1" || e.wf.signals[1].EventID != "evt-1" {
		t.Errorf("signals = %+v, want evt-1 twice", e.wf.signals)
	}
}

// TestCallbackUnknownFieldsIgnored: the protocol promises that unknown
// fields are ignored; the review ID is passed on.
func TestCallbackUnknownFieldsIgnored(t *testing.T) {
	e := newEnv(t)
	body := `{"event_id":"evt-1","review_id":"rev-7","type":"revocation_approved","certificate":"c-1","reason":"ok",` +
		`"occurred_at":"2026-03-06T09:58:00Z","severity":"info","extra":{"nested":[1,2]}}`
	wantStatus(t, e.signed(t, testSecret, "msg-1", testNow, body), http.StatusOK)
	if len(e.wf.signals) != 1 || e.wf.signals[0].ReviewID != "rev-7" || e.wf.signals[0].EventID != "evt-1" || e.wf.signals[0].Stray != "" {
		t.Fatalf("signals = %+v", e.wf.signals)
	}
}

// TestCallbackFromTheFutureIsStray: occurred_at beyond the webhook
// tolerance is acknowledged and handed to the workflow marked stray, to be
// recorded and not applied; within the tolerance it is a normal result.
func TestCallbackFromTheFutureIsStray(t *testing.T) {
	for name, tc := range map[string]struct {
		ahead time.Duration
		stray bool
	}{
		"six minutes ahead is stray":       {6 * time.Minute, true},
		"four minutes ahead is clock skew": {4 * time.Minute, false},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			body := strings.Replace(approved, "2026-03-06T09:58:00Z", testNow.Add(tc.ahead).UTC().Format(time.RFC3339), 1)
			rec := e.signed(t, testSecret, "msg-1", testNow, body)
			wantStatus(t, rec, http.StatusOK)
			if len(e.wf.signals) != 1 || (e.wf.signals[0].Stray != "") != tc.stray {
				t.Fatalf("signals = %+v, want stray %v", e.wf.signals, tc.stray)
			}
		})
	}
}

func TestCallbackRotatedSecret(t *testing.T) {
	e := newEnv(t)
	wantStatus(t, e.signed(t, []byte("next-secret"), "msg-1", testNow, approved), http.StatusOK)
}

func TestCallbackRefusals(t *testing.T) {
	tests := map[string]struct {
		send     func(*testing.T, *env) *httptest.ResponseRecorder
		status   int
		code     errs.Code
		mentions string
	}{
		"unsigned": {
			send: func(t *testing.T, e *env) *httptest.ResponseRecorder {
				return e.do(t, http.MethodPost, "/v1/ca/callbacks", approved)
			},
			status: 401, code: errs.Invalid, mentions: "missing header webhook-id",
		},
		"forged": {
			send: func(t *testing.T, e *env) *httptest.ResponseRecorder {
				return e.signed(t, []byte("guessed"), "msg-1", testNow, approved)
			},
			status: 401, code: errs.Invalid, mentions: "matches no configured secret",
		},
		"body swapped after signing": {
			send: func(t *testing.T, e *env) *httptest.ResponseRecorder {
				h := webhook.Headers(testSecret, "msg-1", testNow, []byte(approved))
				forged := strings.Replace(approved, "revocation_approved", "revocation_rejected", 1)
				return e.do(t, http.MethodPost, "/v1/ca/callbacks", forged, headerPairs(h)...)
			},
			status: 401, code: errs.Invalid, mentions: "matches no configured secret",
		},
		"stale": {
			send: func(t *testing.T, e *env) *httptest.ResponseRecorder {
				return e.signed(t, testSecret, "msg-1", testNow.Add(-6*time.Minute), approved)
			},
			status: 401, code: errs.Invalid, mentions: "360s old",
		},
		"future": {
			send: func(t *testing.T, e *env) *httptest.ResponseRecorder {
				return e.signed(t, testSecret, "msg-1", testNow.Add(6*time.Minute), approved)
			},
			status: 401, code: errs.Invalid, mentions: "in the future",
		},
		"malformed timestamp": {
			send: func(t *testing.T, e *env) *httptest.ResponseRecorder {
				h := webhook.Headers(testSecret, "msg-1", testNow, []byte(approved))
				h.Set(webhook.HeaderTimestamp, "2026-03-06T10:00:00Z")
				return e.do(t, http.MethodPost, "/v1/ca/callbacks", approved, headerPairs(h)...)
			},
			status: 401, code: errs.Invalid, mentions: "not unix seconds",
		},
		"malformed body": {
			send: func(t *testing.T, e *env) *httptest.ResponseRecorder {
				return e.signed(t, testSecret, "msg-1", testNow, `{"event_id":`)
			},
			status: 400, code: errs.Invalid, mentions: "malformed JSON",
		},
		"wrong type": {
			send: func(t *testing.T, e *env) *httptest.ResponseRecorder {
				return e.signed(t, testSecret, "msg-1", testNow, strings.Replace(approved, `"ok"`, `7`, 1))
			},
			status: 400, code: errs.Invalid, mentions: "field reason: expected a string",
		},
		"no certificate": {
			send: func(t *testing.T, e *env) *httptest.ResponseRecorder {
				return e.signed(t, testSecret, "msg-1", testNow, strings.Replace(approved, `"certificate":"c-1",`, ``, 1))
			},
			status: 400, code: errs.Invalid, mentions: "field certificate: required",
		},
		"no event ID": {
			send: func(t *testing.T, e *env) *httptest.ResponseRecorder {
				return e.signed(t, testSecret, "msg-1", testNow, strings.Replace(approved, `"evt-1"`, `""`, 1))
			},
			status: 400, code: errs.Invalid, mentions: "field event_id: required",
		},
		"console action as type": {
			send: func(t *testing.T, e *env) *httptest.ResponseRecorder {
				return e.signed(t, testSecret, "msg-1", testNow, strings.Replace(approved, "revocation_approved", "revoke", 1))
			},
			status: 400, code: errs.Invalid, mentions: `field type: "revoke" is not a CA result`,
		},
		"bad time": {
			send: func(t *testing.T, e *env) *httptest.ResponseRecorder {
				return e.signed(t, testSecret, "msg-1", testNow, strings.Replace(approved, "2026-03-06T09:58:00Z", "yesterday", 1))
			},
			status: 400, code: errs.Invalid, mentions: "field occurred_at",
		},
		"no content type": {
			send: func(t *testing.T, e *env) *httptest.ResponseRecorder {
				h := webhook.Headers(testSecret, "msg-1", testNow, []byte(approved))
				return e.do(t, http.MethodPost, "/v1/ca/callbacks", approved, append(headerPairs(h), "Content-Type", "")...)
			},
			status: 415, code: errs.Invalid, mentions: "application/json",
		},
		"too large": {
			send: func(t *testing.T, e *env) *httptest.ResponseRecorder {
				return e.signed(t, testSecret, "msg-1", testNow, strings.Repeat(" ", DefaultMaxBodyBytes)+approved)
			},
			status: 413, code: errs.Invalid, mentions: "larger than",
		},
		"unknown certificate": {
			send: func(t *testing.T, e *env) *httptest.ResponseRecorder {
				return e.signed(t, testSecret, "msg-1", testNow, strings.Replace(approved, `"c-1"`, `"c-9"`, 1))
			},
			status: 404, code: errs.NotFound, mentions: "certificate c-9",
		},
		"temporal down": {
			send: func(t *testing.T, e *env) *httptest.ResponseRecorder {
				e.wf.signalErr = errs.E(errs.Unavailable, "the workflow of certificate c-1 did not answer in time; retry")
				return e.signed(t, testSecret, "msg-1", testNow, approved)
			},
			status: 503, code: errs.Unavailable, mentions: "retry",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			wantError(t, tc.send(t, e), tc.status, tc.code, tc.mentions)
			if len(e.wf.signals) != 0 {
				t.Errorf("a refused callback was signalled: %+v", e.wf.signals)
			}
		})
	}
}

func headerPairs(h http.Header) []string {
	var out []string
	for k, v := range h {
		out = append(out, k, v[0])
	}
	return out
}

// TestBadSignaturesAreRateLimited: a sender whose callbacks fail
// verification gets 401 for a burst, then 429 with Retry-After before its
// signatures are checked; verified callbacks take nothing, and another
// address is not affected.
func TestBadSignaturesAreRateLimited(t *testing.T) {
	e := newEnvWith(t, RateLimit{Rate: 1, Burst: 3})
	e.wf.certs["c-1"] = certificate.Status{ID: "c-1", State: statemachine.ValidatingRevocation}
	for i := range 5 {
		wantStatus(t, e.signed(t, testSecret, fmt.Sprintf("ok-%d", i), testNow, approved), http.StatusOK)
	}
	for i := range 3 {
		wantError(t, e.signed(t, []byte("wrong-secret-wrong-secret"), fmt.Sprintf("bad-%d", i), testNow, approved),
			http.StatusUnauthorized, errs.Invalid, "matches no configured secret")
	}
	rec := e.signed(t, []byte("wrong-secret-wrong-secret"), "bad-4", testNow, approved)
	wantError(t, rec, http.StatusTooManyRequests, errs.RateLimited, "retry in 1 s")
	if rec.Header().Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q, want 1", rec.Header().Get("Retry-After"))
	}
	*e.clock = e.clock.Add(time.Second) // one failure's worth comes back
	wantError(t, e.signed(t, []byte("wrong-secret-wrong-secret"), "bad-5", testNow, approved), http.StatusUnauthorized, errs.Invalid, "matches no configured secret")

	r := httptest.NewRequest(http.MethodPost, "/v1/ca/callbacks", strings.NewReader(approved))
	r.RemoteAddr = "198.51.100.7:4242"
	r.Header.Set("Content-Type", "application/json")
	for k, v := range webhook.Headers(testSecret, "other", testNow, []byte(approved)) {
		r.Header[k] = v
	}
	other := httptest.NewRecorder()
	e.h.ServeHTTP(other, r)
	wantStatus(t, other, http.StatusOK)
}

// TestAbandonedRequestIsNotAFailure: a client that went away before its
// answer (its own timeout) is logged at INFO and counted as 499, not as
// a 5xx failure of the gateway.
func TestAbandonedRequestIsNotAFailure(t *testing.T) {
	e := newEnv(t)
	e.wf.lastErr = errs.E(errs.Unavailable, "Temporal did not answer")
	e.wf.statusErr = e.wf.lastErr
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest(http.MethodGet, "/v1/orders/o-1/refund?view=workflow", nil).WithContext(ctx)
	r.Header.Set("Authorization", "Bearer "+operatorToken)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, r)
	if rec.Code != StatusClientClosedRequest || rec.Body.Len() != 0 {
		t.Errorf("status %d, body %q; want 499 and no body", rec.Code, rec.Body)
	}
	if n := e.logs.FilterMessage("request abandoned by the client").Len(); n != 1 {
		t.Errorf("%d 'abandoned' log lines, want 1", n)
	}
	if n := e.logs.FilterLevelExact(zapcore.ErrorLevel).Len() + e.logs.FilterLevelExact(zapcore.WarnLevel).Len(); n != 0 {
		t.Errorf("%d WARN/ERROR lines for an abandoned request", n)
	}
}

// TestCallbacksAreRateLimitedPerSource: past its address's burst a CA is
// told when to come back (429, Retry-After), and another address is not.
func TestCallbacksAreRateLimitedPerSource(t *testing.T) {
	e := newEnvWith(t, RateLimit{}, func(c *Config) { c.CallbackRateLimit = RateLimit{Rate: 2, Burst: 2} })
	e.wf.certs["c-1"] = certificate.Status{ID: "c-1", State: statemachine.ValidatingRevocation}
	for i := range 2 {
		wantStatus(t, e.signed(t, testSecret, fmt.Sprintf("m-%d", i), testNow, approved), http.StatusOK)
	}
	rec := e.signed(t, testSecret, "m-3", testNow, approved)
	wantError(t, rec, http.StatusTooManyRequests, errs.RateLimited, "retry in 1 s")
	if rec.Header().Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q", rec.Header().Get("Retry-After"))
	}
	*e.clock = e.clock.Add(500 * time.Millisecond)
	wantStatus(t, e.signed(t, testSecret, "m-4", testNow, approved), http.StatusOK)
}
