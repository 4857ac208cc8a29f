package refund_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/sim"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// The test environment keeps no history, so these tests count one: a
// worker interceptor adds, for every command and message of the refund's
// run, the events it writes on a server, each with a workflow task of its
// own (an over-count: a server often joins them in one task), and tells
// the environment (SetCurrentHistoryLength), which the refund reads
// through workflow.GetInfo as it would a server's count.
type historyCounter struct {
	interceptor.WorkerInterceptorBase
	env    *testsuite.TestWorkflowEnvironment
	events int
}

func (h *historyCounter) add(n int) {
	h.events += n
	h.env.SetCurrentHistoryLength(h.events)
}

func (h *historyCounter) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	if workflow.GetInfo(ctx).WorkflowType.Name != "RefundWorkflow" {
		return next
	}
	return &countIn{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, h: h}
}

type countIn struct {
	interceptor.WorkflowInboundInterceptorBase
	h *historyCounter
}

func (c *countIn) Init(out interceptor.WorkflowOutboundInterceptor) error {
	return c.Next.Init(&countOut{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: out}, h: c.h})
}

// task is a workflow task: scheduled, started, completed.
const task = 3

func (c *countIn) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	c.h.add(1 + task) // started, first task
	res, err := c.Next.ExecuteWorkflow(ctx, in)
	c.h.add(1) // completed, or continued as new
	return res, err
}

func (c *countIn) HandleSignal(ctx workflow.Context, in *interceptor.HandleSignalInput) error {
	c.h.add(1 + task)
	return c.Next.HandleSignal(ctx, in)
}

func (c *countIn) ExecuteUpdate(ctx workflow.Context, in *interceptor.UpdateInput) (any, error) {
	c.h.add(2 + task) // accepted, completed
	return c.Next.ExecuteUpdate(ctx, in)
}

type countOut struct {
	interceptor.WorkflowOutboundInterceptorBase
	h *historyCounter
}

func (c *countOut) ExecuteActivity(ctx workflow.Context, typ string, args ...any) workflow.Future {
	c.h.add(3 + task)
	return c.Next.ExecuteActivity(ctx, typ, args...)
}

func (c *countOut) ExecuteLocalActivity(ctx workflow.Context, typ string, args ...any) workflow.Future {
	c.h.add(1) // a marker
	return c.Next.ExecuteLocalActivity(ctx, typ, args...)
}

func (c *countOut) NewTimer(ctx workflow.Context, d time.Duration) workflow.Future {
	c.h.add(2 + task) // started, fired or cancelled
	return c.Next.NewTimer(ctx, d)
}

func (c *countOut) NewTimerWithOptions(ctx workflow.Context, d time.Duration, o workflow.TimerOptions) workflow.Future {
	c.h.add(2 + task)
	return c.Next.NewTimerWithOptions(ctx, d, o)
}

func (c *countOut) UpsertTypedSearchAttributes(ctx workflow.Context, attrs ...temporal.SearchAttributeUpdate) error {
	c.h.add(1)
	return c.Next.UpsertTypedSearchAttributes(ctx, attrs...)
}

func (c *countOut) SignalExternalWorkflow(ctx workflow.Context, id, run, name string, arg any) workflow.Future {
	c.h.add(2 + task)
	return c.Next.SignalExternalWorkflow(ctx, id, run, name, arg)
}

func (c *countOut) ExecuteChildWorkflow(ctx workflow.Context, typ string, args ...any) workflow.ChildWorkflowFuture {
	c.h.add(3 + 2*task)
	return c.Next.ExecuteChildWorkflow(ctx, typ, args...)
}

// refundRun is one run of a refund across continue-as-new.
type refundRun struct {
	start, end time.Time
	events     int
	wait       string // where it stopped ("" for the last run)
}

// at is something that happens to a refund at a time of the story: a
// callback, a customer's action, Temporal's suggestion.
type at struct {
	when time.Time
	do   func(env *testsuite.TestWorkflowEnvironment)
	done bool
}

