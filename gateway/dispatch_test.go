package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/api"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/refund"
)

// record puts a request of o-1 at at in the fake store, as a gateway's
// POST does, leased to owner until leaseUntil (zero: not leased).
func (e *env) record(t *testing.T, at time.Time, afterFinished bool, attempts int, owner string, leaseUntil time.Time) ports.RefundRequest {
	t.Helper()
	in := refund.Input{OrderID: "o-1", Request: domain.RefundRequest{OrderID: "o-1", RequestedAt: at, Consent: true, RequestedBy: "console-backend"},
		By: domain.Actor{Subject: "console-backend", Role: domain.RoleConsole}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	req := ports.RefundRequest{OrderID: "o-1", ID: "r-1", Input: b, RequestedAt: at, By: in.By, AfterFinished: afterFinished,
		NextAttemptAt: at.Add(refund.SweepGrace)}
	if _, joined, err := e.orders.RequestRefund(context.Background(), req); err != nil || joined {
		t.Fatalf("recording: joined %v, %v", joined, err)
	}
	e.orders.mu.Lock()
	q := e.orders.requests["o-1"]
	q.Attempts, q.LeaseOwner, q.LeaseUntil = attempts, owner, leaseUntil
	e.orders.requests["o-1"] = q
	e.orders.mu.Unlock()
	return q
}

// requestOf is o-1's recorded request.
func (e *env) requestOf() ports.RefundRequest {
	e.orders.mu.Lock()
	defer e.orders.mu.Unlock()
	return e.orders.requests["o-1"]
}

// sweep runs one sweep of the gateway's dispatcher and waits for its
// starts.
func (e *env) sweep(t *testing.T) int {
	t.Helper()
	n, err := e.srv.Intake().Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.settle(t)
	return n
}

// While Temporal is down the request stays pending, tried again after a
// backoff that grows, never dropped; once Temporal answers, the next
// sweep starts it.
func TestDispatchRetriesWhileTemporalIsDown(t *testing.T) {
	e := newEnv(t)
	e.judge.decision = eligible
	e.wf.startErr = errs.E(errs.Unavailable, "Temporal did not answer for the refund of order o-1 within 2s; retry later")
	wantStatus(t, e.do(t, http.MethodPost, "/v1/orders/o-1/refund", `{"consent":true}`, asConsole...), http.StatusAccepted)
	q := e.requestOf()
	if q.State != ports.RequestPending || q.Attempts != 1 || q.LeaseOwner != "" || !q.NextAttemptAt.Equal(testNow.Add(DefaultDispatchMinBackoff)) ||
		q.LastError == "" {
		t.Fatalf("after a failed start: %+v, want pending, one attempt, due after the first backoff", q)
	}
	// Still down: each sweep that finds it due tries again, waiting
	// longer each time.
	for i, wait := range []time.Duration{2 * DefaultDispatchMinBackoff, 4 * DefaultDispatchMinBackoff} {
		*e.clock = e.requestOf().NextAttemptAt
		if n := e.sweep(t); n != 1 {
			t.Fatalf("sweep %d took %d requests, want 1", i, n)
		}
		if q := e.requestOf(); q.State != ports.RequestPending || q.Attempts != i+2 || !q.NextAttemptAt.Equal(e.clock.Add(wait)) {
			t.Fatalf("after sweep %d: %+v, want pending, due in %s", i, q, wait)
		}
	}
	// Not due yet: a sweep leaves it.
	if n := e.sweep(t); n != 0 {
		t.Fatalf("a sweep before the backoff took %d requests", n)
	}
	e.wf.mu.Lock()
	e.wf.startErr = nil
	e.wf.mu.Unlock()
	*e.clock = e.requestOf().NextAttemptAt
	e.sweep(t)
	if q := e.requestOf(); q.State != ports.RequestStarted || q.RunID != "run-o-1" || e.wf.runs != 1 {
		t.Fatalf("after Temporal came back: %+v, %d runs; want started once", q, e.wf.runs)
	}
	if b := (&Dispatcher{cfg: DispatchConfig{}.withDefaults()}).backoff(100); b != DefaultDispatchMaxBackoff {
		t.Errorf("backoff after 100 attempts = %s, want the bound %s", b, DefaultDispatchMaxBackoff)
	}
}

// A gateway killed between its 202 and the start leaves the request
// pending: never claimed (due after refund.SweepGrace), or claimed and
// leased (due when the lease runs out). Another gateway's sweeper starts
// it then, not before.
func TestSweeperTakesRequestsADeadGatewayLeft(t *testing.T) {
	tests := map[string]struct {
		owner      string
		leaseUntil time.Time
		due        time.Time
	}{
		"never claimed":       {due: testNow.Add(refund.SweepGrace)},
		"claimed, start lost": {owner: "gw-dead", leaseUntil: testNow.Add(DefaultDispatchLease), due: testNow.Add(DefaultDispatchLease)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.record(t, testNow, false, 0, tc.owner, tc.leaseUntil)
			*e.clock = tc.due.Add(-time.Millisecond)
			if n := e.sweep(t); n != 0 || e.wf.runs != 0 {
				t.Fatalf("before it is due: %d taken, %d runs", n, e.wf.runs)
			}
			*e.clock = tc.due
			if n := e.sweep(t); n != 1 {
				t.Fatalf("when due: %d taken, want 1", n)
			}
			q := e.requestOf()
			if q.State != ports.RequestStarted || q.RunID != "run-o-1" || e.wf.runs != 1 {
				t.Fatalf("request %+v, %d runs; want started once", q, e.wf.runs)
			}
			if got := e.wf.starts[0].Request.RequestedAt; !got.Equal(testNow) {
				t.Errorf("started with the request of %s, want the recorded one of %s", got, testNow)
			}
		})
	}
}

