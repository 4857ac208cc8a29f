package gateway

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/api"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/refund"
)

func TestEligibility(t *testing.T) {
	e := newEnv(t)
	end := testNow.Add(5 * 24 * time.Hour)
	e.judge.decision = policy.Decision{
		Profile:  "aliyun-intl@2026-01",
		Eligible: false,
		Refusals: []policy.Refusal{{Rule: policy.RuleSSL9, Message: "revocation cannot be undone; confirm it"}},
		Window:   &policy.Window{End: end, Rule: policy.RuleGEN1, LateReviewRule: policy.RuleSSL2},
		MissingConfirmations: []policy.Confirmation{
			{Rule: policy.RuleSSL9, Field: policy.FieldConfirmIrreversible, Message: "confirm the revocation"},
		},
	}
	rec := e.do(t, http.MethodGet, "/v1/orders/o-1/refund-eligibility?consent=true&scope=order&accept_late_review_risk=1", "")
	wantStatus(t, rec, http.StatusOK)
	got := decodeInto[Eligibility](t, rec)
	if got.OrderID != "o-1" || !got.EvaluatedAt.Equal(testNow) {
		t.Errorf("answer = %+v", got)
	}
	if !reflect.DeepEqual(got.Decision.MissingConfirmations, e.judge.decision.MissingConfirmations) ||
		got.Decision.Window == nil || !got.Decision.Window.End.Equal(end) || got.Decision.Refusals[0].Rule != "SSL-9" {
		t.Errorf("decision = %+v", got.Decision)
	}
	want := domain.RefundRequest{OrderID: "o-1", RequestedAt: testNow, Scope: domain.ScopeOrder, Consent: true, AcceptLateReviewRisk: true}
	if len(e.judge.reqs) != 1 || !reflect.DeepEqual(e.judge.reqs[0], want) {
		t.Errorf("judged request = %+v, want %+v", e.judge.reqs, want)
	}
	if e.judge.orders[0].ID != "o-1" || !e.judge.nows[0].Equal(testNow) {
		t.Errorf("judged order %s at %s", e.judge.orders[0].ID, e.judge.nows[0])
	}
}

func TestEligibilityRefusals(t *testing.T) {
	tests := map[string]struct {
		path     string
		judgeErr error
		status   int
		code     errs.Code
		mentions string
	}{
		"unknown order":    {path: "/v1/orders/o-9/refund-eligibility", status: 404, code: errs.NotFound, mentions: "order o-9"},
		"bad boolean":      {path: "/v1/orders/o-1/refund-eligibility?consent=maybe", status: 400, code: errs.Invalid, mentions: "query parameter consent"},
		"unknown scope":    {path: "/v1/orders/o-1/refund-eligibility?scope=everything", status: 422, code: errs.Invalid, mentions: `scope "everything"`},
		"unknown profile":  {path: "/v1/orders/o-1/refund-eligibility", judgeErr: errs.E(errs.NotFound, "no profile aliyun-intl in force"), status: 404, code: errs.NotFound, mentions: "no profile"},
		"rules cannot run": {path: "/v1/orders/o-1/refund-eligibility", judgeErr: errs.E(errs.Invalid, "order has no currency"), status: 422, code: errs.Invalid, mentions: "currency"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.judge.err = tc.judgeErr
			wantError(t, e.do(t, http.MethodGet, tc.path, ""), tc.status, tc.code, tc.mentions)
		})
	}
}

// eligible is a decision the rules grant.
var eligible = policy.Decision{Profile: "aliyun-intl@2026-01", Eligible: true, Refusals: []policy.Refusal{}}

