package refund_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/sim"
	"github.com/certflow/certflow/workflows"
	"github.com/certflow/certflow/workflows/refund"
)

// recordingStore keeps every refund record the workflow writes.
type recordingStore struct {
	*sim.FakeStore
	mu      sync.Mutex
	records []activities.RefundRecord
}

func (s *recordingStore) SaveRefund(ctx context.Context, rec activities.RefundRecord) error {
	s.mu.Lock()
	s.records = append(s.records, rec)
	s.mu.Unlock()
	return s.FakeStore.SaveRefund(ctx, rec)
}

func (s *recordingStore) SaveRecords(ctx context.Context, recs activities.Records) error {
	if recs.Refund != nil {
		s.mu.Lock()
		s.records = append(s.records, *recs.Refund)
		s.mu.Unlock()
	}
	return s.FakeStore.SaveRecords(ctx, recs)
}

func (s *recordingStore) states() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.records {
		out = append(out, r.State)
	}
	return out
}

// A GW-4 refund: the store's record follows every state change, the
// requester cannot approve it (four eyes, GW-4 as data), another operator
// can.
func TestRefundReadModelAndFourEyes(t *testing.T) {
	paid := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	o := domain.Order{ID: "o-gw", Product: domain.HTTPSGateway, Profile: "aliyun-intl", PaidAt: paid, Currency: "USD",
		Price: mustDecimal("1.60"), Payment: domain.Payment{Cash: mustDecimal("1.60")},
		Usage: &domain.Usage{GRCQTotal: 300, GRCQConsumed: 60, DomainAdded: true}}
	st := &recordingStore{FakeStore: sim.NewFakeStore(o)}
	suite := &testsuite.WorkflowTestSuite{}
	env := suite.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(testenv.WorkerOptions())
	env.SetStartTime(paid.Add(24 * time.Hour))
	reg := mustRegistry(t)
	workflows.Register(env)
	workflows.RegisterActivities(env, activities.Deps{CA: sim.NewFakeCA(nil), Payments: sim.NewFakePayments(env.Now), Store: st,
		Policies: &sim.FakePolicies{Registry: reg, Calendar: calendar.Spec{Name: "t", Version: "1", Timezone: "UTC"}}})

	var selfApproval, approval error
	var during []string
	env.RegisterDelayedCallback(func() {
		during = st.states()
		env.UpdateWorkflow(refund.UpdateApprove, "self", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { selfApproval = err }, OnAccept: func() {}, OnComplete: func(any, error) {},
		}, refund.ApproveRequest{Operator: "alice"})
		env.UpdateWorkflow(refund.UpdateApprove, "other", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { approval = err }, OnAccept: func() {}, OnComplete: func(any, error) {},
		}, refund.ApproveRequest{Operator: "bob"})
	}, time.Hour)
	req := domain.RefundRequest{OrderID: o.ID, RequestedAt: paid.Add(24 * time.Hour), Consent: true, ConfirmIrreversible: true, RequestedBy: "alice"}
	env.ExecuteWorkflow(refund.WorkflowName, refund.Input{OrderID: o.ID, Request: req})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res refund.Status
	if err := env.GetWorkflowResult(&res); err != nil || res.Outcome != refund.OutcomeRefunded {
		t.Fatalf("result = %+v, %v", res, err)
	}
	if errtemporal.CodeOf(selfApproval) != errs.Forbidden || !slices.Contains(errtemporal.Rules(selfApproval), "GW-4") {
		t.Fatalf("self-approval: %v, want forbidden with GW-4", selfApproval)
	}
	if approval != nil {
		t.Fatalf("approval by another operator refused: %v", approval)
	}
	// The read model, while it waited and after.
	if len(during) == 0 || during[len(during)-1] != "awaiting_approval" {
		t.Fatalf("records while waiting: %v, want the last to be awaiting_approval", during)
	}
	// One record per workflow task: the states the refund passes through
	// within the task that judges the request (refund_requested, which
	// the gateway records at the start) are coalesced into the state it
	// then waits in.
	all := st.states()
	if slices.Contains(all, "refund_requested") {
		t.Errorf("a state left within the same workflow task was recorded: %v", all)
	}
	for _, want := range []string{"awaiting_approval", "paying", "refunded"} {
		if !slices.Contains(all, want) {
			t.Errorf("no record in state %s: %v", want, all)
		}
	}
	last := st.records[len(st.records)-1]
	if last.Outcome != "refunded" || last.PaymentID == "" || last.Cash != "1.28" || last.RequestedBy != "alice" {
		t.Errorf("final record = %+v", last)
	}
	// The amount due is on every record from the judgement on (the
	// approver's queue shows it), and kept after payment.
	for i, rec := range st.records {
		if rec.Due == nil || rec.Due.Cash != "1.28" || rec.Due.Currency != "USD" || rec.Due.Destination == "" {
			t.Errorf("record %d (%s) has amount due %+v, want 1.28 USD", i, rec.State, rec.Due)
		}
	}
	// Written on change only: no two consecutive records are the same.
	for i := 1; i < len(st.records); i++ {
		a, b := st.records[i-1], st.records[i]
		if a.State == b.State && a.Outcome == b.Outcome && a.Waiting == b.Waiting && a.PaymentID == b.PaymentID {
			t.Errorf("records %d and %d are the same: %+v", i-1, i, b)
		}
	}
}