// runContinuing runs RefundWorkflow from start as the root of a test
// environment; when a run continues as new the next starts at that time,
// in a new environment, with the carried input and the same fakes, until
// one ends. The story's events each happen once, in the run under way.
func runContinuing(t *testing.T, in refund.Input, start time.Time, fakes *sim.Fakes, story []*at) (refund.Status, []refundRun) {
	t.Helper()
	var env *testsuite.TestWorkflowEnvironment
	now := func() time.Time { return env.Now() }
	fakes.CA.SetClock(now)
	if fakes.Payments == nil {
		fakes.Payments = sim.NewFakePayments(now)
	}
	acts := activities.Deps{CA: fakes.CA, Payments: fakes.Payments, Store: fakes.Store, Policies: fakes.Policies}
	var runs []refundRun
	for len(runs) < 50 {
		suite := &testsuite.WorkflowTestSuite{}
		suite.SetLogger(quietLogger())
		env = suite.NewTestWorkflowEnvironment()
		env.SetStartTime(start)
		env.SetTestTimeout(2 * time.Minute)
		count := &historyCounter{env: env}
		env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: 10 * time.Second, Interceptors: []interceptor.WorkerInterceptor{count}})
		workflows.Register(env)
		workflows.RegisterActivities(env, acts)
		for _, a := range story {
			if a.done || a.when.Before(start) {
				continue
			}
			a, e := a, env
			env.RegisterDelayedCallback(func() { a.done = true; a.do(e) }, a.when.Sub(start))
		}
		env.ExecuteWorkflow(refund.WorkflowName, in)
		run := refundRun{start: start, end: env.Now(), events: count.events}
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if !errors.As(err, &can) {
			runs = append(runs, run)
			var st refund.Status
			if err := env.GetWorkflowResult(&st); err != nil {
				t.Fatalf("run %d: %v", len(runs), err)
			}
			return st, runs
		}
		var next refund.Input
		if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
			t.Fatal(err)
		}
		if next.Carry == nil || next.Carry.Runs != len(runs)+1 {
			t.Fatalf("run %d continued as new without its carry: %+v", len(runs)+1, next.Carry)
		}
		run.wait = next.Carry.Wait
		runs = append(runs, run)
		in, start = next, env.Now()
	}
	t.Fatalf("more than %d runs", len(runs))
	return refund.Status{}, nil
}

// checkRuns holds every run to the bound: a run continues as new at its
// first safe point past it, within one wait's round (an hourly poll, a
// customer's attempt: a dozen events).
func checkRuns(t *testing.T, runs []refundRun, wantWait string) {
	t.Helper()
	const round = 20
	for i, r := range runs {
		t.Logf("run %d: %s → %s, %d events, stopped in %q", i+1, r.start.Format(time.RFC3339), r.end.Format(time.RFC3339), r.events, r.wait)
		if r.events > refund.ContinueAsNewAfterEvents+round {
			t.Errorf("run %d wrote %d events, over the bound %d (+%d for the round under way)", i+1, r.events,
				refund.ContinueAsNewAfterEvents, round)
		}
		if i < len(runs)-1 && r.wait != wantWait {
			t.Errorf("run %d stopped in %q, want %q", i+1, r.wait, wantWait)
		}
	}
}

func carryScenario(t *testing.T, sc sim.Scenario) *sim.Fakes {
	t.Helper()
	reg := mustRegistry(t)
	spec, err := sc.CalendarSpec(reg)
	if err != nil {
		t.Fatal(err)
	}
	rejected := map[string]string{}
	for _, c := range sc.Order.Certificates {
		if c.ResubmitRejected != "" {
			rejected[c.ID] = c.ResubmitRejected
		}
	}
	f := &sim.Fakes{CA: sim.NewFakeCA(rejected), Store: sim.NewFakeStore(sc.Order), Policies: &sim.FakePolicies{Registry: reg, Calendar: spec}}
	return f
}