func TestStartRefund(t *testing.T) {
	e := newEnv(t)
	e.judge.decision = eligible
	rec := e.do(t, http.MethodPost, "/v1/orders/o-1/refund",
		`{"consent":true,"confirm_irreversible":true,"accept_late_review_risk":true,"scope":"order"}`,
		append([]string{"Idempotency-Key", "k-1"}, asConsole...)...)
	wantStatus(t, rec, http.StatusAccepted)
	// The 202 is the store's: the request recorded, its start pending (no
	// run ID yet); the dispatcher starts it after the answer.
	got := decodeInto[RefundAccepted](t, rec)
	if got.WorkflowID != "refund/o-1" || got.RunID != "" || got.Source != api.RefundAcceptedSourceStore || got.Status == nil ||
		got.Status.State != statemachine.OrderRefundRequested || got.Start == nil || got.Start.State != api.RefundStartStatePending || !got.Start.RequestedAt.Equal(testNow) {
		t.Errorf("answer = %+v (start %+v)", got, got.Start)
	}
	if loc := rec.Header().Get("Location"); loc != "/v1/orders/o-1/refund" {
		t.Errorf("Location = %q", loc)
	}
	if k := rec.Header().Get("Idempotency-Key"); k != "k-1" {
		t.Errorf("Idempotency-Key echoed as %q", k)
	}
	// The requester is the token's subject (GW-4 compares it with the
	// approving operator).
	want := refund.Input{OrderID: "o-1", Request: domain.RefundRequest{
		OrderID: "o-1", RequestedAt: testNow, Scope: domain.ScopeOrder, Consent: true,
		ConfirmIrreversible: true, AcceptLateReviewRisk: true, RequestedBy: "console-backend",
	}, By: domain.Actor{Subject: "console-backend", Role: domain.RoleConsole, IdempotencyKey: "k-1"}}
	if len(e.wf.starts) != 1 || !reflect.DeepEqual(e.wf.starts[0], want) {
		t.Errorf("started %+v, want %+v", e.wf.starts, want)
	}
	if len(e.judge.reqs) != 1 || !reflect.DeepEqual(e.judge.reqs[0], want.Request) {
		t.Errorf("judged %+v before starting, want %+v", e.judge.reqs, want.Request)
	}
	// The read model shows the request at once; the request is recorded
	// with the workflow's input and marked started with its run.
	if rec := e.orders.refunds["o-1"]; rec.State != "refund_requested" || rec.RequestedBy != "console-backend" {
		t.Errorf("store record = %+v", rec)
	}
	if q := e.orders.requests["o-1"]; q.State != ports.RequestStarted || q.RunID != "run-o-1" || q.IdempotencyKey != "k-1" || q.AfterFinished {
		t.Errorf("recorded request = %+v, want started with run-o-1", q)
	}
	// The status then names the run.
	v := decodeInto[RefundView](t, e.do(t, http.MethodGet, "/v1/orders/o-1/refund", "", asConsole...))
	if v.Start == nil || v.Start.State != api.RefundStartStateStarted || v.Start.RunID != "run-o-1" || v.Source != SourceStore {
		t.Errorf("status after the start = %+v (start %+v)", v, v.Start)
	}
}

func TestDuplicateRefundJoins(t *testing.T) {
	e := newEnv(t)
	e.judge.decision = eligible
	first := decodeInto[RefundAccepted](t, e.do(t, http.MethodPost, "/v1/orders/o-1/refund", `{"consent":true}`, "Idempotency-Key", "a"))
	rec := e.do(t, http.MethodPost, "/v1/orders/o-1/refund", `{"consent":true}`, "Idempotency-Key", "b")
	wantStatus(t, rec, http.StatusAccepted)
	second := decodeInto[RefundAccepted](t, rec)
	// Both answered before their starts (no run ID yet). The second, the
	// first's refund running, is recorded to join it: its start finds the
	// run (USE_EXISTING), so one run for two starts, and its run is the
	// first's.
	if second.WorkflowID != first.WorkflowID || first.RunID != "" || second.RunID != "" || second.Start == nil || second.Start.State != api.RefundStartStatePending {
		t.Errorf("second request answered %+v, first %+v", second, first)
	}
	if e.wf.runs != 1 || len(e.wf.starts) != 2 {
		t.Errorf("%d runs for %d starts asked, want 1 run, 2 starts", e.wf.runs, len(e.wf.starts))
	}
	if q := e.orders.requests["o-1"]; q.State != ports.RequestStarted || q.RunID != "run-o-1" || q.IdempotencyKey != "b" {
		t.Errorf("the joining request = %+v, want started in the first's run", q)
	}
}