// The ledger's over-refund cap reaches the refund as M-3 (carried in the
// error's details across the activity boundary), not as M-4: a payout of
// the order still pending (not yet counted as refunded by the rules)
// leaves nothing for this one.
func TestRefundOverRefundCapCitesM3(t *testing.T) {
	o := unusedOrder("o-cap")
	st := &recordingStore{FakeStore: sim.NewFakeStore(o)}
	reserveUSD(t, st, o, "earlier", "100.00", "")
	pay := sim.NewFakePayments(time.Now)
	res := runRefund(t, o, st, pay)
	if res.Outcome != refund.OutcomeRejected || !slices.Equal(res.Reasons, []string{"M-3"}) {
		t.Fatalf("result = %s %v (%s), want rejected with M-3", res.Outcome, res.Reasons, res.Message)
	}
	if last := st.records[len(st.records)-1]; last.State != "rejected" || !slices.Equal(last.Reasons, []string{"M-3"}) {
		t.Errorf("final record = %+v", last)
	}
	if pay.Calls != 0 {
		t.Errorf("the provider got %d refund requests, want none (M-3 is the ledger's, before the provider)", pay.Calls)
	}
}

// A refund whose first workflow task paid (the payout's first attempt, a
// local activity) and was then lost runs that task again: it judges again,
// its own payout not counted as refunded before it (M-3, the ledger's
// RefundedByOthers by the refund's first run ID), and the payout's key
// finds what was paid: refunded, with the payment made before, and the
// provider not asked again. The same payout reserved by another refund
// (another run) is refunded before: M-3.
func TestRefundJudgedAgainAfterItsOwnPayout(t *testing.T) {
	for _, tc := range []struct {
		name, run string
		outcome   refund.Outcome
	}{
		{"its own payout", "default-test-run-id", refund.OutcomeRefunded},
		{"another refund's payout", "an-earlier-run", refund.OutcomeRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := unusedOrder("o-again")
			st := sim.NewFakeStore(o)
			key := refund.PaymentKey(o.ID, domain.OriginalMethod)
			reserveUSD(t, st, o, key, "100.00", tc.run)
			if _, err := st.SettlePayout(context.Background(), key, ports.Settlement{Status: ports.PayoutPaid, ProviderID: "re_lost_task"}); err != nil {
				t.Fatal(err)
			}
			pay := sim.NewFakePayments(time.Now)
			res := runRefund(t, o, st, pay)
			if res.Outcome != tc.outcome {
				t.Fatalf("result = %s %v (%s), want %s", res.Outcome, res.Reasons, res.Message, tc.outcome)
			}
			if tc.outcome == refund.OutcomeRefunded && (res.Payout == nil || res.Payout.Cash != "100.00") {
				t.Errorf("payout = %+v, want the 100.00 paid before", res.Payout)
			}
			if tc.outcome == refund.OutcomeRejected && !slices.Equal(res.Reasons, []string{"M-3"}) {
				t.Errorf("reasons = %v, want M-3", res.Reasons)
			}
			if pay.Calls != 0 {
				t.Errorf("the provider got %d refund requests, want none", pay.Calls)
			}
		})
	}
}

