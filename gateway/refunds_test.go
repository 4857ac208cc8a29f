package gateway

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
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

func TestStartRefund(t *testing.T) {
	e := newEnv(t)
	rec := e.do(t, http.MethodPost, "/v1/orders/o-1/refund",
		`{"consent":true,"confirm_irreversible":true,"accept_late_review_risk":true,"scope":"order","requested_by":"u-7"}`,
		"Idempotency-Key", "k-1")
	wantStatus(t, rec, http.StatusAccepted)
	got := decodeInto[RefundAccepted](t, rec)
	if got.WorkflowID != "refund/o-1" || got.RunID != "run-o-1" || got.Status == nil || got.Status.State != statemachine.OrderRefundRequested {
		t.Errorf("answer = %+v", got)
	}
	if loc := rec.Header().Get("Location"); loc != "/v1/orders/o-1/refund" {
		t.Errorf("Location = %q", loc)
	}
	if k := rec.Header().Get("Idempotency-Key"); k != "k-1" {
		t.Errorf("Idempotency-Key echoed as %q", k)
	}
	want := workflows.RefundInput{OrderID: "o-1", Request: domain.RefundRequest{
		OrderID: "o-1", RequestedAt: testNow, Scope: domain.ScopeOrder, Consent: true,
		ConfirmIrreversible: true, AcceptLateReviewRisk: true, RequestedBy: "u-7",
	}}
	if len(e.wf.starts) != 1 || !reflect.DeepEqual(e.wf.starts[0], want) {
		t.Errorf("started %+v, want %+v", e.wf.starts, want)
	}
}

func TestDuplicateRefundJoins(t *testing.T) {
	e := newEnv(t)
	first := decodeInto[RefundAccepted](t, e.do(t, http.MethodPost, "/v1/orders/o-1/refund", `{"consent":true}`, "Idempotency-Key", "a"))
	rec := e.do(t, http.MethodPost, "/v1/orders/o-1/refund", `{"consent":true}`, "Idempotency-Key", "b")
	wantStatus(t, rec, http.StatusAccepted)
	second := decodeInto[RefundAccepted](t, rec)
	if second.WorkflowID != first.WorkflowID || second.RunID != first.RunID {
		t.Errorf("second request answered %+v, first %+v", second, first)
	}
	if e.wf.runs != 1 || len(e.wf.starts) != 2 {
		t.Errorf("%d runs for %d requests, want 1 run", e.wf.runs, len(e.wf.starts))
	}
}

func TestRefusedRefundStillStarted(t *testing.T) {
	e := newEnv(t)
	// The workflow judges at once and records the refusal; the gateway
	// starts it all the same and answers with its status.
	e.wf.rejectWith = []string{"GEN-1"}
	rec := e.do(t, http.MethodPost, "/v1/orders/o-2/refund", `{}`)
	wantStatus(t, rec, http.StatusAccepted)
	got := decodeInto[RefundAccepted](t, rec)
	if got.Status == nil || got.Status.Outcome != workflows.OutcomeRejected || !reflect.DeepEqual(got.Status.Reasons, []string{"GEN-1"}) {
		t.Errorf("answer = %+v", got)
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
		"finished refund": {
			path: "/v1/orders/o-1/refund", setup: func(e *env) { e.wf.finished["o-1"] = workflows.RefundStatus{OrderID: "o-1"} },
			status: 409, code: errs.Conflict, mentions: "already finished",
		},
		"unknown order": {path: "/v1/orders/o-9/refund", status: 404, code: errs.NotFound, mentions: "order o-9"},
		"unknown scope": {path: "/v1/orders/o-1/refund", body: `{"scope":"certificate"}`, status: 422, code: errs.Invalid, mentions: `scope "certificate"`},
		"temporal down": {
			path: "/v1/orders/o-1/refund", setup: func(e *env) {
				e.wf.startErr = errs.E(errs.Unavailable, "the refund of order o-1 did not answer in time; retry")
			},
			status: 503, code: errs.Unavailable, mentions: "retry",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if tc.setup != nil {
				tc.setup(e)
			}
			wantError(t, e.do(t, http.MethodPost, tc.path, tc.body), tc.status, tc.code, tc.mentions)
		})
	}
}

func TestStartRefundStatusNotReady(t *testing.T) {
	e := newEnv(t)
	e.wf.statusErr = errs.E(errs.Unavailable, "the refund of order o-1 is starting; retry")
	rec := e.do(t, http.MethodPost, "/v1/orders/o-1/refund", "")
	wantStatus(t, rec, http.StatusAccepted)
	if got := decodeInto[RefundAccepted](t, rec); got.Status != nil || got.WorkflowID != "refund/o-1" {
		t.Errorf("answer = %+v, want the workflow ID without a status", got)
	}
}

