package sim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// Harness signals.
const (
	signalStartRefund = "start-refund"
	signalStop        = "stop"
)

// HarnessInput lists the certificate workflows a scenario starts with:
// those the console acted on before the refund (a revocation under way,
// a console action before the request). The others have no workflow
// until something needs one: a refund holds and releases them itself.
type HarnessInput struct {
	Certificates []certificate.Input `json:"certificates"`
}

// HarnessWorkflow stands in for the console backend: it starts the order's
// certificate workflows, starts the refund when the timeline asks, and ends
// when the scenario's clock stops. The workflows it starts are the real ones.
func HarnessWorkflow(ctx workflow.Context, in HarnessInput) error {
	for _, c := range in.Certificates {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:        certificate.WorkflowID(c.Certificate.ID),
			ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		})
		f := workflow.ExecuteChildWorkflow(cctx, certificate.WorkflowName, c)
		if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			return fmt.Errorf("starting certificate %s: %w", c.Certificate.ID, err)
		}
	}
	start := workflow.GetSignalChannel(ctx, signalStartRefund)
	stop := workflow.GetSignalChannel(ctx, signalStop)
	for {
		stopped := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(start, func(ch workflow.ReceiveChannel, _ bool) {
			var in refund.Input
			ch.Receive(ctx, &in)
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
				WorkflowID:        refund.WorkflowID(in.OrderID),
				ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
			})
			f := workflow.ExecuteChildWorkflow(cctx, refund.WorkflowName, in)
			if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
				// A second request for the same order joins the running refund.
				workflow.GetLogger(ctx).Info("refund not started", "order", in.OrderID, "error", err)
			}
		})
		sel.AddReceive(stop, func(ch workflow.ReceiveChannel, _ bool) {
			ch.Receive(ctx, nil)
			stopped = true
		})
		sel.Select(ctx)
		if stopped {
			return nil
		}
	}
}

// Fakes are the in-memory systems a run uses; tests may adjust them before
// Run (e.g. FakePayments.TimeoutsAfterPay).
type Fakes struct {
	CA       *FakeCA
	Payments *FakePayments
	Store    *FakeStore
	Policies *FakePolicies
}

// Options tune a run.
type Options struct {
	// Logger receives the SDK's log; nil discards it.
	Logger log.Logger
	// Prepare may adjust the fakes before the run starts.
	Prepare func(*Fakes)
	// Hook, when set, runs after the timeline is scheduled and before the
	// run: tests register their own delayed callbacks (an operator's
	// signal, a CA that recovers) on env, whose clock starts at paid_at.
	Hook func(env *testsuite.TestWorkflowEnvironment, fakes *Fakes)
	// ReviewPoll is how often a refund asks the CA about an open review;
	// zero means activities.DefaultReviewPoll, as in production.
	ReviewPoll time.Duration
}

// Run plays a scenario and returns its result.
func Run(ctx context.Context, sc Scenario, opts Options) (Result, error) {
	reg, err := policy.LoadRegistry()
	if err != nil {
		return Result{}, err
	}
	spec, err := sc.CalendarSpec(reg)
	if err != nil {
		return Result{}, err
	}
	suite := &testsuite.WorkflowTestSuite{}
	logger := opts.Logger
	if logger == nil {
		logger = log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	suite.SetLogger(logger)
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(sc.Order.PaidAt)
	env.SetDetachedChildWait(false)
	env.SetTestTimeout(2 * time.Minute)
	// The simulation runs days in milliseconds, often beside other work (a
	// test suite with the race detector on two cores): a coroutine waiting
	// for a CPU is not a deadlock, so the SDK's one-second detector is
	// relaxed here (sdk-go#1240: its dispatcher races after a false report).
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: 10 * time.Second})

	rejected := map[string]string{}
	for _, c := range sc.Order.Certificates {
		if c.ResubmitRejected != "" {
			rejected[c.ID] = c.ResubmitRejected
		}
	}
	fakes := &Fakes{
		CA:       NewFakeCA(rejected),
		Payments: NewFakePayments(env.Now),
		Store:    NewFakeStore(sc.Order),
		Policies: &FakePolicies{Registry: reg, Calendar: spec},
	}
	fakes.CA.SetClock(env.Now)
	if opts.Prepare != nil {
		opts.Prepare(fakes)
	}
	env.RegisterWorkflow(HarnessWorkflow)
	workflows.Register(env)
	workflows.RegisterActivities(env, activities.Deps{CA: fakes.CA, Payments: fakes.Payments, Store: fakes.Store, Policies: fakes.Policies,
		ReviewPoll: opts.ReviewPoll})

	p := &player{sc: sc, env: env, fakes: fakes}
	p.schedule()
	if opts.Hook != nil {
		opts.Hook(env, fakes)
	}
	env.ExecuteWorkflow(HarnessWorkflow, p.harnessInput())
	if err := env.GetWorkflowError(); err != nil {
		return Result{}, fmt.Errorf("scenario %s: %w", sc.Order.ID, err)
	}
	if p.result == nil {
		return Result{}, fmt.Errorf("scenario %s: the clock stopped before the result was collected", sc.Order.ID)
	}
	return *p.result, nil
}