// unusedOrder is a 100.00 USD notification order paid on 2026-03-02,
// nothing used: the refund pays at once.
func unusedOrder(id string) domain.Order {
	paid := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	return domain.Order{ID: id, Product: domain.MessageNotification, Profile: "aliyun-intl", PaidAt: paid, Currency: "USD",
		Price: mustDecimal("100.00"), Payment: domain.Payment{Cash: mustDecimal("100.00")}}
}

// reserveUSD reserves a payout of cash USD for o in store under key,
// reserved by the refund run (empty: none).
func reserveUSD(t *testing.T, store activities.Store, o domain.Order, key, cash, run string) {
	t.Helper()
	usd, err := money.LookupCurrency("USD")
	if err != nil {
		t.Fatal(err)
	}
	amount, err := money.New(mustDecimal(cash), usd)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.ReservePayout(context.Background(), activities.PayoutRequest{IdempotencyKey: key, OrderID: o.ID, Cash: amount,
		Destination: domain.OriginalMethod, RefundRun: run}); err != nil {
		t.Fatal(err)
	}
}

// runRefund runs o's refund, requested an hour after payment, in a test
// environment against store and pay, and returns its result.
func runRefund(t *testing.T, o domain.Order, store activities.Store, pay *sim.FakePayments) refund.Status {
	t.Helper()
	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	env.SetWorkerOptions(testenv.WorkerOptions())
	env.SetStartTime(o.PaidAt.Add(time.Hour))
	workflows.Register(env)
	workflows.RegisterActivities(env, activities.Deps{CA: sim.NewFakeCA(nil), Payments: pay, Store: store,
		Policies: &sim.FakePolicies{Registry: mustRegistry(t), Calendar: calendar.Spec{Name: "t", Version: "1", Timezone: "UTC"}}})
	req := domain.RefundRequest{OrderID: o.ID, RequestedAt: o.PaidAt.Add(time.Hour), Consent: true}
	env.ExecuteWorkflow(refund.WorkflowName, refund.Input{OrderID: o.ID, Request: req})
	var res refund.Status
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

// A request judged not eligible has no amount due on its record.
func TestRefundRecordNoAmountDueWhenRejected(t *testing.T) {
	paid := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	o := domain.Order{ID: "o-gw", Product: domain.HTTPSGateway, Profile: "aliyun-intl", PaidAt: paid, Currency: "USD",
		Price: mustDecimal("1.60"), Payment: domain.Payment{Cash: mustDecimal("1.60")},
		Usage: &domain.Usage{GRCQTotal: 300, GRCQConsumed: 60, DomainAdded: true}}
	st := &recordingStore{FakeStore: sim.NewFakeStore(o)}
	suite := &testsuite.WorkflowTestSuite{}
	env := suite.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(testenv.WorkerOptions())
	late := paid.Add(400 * 24 * time.Hour)
	env.SetStartTime(late)
	workflows.Register(env)
	workflows.RegisterActivities(env, activities.Deps{CA: sim.NewFakeCA(nil), Payments: sim.NewFakePayments(env.Now), Store: st,
		Policies: &sim.FakePolicies{Registry: mustRegistry(t), Calendar: calendar.Spec{Name: "t", Version: "1", Timezone: "UTC"}}})
	req := domain.RefundRequest{OrderID: o.ID, RequestedAt: late, Consent: true, ConfirmIrreversible: true, RequestedBy: "alice"}
	env.ExecuteWorkflow(refund.WorkflowName, refund.Input{OrderID: o.ID, Request: req})
	var res refund.Status
	if err := env.GetWorkflowResult(&res); err != nil || res.Outcome != refund.OutcomeRejected {
		t.Fatalf("result = %+v, %v; want rejected", res, err)
	}
	if len(st.records) == 0 {
		t.Fatal("no record written")
	}
	for i, rec := range st.records {
		if rec.Due != nil {
			t.Errorf("record %d (%s) has amount due %+v, want none", i, rec.State, rec.Due)
		}
	}
}