// A request the rules refuse is 422 with the rule IDs and starts nothing;
// the corrected request then starts the refund.
func TestRefusedRequestStartsNothingThenRetrySucceeds(t *testing.T) {
	e := newEnv(t)
	e.judge.decision = policy.Decision{Eligible: false, Refusals: []policy.Refusal{
		{Rule: "TC-5", Message: "the requester must consent to the refund policy"},
		{Rule: "SSL-9", Message: "revocation cannot be undone; confirm_irreversible"},
	}}
	d := wantError(t, e.do(t, http.MethodPost, "/v1/orders/o-1/refund", `{}`, asConsole...), 422, errs.NotRefundable, "nothing was started")
	if !slices.Equal(d.Rules, []string{"TC-5", "SSL-9"}) {
		t.Errorf("rules = %v, want [TC-5 SSL-9]", d.Rules)
	}
	if len(e.wf.starts) != 0 {
		t.Fatalf("a refused request started %d workflows", len(e.wf.starts))
	}
	e.judge.decision = eligible
	rec := e.do(t, http.MethodPost, "/v1/orders/o-1/refund", `{"consent":true,"confirm_irreversible":true}`, asConsole...)
	wantStatus(t, rec, http.StatusAccepted)
	if e.wf.runs != 1 {
		t.Errorf("runs = %d after the corrected request, want 1", e.wf.runs)
	}
}

// What a finished refund leaves: paid or a final rule blocks (409 naming
// it); cancelled or a changeable refusal does not.
func TestFinishedRefundBlocksOrNot(t *testing.T) {
	tests := map[string]struct {
		last   refund.Status
		status int
		rules  []string
	}{
		"paid":                {refund.Status{Outcome: refund.OutcomeRefunded, Payout: &refund.Payout{PaymentID: "pay-1"}}, 409, []string{"M-3"}},
		"refused late":        {refund.Status{Outcome: refund.OutcomeRejected, Reasons: []string{"GEN-1"}}, 409, []string{"GEN-1"}},
		"review too late":     {refund.Status{Outcome: refund.OutcomeRejected, Reasons: []string{"SSL-2"}}, 409, []string{"SSL-2"}},
		"cancelled":           {refund.Status{Outcome: refund.OutcomeCancelled, Reasons: []string{}}, 202, nil},
		"CA rejected (SSL-6)": {refund.Status{Outcome: refund.OutcomeRejected, Reasons: []string{"SSL-6"}}, 202, nil},
		"technical failure":   {refund.Status{Outcome: refund.OutcomeRejected, Reasons: []string{}}, 202, nil},
	}
	for name, tc := range tests {
		// The finished workflow wrote its last record: the POST asks
		// Temporal and answers 409 itself. Or that write was lost: the
		// POST, seeing nothing in the store, records the request (202),
		// and its start, refused by the reuse policy, is decided on
		// Temporal's word by the dispatcher: a blocking run fails the
		// request with the Conflict and its rules, which the status shows.
		for _, recorded := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, recorded %t", name, recorded), func(t *testing.T) {
				e := newEnv(t)
				e.judge.decision = eligible
				tc.last.OrderID = "o-1"
				e.wf.finished["o-1"] = tc.last
				if recorded {
					e.orders.refunds["o-1"] = activities.RefundRecord{OrderID: "o-1", State: string(tc.last.Outcome), // the final states share the outcomes' names
						Outcome: string(tc.last.Outcome), Reasons: tc.last.Reasons, UpdatedAt: testNow}
				}
				rec := e.do(t, http.MethodPost, "/v1/orders/o-1/refund", `{"consent":true}`, asConsole...)
				if tc.status == 409 && !recorded {
					wantStatus(t, rec, 202)
					if e.wf.runs != 0 {
						t.Errorf("a blocked request started %d runs", e.wf.runs)
					}
					v := decodeInto[RefundView](t, e.do(t, http.MethodGet, "/v1/orders/o-1/refund", "", asConsole...))
					if v.Start == nil || v.Start.State != api.RefundStartStateFailed || v.Start.Error == nil || v.Start.Error.Code != string(errs.Conflict) ||
						!slices.Equal(v.Start.Error.Rules, tc.rules) {
						t.Fatalf("status = %+v (start %+v), want the start failed with conflict %v", v, v.Start, tc.rules)
					}
					if v.Status.State != statemachine.OrderRejected || !slices.Equal(v.Status.Reasons, tc.rules) {
						t.Errorf("record = %+v, want rejected under %v", v.Status, tc.rules)
					}
					return
				}
				if tc.status == 409 {
					d := wantError(t, rec, 409, errs.Conflict, "o-1")
					if !slices.Equal(d.Rules, tc.rules) {
						t.Errorf("rules = %v, want %v", d.Rules, tc.rules)
					}
					if e.wf.runs != 0 || (recorded && len(e.wf.starts) != 0) {
						t.Errorf("a blocked request started a workflow (%d starts asked, %d runs)", len(e.wf.starts), e.wf.runs)
					}
					return
				}
				wantStatus(t, rec, 202)
				if e.wf.runs != 1 {
					t.Errorf("runs = %d, want a new run", e.wf.runs)
				}
			})
		}
	}
}