// The reuse policy's race, decided by the dispatcher: a run that closed
// between the judgement and the start is the request's own (started
// before a crash, its "started" mark lost: started, never a second run)
// or another's (paid: failed with the Conflict and M-3; cancelled:
// followed by a new run).
func TestStartDecidesAClosedRun(t *testing.T) {
	mine := []domain.AuditEntry{{Action: domain.AuditRefundRequested, At: testNow}}
	theirs := []domain.AuditEntry{{Action: domain.AuditRefundRequested, At: testNow.Add(-time.Hour)}}
	tests := map[string]struct {
		afterFinished bool
		attempts      int // before this one
		running       bool
		last          *refund.Status
		wantState     ports.RequestState
		wantRuns      int
		wantRules     []string
		wantStarts    int
	}{
		"no run: started": {wantState: ports.RequestStarted, wantRuns: 1, wantStarts: 1},
		"another's paid run closed meanwhile: failed, M-3": {
			last:      &refund.Status{Outcome: refund.OutcomeRefunded, Audit: theirs, Payout: &refund.Payout{PaymentID: "pay-9"}},
			wantState: ports.RequestFailed, wantRules: []string{"M-3"}, wantStarts: 1,
		},
		"another's final refusal: failed, its rule": {
			last:      &refund.Status{Outcome: refund.OutcomeRejected, Reasons: []string{"GEN-1"}, Audit: theirs},
			wantState: ports.RequestFailed, wantRules: []string{"GEN-1"}, wantStarts: 1,
		},
		"another's cancelled run: followed by a new run": {
			last:      &refund.Status{Outcome: refund.OutcomeCancelled, Audit: theirs},
			wantState: ports.RequestStarted, wantRuns: 1, wantStarts: 2,
		},
		"own run, paid, closed after a crash: started, no second run": {
			attempts: 1, last: &refund.Status{Outcome: refund.OutcomeRefunded, Audit: mine, Payout: &refund.Payout{PaymentID: "pay-1"}},
			wantState: ports.RequestStarted, wantStarts: 1,
		},
		"own run after a finished one, closed after a crash: looked at first, no second run": {
			afterFinished: true, attempts: 1, last: &refund.Status{Outcome: refund.OutcomeCancelled, Audit: mine},
			wantState: ports.RequestStarted,
		},
		"own run still running: joined": {
			attempts: 1, running: true, wantState: ports.RequestStarted, wantStarts: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if tc.last != nil {
				tc.last.OrderID = "o-1"
				e.wf.finished["o-1"] = *tc.last
			}
			if tc.running {
				e.wf.running["o-1"] = refund.Status{OrderID: "o-1", State: statemachine.OrderReleasing}
			}
			e.record(t, testNow, tc.afterFinished, tc.attempts, "", time.Time{})
			*e.clock = testNow.Add(refund.SweepGrace)
			e.sweep(t)
			q := e.requestOf()
			if q.State != tc.wantState || e.wf.runs != tc.wantRuns || len(e.wf.starts) != tc.wantStarts {
				t.Fatalf("request %+v: %d runs, %d starts asked; want %s, %d runs, %d starts", q, e.wf.runs, len(e.wf.starts), tc.wantState, tc.wantRuns, tc.wantStarts)
			}
			if tc.wantState == ports.RequestStarted && q.RunID != "run-o-1" {
				t.Errorf("run ID = %q, want the run's", q.RunID)
			}
			if tc.wantState != ports.RequestFailed {
				return
			}
			if q.ErrorCode != string(errs.Conflict) || q.ErrorRule != tc.wantRules[0] {
				t.Errorf("failed with %s %s, want conflict %v", q.ErrorCode, q.ErrorRule, tc.wantRules)
			}
			// The console sees it where it looks, and a new POST is the
			// synchronous 409 of the finished refund.
			v := decodeInto[RefundView](t, e.do(t, http.MethodGet, "/v1/orders/o-1/refund", "", asConsole...))
			if v.Start == nil || v.Start.State != api.RefundStartStateFailed || !slices.Equal(v.Start.Error.Rules, tc.wantRules) ||
				v.Status.State != statemachine.OrderRejected {
				t.Errorf("status = %+v (start %+v)", v.Status, v.Start)
			}
			e.judge.decision = eligible
			d := wantError(t, e.do(t, http.MethodPost, "/v1/orders/o-1/refund", `{"consent":true}`, asConsole...), 409, errs.Conflict, "o-1")
			if !slices.Equal(d.Rules, tc.wantRules) {
				t.Errorf("new request: rules %v, want %v", d.Rules, tc.wantRules)
			}
		})
	}
}