// player delivers the timeline's events at their times.
type player struct {
	sc        Scenario
	env       *testsuite.TestWorkflowEnvironment
	fakes     *Fakes
	requested bool
	notes     []string
	result    *Result
}

func (p *player) harnessInput() HarnessInput {
	var in HarnessInput
	for _, c := range p.sc.Order.Certificates {
		ci := certificate.Input{Certificate: c, OrderID: p.sc.Order.ID}
		switch {
		case c.State == statemachine.ValidatingRevocation:
			// A revocation under way before the story (the console's):
			// its submission time is unknown.
			ci.Review = &certificate.Review{ID: p.fakes.CA.OpenReview(c.ID, time.Time{})}
		case !p.consoleActsFirst(c.ID):
			continue
		}
		in.Certificates = append(in.Certificates, ci)
	}
	return in
}

// consoleActsFirst tells whether the console acts on the certificate
// before any refund is requested: the console's action starts the
// certificate's workflow then, as the gateway's does.
func (p *player) consoleActsFirst(certID string) bool {
	for _, ev := range p.sc.Events {
		switch {
		case ev.Type == EvRefundRequested:
			return false
		case ev.Certificate == certID && (ev.Type == EvRevokeRequested || ev.Type == EvCustomerResubmitted):
			return true
		}
	}
	return false
}

// route names the workflow a certificate's CA result or console action
// goes to, as the gateway does: the refund that holds it, or its own.
func (p *player) route(certID string) (workflowID string, byRefund bool) {
	if h := p.fakes.Store.Holder(certID); refund.IsHolder(h) {
		return h, true
	}
	return certificate.WorkflowID(certID), false
}

// act sends a console action to the certificate's writer.
func (p *player) act(i int, certID string, req certificate.ActionRequest) {
	if id, byRefund := p.route(certID); byRefund {
		p.update(i, id, refund.UpdateCertificateAction, refund.CertificateAction{Certificate: certID, ActionRequest: req})
		return
	}
	p.update(i, certificate.WorkflowID(certID), certificate.UpdateAction, req)
}

// result delivers a CA result to the certificate's writer.
func (p *player) deliverResult(res certificate.CAResult) {
	id, _ := p.route(res.Certificate)
	p.signal(id, certificate.SignalCAResult, res)
}

func (p *player) schedule() {
	start := p.sc.Order.PaidAt
	for i, ev := range p.sc.Events {
		i, ev := i, ev
		p.env.RegisterDelayedCallback(func() { p.deliver(i, ev) }, ev.At.Sub(start))
	}
	p.env.RegisterDelayedCallback(func() {
		r := p.collect()
		p.result = &r
		p.env.SignalWorkflow(signalStop, nil)
	}, p.sc.End().Sub(start))
}

