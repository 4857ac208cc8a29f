package refund_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/sim"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// ridingStore keeps every SaveRecords call in order, saying whether a
// local activity (the refund's publisher) or an activity (records that
// rode with it) made it; with failActivities, an activity's write fails,
// as a store that is out while the activity runs.
type ridingStore struct {
	*sim.FakeStore
	failActivities bool
	mu             sync.Mutex
	writes         []write
	// stored is the refund record's state in the store after each write
	// of one.
	stored []string
}

type write struct {
	local bool
	recs  activities.Records
}

func (s *ridingStore) SaveRecords(ctx context.Context, recs activities.Records) error {
	local := activity.GetInfo(ctx).IsLocalActivity
	if !local && s.failActivities {
		return errs.E(errs.Unavailable, "the store is out")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, write{local: local, recs: recs})
	err := s.FakeStore.SaveRecords(ctx, recs)
	if rec, ok := s.FakeStore.Refund(recs.OrderID); ok && recs.Refund != nil {
		s.stored = append(s.stored, rec.State)
	}
	return err
}

// refundIssued refunds an order of one issued certificate on st, the CA
// approving the revocation half an hour after the request (before the
// refund's first look at the review).
func refundIssued(t *testing.T, st *ridingStore, o domain.Order) refund.Status {
	t.Helper()
	return refundOn(t, o, sim.NewFakeCA(nil), st, "c-1", nil)
}

// clockedCA is a fake CA that takes the test environment's clock.
type clockedCA interface {
	activities.CA
	SetClock(func() time.Time)
}

// refundOn refunds o with ca and st, the CA approving the revocation of
// certificate approve half an hour after the request (before the
// refund's first look at the review); started, when set, is told each
// activity's type as it starts.
func refundOn(t *testing.T, o domain.Order, ca clockedCA, st activities.Store, approve string, started func(activityType string), then ...func(*testsuite.TestWorkflowEnvironment, *int)) refund.Status {
	t.Helper()
	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	env.SetWorkerOptions(testenv.WorkerOptions())
	env.SetTestTimeout(time.Minute)
	start := o.PaidAt.Add(24 * time.Hour)
	env.SetStartTime(start)
	ca.SetClock(env.Now)
	workflows.Register(env)
	workflows.RegisterActivities(env, activities.Deps{CA: ca, Payments: sim.NewFakePayments(env.Now), Store: st,
		Policies: &sim.FakePolicies{Registry: mustRegistry(t), Calendar: calendar.Spec{Name: "t", Version: "1", Timezone: "UTC"}}})
	if started != nil {
		env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
			started(info.ActivityType.Name)
		})
	}
	// The environment keeps no history: an activity's result comes in a
	// workflow task of its own, its history longer, as on a server (the
	// refund reads the length to know a step's task completed,
	// committedDurably). The listener runs on the workflow's goroutine.
	events := 3 // the first task's started event
	env.SetCurrentHistoryLength(events)
	env.SetOnActivityCompletedListener(func(*activity.Info, converter.EncodedValue, error) {
		events += 6
		env.SetCurrentHistoryLength(events)
	})
	env.RegisterDelayedCallback(func() {
		if approve == "" {
			return // no review to answer
		}
		env.SignalWorkflow(certificate.SignalCAResult, certificate.CAResult{EventID: "ev-" + approve, Certificate: approve,
			Result: statemachine.RevocationApproved, At: env.Now()})
	}, 30*time.Minute)
	for _, f := range then {
		f(env, &events)
	}
	req := domain.RefundRequest{OrderID: o.ID, RequestedAt: start, Consent: true, ConfirmIrreversible: true, AcceptLateReviewRisk: true}
	env.ExecuteWorkflow(refund.WorkflowName, refund.Input{OrderID: o.ID, Request: req})
	var res refund.Status
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func issuedOrder() domain.Order {
	issued := paidAt.Add(time.Hour)
	return domain.Order{ID: "o-ride", Product: domain.SSLCertificate, Profile: "aliyun-intl", PaidAt: paidAt, Currency: "USD",
		Price: mustDecimal("100.00"), Payment: domain.Payment{Cash: mustDecimal("100.00")}, ValidityYears: 1,
		Certificates: []domain.Certificate{{ID: "c-1", State: statemachine.Issued, IssuedAt: &issued}}}
}

// certStates lists c-1's states in the order they were written, and the
// quota returns.
func (s *ridingStore) certStates() (states []string, quota int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.writes {
		quota += len(w.recs.QuotaReturns)
		for _, c := range w.recs.Certificates {
			states = append(states, string(c.Certificate.State))
		}
	}
	return states, quota
}

