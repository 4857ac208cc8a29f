package workflows_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/sim"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
)

var paidAt = time.Date(2026, 3, 2, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

type certEnv struct {
	n     int
	env   *testsuite.TestWorkflowEnvironment
	store *sim.FakeStore
	ca    *sim.FakeCA
}

func newCertEnv(t *testing.T, state statemachine.CertState) *certEnv {
	t.Helper()
	issued := paidAt.Add(2 * time.Hour)
	cert := domain.Certificate{ID: "c-1", State: state, IssuedAt: &issued}
	order := domain.Order{ID: "o-1", Product: domain.SSLCertificate, PaidAt: paidAt, Currency: "USD", Profile: "aliyun-intl",
		Certificates: []domain.Certificate{cert}}
	reg, err := policy.LoadRegistry()
	if err != nil {
		t.Fatal(err)
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(paidAt.Add(24 * time.Hour))
	ce := &certEnv{env: env, store: sim.NewFakeStore(order), ca: sim.NewFakeCA(nil)}
	pol := &sim.FakePolicies{Registry: reg}
	pol.Calendar.Name, pol.Calendar.Version, pol.Calendar.Timezone = "weekends", "1", "Asia/Shanghai"
	env.RegisterWorkflow(workflows.CertificateWorkflow)
	env.RegisterActivity(&activities.Activities{CA: ce.ca, Store: ce.store, Policies: pol, Payments: sim.NewFakePayments(env.Now)})
	return ce
}

func (ce *certEnv) run(t *testing.T, state statemachine.CertState) workflows.CertificateStatus {
	t.Helper()
	issued := paidAt.Add(2 * time.Hour)
	ce.env.ExecuteWorkflow(workflows.CertificateWorkflow, workflows.CertificateInput{
		OrderID: "o-1", Certificate: domain.Certificate{ID: "c-1", State: state, IssuedAt: &issued}})
	if !ce.env.IsWorkflowCompleted() {
		t.Fatal("certificate workflow did not complete")
	}
	var st workflows.CertificateStatus
	if err := ce.env.GetWorkflowResult(&st); err != nil {
		t.Fatalf("certificate workflow failed: %v", err)
	}
	return st
}

func (ce *certEnv) action(at time.Duration, req workflows.ActionRequest, rejected *string) {
	ce.n++
	id := fmt.Sprintf("u-%d-%s", ce.n, req.Action)
	ce.env.RegisterDelayedCallback(func() {
		ce.env.UpdateWorkflow(workflows.UpdateCertificateAction, id, &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) {
				if rejected != nil {
					*rejected = err.Error()
				}
			},
			OnComplete: func(any, error) {},
		}, req)
	}, at)
}

func (ce *certEnv) callback(at time.Duration, r workflows.CAResult) {
	ce.env.RegisterDelayedCallback(func() { ce.env.SignalWorkflow(workflows.SignalCAResult, r) }, at)
}

func events(st workflows.CertificateStatus) string {
	var parts []string
	for _, tr := range st.Transitions {
		parts = append(parts, string(tr.Event))
	}
	return strings.Join(parts, ",")
}

// A review result that arrives before the revoke it answers is held, a
// repeated event ID is applied once, and the quota comes back once (SSL-7).
func TestCertificateOutOfOrderAndDuplicateCallbacks(t *testing.T) {
	ce := newCertEnv(t, statemachine.Issued)
	approved := workflows.CAResult{EventID: "ca-ev-1", Certificate: "c-1", Result: statemachine.RevocationApproved}
	ce.callback(time.Minute, approved) // before the revoke: held
	ce.action(2*time.Minute, workflows.ActionRequest{Action: statemachine.Revoke, ConfirmIrreversible: true}, nil)
	ce.callback(3*time.Minute, approved) // duplicate: ignored
	ce.callback(4*time.Minute, approved) // duplicate again
	ce.action(5*time.Minute, workflows.ActionRequest{Action: statemachine.Delete}, nil)

	st := ce.run(t, statemachine.Issued)
	if got, want := events(st), "revoke,revocation_approved,delete"; got != want {
		t.Fatalf("transitions = %s, want %s", got, want)
	}
	if st.State != statemachine.Removed || !st.QuotaReturned || len(st.Held) != 0 {
		t.Fatalf("status = %+v", st)
	}
	if n := ce.store.QuotaReturned(); n != 1 {
		t.Fatalf("SSL-7 quota returned %d times, want 1", n)
	}
}