// SSL-6, T-3, VAS-2: a review that lasts thirty days, asked about every
// hour, continues as new again and again, each run under the bound, and
// ends as a run without it would: the wait since the request, escalated
// once, the approval applied once (a stray before and its duplicate after
// a continue-as-new are one stray), the certificate deleted, the quota
// returned, the refund paid once.
func TestRefundReviewOfThirtyDaysContinuesAsNew(t *testing.T) {
	sc := scenario(t, "aliyun-cn", `,"value_added":"basic"`, issuedCert, request, "")
	fakes := carryScenario(t, sc)
	requested := mustTime(t, "2026-03-03T10:00:00+08:00")
	approved := mustTime(t, "2026-03-31T22:30:00+08:00")
	stray := certificate.CAResult{EventID: "ca-stray-1", Certificate: "c-1", Result: statemachine.RevocationApproved,
		At: requested.Add(time.Hour), ReviewID: "rev-unknown"}
	var mid refund.Status
	story := []*at{
		{when: requested.Add(26 * time.Hour), do: func(env *testsuite.TestWorkflowEnvironment) {
			env.SignalWorkflow(certificate.SignalCAResult, stray)
		}},
		{when: requested.Add(20 * 24 * time.Hour), do: func(env *testsuite.TestWorkflowEnvironment) {
			env.SignalWorkflow(certificate.SignalCAResult, stray) // the CA sends it again
			if v, err := env.QueryWorkflow(refund.QueryStatus); err == nil {
				_ = v.Get(&mid)
			}
		}},
		{when: approved, do: func(env *testsuite.TestWorkflowEnvironment) {
			reviewID, ok := fakes.CA.Decide("c-1", activities.ReviewStatus{Result: statemachine.RevocationApproved, EventID: "ca-ev-1", At: approved})
			if !ok {
				t.Errorf("no review open at the CA")
			}
			env.SignalWorkflow(certificate.SignalCAResult, certificate.CAResult{EventID: "ca-ev-1", Certificate: "c-1",
				Result: statemachine.RevocationApproved, At: approved, ReviewID: reviewID})
		}},
	}
	in := refund.Input{OrderID: "o-t", Request: domain.RefundRequest{OrderID: "o-t", RequestedAt: requested, Consent: true,
		ConfirmIrreversible: true, AcceptLateReviewRisk: true, RequestedBy: "customer"}}
	st, runs := runContinuing(t, in, requested, fakes, story)
	checkRuns(t, runs, "review")
	if len(runs) < 3 {
		t.Fatalf("%d runs: a thirty-day review polled hourly must continue as new", len(runs))
	}
	if st.Outcome != refund.OutcomeRefunded || st.Payout == nil || st.Decision == nil || st.Decision.Refund == nil ||
		st.Payout.Cash != st.Decision.Refund.Cash.String() || st.Payout.Cash != "100.00" {
		t.Fatalf("result %s %v payout %+v: want refunded, 100.00 paid", st.Outcome, st.Reasons, st.Payout)
	}
	if n := len(fakes.Payments.PayoutsOf("o-t")); n != 1 {
		t.Fatalf("M-4: %d payouts, want exactly 1", n)
	}
	if got := fakes.Store.Certificates("o-t")["c-1"]; got != string(statemachine.Removed) || fakes.Store.QuotaReturned() != 1 {
		t.Fatalf("store: c-1 %s, quota returned %d: want removed with its quota back", got, fakes.Store.QuotaReturned())
	}
	if len(st.Held) != 1 || st.Held[0].State != statemachine.Removed || len(st.Held[0].Strays) != 1 {
		t.Fatalf("held %+v: want c-1 removed, one stray", st.Held)
	}
	var path []statemachine.CertState
	for _, tr := range st.Held[0].Transitions {
		path = append(path, tr.To)
	}
	if fmt.Sprint(path) != "[validating_revocation revoked removed]" {
		t.Errorf("c-1 went %v", path)
	}
	// Mid-way, a run long continued: the wait began at the request and
	// the refund is escalated (T-3), once.
	w := oneWait(t, "day 20", mid.WaitingOn, domain.WaitCAReview)
	if !w.Since.Equal(requested) || !mid.Escalated {
		t.Errorf("day 20: wait %+v escalated %v: want since the request, escalated", w, mid.Escalated)
	}
	escalations, revoked := 0, 0
	for _, s := range st.Steps {
		switch s.Step {
		case "escalated":
			escalations++
		case "revoked":
			revoked++
		}
	}
	if escalations != 1 || revoked != 1 || st.Steps[0].Step != "requested" {
		t.Errorf("steps %+v: want the whole timeline, one escalation, one revocation", st.Steps)
	}
	if st.Audit[0].Action != domain.AuditRefundRequested || !st.Audit[0].At.Equal(requested) {
		t.Errorf("audit %+v", st.Audit)
	}
	if h := fakes.Store.Holder("c-1"); h != "" {
		t.Errorf("c-1 still held by %q", h)
	}
}