// A workflow task's records ride with the activity it schedules (the
// revoke, the delete, the payout), written before it acts, and the paid
// refund's last record with the payout, written as the money moved; the
// review's wait, which schedules no activity, is written by a local
// activity, and so are the payout's (its first attempt is a local
// activity, calls.PayFirst). Every state still reaches the store once, in
// order, and each refund record is stamped later than the one before.
func TestRecordsRideWithTheNextActivity(t *testing.T) {
	st := &ridingStore{FakeStore: sim.NewFakeStore(issuedOrder())}
	if res := refundIssued(t, st, issuedOrder()); res.Outcome != refund.OutcomeRefunded {
		t.Fatalf("outcome %s (%s)", res.Outcome, res.Message)
	}
	states, quota := st.certStates()
	if want := []string{"validating_revocation", "revoked", "removed"}; !slices.Equal(states, want) || quota != 1 {
		t.Errorf("c-1's states written %v and %d quota returns, want %v and 1", states, quota, want)
	}
	var rode, local []string
	var last time.Time
	for _, w := range st.writes {
		r := w.recs.Refund
		if r == nil {
			continue
		}
		if !r.UpdatedAt.After(last) {
			t.Errorf("refund record %s stamped %s, not after the one before (%s)", r.State, r.UpdatedAt, last)
		}
		last = r.UpdatedAt
		if w.local {
			local = append(local, r.State)
		} else {
			rode = append(rode, r.State)
		}
	}
	if want := []string{"committed", "committed"}; !slices.Equal(rode, want) {
		t.Errorf("refund records written by activities %v, want %v (the revoke's, the deletion's)", rode, want)
	}
	if want := []string{"committed", "paying", "refunded"}; !slices.Equal(local, want) {
		t.Errorf("refund records written by local activities %v, want %v (the review's wait, then the payout's and the outcome, with the payout)", local, want)
	}
	if rec, ok := st.Refund("o-ride"); !ok || rec.State != "refunded" || rec.PaymentID == "" {
		t.Errorf("stored record %+v, want refunded and paid", rec)
	}
}

// Records an activity could not write (the store out while it ran) are
// written by the refund's publisher with its next records: nothing is
// lost, nothing is written out of order, the quota goes back once.
func TestRecordsAnActivityDidNotWriteAreWrittenByTheRefund(t *testing.T) {
	st := &ridingStore{FakeStore: sim.NewFakeStore(issuedOrder()), failActivities: true}
	if res := refundIssued(t, st, issuedOrder()); res.Outcome != refund.OutcomeRefunded {
		t.Fatalf("outcome %s (%s)", res.Outcome, res.Message)
	}
	states, quota := st.certStates()
	if want := []string{"validating_revocation", "revoked", "removed"}; !slices.Equal(states, want) || quota != 1 {
		t.Errorf("c-1's states written %v and %d quota returns, want %v and 1", states, quota, want)
	}
	var written []string
	for _, w := range st.writes {
		if !w.local {
			t.Errorf("an activity's write got through: %+v", w.recs)
		}
		if w.recs.Refund != nil {
			written = append(written, w.recs.Refund.State)
		}
	}
	// The records given back are written with the refund's record as it
	// then is: the outcome, every step in it.
	if len(written) == 0 || written[len(written)-1] != "refunded" {
		t.Errorf("refund records written %v, want the last refunded", written)
	}
	rec, _ := st.Refund("o-ride")
	var steps []string
	for _, s := range rec.Steps {
		steps = append(steps, s.Step)
	}
	for _, want := range []string{"revoke", "revoked", "delete", "paid", "refunded"} {
		if !slices.Contains(steps, want) {
			t.Errorf("stored steps %v, want %s among them", steps, want)
		}
	}
	if got := st.Certificates("o-ride")["c-1"]; got != "removed" {
		t.Errorf("stored c-1 %s, want removed", got)
	}
}

