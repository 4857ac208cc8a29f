package certificate_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/sim"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
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
	env.SetWorkerOptions(testenv.WorkerOptions())
	env.SetStartTime(paidAt.Add(24 * time.Hour))
	ce := &certEnv{env: env, store: sim.NewFakeStore(order), ca: sim.NewFakeCA(nil)}
	ce.ca.SetClock(env.Now)
	pol := &sim.FakePolicies{Registry: reg}
	pol.Calendar.Name, pol.Calendar.Version, pol.Calendar.Timezone = "weekends", "1", "Asia/Shanghai"
	workflows.Register(env)
	workflows.RegisterActivities(env, activities.Deps{CA: ce.ca, Store: ce.store, Policies: pol, Payments: sim.NewFakePayments(env.Now)})
	return ce
}

func (ce *certEnv) run(t *testing.T, state statemachine.CertState) certificate.Status {
	t.Helper()
	issued := paidAt.Add(2 * time.Hour)
	ce.env.ExecuteWorkflow(certificate.WorkflowName, certificate.Input{
		OrderID: "o-1", Certificate: domain.Certificate{ID: "c-1", State: state, IssuedAt: &issued}})
	if !ce.env.IsWorkflowCompleted() {
		t.Fatal("certificate workflow did not complete")
	}
	var st certificate.Status
	if err := ce.env.GetWorkflowResult(&st); err != nil {
		t.Fatalf("certificate workflow failed: %v", err)
	}
	return st
}