func TestRefundStatus(t *testing.T) {
	rec := activities.RefundRecord{OrderID: "o-1", State: "refunded", Outcome: "refunded", Reasons: nil,
		Cash: "100.00", Currency: "USD", PaymentID: "pay-1", UpdatedAt: testNow}
	tests := map[string]struct {
		running  bool
		wfErr    error
		record   bool
		status   int
		source   string
		code     errs.Code
		mentions string
	}{
		"from the workflow":             {running: true, status: 200, source: SourceWorkflow},
		"workflow gone, from the store": {record: true, status: 200, source: SourceStore},
		"temporal down, from the store": {wfErr: errs.E(errs.Unavailable, "down"), record: true, status: 200, source: SourceStore},
		"no refund anywhere":            {status: 404, code: errs.NotFound, mentions: "order o-1 has no refund"},
		"temporal down, no record":      {wfErr: errs.E(errs.Unavailable, "did not answer"), status: 503, code: errs.Unavailable, mentions: "did not answer"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if tc.running {
				e.wf.running["o-1"] = workflows.RefundStatus{OrderID: "o-1", State: statemachine.OrderReleasing, Steps: []workflows.StepRecord{{At: testNow, Step: "revoke c-1"}}}
			}
			e.wf.statusErr = tc.wfErr
			if tc.record {
				e.orders.refunds["o-1"] = rec
			}
			resp := e.do(t, http.MethodGet, "/v1/orders/o-1/refund", "")
			if tc.code != "" {
				wantError(t, resp, tc.status, tc.code, tc.mentions)
				return
			}
			wantStatus(t, resp, tc.status)
			v := decodeInto[RefundView](t, resp)
			if v.Source != tc.source || v.WorkflowID != "refund/o-1" {
				t.Errorf("view = %+v", v)
			}
			switch tc.source {
			case SourceWorkflow:
				if v.Status.State != statemachine.OrderReleasing || len(v.Status.Steps) != 1 {
					t.Errorf("status = %+v", v.Status)
				}
			case SourceStore:
				if v.Status.State != statemachine.OrderRefunded || v.Status.Payout == nil || v.Status.Payout.PaymentID != "pay-1" ||
					v.Status.Payout.Cash != "100.00" || v.Status.Reasons == nil {
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
		outcome  workflows.Outcome
	}{
		"cancel": {path: "/v1/orders/o-1/refund/cancel", body: `{"actor":"u-7","reason":"changed my mind"}`, status: 200, outcome: workflows.OutcomeCancelled},
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
		"approve":               {path: "/v1/orders/o-1/refund/approve", body: `{"operator":"op-1","note":"ok"}`, status: 200, outcome: workflows.OutcomeRefunded},
		"approve without operator": {
			path: "/v1/orders/o-1/refund/approve", err: errs.E(errs.Invalid, "operator is required"),
			status: 422, code: errs.Invalid, mentions: "operator is required",
		},
		"approve when not awaiting": {
			path: "/v1/orders/o-1/refund/approve", body: `{"operator":"op-1"}`, err: errs.E(errs.Conflict, "the refund of order o-1 is not awaiting approval (state releasing)"),
			status: 409, code: errs.Conflict, mentions: "not awaiting approval",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.wf.running["o-1"] = workflows.RefundStatus{OrderID: "o-1", State: statemachine.OrderReleasing}
			e.wf.cancelErr, e.wf.approveErr = tc.err, tc.err
			rec := e.do(t, http.MethodPost, tc.path, tc.body)
			if tc.code != "" {
				d := wantError(t, rec, tc.status, tc.code, tc.mentions)
				if !reflect.DeepEqual(d.Rules, tc.rules) {
					t.Errorf("rules = %v, want %v", d.Rules, tc.rules)
				}
				return
			}
			wantStatus(t, rec, tc.status)
			if v := decodeInto[RefundView](t, rec); v.Status.Outcome != tc.outcome || v.Source != SourceWorkflow {
				t.Errorf("view = %+v", v)
			}
		})
	}
}

func TestUpdateIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	e.wf.running["o-1"] = workflows.RefundStatus{OrderID: "o-1"}
	e.do(t, http.MethodPost, "/v1/orders/o-1/refund/cancel", "", "Idempotency-Key", "k-9")
	e.do(t, http.MethodPost, "/v1/orders/o-1/refund/cancel", "")
	e.do(t, http.MethodPost, "/v1/certificates/c-1/actions/revoke", `{"confirm_irreversible":true}`, "Idempotency-Key", "k-9")
	want := []string{"/v1/orders/o-1/refund/cancel#k-9", "", "/v1/certificates/c-1/actions/revoke#k-9"}
	if !reflect.DeepEqual(e.wf.updateIDs, want) {
		t.Errorf("update IDs = %q, want %q", e.wf.updateIDs, want)
	}
}