// The payout writes the paid refund's last record as the money moves.
// When its answer is lost, the workflow waits on the payment side and
// tries again: the store keeps the refund refunded through the detour
// (its records of the wait are refused), and the retry, finding the
// payout made, pays nothing more.
func TestLostPayoutAnswerKeepsTheRefundRefunded(t *testing.T) {
	o := issuedOrder()
	o.ID, o.Certificates = "o-lost", nil
	st := &ridingStore{FakeStore: sim.NewFakeStore(o)}
	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	env.SetWorkerOptions(testenv.WorkerOptions())
	env.SetTestTimeout(time.Minute)
	start := o.PaidAt.Add(24 * time.Hour)
	env.SetStartTime(start)
	pays := sim.NewFakePayments(env.Now)
	acts := &refund.Activities{Deps: activities.Deps{CA: sim.NewFakeCA(nil), Payments: pays, Store: st,
		Policies: &sim.FakePolicies{Registry: mustRegistry(t), Calendar: calendar.Spec{Name: "t", Version: "1", Timezone: "UTC"}}}}
	workflows.Register(env)
	workflows.RegisterActivities(env, acts.Deps)
	attempts := 0
	env.OnActivity(acts.Pay, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in refund.PayInput) (refund.PayReceipt, error) {
			attempts++
			rec, err := acts.Pay(ctx, in)
			if attempts == 1 {
				if err != nil || rec.Final == nil || rec.Final.State != "refunded" {
					t.Errorf("the first payout answered %+v, %v: want paid, its last record written", rec, err)
				}
				return refund.PayReceipt{}, errtemporal.From(errs.E(errs.Unavailable, "the payout's answer was lost"))
			}
			return rec, err
		})
	req := domain.RefundRequest{OrderID: o.ID, RequestedAt: start, Consent: true, ConfirmIrreversible: true}
	env.ExecuteWorkflow(refund.WorkflowName, refund.Input{OrderID: o.ID, Request: req})
	var res refund.Status
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != refund.OutcomeRefunded || attempts != 2 {
		t.Fatalf("outcome %s after %d payout attempts, want refunded after 2 (%s)", res.Outcome, attempts, res.Message)
	}
	if n := len(pays.PayoutsOf(o.ID)); n != 1 {
		t.Errorf("%d payouts made, want 1", n)
	}
	var tried []string
	for _, w := range st.writes {
		if w.recs.Refund != nil {
			tried = append(tried, w.recs.Refund.State)
		}
	}
	i := slices.Index(st.stored, "refunded")
	if i < 0 || !slices.Contains(tried[i+1:], string(statemachine.OrderPaying)) {
		t.Fatalf("records written %v, stored states %v: want a paying record (the wait) after the paid one", tried, st.stored)
	}
	for _, s := range st.stored[i:] {
		if s != "refunded" {
			t.Errorf("stored states %v: the refund left refunded", st.stored)
			break
		}
	}
	if rec, _ := st.Refund(o.ID); rec.State != "refunded" || rec.PaymentID == "" {
		t.Errorf("stored record %+v, want refunded and paid", rec)
	}
}

// A payout's first attempt is a local activity (no task round trip) where
// a workflow task run again after its worker was lost pays on every path
// or finds the payout never made: for a refund committed in an earlier
// task (committedDurably), and in the task that judged the refund (unused
// quota: nothing to release, no irreversible step before the payout),
// whose rerun judges again and meets the ledger's judgement fence
// (judgedInThisTask). A refund that pays in the task that took an
// operator's approval (GW-4) pays by the regular activity, whose task
// completed before the money moves.
func TestPayoutFirstAttemptLocalWhereEveryRerunPays(t *testing.T) {
	unused := issuedOrder()
	unused.ID, unused.Certificates = "o-unused", nil
	gateway := domain.Order{ID: "o-gw", Product: domain.HTTPSGateway, Profile: "aliyun-intl", PaidAt: paidAt, Currency: "USD",
		Price: mustDecimal("1.60"), Payment: domain.Payment{Cash: mustDecimal("1.60")},
		Usage: &domain.Usage{GRCQTotal: 300, GRCQConsumed: 60, DomainAdded: true}}
	// The operator approves an hour later, in a workflow task of its own.
	approve := func(env *testsuite.TestWorkflowEnvironment, events *int) {
		env.RegisterDelayedCallback(func() {
			*events += 3
			env.SetCurrentHistoryLength(*events)
			env.UpdateWorkflow(refund.UpdateApprove, "approve-1", &testsuite.TestUpdateCallback{
				OnReject: func(err error) { t.Errorf("approval rejected: %v", err) },
			}, refund.ApproveRequest{Operator: "bob"})
		}, time.Hour)
	}
	for name, tc := range map[string]struct {
		order   domain.Order
		review  string
		regular bool
		then    func(*testsuite.TestWorkflowEnvironment, *int)
	}{
		"issued: committed before the revoke":       {order: issuedOrder(), review: "c-1"},
		"unused quota: paid in the judging task":    {order: unused},
		"GW-4: paid in the task that took approval": {order: gateway, regular: true, then: approve},
	} {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			var ran []string
			var then []func(*testsuite.TestWorkflowEnvironment, *int)
			if tc.then != nil {
				then = append(then, tc.then)
			}
			res := refundOn(t, tc.order, sim.NewFakeCA(nil), &ridingStore{FakeStore: sim.NewFakeStore(tc.order)}, tc.review, func(name string) {
				mu.Lock()
				ran = append(ran, name)
				mu.Unlock()
			}, then...)
			if res.Outcome != refund.OutcomeRefunded || res.Payout == nil || res.Payout.PaymentID == "" {
				t.Fatalf("outcome %s, payout %+v (%s)", res.Outcome, res.Payout, res.Message)
			}
			if got := slices.Contains(ran, "Pay"); got != tc.regular {
				t.Errorf("the Pay activity ran: %v, want %v (activities %v)", got, tc.regular, ran)
			}
		})
	}
}