// A console that asks and at once cancels, approves or acts on a
// certificate finds the workflow: the pending start is made first,
// inline. While Temporal is still down that is 503, never a NotFound.
func TestUpdateStartsThePendingRequestFirst(t *testing.T) {
	tests := map[string]struct {
		path, body  string
		stillDown   bool
		status      int
		wantUpdates func(e *env) int
	}{
		"cancel":  {path: "/v1/orders/o-1/refund/cancel", body: `{"reason":"oops"}`, status: 200, wantUpdates: func(e *env) int { return len(e.wf.cancels) }},
		"approve": {path: "/v1/orders/o-1/refund/approve", body: `{"note":"ok"}`, status: 200, wantUpdates: func(e *env) int { return len(e.wf.approves) }},
		"certificate action": {path: "/v1/certificates/c-1/actions/revoke", body: `{"confirm_irreversible":true}`, status: 200,
			wantUpdates: func(e *env) int { return len(e.wf.actions) }},
		"cancel, Temporal still down": {path: "/v1/orders/o-1/refund/cancel", stillDown: true, status: 503, wantUpdates: func(e *env) int { return len(e.wf.cancels) }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.judge.decision = eligible
			// The POST's background start fails: the request is pending
			// when the update comes.
			e.wf.startErr = errs.E(errs.Unavailable, "Temporal did not answer")
			wantStatus(t, e.do(t, http.MethodPost, "/v1/orders/o-1/refund", `{"consent":true}`, asConsole...), http.StatusAccepted)
			if q := e.requestOf(); q.State != ports.RequestPending {
				t.Fatalf("request %+v, want pending", q)
			}
			if !tc.stillDown {
				e.wf.startErr = nil
			}
			rec := e.do(t, http.MethodPost, tc.path, tc.body)
			if tc.stillDown {
				wantError(t, rec, tc.status, errs.Unavailable, "did not answer")
				if n := tc.wantUpdates(e); n != 0 || e.requestOf().State != ports.RequestPending {
					t.Fatalf("%d updates sent, request %+v; want none, still pending", n, e.requestOf())
				}
				return
			}
			wantStatus(t, rec, tc.status)
			if q := e.requestOf(); q.State != ports.RequestStarted || e.wf.runs != 1 {
				t.Fatalf("request %+v, %d runs; want started before the update", q, e.wf.runs)
			}
			if n := tc.wantUpdates(e); n != 1 {
				t.Fatalf("%d updates reached the workflow, want 1", n)
			}
		})
	}
}