func TestStartRefundRefusals(t *testing.T) {
	tests := map[string]struct {
		path     string
		body     string
		setup    func(*env)
		status   int
		code     errs.Code
		mentions string
	}{
		"unknown order": {path: "/v1/orders/o-9/refund", status: 404, code: errs.NotFound, mentions: "order o-9"},
		"unknown scope": {path: "/v1/orders/o-1/refund", body: `{"scope":"certificate"}`, status: 422, code: errs.Invalid, mentions: `scope "certificate"`},
		"actor in body": {path: "/v1/orders/o-1/refund", body: `{"requested_by":"mallory"}`, status: 400, code: errs.Invalid, mentions: `unknown field "requested_by"`},
		// Temporal down no longer fails the POST: the request is recorded
		// and its start retried (TestDispatchRetriesWhileTemporalIsDown).
		// The store down does: nothing could be recorded.
		"store down": {
			path: "/v1/orders/o-1/refund", setup: func(e *env) {
				e.orders.requestErr = errs.E(errs.Unavailable, "the database did not answer; retry")
			},
			status: 503, code: errs.Unavailable, mentions: "database did not answer",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.judge.decision = eligible
			if tc.setup != nil {
				tc.setup(e)
			}
			wantError(t, e.do(t, http.MethodPost, tc.path, tc.body), tc.status, tc.code, tc.mentions)
			if e.wf.runs != 0 {
				t.Error("a refused request started a workflow")
			}
		})
	}
}