// changedStore reads the order as it stands now (change), after a payout
// was reserved under it.
type changedStore struct {
	*sim.FakeStore
	change func(*domain.Order)
}

func (s *changedStore) GetOrder(ctx context.Context, id string) (domain.Order, error) {
	o, err := s.FakeStore.GetOrder(ctx, id)
	if err == nil {
		s.change(&o)
	}
	return o, err
}

// A refund that finds its own payout in the ledger as it judges (a try of
// its first workflow task reserved it and was lost, or the refund was
// reset after it paid) pays that payout again by its key, with its
// amounts, whatever the rules say now, and refuses a cancel (CAN-1): the
// money moved, or may have.
func TestRefundJudgedAgainPaysItsOwnPayout(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		settled bool
		cancel  bool
		payment string
	}{
		// The lost try paid: the ledger's payout is returned, the
		// provider is not asked again.
		"paid before, the rules refuse now": {settled: true, payment: "pay-lost"},
		// The lost try reserved and was cut off before the provider: the
		// refund pays the reservation; the cancel that came is refused.
		"reserved before, a cancel waiting": {cancel: true, payment: "pay-1"},
	} {
		t.Run(name, func(t *testing.T) {
			o := issuedOrder()
			o.ID, o.Certificates = "o-again", nil
			fake := sim.NewFakeStore(o)
			// The test environment's run: the refund's run ID.
			const run = "default-test-run-id"
			if _, err := fake.OpenJudgement(ctx, o.ID, run); err != nil {
				t.Fatal(err)
			}
			key := refund.PaymentKey(o.ID, domain.OriginalMethod)
			lost := activities.PayoutRequest{IdempotencyKey: key, OrderID: o.ID, Cash: usd(t, "60.00"),
				Destination: domain.OriginalMethod, RefundRun: run, Judgement: 1}
			if _, _, err := fake.ReservePayout(ctx, lost); err != nil {
				t.Fatal(err)
			}
			if tc.settled {
				if _, err := fake.SettlePayout(ctx, key, ports.Settlement{Status: ports.PayoutPaid, ProviderID: "pay-lost"}); err != nil {
					t.Fatal(err)
				}
			}
			// Now the order reads as refunded in full elsewhere: the
			// rules alone would refuse (M-3).
			st := &changedStore{FakeStore: fake, change: func(o *domain.Order) { o.AlreadyRefunded = o.Payment.Cash }}
			var cancelErr error
			cancelled := false
			cancel := func(env *testsuite.TestWorkflowEnvironment, _ *int) {
				env.RegisterDelayedCallback(func() {
					env.UpdateWorkflow(refund.UpdateCancel, "cancel-1", &testsuite.TestUpdateCallback{
						OnReject:   func(err error) { cancelErr = err },
						OnComplete: func(_ interface{}, err error) { cancelErr, cancelled = err, err == nil },
					}, refund.CancelRequest{Actor: "customer"})
				}, 0)
			}
			var then []func(*testsuite.TestWorkflowEnvironment, *int)
			if tc.cancel {
				then = append(then, cancel)
			}
			res := refundOn(t, o, sim.NewFakeCA(nil), st, "", nil, then...)
			if res.Outcome != refund.OutcomeRefunded || res.Payout == nil || res.Payout.PaymentID != tc.payment || res.Payout.Cash != "60.00" {
				t.Fatalf("outcome %s, payout %+v (%s %v): want refunded, the lost try's 60.00 paid as %s", res.Outcome, res.Payout, res.Message, res.Reasons, tc.payment)
			}
			if !slices.ContainsFunc(res.Steps, func(s refund.StepRecord) bool { return s.Step == "judged again" }) {
				t.Errorf("steps %+v: want a judged again step naming the payout found", res.Steps)
			}
			if p, err := fake.GetPayout(ctx, key); err != nil || p.Status != ports.PayoutPaid {
				t.Errorf("ledger payout %+v, %v: want paid", p, err)
			}
			if paid, _ := fake.RefundedAmount(ctx, o.ID); !paid.Equal(mustDecimal("60.00")) {
				t.Errorf("refunded %s, want 60.00 (one payout)", paid)
			}
			if tc.cancel && (cancelled || errtemporal.CodeOf(cancelErr) != errs.Conflict) {
				t.Errorf("the cancel: done %v, error %v; want refused with a conflict (CAN-1)", cancelled, cancelErr)
			}
		})
	}
}