// The Idempotency-Key goes with the request: a repeat with the key joins
// the first request (one request, one run), and the key is echoed.
func TestRefundRequestIdempotency(t *testing.T) {
	e := newEnv(t)
	e.judge.decision = eligible
	e.wf.startErr = errs.E(errs.Unavailable, "Temporal did not answer")
	var answers []RefundAccepted
	for range 3 {
		rec := e.do(t, http.MethodPost, "/v1/orders/o-1/refund", `{"consent":true}`, append([]string{"Idempotency-Key", "k-7"}, asConsole...)...)
		wantStatus(t, rec, http.StatusAccepted)
		if k := rec.Header().Get("Idempotency-Key"); k != "k-7" {
			t.Errorf("Idempotency-Key echoed as %q", k)
		}
		answers = append(answers, decodeInto[RefundAccepted](t, rec))
	}
	first := e.requestOf()
	for i, a := range answers {
		if a.Start == nil || !a.Start.RequestedAt.Equal(first.RequestedAt) || a.Start.State != api.RefundStartStatePending {
			t.Errorf("answer %d = %+v, want the first request, pending", i, a.Start)
		}
	}
	if first.IdempotencyKey != "k-7" || len(e.judge.reqs) != 1 {
		t.Errorf("request %+v judged %d times; want one request with the key, judged once", first, len(e.judge.reqs))
	}
	e.wf.startErr = nil
	*e.clock = first.NextAttemptAt
	e.sweep(t)
	if e.wf.runs != 1 || e.requestOf().State != ports.RequestStarted {
		t.Errorf("%d runs, request %+v; want one run", e.wf.runs, e.requestOf())
	}
}

// Closed, the dispatcher starts nothing more: a request recorded then
// stays pending for a sweep (another gateway's, or this one's after a
// restart).
func TestDispatcherClose(t *testing.T) {
	e := newEnv(t)
	e.judge.decision = eligible
	e.srv.Close()
	wantStatus(t, e.do(t, http.MethodPost, "/v1/orders/o-1/refund", `{"consent":true}`, asConsole...), http.StatusAccepted)
	if q := e.requestOf(); q.State != ports.RequestPending || q.LeaseOwner != e.srv.Intake().Owner() || e.wf.runs != 0 || len(e.wf.starts) != 0 {
		t.Fatalf("after Close: request %+v, %d runs; want pending, leased, not started", q, e.wf.runs)
	}
	// Its lease runs out; another gateway's sweeper starts it.
	other := newDispatcher(e.wf, e.orders, DispatchConfig{Owner: "gw-other"}, func() time.Time { return *e.clock }, zap.NewNop())
	defer other.Close()
	*e.clock = e.requestOf().LeaseUntil
	if n, err := other.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("the other gateway's sweep: %d, %v", n, err)
	}
	for other.busy.Load() > 0 {
		time.Sleep(time.Millisecond)
	}
	if q := e.requestOf(); q.State != ports.RequestStarted || e.wf.runs != 1 {
		t.Fatalf("after the other's sweep: %+v, %d runs; want started", q, e.wf.runs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e.srv.Intake().Run(ctx) // returns at once
}

// A running refund's record that is stale (its run was terminated
// without writing its last record) does not swallow new requests: the
// request joins it, and its start, refused by the reuse policy, finds the
// closed run, which blocks nothing: a new run follows, as a synchronous
// start did. While the run lives, the join only finds it.
func TestJoinOfAStaleRecord(t *testing.T) {
	tests := map[string]struct {
		terminated bool
		wantRuns   int
	}{
		"the run lives: joined":             {wantRuns: 0},
		"the run was terminated: a new run": {terminated: true, wantRuns: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.judge.decision = eligible
			e.orders.refunds["o-1"] = activities.RefundRecord{OrderID: "o-1", State: string(statemachine.OrderReleasing), Outcome: "pending", UpdatedAt: testNow.Add(-time.Hour)}
			if tc.terminated {
				e.wf.finished["o-1"] = refund.Status{} // ended without a result
			} else {
				e.wf.running["o-1"] = refund.Status{OrderID: "o-1", State: statemachine.OrderReleasing}
			}
			wantStatus(t, e.do(t, http.MethodPost, "/v1/orders/o-1/refund", `{"consent":true}`, asConsole...), http.StatusAccepted)
			if q := e.requestOf(); q.State != ports.RequestStarted || q.RunID != "run-o-1" || e.wf.runs != tc.wantRuns || len(e.judge.reqs) != 0 {
				t.Fatalf("request %+v, %d new runs, judged %d times; want started, %d new runs, not judged", q, e.wf.runs, len(e.judge.reqs), tc.wantRuns)
			}
		})
	}
}