// The POST answers with the store's record, never a workflow query: the
// request just recorded, or the running refund a request joins (not
// judged again).
func TestStartRefundAnswersFromTheRecord(t *testing.T) {
	e := newEnv(t)
	e.judge.decision = eligible
	e.wf.statusErr = errs.E(errs.Unavailable, "the worker did not answer")
	rec := e.do(t, http.MethodPost, "/v1/orders/o-1/refund", "", asConsole...)
	wantStatus(t, rec, http.StatusAccepted)
	got := decodeInto[RefundAccepted](t, rec)
	if got.WorkflowID != "refund/o-1" || got.Status == nil || got.Status.State != statemachine.OrderRefundRequested ||
		got.Status.Outcome != api.Outcome(refund.OutcomePending) {
		t.Errorf("answer = %+v (status %+v), want the recorded request", got, got.Status)
	}

	e.orders.refunds["o-1"] = activities.RefundRecord{OrderID: "o-1", State: string(statemachine.OrderReleasing), Outcome: "pending",
		UpdatedAt: testNow, Steps: []domain.StepRecord{{At: testNow, Step: "accepted"}}}
	judged := len(e.judge.orders)
	rec = e.do(t, http.MethodPost, "/v1/orders/o-1/refund", "", asConsole...)
	wantStatus(t, rec, http.StatusAccepted)
	got = decodeInto[RefundAccepted](t, rec)
	if got.Status == nil || got.Status.State != statemachine.OrderReleasing || len(got.Status.Steps) != 1 {
		t.Errorf("joining answer = %+v, want the running refund's record", got.Status)
	}
	// Joining: not judged; recorded, its start finds the run (one run).
	if len(e.judge.orders) != judged || e.wf.runs != 1 || len(e.wf.starts) != 2 || e.wf.starts[1].OrderID != "o-1" {
		t.Errorf("a joining request: judged %d more, %d runs, %d starts; want not judged, one run", len(e.judge.orders)-judged, e.wf.runs, len(e.wf.starts))
	}
	if e.wf.statusCalls != 0 {
		t.Errorf("%d workflow queries on the request path", e.wf.statusCalls)
	}
}

// Eligibility counts the refund history: money paid out is refused with
// M-3 and the amount; a refund in flight is reported with its state; a
// cancelled one does not block.
func TestEligibilityKnowsRefundHistory(t *testing.T) {
	e := newEnv(t)
	e.judge.decision = eligible
	e.orders.refunded["o-1"] = decimal.RequireFromString("100")
	e.orders.refunds["o-1"] = activities.RefundRecord{OrderID: "o-1", State: "refunded", Outcome: "refunded", UpdatedAt: testNow}
	got := decodeInto[Eligibility](t, e.do(t, http.MethodGet, "/v1/orders/o-1/refund-eligibility", "", asConsole...))
	if got.AlreadyRefunded != "100.00" || got.InProgress || got.Refund == nil || got.Refund.State != "refunded" {
		t.Errorf("answer = %+v", got)
	}
	if got.Decision.Eligible || len(got.Decision.Refusals) != 1 || got.Decision.Refusals[0].Rule != "M-3" {
		t.Errorf("decision once paid = %+v, want refused with M-3", got.Decision)
	}
	if !e.judge.orders[0].AlreadyRefunded.Equal(decimal.RequireFromString("100")) {
		t.Errorf("judged with already_refunded %s, want the ledger's 100 (M-3)", e.judge.orders[0].AlreadyRefunded)
	}

	e.orders.refunds["o-2"] = activities.RefundRecord{OrderID: "o-2", State: "awaiting_approval", Outcome: "awaiting_approval", UpdatedAt: testNow}
	got = decodeInto[Eligibility](t, e.do(t, http.MethodGet, "/v1/orders/o-2/refund-eligibility", "", asConsole...))
	if !got.InProgress || got.Refund.State != "awaiting_approval" || got.AlreadyRefunded != "0.00" {
		t.Errorf("in flight: %+v", got)
	}
}

