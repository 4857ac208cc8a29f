package refund_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/sim"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// holdRace runs the refund of order o-1 (one certificate c-1 under
// revocation review) with its LoadAndHold local activity held until
// deliver, called once the refund's first task has run, says the CA
// result it delivered was accepted: the result reaches the refund while
// the refund is taking the hold. It fails the test if a certificate
// workflow is started or signalled.
type holdRace struct {
	env   *testsuite.TestWorkflowEnvironment
	store *sim.FakeStore
	// release lets LoadAndHold go on.
	release chan struct{}
}

func newHoldRace(t *testing.T) *holdRace {
	t.Helper()
	issued := paidAt.Add(2 * time.Hour)
	order := domain.Order{ID: "o-1", Product: domain.SSLCertificate, PaidAt: paidAt, Currency: "USD", Profile: "aliyun-intl",
		Price: mustDecimal("100.00"), Payment: domain.Payment{Cash: mustDecimal("100.00"), Voucher: mustDecimal("0"), GiftCard: mustDecimal("0")},
		ValidityYears: 1,
		Certificates:  []domain.Certificate{{ID: "c-1", State: statemachine.ValidatingRevocation, IssuedAt: &issued}}}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(testenv.WorkerOptions())
	env.SetStartTime(paidAt.Add(24 * time.Hour))
	env.SetTestTimeout(time.Minute)
	h := &holdRace{env: env, store: sim.NewFakeStore(order), release: make(chan struct{})}
	pol := &sim.FakePolicies{Registry: mustRegistry(t)}
	pol.Calendar.Name, pol.Calendar.Version, pol.Calendar.Timezone = "weekends", "1", "Asia/Shanghai"
	acts := &refund.Activities{Deps: activities.Deps{CA: sim.NewFakeCA(nil), Store: h.store, Policies: pol, Payments: sim.NewFakePayments(env.Now)}}
	workflows.Register(env)
	workflows.RegisterActivities(env, acts.Deps)
	// The hold is taken only once the test lets it: the CA result is
	// delivered while LoadAndHold is under way.
	env.OnActivity(acts.LoadAndHold, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in refund.HoldJudgementInput) (refund.HeldJudgement, error) {
			select {
			case <-h.release:
			case <-time.After(10 * time.Second):
				t.Error("LoadAndHold: the CA result was not accepted in 10 s")
			}
			return acts.LoadAndHold(ctx, in)
		})
	// No certificate workflow: neither started nor signalled.
	env.OnWorkflow(certificate.WorkflowName, mock.Anything, mock.Anything).Return(
		func(_ any, in certificate.Input) (certificate.Status, error) {
			t.Errorf("certificate workflow started for %s", in.Certificate.ID)
			return certificate.Status{}, nil
		}).Maybe()
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_, id, _, name string, _ any) error {
			t.Errorf("signal %s sent to %s", name, id)
			return nil
		}).Maybe()
	return h
}

func (h *holdRace) run(t *testing.T) refund.Status {
	t.Helper()
	h.env.ExecuteWorkflow(refund.WorkflowName, refund.Input{OrderID: "o-1", Request: domain.RefundRequest{OrderID: "o-1",
		RequestedAt: paidAt.Add(24 * time.Hour), Consent: true, ConfirmIrreversible: true, AcceptLateReviewRisk: true, RequestedBy: "customer"}})
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("refund did not complete")
	}
	var st refund.Status
	if err := h.env.GetWorkflowResult(&st); err != nil {
		t.Fatalf("refund failed: %v", err)
	}
	return st
}

var approvedDuringHold = certificate.CAResult{EventID: "e-1", Certificate: "c-1", Result: statemachine.RevocationApproved,
	At: paidAt.Add(23 * time.Hour)}

// wantAppliedOnce checks that the refund released c-1 with the CA result
// e-1 applied once, and paid.
func wantAppliedOnce(t *testing.T, h *holdRace, st refund.Status) {
	t.Helper()
	if st.Outcome != refund.OutcomeRefunded {
		t.Fatalf("outcome %s (%s), want refunded", st.Outcome, st.Message)
	}
	if got := h.store.Certificates("o-1")["c-1"]; got != string(statemachine.Removed) {
		t.Errorf("c-1 is %s in the store, want removed", got)
	}
	if n := h.store.QuotaReturned(); n != 1 {
		t.Errorf("quota returned %d times, want once", n)
	}
	applied := 0
	for _, c := range st.Held {
		for _, tr := range c.Transitions {
			if tr.EventID == approvedDuringHold.EventID {
				applied++
			}
		}
	}
	if applied != 1 {
		t.Errorf("CA result e-1 applied %d times, want once", applied)
	}
}

// A CA callback that arrives while the refund takes the hold: the store
// names no holder yet and no certificate workflow runs, so the gateway
// offers the result to the order's refund (UpdateRefundCAResult). The
// refund takes it once LoadAndHold has told it what it holds and applies
// it to the certificate it now holds: no certificate workflow is started
// or signalled, and the result is applied once, although the CA sent it
// again by the other route (a signal, the holder read after the hold).
func TestCAResultRacingTheHoldReachesTheRefund(t *testing.T) {
	h := newHoldRace(t)
	var accepted, completed bool
	var takeErr error
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(refund.UpdateCAResult, "ca/e-1", &testsuite.TestUpdateCallback{
			OnAccept: func() {
				accepted = true
				close(h.release)
			},
			OnReject:   func(err error) { t.Errorf("CA result refused by the validator: %v", err); close(h.release) },
			OnComplete: func(_ any, err error) { completed, takeErr = true, err },
		}, approvedDuringHold)
		h.env.SignalWorkflow(certificate.SignalCAResult, approvedDuringHold)
	}, 0)
	st := h.run(t)
	if !accepted || !completed || takeErr != nil {
		t.Fatalf("update accepted %v completed %v error %v, want taken", accepted, completed, takeErr)
	}
	wantAppliedOnce(t, h, st)
}

// The same race by the signal alone: a result signalled before the
// refund knows its holds waits in the channel and is applied here.
func TestCASignalRacingTheHoldIsAppliedByTheRefund(t *testing.T) {
	h := newHoldRace(t)
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(certificate.SignalCAResult, approvedDuringHold)
		h.env.SignalWorkflow(certificate.SignalCAResult, approvedDuringHold)
		close(h.release)
	}, 0)
	wantAppliedOnce(t, h, h.run(t))
}

// A refund offered a result for a certificate it does not hold refuses
// it in the validator (no history written) as not found, so the gateway
// starts the certificate's workflow as before.
func TestRefundRefusesACAResultForACertificateItDoesNotHold(t *testing.T) {
	h := newHoldRace(t)
	close(h.release)
	var rejected error
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(refund.UpdateCAResult, "ca/e-9", &testsuite.TestUpdateCallback{
			OnAccept:   func() { t.Error("a result for a certificate of another order was accepted") },
			OnReject:   func(err error) { rejected = err },
			OnComplete: func(any, error) {},
		}, certificate.CAResult{EventID: "e-9", Certificate: "c-other", Result: statemachine.RevocationApproved, At: paidAt})
	}, time.Second)
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(certificate.SignalCAResult, approvedDuringHold)
	}, 2*time.Second)
	st := h.run(t)
	var appErr *temporal.ApplicationError
	if !errors.As(rejected, &appErr) || appErr.Type() != string(errs.NotFound) {
		t.Fatalf("refusal %v, want an application error of type not_found", rejected)
	}
	wantAppliedOnce(t, h, st)
}
