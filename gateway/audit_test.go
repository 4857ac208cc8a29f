package gateway

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/api"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/refund"
)

// TestActionsCarryTheirActor: every console or operator action reaches its
// workflow with who asked (the token's subject and role) and the
// request's Idempotency-Key, for the audit trail; no token ever does.
func TestActionsCarryTheirActor(t *testing.T) {
	e := newEnv(t)
	e.judge.decision = eligible
	e.wf.running["o-2"] = refund.Status{OrderID: "o-2", State: statemachine.OrderAwaitingApproval}
	key := func(k string, as []string) []string { return append([]string{"Idempotency-Key", k}, as...) }

	wantStatus(t, e.do(t, http.MethodPost, "/v1/orders/o-1/refund", `{"consent":true}`, key("k-req", asConsole)...), http.StatusAccepted)
	wantStatus(t, e.do(t, http.MethodPost, "/v1/orders/o-2/refund/approve", `{"note":"checked"}`, key("k-appr", asBob)...), http.StatusOK)
	wantStatus(t, e.do(t, http.MethodPost, "/v1/orders/o-2/refund/cancel", `{"reason":"changed my mind"}`, key("k-can", asConsole)...), http.StatusOK)
	wantStatus(t, e.do(t, http.MethodPost, "/v1/certificates/c-1/actions/revoke", `{"confirm_irreversible":true}`, key("k-act", asAlice)...), http.StatusOK)

	tests := map[string]struct {
		got  any
		want domain.Actor
	}{
		"refund request": {got: e.wf.starts[0].By, want: domain.Actor{Subject: "console-backend", Role: domain.RoleConsole, IdempotencyKey: "k-req"}},
		"approval":       {got: e.wf.approves[0].By, want: domain.Actor{Subject: "bob", Role: domain.RoleOperator, IdempotencyKey: "k-appr"}},
		"cancel":         {got: e.wf.cancels[0].By, want: domain.Actor{Subject: "console-backend", Role: domain.RoleConsole, IdempotencyKey: "k-can"}},
		"certificate":    {got: e.wf.actions[0].By, want: domain.Actor{Subject: "alice", Role: domain.RoleOperator, IdempotencyKey: "k-act"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("by = %+v, want %+v", tc.got, tc.want)
			}
		})
	}
	if e.wf.approves[0].Note != "checked" || e.wf.approves[0].Operator != "bob" || e.wf.cancels[0].Reason != "changed my mind" || e.wf.cancels[0].Actor != "console-backend" {
		t.Errorf("approve %+v, cancel %+v", e.wf.approves[0], e.wf.cancels[0])
	}

	sent, err := json.Marshal([]any{e.wf.starts, e.wf.approves, e.wf.cancels, e.wf.actions, e.orders.refunds})
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{consoleToken, operatorToken, operator2Token, "Bearer", HashToken(operator2Token)} {
		if strings.Contains(string(sent), secret) {
			t.Errorf("a request carries %q: %s", secret, sent)
		}
	}
}

// TestRefundStatusFromRecordCarriesEverything: when no workflow answers,
// the store's record gives waiting_on, escalation, audit, message and the
// whole payout.
func TestRefundStatusFromRecordCarriesEverything(t *testing.T) {
	deadline := testNow.Add(72 * time.Hour)
	rec := activities.RefundRecord{OrderID: "o-1", State: "refunded", Outcome: "refunded", Reasons: []string{}, Message: "paid",
		Cash: "80.00", GiftCard: "20.00", BenefitPoints: 5, Currency: "USD", PaymentID: "pay-1", Destination: domain.OriginalMethod,
		UpdatedAt: testNow, Escalated: true,
		WaitingOn:  []domain.Wait{{Kind: domain.WaitCAReview, Certificate: "c-1", Since: testNow, Deadline: &deadline, Rule: "T-3"}},
		Escalation: &domain.Escalation{Rule: "T-3", Reason: "review past its deadline", At: testNow, Certificate: "c-1", Deadline: deadline},
		Audit:      []domain.AuditEntry{{Action: domain.AuditRefundRequested, At: testNow, Actor: domain.Actor{Subject: "console-backend", Role: "console", IdempotencyKey: "k-1"}}},
	}
	e := newEnv(t)
	e.orders.refunds["o-1"] = rec
	resp := e.do(t, http.MethodGet, "/v1/orders/o-1/refund", "")
	wantStatus(t, resp, http.StatusOK)
	v := decodeInto[RefundView](t, resp)
	st := v.Status
	wantPayout := &api.Payout{PaymentID: "pay-1", Cash: "80.00", GiftCard: "20.00", BenefitPoints: 5, Currency: "USD", Destination: string(domain.OriginalMethod), At: testNow}
	switch {
	case v.Source != SourceStore:
		t.Errorf("source = %s", v.Source)
	case !reflect.DeepEqual(st.WaitingOn, rec.WaitingOn):
		t.Errorf("waiting_on = %+v", st.WaitingOn)
	case !reflect.DeepEqual(st.Escalation, rec.Escalation) || !st.Escalated:
		t.Errorf("escalation = %+v", st.Escalation)
	case !reflect.DeepEqual(st.Audit, rec.Audit):
		t.Errorf("audit = %+v", st.Audit)
	case st.Message != "paid":
		t.Errorf("message = %q", st.Message)
	case !reflect.DeepEqual(st.Payout, wantPayout):
		t.Errorf("payout = %+v, want %+v", st.Payout, wantPayout)
	}
}

// TestRefundStatusListsAreArrays: waiting_on and audit are arrays in
// every status answer, whichever source it came from.
func TestRefundStatusListsAreArrays(t *testing.T) {
	for name, setup := range map[string]func(e *env){
		"workflow": func(e *env) {
			e.wf.running["o-1"] = refund.Status{OrderID: "o-1", State: statemachine.OrderReleasing}
		},
		"store": func(e *env) { e.orders.refunds["o-1"] = activities.RefundRecord{OrderID: "o-1", State: "cancelled"} },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			setup(e)
			resp := e.do(t, http.MethodGet, "/v1/orders/o-1/refund", "")
			wantStatus(t, resp, http.StatusOK)
			for _, want := range []string{`"waiting_on":[]`, `"audit":[]`, `"reasons":[]`, `"steps":[]`} {
				if !strings.Contains(resp.Body.String(), want) {
					t.Errorf("body %s lacks %s", resp.Body, want)
				}
			}
		})
	}
}