func TestRefundStatus(t *testing.T) {
	rec := activities.RefundRecord{OrderID: "o-1", State: "refunded", Outcome: "refunded", Reasons: nil,
		Cash: "100.00", Currency: "USD", PaymentID: "pay-1", UpdatedAt: testNow,
		Steps: []domain.StepRecord{{At: testNow, Step: "paid", Detail: "100.00 USD"}}}
	down := errs.E(errs.Unavailable, "the worker did not answer for the refund of order o-1 within 2s")
	tests := map[string]struct {
		query    string
		running  bool
		wfErr    error
		lastErr  error // the describe of a refund the store knows nothing of
		storeErr error
		record   bool
		status   int
		source   string
		queries  int
		// requested: the answer is the just-started refund's
		// (refund_requested, pending), known without a query.
		requested bool
		code      errs.Code
		mentions  string
	}{
		"from the store, no query":          {record: true, running: true, wfErr: down, status: 200, source: SourceStore},
		"view=record is the default":        {query: "?view=record", record: true, status: 200, source: SourceStore},
		"view=workflow asks the workflow":   {query: "?view=workflow", record: true, running: true, status: 200, source: SourceWorkflow, queries: 1},
		"view=workflow, worker down":        {query: "?view=workflow", record: true, running: true, wfErr: down, status: 503, code: errs.Unavailable, queries: 1, mentions: "the worker did not answer"},
		"view=workflow, no workflow: store": {query: "?view=workflow", record: true, status: 200, source: SourceStore, queries: 1},
		"no record yet, running: requested": {running: true, status: 200, source: SourceWorkflow, requested: true},
		"store down: the workflow":          {storeErr: errs.E(errs.Unavailable, "store down"), running: true, status: 200, source: SourceWorkflow, queries: 1},
		"store and workflow down: 503":      {storeErr: errs.E(errs.Unavailable, "store down"), wfErr: down, status: 503, code: errs.Unavailable, queries: 1, mentions: "did not answer"},
		"no refund anywhere: one describe":  {status: 404, code: errs.NotFound, mentions: "order o-1 has no refund"},
		"no record, temporal down":          {lastErr: down, status: 503, code: errs.Unavailable, mentions: "did not answer"},
		"unknown view":                      {query: "?view=live", status: 400, code: errs.Invalid, mentions: "view: unknown value \"live\"; allowed: record, workflow"},
		"unknown parameter":                 {query: "?fresh=1", status: 400, code: errs.Invalid, mentions: "fresh is not known"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if tc.running {
				e.wf.running["o-1"] = refund.Status{OrderID: "o-1", State: statemachine.OrderReleasing, Steps: []refund.StepRecord{{At: testNow, Step: "revoke c-1"}}}
			}
			e.wf.statusErr, e.wf.lastErr, e.orders.refundErr = tc.wfErr, tc.lastErr, tc.storeErr
			if tc.record {
				e.orders.refunds["o-1"] = rec
			}
			resp := e.do(t, http.MethodGet, "/v1/orders/o-1/refund"+tc.query, "")
			if e.wf.statusCalls != tc.queries {
				t.Errorf("%d workflow queries, want %d", e.wf.statusCalls, tc.queries)
			}
			if tc.code != "" {
				wantError(t, resp, tc.status, tc.code, tc.mentions)
				return
			}
			wantStatus(t, resp, tc.status)
			v := decodeInto[RefundView](t, resp)
			if string(v.Source) != tc.source || v.WorkflowID != "refund/o-1" {
				t.Errorf("view = %+v", v)
			}
			switch {
			case tc.requested:
				if v.Status.State != statemachine.OrderRefundRequested || v.Status.Outcome != api.Outcome(refund.OutcomePending) || v.Status.Steps == nil {
					t.Errorf("status = %+v, want the requested refund", v.Status)
				}
			case tc.source == SourceWorkflow:
				if v.Status.State != statemachine.OrderReleasing || len(v.Status.Steps) != 1 {
					t.Errorf("status = %+v", v.Status)
				}
			case tc.source == SourceStore:
				if v.Status.State != statemachine.OrderRefunded || v.Status.Payout == nil || v.Status.Payout.PaymentID != "pay-1" ||
					v.Status.Payout.Cash != "100.00" || v.Status.Reasons == nil || len(v.Status.Steps) != 1 || v.Status.Steps[0].Step != "paid" {
					t.Errorf("status from record = %+v", v.Status)
				}
			}
		})
	}
}