// An illegal console action is refused by the update validator with a
// message naming the state and the action, and changes nothing.
func TestCertificateIllegalActionRefused(t *testing.T) {
	ce := newCertEnv(t, statemachine.Issued)
	var withdraw, revoke string
	ce.action(time.Minute, workflows.ActionRequest{Action: statemachine.Withdraw}, &withdraw)
	ce.action(2*time.Minute, workflows.ActionRequest{Action: statemachine.Revoke}, &revoke) // SSL-9: not confirmed
	ce.action(3*time.Minute, workflows.ActionRequest{Action: statemachine.Revoke, ConfirmIrreversible: true}, nil)
	ce.callback(4*time.Minute, workflows.CAResult{EventID: "e1", Certificate: "c-1", Result: statemachine.RevocationApproved})
	ce.action(5*time.Minute, workflows.ActionRequest{Action: statemachine.Delete}, nil)

	st := ce.run(t, statemachine.Issued)
	if !strings.Contains(withdraw, `"issued"`) || !strings.Contains(withdraw, `"withdraw"`) {
		t.Errorf("withdraw refusal = %q, want it to name the state and the action", withdraw)
	}
	if !strings.Contains(revoke, "SSL-9") {
		t.Errorf("unconfirmed revoke refusal = %q, want SSL-9", revoke)
	}
	if got, want := events(st), "revoke,revocation_approved,delete"; got != want {
		t.Fatalf("transitions = %s, want %s (refused actions must write nothing)", got, want)
	}
	for _, a := range ce.ca.Actions {
		if strings.HasPrefix(a, "withdraw") {
			t.Fatalf("a refused action reached the CA: %v", ce.ca.Actions)
		}
	}
}

// SSL-6: a rejected revocation leaves the certificate issued.
func TestCertificateRevocationRejected(t *testing.T) {
	ce := newCertEnv(t, statemachine.Issued)
	ce.action(time.Minute, workflows.ActionRequest{Action: statemachine.Revoke, ConfirmIrreversible: true}, nil)
	ce.callback(2*time.Minute, workflows.CAResult{EventID: "e1", Certificate: "c-1", Result: statemachine.RevocationRejected, Reason: "key in use"})
	ce.action(3*time.Minute, workflows.ActionRequest{Action: statemachine.Revoke, ConfirmIrreversible: true}, nil)
	ce.callback(4*time.Minute, workflows.CAResult{EventID: "e2", Certificate: "c-1", Result: statemachine.RevocationApproved})
	ce.action(5*time.Minute, workflows.ActionRequest{Action: statemachine.Delete}, nil)
	st := ce.run(t, statemachine.Issued)
	if got, want := events(st), "revoke,revocation_rejected,revoke,revocation_approved,delete"; got != want {
		t.Fatalf("transitions = %s, want %s", got, want)
	}
}

// A certificate workflow continues as new when the server suggests it,
// carrying its state, the CA event IDs it has seen and the results it holds.
func TestCertificateContinuesAsNewWithItsState(t *testing.T) {
	ce := newCertEnv(t, statemachine.Issued)
	ce.env.SetContinueAsNewSuggested(true)
	issued := paidAt.Add(2 * time.Hour)
	held := workflows.CAResult{EventID: "early-1", Certificate: "c-1", Result: statemachine.RevocationApproved}
	ce.env.ExecuteWorkflow(workflows.CertificateWorkflow, workflows.CertificateInput{
		OrderID: "o-1", Certificate: domain.Certificate{ID: "c-1", State: statemachine.Issued, IssuedAt: &issued},
		Carry: &workflows.CertificateCarry{SeenEvents: []string{"early-1"}, Held: []workflows.CAResult{held}, Owner: "refund/o-1"}})
	var can *workflow.ContinueAsNewError
	if err := ce.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new, got %v", err)
	}
	var next workflows.CertificateInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Certificate.State != statemachine.Issued || next.Carry == nil ||
		len(next.Carry.Held) != 1 || len(next.Carry.SeenEvents) != 1 || next.Carry.SeenEvents[0] != "early-1" || next.Carry.Owner != "refund/o-1" {
		t.Fatalf("carried input = %+v / %+v", next, next.Carry)
	}
}