func (ce *certEnv) action(at time.Duration, req certificate.ActionRequest, rejected *string) {
	ce.n++
	id := fmt.Sprintf("u-%d-%s", ce.n, req.Action)
	ce.env.RegisterDelayedCallback(func() {
		ce.env.UpdateWorkflow(certificate.UpdateAction, id, &testsuite.TestUpdateCallback{
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

func (ce *certEnv) callback(at time.Duration, r certificate.CAResult) {
	ce.env.RegisterDelayedCallback(func() { ce.env.SignalWorkflow(certificate.SignalCAResult, r) }, at)
}

func events(st certificate.Status) string {
	var parts []string
	for _, tr := range st.Transitions {
		parts = append(parts, string(tr.Event))
	}
	return strings.Join(parts, ",")
}

// A review result that arrives before any revoke answers no review: it is
// recorded as stray and not held, so the later revoke waits for its own
// review's result; a repeated event ID is applied once, and the quota
// comes back once (SSL-7).
func TestCertificateStrayBeforeRevokeAndDuplicateCallbacks(t *testing.T) {
	ce := newCertEnv(t, statemachine.Issued)
	stray := certificate.CAResult{EventID: "ca-ev-0", Certificate: "c-1", Result: statemachine.RevocationApproved}
	approved := certificate.CAResult{EventID: "ca-ev-1", Certificate: "c-1", Result: statemachine.RevocationApproved}
	ce.callback(time.Minute, stray) // before the revoke: stray, not held
	ce.action(2*time.Minute, certificate.ActionRequest{Action: statemachine.Revoke, ConfirmIrreversible: true}, nil)
	var early string
	ce.action(3*time.Minute, certificate.ActionRequest{Action: statemachine.Delete}, &early) // the review is still open
	ce.callback(4*time.Minute, approved)
	ce.callback(5*time.Minute, approved) // duplicate: ignored
	ce.callback(6*time.Minute, stray)    // the stray again: a seen event ID, ignored
	ce.action(7*time.Minute, certificate.ActionRequest{Action: statemachine.Delete}, nil)

	st := ce.run(t, statemachine.Issued)
	if got, want := events(st), "revoke,revocation_approved,delete"; got != want {
		t.Fatalf("transitions = %s, want %s", got, want)
	}
	if early == "" {
		t.Fatal("a delete while the review was open was accepted: the stray result was applied")
	}
	if st.State != statemachine.Removed || !st.QuotaReturned || len(st.Held) != 0 {
		t.Fatalf("status = %+v", st)
	}
	if len(st.Strays) != 1 || st.Strays[0].Result.EventID != "ca-ev-0" || !strings.Contains(st.Strays[0].Why, "no revocation review is open") {
		t.Fatalf("strays = %+v, want the early result recorded once", st.Strays)
	}
	if tr := st.Transitions[1]; tr.EventID != "ca-ev-1" {
		t.Fatalf("applied %+v, want ca-ev-1", tr)
	}
	if n := ce.store.QuotaReturned(); n != 1 {
		t.Fatalf("SSL-7 quota returned %d times, want 1", n)
	}
}

// A revocation result is applied only to the open review it answers: one
// naming another review, one that occurred before the submission, and one
// from beyond the clock-skew tolerance in the future are recorded as
// stray; the result naming the open review is applied with its time.
func TestCertificateResultMustAnswerTheOpenReview(t *testing.T) {
	ce := newCertEnv(t, statemachine.Issued)
	start := paidAt.Add(24 * time.Hour)
	ce.action(time.Hour, certificate.ActionRequest{Action: statemachine.Revoke, ConfirmIrreversible: true}, nil)
	ce.callback(2*time.Hour, certificate.CAResult{EventID: "other", Certificate: "c-1", Result: statemachine.RevocationApproved,
		ReviewID: "rev-older", At: start.Add(90 * time.Minute)})
	ce.callback(3*time.Hour, certificate.CAResult{EventID: "before", Certificate: "c-1", Result: statemachine.RevocationApproved,
		At: start.Add(30 * time.Minute)}) // no ID, occurred before the submission
	ce.callback(4*time.Hour, certificate.CAResult{EventID: "future", Certificate: "c-1", Result: statemachine.RevocationApproved,
		At: start.Add(4*time.Hour + 6*time.Minute)})
	ce.callback(5*time.Hour, certificate.CAResult{EventID: "real", Certificate: "c-1", Result: statemachine.RevocationApproved,
		ReviewID: "rev-c-1-1", At: start.Add(4*time.Hour + 30*time.Minute)})
	ce.action(6*time.Hour, certificate.ActionRequest{Action: statemachine.Delete}, nil)

	st := ce.run(t, statemachine.Issued)
	if got, want := events(st), "revoke,revocation_approved,delete"; got != want {
		t.Fatalf("transitions = %s, want %s", got, want)
	}
	if tr := st.Transitions[1]; tr.EventID != "real" || !tr.At.Equal(start.Add(4*time.Hour+30*time.Minute)) {
		t.Fatalf("applied %+v, want the result of rev-c-1-1 at its decision time", tr)
	}
	var whys []string
	for _, x := range st.Strays {
		whys = append(whys, x.Result.EventID+": "+x.Why)
	}
	want := []string{"other: answers review rev-older", "before: occurred_at", "future: occurred_at"}
	if len(whys) != len(want) {
		t.Fatalf("strays = %v, want %v", whys, want)
	}
	for i := range want {
		if !strings.HasPrefix(whys[i], want[i]) {
			t.Fatalf("stray %d = %q, want prefix %q", i, whys[i], want[i])
		}
	}
}

// An illegal console action is refused by the update validator with a
// message naming the state and the action, and changes nothing.
func TestCertificateIllegalActionRefused(t *testing.T) {
	ce := newCertEnv(t, statemachine.Issued)
	var withdraw, revoke string
	ce.action(time.Minute, certificate.ActionRequest{Action: statemachine.Withdraw}, &withdraw)
	ce.action(2*time.Minute, certificate.ActionRequest{Action: statemachine.Revoke}, &revoke) // SSL-9: not confirmed
	ce.action(3*time.Minute, certificate.ActionRequest{Action: statemachine.Revoke, ConfirmIrreversible: true}, nil)
	ce.callback(4*time.Minute, certificate.CAResult{EventID: "e1", Certificate: "c-1", Result: statemachine.RevocationApproved})
	ce.action(5*time.Minute, certificate.ActionRequest{Action: statemachine.Delete}, nil)

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
	ce.action(time.Minute, certificate.ActionRequest{Action: statemachine.Revoke, ConfirmIrreversible: true}, nil)
	ce.callback(2*time.Minute, certificate.CAResult{EventID: "e1", Certificate: "c-1", Result: statemachine.RevocationRejected, Reason: "key in use"})
	ce.action(3*time.Minute, certificate.ActionRequest{Action: statemachine.Revoke, ConfirmIrreversible: true}, nil)
	ce.callback(4*time.Minute, certificate.CAResult{EventID: "e2", Certificate: "c-1", Result: statemachine.RevocationApproved})
	ce.action(5*time.Minute, certificate.ActionRequest{Action: statemachine.Delete}, nil)
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
	held := certificate.CAResult{EventID: "early-1", Certificate: "c-1", Result: statemachine.RevocationApproved}
	ce.env.ExecuteWorkflow(certificate.WorkflowName, certificate.Input{
		OrderID: "o-1", Certificate: domain.Certificate{ID: "c-1", State: statemachine.Issued, IssuedAt: &issued},
		Carry: &certificate.Carry{SeenEvents: []string{"early-1"}, Held: []certificate.CAResult{held}, Owner: "refund/o-1"}})
	var can *workflow.ContinueAsNewError
	if err := ce.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new, got %v", err)
	}
	var next certificate.Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Certificate.State != statemachine.Issued || next.Carry == nil ||
		len(next.Carry.Held) != 1 || len(next.Carry.SeenEvents) != 1 || next.Carry.SeenEvents[0] != "early-1" || next.Carry.Owner != "refund/o-1" {
		t.Fatalf("carried input = %+v / %+v", next, next.Carry)
	}
}

// One writer: a certificate workflow started while a refund holds the
// certificate (the console acted just as the refund took it) refuses the
// console's action naming the holder (the gateway then routes it there),
// passes a CA result on to the refund, and ends without writing.
func TestCertificateYieldsToTheRefundThatHoldsIt(t *testing.T) {
	ce := newCertEnv(t, statemachine.Issued)
	if h, err := ce.store.HoldCertificate(context.Background(), "c-1", refund.WorkflowID("o-1"), ""); err != nil || h != "refund/o-1" {
		t.Fatalf("hold: %q %v", h, err)
	}
	var forwarded []certificate.CAResult
	ce.env.OnSignalExternalWorkflow(mock.Anything, refund.WorkflowID("o-1"), "", certificate.SignalCAResult, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error {
			forwarded = append(forwarded, arg.(certificate.CAResult))
			return nil
		})
	var actionErr error
	completed := false
	ce.env.RegisterDelayedCallback(func() {
		ce.env.UpdateWorkflow(certificate.UpdateAction, "u-revoke", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { t.Errorf("revoke rejected by the validator: %v", err) },
			OnComplete: func(_ any, err error) {
				completed, actionErr = true, err
			},
		}, certificate.ActionRequest{Action: statemachine.Revoke, ConfirmIrreversible: true})
		ce.env.SignalWorkflow(certificate.SignalCAResult, certificate.CAResult{EventID: "e-1", Certificate: "c-1", Result: statemachine.RevocationApproved, At: paidAt.Add(25 * time.Hour)})
	}, 0)
	st := ce.run(t, statemachine.Issued)
	if !completed || actionErr == nil || !strings.Contains(actionErr.Error(), "refund/o-1") {
		t.Fatalf("console action completed %v with %v, want refused naming refund/o-1", completed, actionErr)
	}
	var appErr *temporal.ApplicationError
	if !errors.As(actionErr, &appErr) || appErr.Type() != string(errs.Conflict) {
		t.Errorf("refusal %v, want an application error of type conflict", actionErr)
	}
	if len(forwarded) != 1 || forwarded[0].EventID != "e-1" {
		t.Errorf("forwarded %v, want the CA result e-1 passed on to the refund", forwarded)
	}
	if st.State != statemachine.Issued || len(st.Transitions) != 0 || len(ce.ca.Actions) != 0 {
		t.Errorf("state %s transitions %v CA actions %v: the workflow must not write a held certificate", st.State, st.Transitions, ce.ca.Actions)
	}
	if h := ce.store.Holder("c-1"); h != "refund/o-1" {
		t.Errorf("holder %q, want the refund still", h)
	}
}