func TestCancelAndApprove(t *testing.T) {
	tests := map[string]struct {
		path     string
		body     string
		err      error
		status   int
		code     errs.Code
		mentions string
		rules    []string
		outcome  refund.Outcome
	}{
		"cancel": {path: "/v1/orders/o-1/refund/cancel", body: `{"reason":"changed my mind"}`, status: 200, outcome: refund.OutcomeCancelled},
		"cancel refused after revoke": {
			path: "/v1/orders/o-1/refund/cancel", err: errs.R(errs.Conflict, []string{"CAN-1"}, "the refund of order o-1 can no longer be cancelled (committed)"),
			status: 409, code: errs.Conflict, mentions: "can no longer be cancelled", rules: []string{"CAN-1"},
		},
		"cancel refused by profile": {
			path: "/v1/orders/o-1/refund/cancel", err: errs.R(errs.Conflict, []string{"CAN-2", "TC-3"}, "a submitted refund request cannot be cancelled"),
			status: 409, code: errs.Conflict, mentions: "cannot be cancelled", rules: []string{"CAN-2", "TC-3"},
		},
		"cancel of a finished refund": {
			path: "/v1/orders/o-1/refund/cancel", err: errs.E(errs.Conflict, "the refund of order o-1 has already ended"),
			status: 409, code: errs.Conflict, mentions: "already ended",
		},
		"cancel without refund": {path: "/v1/orders/o-2/refund/cancel", status: 404, code: errs.NotFound, mentions: "refund of order o-2 not found"},
		"approve":               {path: "/v1/orders/o-1/refund/approve", body: `{"note":"ok"}`, status: 200, outcome: refund.OutcomeRefunded},
		"approve without operator": {
			path: "/v1/orders/o-1/refund/approve", err: errs.E(errs.Invalid, "operator is required"),
			status: 422, code: errs.Invalid, mentions: "operator is required",
		},
		"approve when not awaiting": {
			path: "/v1/orders/o-1/refund/approve", err: errs.R(errs.Conflict, []string{"GW-4"}, "GW-4: the refund of order o-1 is not awaiting approval (state releasing)"),
			status: 409, code: errs.Conflict, mentions: "not awaiting approval", rules: []string{"GW-4"},
		},
		"approve by the requester (four eyes)": {
			path: "/v1/orders/o-1/refund/approve", err: errs.R(errs.Forbidden, []string{"GW-4"}, "GW-4: alice requested this refund and cannot also approve it"),
			status: 403, code: errs.Forbidden, mentions: "cannot also approve", rules: []string{"GW-4"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.wf.running["o-1"] = refund.Status{OrderID: "o-1", State: statemachine.OrderReleasing}
			e.wf.cancelErr, e.wf.approveErr = tc.err, tc.err
			rec := e.do(t, http.MethodPost, tc.path, tc.body)
			if tc.code != "" {
				d := wantError(t, rec, tc.status, tc.code, tc.mentions)
				if !slices.Equal(d.Rules, tc.rules) {
					t.Errorf("rules = %v, want %v", d.Rules, tc.rules)
				}
				return
			}
			wantStatus(t, rec, tc.status)
			if v := decodeInto[RefundView](t, rec); v.Status.Outcome != api.Outcome(tc.outcome) || v.Source != SourceWorkflow {
				t.Errorf("view = %+v", v)
			}
		})
	}
}

func TestUpdateIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	e.wf.running["o-1"] = refund.Status{OrderID: "o-1"}
	e.do(t, http.MethodPost, "/v1/orders/o-1/refund/cancel", "", "Idempotency-Key", "k-9")
	e.do(t, http.MethodPost, "/v1/orders/o-1/refund/cancel", "")
	e.do(t, http.MethodPost, "/v1/certificates/c-1/actions/revoke", `{"confirm_irreversible":true}`, "Idempotency-Key", "k-9")
	want := []string{"/v1/orders/o-1/refund/cancel#k-9", "", "/v1/certificates/c-1/actions/revoke#k-9"}
	if !reflect.DeepEqual(e.wf.updateIDs, want) {
		t.Errorf("update IDs = %q, want %q", e.wf.updateIDs, want)
	}
}