// The operator pages' cancel and approve (RefundActions) start a pending
// request first, as the console API's do.
func TestRefundActionsStartThePendingRequestFirst(t *testing.T) {
	tests := map[string]func(a RefundActions) error{
		"cancel": func(a RefundActions) error {
			_, err := a.CancelRefund(context.Background(), "o-1", "", refund.CancelRequest{Actor: "alice"})
			return err
		},
		"approve": func(a RefundActions) error {
			_, err := a.ApproveRefund(context.Background(), "o-1", "", refund.ApproveRequest{Operator: "alice"})
			return err
		},
	}
	for name, send := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.record(t, testNow, false, 0, "", time.Time{})
			if err := send(RefundActions{Workflows: e.wf, Intake: e.srv.Intake()}); err != nil {
				t.Fatal(err)
			}
			if q := e.requestOf(); q.State != ports.RequestStarted || e.wf.runs != 1 || len(e.wf.cancels)+len(e.wf.approves) != 1 {
				t.Fatalf("request %+v, %d runs, %d updates; want started, then the update", q, e.wf.runs, len(e.wf.cancels)+len(e.wf.approves))
			}
		})
	}
}

// A background start yields to the refund POSTs this gateway is
// answering: it waits until they are answered, or Yield at the latest;
// a negative Yield never waits. (No timing is asserted but "not before
// the POSTs are answered", with a Yield of an hour.)
func TestStartsYieldToRefundPOSTsInFlight(t *testing.T) {
	tests := map[string]struct {
		yield time.Duration
		// startsWhileAccepting: the start comes while a POST is still
		// being answered.
		startsWhileAccepting bool
	}{
		"waits for the POSTs":        {yield: time.Hour},
		"waits no longer than Yield": {yield: 20 * time.Millisecond, startsWhileAccepting: true},
		"negative: never waits":      {yield: -1, startsWhileAccepting: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			d := newDispatcher(e.wf, e.orders, DispatchConfig{Owner: "gw-yield", Yield: tt.yield}, func() time.Time { return *e.clock }, zap.NewNop())
			defer d.Close()
			req := e.record(t, testNow, false, 1, d.Owner(), testNow.Add(time.Minute))
			first, second := d.Accepting(), d.Accepting()
			d.Dispatch(context.Background(), req, e.orders.orders["o-1"])
			first()
			first() // done twice counts once
			if tt.startsWhileAccepting {
				waitIdle(d)
				if q := e.requestOf(); q.State != ports.RequestStarted {
					t.Fatalf("with a POST in flight: request %s, want started", q.State)
				}
				second()
				return
			}
			time.Sleep(100 * time.Millisecond)
			if q := e.requestOf(); q.State != ports.RequestPending || d.InFlight() != 1 {
				t.Fatalf("with a POST in flight: request %s, %d starts in flight; want pending, waiting", q.State, d.InFlight())
			}
			second()
			waitIdle(d)
			if q := e.requestOf(); q.State != ports.RequestStarted {
				t.Fatalf("once the POSTs were answered: request %s, want started", q.State)
			}
			// Quiet again: a start dispatched now does not wait.
			done := d.Accepting()
			done()
			if d.quiet == nil {
				t.Fatal("no quiet channel")
			}
			select {
			case <-d.quiet:
			default:
				t.Fatal("no POST in flight, but the starts are held")
			}
		})
	}
}

// waitIdle waits until d has no start in flight.
func waitIdle(d *Dispatcher) {
	for d.InFlight() > 0 {
		time.Sleep(time.Millisecond)
	}
}