func (p *player) deliver(i int, ev Event) {
	orderID := p.sc.Order.ID
	switch ev.Type {
	case EvRefundRequested:
		p.requested = true
		req := domain.RefundRequest{OrderID: orderID, RequestedAt: ev.At, Consent: ev.Consent,
			ConfirmIrreversible: ev.ConfirmIrreversible, AcceptLateReviewRisk: ev.AcceptLateReviewRisk, RequestedBy: "customer"}
		p.env.SignalWorkflow(signalStartRefund, refund.Input{OrderID: orderID, Request: req})
	case EvRevocationApproved, EvRevocationRejected:
		result := statemachine.RevocationApproved
		if ev.Type == EvRevocationRejected {
			result = statemachine.RevocationRejected
		}
		eventID := fmt.Sprintf("%s-ev-%d", orderID, i)
		reviewID, ok := p.fakes.CA.Decide(ev.Certificate, activities.ReviewStatus{Result: result, EventID: eventID, Reason: ev.Reason, At: ev.At})
		if !ok {
			p.notes = append(p.notes, fmt.Sprintf("%s at %s: no review of %s was open at the CA", ev.Type, ev.At.Format(time.RFC3339), ev.Certificate))
		}
		if ev.Delivery == DeliveryLost {
			p.notes = append(p.notes, fmt.Sprintf("%s of %s decided at %s; its callback was lost", ev.Type, ev.Certificate, ev.At.Format(time.RFC3339)))
			return
		}
		p.deliverResult(certificate.CAResult{EventID: eventID, Certificate: ev.Certificate, Result: result, Reason: ev.Reason, At: ev.At, ReviewID: reviewID})
	case EvStrayResult:
		// A signed result that answers no open review: it names a review
		// the CA does not have open.
		result := statemachine.RevocationApproved
		if ev.Result == "rejected" {
			result = statemachine.RevocationRejected
		}
		p.deliverResult(certificate.CAResult{EventID: fmt.Sprintf("%s-stray-%d", orderID, i), Certificate: ev.Certificate,
			Result: result, Reason: ev.Reason, At: *ev.OccurredAt, ReviewID: fmt.Sprintf("rev-stray-%d", i)})
	case EvCustomerResubmitted:
		p.fakes.CA.Fix(ev.Certificate)
		p.act(i, ev.Certificate, certificate.ActionRequest{Action: statemachine.Resubmit, Actor: "customer"})
	case EvRevokeRequested:
		p.act(i, ev.Certificate, certificate.ActionRequest{Action: statemachine.Revoke, Actor: "customer", ConfirmIrreversible: ev.ConfirmIrreversible})
	case EvOriginalMethodFails:
		p.fakes.Payments.FailOriginalMethod(true)
	case EvOperatorApproved:
		p.update(i, refund.WorkflowID(orderID), refund.UpdateApprove, refund.ApproveRequest{Operator: "operator"})
	case EvCancelRequested:
		p.update(i, refund.WorkflowID(orderID), refund.UpdateCancel, refund.CancelRequest{Actor: "customer"})
	}
}

func (p *player) signal(workflowID, name string, arg any) {
	if err := p.env.SignalWorkflowByID(workflowID, name, arg); err != nil {
		p.notes = append(p.notes, fmt.Sprintf("%s %s not delivered: %v", name, workflowID, err))
	}
}

func (p *player) update(i int, workflowID, name string, arg any) {
	label := fmt.Sprintf("%s on %s", name, workflowID)
	cb := &testsuite.TestUpdateCallback{
		OnReject: func(err error) { p.notes = append(p.notes, fmt.Sprintf("%s refused: %v", label, err)) },
		OnAccept: func() {},
		OnComplete: func(_ any, err error) {
			if err != nil {
				p.notes = append(p.notes, fmt.Sprintf("%s failed: %v", label, err))
			}
		},
	}
	if err := p.env.UpdateWorkflowByID(workflowID, name, fmt.Sprintf("event-%d", i), cb, arg); err != nil {
		p.notes = append(p.notes, fmt.Sprintf("%s not delivered: %v", label, err))
	}
}