// SSL-6: a customer who resubmits sixty days after the CA refused the
// data, trying and failing every other day meanwhile. Temporal suggests
// continuing as new twice (the refund has no deadline of its own for the
// customer: the rules set none); the runs carry the wait since it began
// and every attempt in the audit trail, and the refund ends paid with the
// certificate removed.
func TestRefundWaitingSixtyDaysForTheCustomerContinuesAsNew(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "",
		`{"id":"c-1","state":"validation_failed","domain_changed":false,"resubmit_rejected":"missing contact ID number"}`, request, "")
	fakes := carryScenario(t, sc)
	requested := mustTime(t, "2026-03-03T10:00:00+08:00")
	resubmit := func(env *testsuite.TestWorkflowEnvironment, i int) {
		env.UpdateWorkflow(refund.UpdateCertificateAction, fmt.Sprintf("resubmit-%d", i), &testsuite.TestUpdateCallback{
			OnReject: func(err error) { t.Errorf("resubmission %d refused: %v", i, err) }, OnAccept: func() {}, OnComplete: func(any, error) {},
		}, refund.CertificateAction{Certificate: "c-1", ActionRequest: certificate.ActionRequest{Action: statemachine.Resubmit, Actor: "customer"}})
	}
	var story []*at
	var waits []refund.Status
	for day := 2; day < 60; day += 2 {
		i := day
		story = append(story, &at{when: requested.Add(time.Duration(day) * 24 * time.Hour), do: func(env *testsuite.TestWorkflowEnvironment) {
			resubmit(env, i) // the CA refuses it again
		}})
	}
	for _, day := range []int{21, 41} {
		story = append(story, &at{when: requested.Add(time.Duration(day) * 24 * time.Hour), do: func(env *testsuite.TestWorkflowEnvironment) {
			if v, err := env.QueryWorkflow(refund.QueryStatus); err == nil {
				var st refund.Status
				if v.Get(&st) == nil {
					waits = append(waits, st)
				}
			}
			env.SetContinueAsNewSuggested(true) // the next attempt's task sees it
		}})
	}
	fixed := requested.Add(60 * 24 * time.Hour)
	story = append(story, &at{when: fixed, do: func(env *testsuite.TestWorkflowEnvironment) {
		fakes.CA.Fix("c-1")
		resubmit(env, 60)
	}})
	in := refund.Input{OrderID: "o-t", Request: domain.RefundRequest{OrderID: "o-t", RequestedAt: requested, Consent: true,
		ConfirmIrreversible: true, AcceptLateReviewRisk: true, RequestedBy: "customer"}}
	st, runs := runContinuing(t, in, requested, fakes, story)
	checkRuns(t, runs, "customer")
	if len(runs) != 3 {
		t.Fatalf("%d runs, want 3 (Temporal suggested continuing as new twice)", len(runs))
	}
	for i, w := range waits {
		got := oneWait(t, fmt.Sprintf("query %d", i+1), w.WaitingOn, domain.WaitCustomer)
		if !got.Since.Equal(requested) || got.Certificate != "c-1" {
			t.Errorf("query %d: wait %+v, want c-1 since the request", i+1, got)
		}
	}
	if st.Outcome != refund.OutcomeRefunded || st.Payout == nil || st.Payout.Cash != "100.00" || len(st.WaitingOn) != 0 {
		t.Fatalf("result %s %v payout %+v waiting %+v: want refunded, 100.00 paid", st.Outcome, st.Reasons, st.Payout, st.WaitingOn)
	}
	if n := len(fakes.Payments.PayoutsOf("o-t")); n != 1 {
		t.Fatalf("M-4: %d payouts, want exactly 1", n)
	}
	if got := fakes.Store.Certificates("o-t")["c-1"]; got != string(statemachine.Removed) {
		t.Fatalf("store: c-1 %s, want removed", got)
	}
	// The request, 29 refused attempts and the one that went through.
	if len(st.Audit) != 31 || st.Audit[0].Action != domain.AuditRefundRequested || !st.Audit[30].At.Equal(fixed) ||
		st.Audit[30].Event != string(statemachine.Resubmit) {
		t.Fatalf("audit has %d entries (%+v ... %+v), want the request and 30 resubmissions", len(st.Audit), st.Audit[0], st.Audit[len(st.Audit)-1])
	}
	var resubmitted, paid bool
	for _, s := range st.Steps {
		resubmitted = resubmitted || (s.Step == "customer resubmit" && s.At.Equal(fixed))
		paid = paid || s.Step == "paid"
	}
	if !resubmitted || !paid || st.Steps[0].Step != "requested" {
		t.Errorf("steps %+v: want the whole timeline, the resubmission on day 60, the payment", st.Steps)
	}
}
