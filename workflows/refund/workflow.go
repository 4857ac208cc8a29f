package refund

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/internal/calls"
)

// PaymentKey is the idempotency key of an order's refund payout to a
// destination (M-4). The balance key is used only after the original
// method definitively failed, when no money moved (GEN-4).
func PaymentKey(orderID string, dest domain.Destination) string {
	return "refund/" + orderID + "/" + string(dest)
}

// maxReplans bounds how often a release re-plans a certificate whose state
// drifted from what the plan assumed.
const maxReplans = 5

// Workflow carries one order's refund from the request to money moved,
// or to a refusal naming the rules: it judges the request, releases the
// order's certificates through their workflows, waits for revocation reviews
// and operator approval, and pays once.
//
// A refund can wait for weeks (a long review, a customer who resubmits
// late): it continues as new at a safe point once its history is long
// (carry.go), carrying everything, so no run's history grows unbounded.
func Workflow(ctx workflow.Context, in Input) (Status, error) {
	r := &refund{in: in, st: Status{OrderID: in.OrderID, State: statemachine.OrderPaid, Outcome: OutcomeOf(statemachine.OrderPaid), Reasons: []string{},
		WaitingOn: []domain.Wait{}}}
	if in.Carry != nil {
		r.restore(in.Carry)
		if r.irreversible() {
			// The run that continued as new had committed in a workflow
			// task that completed.
			r.irreversibleAt = -1
		}
	} else {
		// The request is the trail's first entry, at its own time and by
		// who asked (the gateway records the same entry as it starts the
		// refund).
		at := in.Request.RequestedAt
		if at.IsZero() {
			at = workflow.Now(ctx)
		}
		r.st.Audit = []domain.AuditEntry{{Action: domain.AuditRefundRequested, At: at, Actor: domain.ActorOr(in.By, in.Request.RequestedBy)}}
	}
	if err := r.setup(ctx); err != nil {
		return r.st, err
	}
	r.run(ctx)
	if r.can {
		return r.st, workflow.NewContinueAsNewError(ctx, Workflow, r.carryInput())
	}
	return r.status()
}

type refund struct {
	in     Input
	st     Status
	order  domain.Order
	bundle activities.PolicyBundle
	// cal is set once load has read the order and its policy (nil when it
	// could not): data, not the refund's lifecycle, which is st.State.
	cal      *calendar.Calendar
	decision policy.Decision

	// cancel and approval are the requests a customer or an operator made
	// (who, why): data the order machine's cancel and approve events act
	// on, never a decision of their own.
	cancel   *CancelRequest
	approval *ApproveRequest
	reports  []certificate.Report
	started  []string
	// commanded lists the certificates whose workflows report to this
	// refund because it sent them a command.
	commanded []string
	// chained are the steps a certificate performed after its approved
	// revocation (certificate.Report.Done), not yet taken off the plan.
	chained []certificate.Transition
	seq     int
	// ca is the refund's dealings with the CA (review.go).
	ca caBoundary
	// published and recorded are the search attributes and the store
	// record last written: both are written again only when they change.
	published *publishedAttrs
	recorded  *activities.RefundRecord
	// stamped is the last record's UpdatedAt: each record is stamped
	// later than the one before, so a record that rode with an activity
	// (ride) never replaces one written after it in the same task.
	stamped time.Time
	// dirty asks the publisher (the inbox) to write the attributes and
	// the record; flushing is true while a write is under way.
	dirty, flushing bool
	// pending are the held certificates' records (their states and quota
	// returns) the publisher writes next, with the refund's own record in
	// one transaction.
	pending activities.Records
	// held are the certificates this refund holds in the store: it is
	// their one writer and runs their logic itself (no certificate
	// workflow) until it ends; handed are those it handed over to a
	// certificate workflow as it ended (a review still open).
	holds  []string
	held   []*certificate.Runner
	handed []string
	// lettingGo is set once letGo starts ending the holds (no held
	// certificate starts here after it), letGone once it has.
	lettingGo, letGone bool
	// forwarding counts CA results being passed on to the workflow that
	// now holds their certificate.
	forwarding int

	// Where the refund stands, for a continue-as-new (carry.go): step is
	// the index of the decision's step under way, queue and replans the
	// release plan's remaining steps and re-plans.
	step    int
	queue   []statemachine.PlanStep
	replans int
	// resume is the carry of the run this one continues until the wait it
	// stopped in takes it (resuming).
	resume *Carry
	// can is set when the run stops at a safe point to continue as new;
	// canWait, nextPoll, customer, payFailing and payFallback say where.
	can                     bool
	canWait                 string
	nextPoll                time.Time
	customer                *certificate.Report
	payFailing, payFallback bool
	// irreversibleAt is the history length (the workflow task's started
	// event) at which the refund was first seen past its irreversible step
	// in this run; -1 for a run that started past it (a continued run),
	// 0 while it is not. See committedDurably.
	irreversibleAt int
	// judgement is the number of this refund run's judgement in the
	// ledger (ports.RunJudgement), which its payout carries; judgedAt the
	// history length of the workflow task that opened it (0 in a
	// continued run); paidBefore the run's own payout the judgement found.
	judgement  int64
	judgedAt   int
	paidBefore *ports.Payout
	// children counts the certificate workflows started as children whose
	// result (a final report) is still awaited.
	children int
	runs     int
	// The signal channels, taken by the inbox and drained before a
	// continue-as-new.
	results, reportCh, fixedCh workflow.ReceiveChannel
}

// publishedAttrs are the search attributes a refund upserts; the lists
// are joined, so that two sets compare with ==.
type publishedAttrs struct {
	state     statemachine.OrderState
	escalated bool
	product   domain.Product
	waitingOn string
	certIDs   string
	certState string
}

func (r *refund) id() string { return WorkflowID(r.in.OrderID) }

func (r *refund) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, r.status); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateCancel, r.handleCancel,
		workflow.UpdateHandlerOptions{Validator: r.validateCancel}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateApprove, r.handleApprove,
		workflow.UpdateHandlerOptions{Validator: r.validateApprove}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateCertificateAction, r.handleCertificateAction,
		workflow.UpdateHandlerOptions{Validator: r.validateCertificateAction}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateCAResult, r.takeCAResult,
		workflow.UpdateHandlerOptions{Validator: r.validateCAResult}); err != nil {
		return err
	}
	r.fixedCh = workflow.GetSignalChannel(ctx, SignalCAConfigFixed)
	r.results = workflow.GetSignalChannel(ctx, certificate.SignalCAResult)
	r.reportCh = workflow.GetSignalChannel(ctx, certificate.SignalReport)
	workflow.Go(ctx, r.inbox)
	return nil
}

// inbox is the refund's one coroutine besides its main one (a waiting
// refund costs two): it takes the signals as they come (the operator's
// SignalCAConfigFixed, CA results, certificate reports) and is the
// publisher, which writes the search attributes and the store record once
// the refund's code blocks, so every change made in one workflow task is
// one upsert and one record, not one per change. CA results wait in their
// channel until load knows which of the order's certificates this refund
// holds (hold.go), and one passed on to another workflow is delivered
// before the next is taken. Nothing here blocks: a result passed on and a
// record being written are waited for by a short-lived coroutine of their
// own, so a slow store does not hold up the signals and a forward does
// not hold up the records.
func (r *refund) inbox(ctx workflow.Context) {
	for {
		if err := workflow.Await(ctx, r.inboxReady); err != nil {
			return
		}
		for r.fixedCh.ReceiveAsync(nil) {
			r.ca.fixed = true
		}
		for r.takingResults() {
			var res certificate.CAResult
			if !r.results.ReceiveAsync(&res) {
				break
			}
			r.caResult(ctx, res)
		}
		if r.dirty && !r.flushing {
			r.dirty = false
			r.flush(ctx)
		}
		for {
			var rep certificate.Report
			if !r.reportCh.ReceiveAsync(&rep) {
				break
			}
			r.reports = append(r.reports, rep)
		}
	}
}

// inboxReady tells the inbox it has something to do.
func (r *refund) inboxReady() bool {
	return r.fixedCh.Len() > 0 || (r.takingResults() && r.results.Len() > 0) || (r.dirty && !r.flushing) || r.reportCh.Len() > 0
}

// takingResults tells whether the inbox takes CA results: once the holds
// are known, and not while one is being passed on.
func (r *refund) takingResults() bool { return r.holdKnown() && r.forwarding == 0 }

// status answers the query. Until the request is judged the order machine
// still says paid; to a client that is a refund requested (the word the
// search attribute and the store use from the start).
func (r *refund) status() (Status, error) {
	st := r.st
	if st.State == statemachine.OrderPaid {
		st.State = statemachine.OrderRefundRequested
	}
	for _, c := range r.held {
		st.Held = append(st.Held, c.Status())
	}
	return st, nil
}

func (r *refund) run(ctx workflow.Context) {
	if r.resume == nil {
		if !r.judge(ctx) {
			return
		}
	} else {
		// A continued run: judged, held and loaded by the first run.
		workflow.SetCurrentDetails(ctx, r.details())
	}
	for ; r.step < len(r.decision.Steps); r.step++ {
		step := r.decision.Steps[r.step]
		if r.ended() || r.cancelIfAsked(ctx) {
			return
		}
		switch step.Kind {
		case policy.StepRelease:
			r.release(ctx, step)
		case policy.StepResetGateway, policy.StepResetCA:
			r.reset(ctx, step)
		case policy.StepAwaitApproval:
			r.awaitApproval(ctx, step)
		case policy.StepPay:
			r.pay(ctx)
		default:
			r.refuse(ctx, nil, fmt.Sprintf("unknown step %q", step.Kind))
		}
		if r.can {
			// Stopped to continue as new, in this step.
			return
		}
		// A continued run resumed in this step; the next starts afresh.
		r.resume = nil
	}
}

// judge loads the order and its policy, holds the certificates and
// judges the request; false when the refund ended refused.
func (r *refund) judge(ctx workflow.Context) bool {
	r.record(ctx, "requested", fmt.Sprintf("by %s", orDefault(r.in.Request.RequestedBy, "customer")))
	if !r.load(ctx) {
		return false
	}
	d, err := policy.Evaluate(r.bundle.Profile, r.cal, r.order, r.in.Request, workflow.Now(ctx))
	if err != nil && r.paidBefore == nil {
		r.refuse(ctx, errs.RulesOf(err), "invalid request: "+errs.MessageOf(err))
		return false
	}
	if r.paidBefore != nil {
		d = payAgain(d, *r.paidBefore)
	}
	r.decision = d
	r.st.Decision = &d
	if !d.Eligible {
		r.refuse(ctx, d.Reasons(), refusalText(d.Refusals))
		return false
	}
	r.fire(ctx, statemachine.OrderRequest)
	r.record(ctx, "accepted", strings.TrimPrefix(r.deadlineText(), "; "))
	if p := r.paidBefore; p != nil {
		// Why the refund pays whatever the rules said this time: the
		// operator reading its steps sees it.
		r.record(ctx, "judged again", fmt.Sprintf("M-4: this refund's payout %s was found %s; it is paid again by its key",
			p.Request.IdempotencyKey, p.Status))
	}
	return true
}

// payAgain is the decision of a refund that finds its own payout in the
// ledger as it judges (ports.RunJudgement.Payout): an earlier try of this
// workflow task reserved it before its worker was lost, or the refund was
// reset after it paid. The money moved or may have, so the refund pays
// that payout again by its key (M-4: the ledger and the provider return
// the one made), with its amounts and destination, whatever the rules
// say now (a window that closed since, a request refused this time): one
// pay step, nothing released again, nothing left to approve. The step
// moves the order to paying before the workflow yields, so a cancel that
// came meanwhile is refused (CAN-1).
func payAgain(d policy.Decision, p ports.Payout) policy.Decision {
	rules := []string{"M-4"}
	rule := "M-4"
	if d.Refund != nil {
		rules = appendOnce(slices.Clone(d.Refund.Rules), "M-4")
	}
	for _, s := range d.Steps {
		if s.Kind == policy.StepPay {
			rule = s.Rule
		}
	}
	d.Eligible, d.Refusals, d.MissingConfirmations, d.RequiresApproval = true, nil, nil, false
	d.Refund = &policy.Breakdown{Cash: p.Request.Cash, GiftCard: p.Request.GiftCard, BenefitPoints: p.Request.BenefitPoints,
		Destination: p.Request.Destination, Rules: rules}
	d.Steps = []policy.Step{{Kind: policy.StepPay, Rule: rule, Irreversible: true}}
	return d
}

// load reads the order and the policy it is judged by.
func (r *refund) load(ctx workflow.Context) bool {
	// One local activity holds the order's certificates for this refund
	// and reads the order and its policy (a marker, no task round trips).
	var j HeldJudgement
	in := HoldJudgementInput{OrderID: r.in.OrderID, Holder: r.id(), RefundRun: refundRun(ctx)}
	if err := workflow.ExecuteLocalActivity(calls.WithLocal(ctx, calls.LocalStore), a.LoadAndHold, in).Get(ctx, &j); err != nil {
		r.refuse(ctx, nil, calls.ErrorMessage(err))
		return false
	}
	r.order, r.bundle = j.Order, j.Bundle
	r.judgement, r.paidBefore = j.Run.Number, j.Run.Payout
	r.judgedAt = workflow.GetInfo(ctx).GetCurrentHistoryLength()
	for _, c := range r.order.Certificates {
		if j.Holders[c.ID] == r.id() {
			r.holds = append(r.holds, c.ID)
		}
	}
	cal, err := calls.CalendarFor(r.bundle.Calendar)
	if err != nil {
		r.refuse(ctx, nil, calls.ErrorMessage(err))
		return false
	}
	r.cal = cal
	for _, c := range r.order.Certificates {
		r.st.Certificates = append(r.st.Certificates, statemachine.CertRef{ID: c.ID, State: c.State})
	}
	r.publish(ctx)
	return true
}

// release walks the order's release plan (SSL-6, SSL-8), re-planning a
// certificate when its state is not what the plan assumed.
func (r *refund) release(ctx workflow.Context, step policy.Step) {
	if r.resume == nil {
		r.fire(ctx, statemachine.OrderRelease)
		r.hold(ctx, step.Plan)
		r.queue = append([]statemachine.PlanStep(nil), step.Plan...)
		r.replans = 0
	}
	// A continued run goes on with the queue it carried.
	for len(r.queue) > 0 && !r.ended() {
		if r.continueAsNewNow(ctx, "") {
			return
		}
		ps := r.queue[0]
		if ps.Kind == statemachine.StepAwaitCA {
			if !r.awaitReview(ctx, ps) {
				return
			}
			r.queue = r.queue[1:]
			// The steps the certificate chained after the approval are
			// done: take them off the plan.
			for _, t := range r.chained {
				if len(r.queue) == 0 || r.queue[0].Certificate != ps.Certificate || r.queue[0].Event != t.Event {
					break
				}
				r.record(ctx, string(t.Event), fmt.Sprintf("certificate %s → %s", ps.Certificate, t.To))
				r.queue = r.queue[1:]
			}
			r.chained = nil
			continue
		}
		if r.cancelIfAsked(ctx) {
			return
		}
		if res := r.resuming(waitCustomer); res != nil && res.Customer != nil {
			// Continued while waiting for the customer: wait on.
			state, ok := r.awaitCustomer(ctx, ps.Certificate, *res.Customer)
			if !ok {
				return
			}
			r.queue = replan(r.queue, ps.Certificate, state)
			continue
		}
		if batch := r.batchable(); len(batch) > 1 {
			if !r.releaseBatch(ctx, step, batch) {
				return
			}
			continue
		}
		if statemachine.IsIrreversible(ps.Event) {
			r.commit(ctx)
		}
		rep := r.command(ctx, ps, chainAfterReview(r.queue)...)
		if rep.OK {
			if ps.Event == statemachine.Revoke {
				r.ca.remember(ps.Certificate, rep.Review)
			}
			r.caRecovered(ctx, "")
			r.queue = r.queue[1:]
			continue
		}
		if !r.stepFailed(ctx, step, ps, rep) {
			return
		}
	}
}

// stepFailed handles a release step's failure: a wait (the CA out, the
// customer to resubmit) after which the step is tried again, a re-plan
// from the certificate's actual state, or the refund refused. False when
// the refund ended.
func (r *refund) stepFailed(ctx workflow.Context, step policy.Step, ps statemachine.PlanStep, rep certificate.Report) bool {
	switch {
	case calls.IsInfraFailure(rep.ErrorType):
		// The CA unreachable or refusing our credentials: wait
		// visibly and retry the same step; never a reason to refuse.
		return r.awaitInfra(ctx, rep, orDefault(step.Rule, "SSL-6"))
	case rep.ErrorType == string(errs.ResubmissionRejected):
		state, ok := r.awaitCustomer(ctx, ps.Certificate, rep)
		if !ok {
			return false
		}
		r.queue = replan(r.queue, ps.Certificate, state)
	case rep.ErrorType == string(errs.IllegalTransition) && r.replans < maxReplans:
		r.replans++
		r.queue = replan(r.queue, ps.Certificate, rep.State)
	default:
		r.refuse(ctx, []string{"SSL-6"}, fmt.Sprintf("certificate %s could not be released (%s): %s", ps.Certificate, ps.Event, rep.Error))
		return false
	}
	return true
}

// batchable is the run of steps at the head of the queue whose CA actions
// can go as one activity (certificate.Batch), in plan order: console
// actions that are not irreversible (a 3-year order's later-year cancels,
// SSL-8), each on another certificate this refund holds, idle, in a state
// that allows it. Nil when fewer than two.
func (r *refund) batchable() []statemachine.PlanStep {
	var run []statemachine.PlanStep
	for _, ps := range r.queue {
		c := r.holding(ps.Certificate)
		if ps.Kind == statemachine.StepAwaitCA || !statemachine.IsConsoleAction(ps.Event) || statemachine.IsIrreversible(ps.Event) ||
			c == nil || !c.Idle() || slices.ContainsFunc(run, func(x statemachine.PlanStep) bool { return x.Certificate == ps.Certificate }) {
			break
		}
		if _, err := statemachine.CertTransition(c.State(), ps.Event); err != nil {
			break
		}
		run = append(run, ps)
	}
	if len(run) < 2 {
		return nil
	}
	return run
}

// releaseBatch commands a batch of steps (batchable) at once, their CA
// actions one activity, and takes their reports in plan order: the steps
// done leave the queue, the skipped ones stay to be commanded again, and
// a failure (a batch stops at it) is handled as a single step's
// (stepFailed). False when the refund ended.
func (r *refund) releaseBatch(ctx workflow.Context, step policy.Step, steps []statemachine.PlanStep) bool {
	b := certificate.NewBatch(len(steps))
	cmds := make([]certificate.Command, len(steps))
	for i, ps := range steps {
		// Held, so sent without fail.
		cmds[i], _ = r.send(ctx, ps, b, i)
	}
	reps := make([]certificate.Report, len(steps))
	for i, ps := range steps {
		reps[i] = r.reported(ctx, ps, cmds[i])
	}
	for i, ps := range steps {
		switch rep := reps[i]; {
		case rep.OK:
			r.caRecovered(ctx, "")
			if k := slices.Index(r.queue, ps); k >= 0 {
				r.queue = slices.Delete(r.queue, k, k+1)
			}
		case rep.Skipped:
		default:
			if !r.stepFailed(ctx, step, ps, rep) {
				return false
			}
		}
	}
	return true
}

// replan replaces a certificate's remaining steps with a fresh plan from
// its actual state, keeping the other certificates' steps in order.
func replan(queue []statemachine.PlanStep, certID string, from statemachine.CertState) []statemachine.PlanStep {
	plan, err := statemachine.ReleasePlan(certID, from)
	if err != nil {
		plan = nil
	}
	out := append([]statemachine.PlanStep(nil), plan...)
	for _, ps := range queue {
		if ps.Certificate != certID {
			out = append(out, ps)
		}
	}
	return out
}

// chainAfterReview lists, for a revoke at the head of queue, the release
// steps of the same certificate that follow its review (certificate.Command.Then).
func chainAfterReview(queue []statemachine.PlanStep) []statemachine.CertEvent {
	if len(queue) < 2 || queue[0].Event != statemachine.Revoke || queue[1].Kind != statemachine.StepAwaitCA ||
		queue[1].Certificate != queue[0].Certificate {
		return nil
	}
	var then []statemachine.CertEvent
	for _, ps := range queue[2:] {
		if ps.Certificate != queue[0].Certificate || ps.Kind == statemachine.StepAwaitCA {
			break
		}
		then = append(then, ps.Event)
	}
	return then
}

// command sends one plan step to a certificate's workflow (with the steps
// it may chain after an approved revocation) and waits for its report.
func (r *refund) command(ctx workflow.Context, ps statemachine.PlanStep, then ...statemachine.CertEvent) certificate.Report {
	cmd, failed := r.send(ctx, ps, nil, 0, then...)
	if failed != nil {
		return *failed
	}
	return r.reported(ctx, ps, cmd)
}

// send gives a certificate one plan step's command (its CA action taken
// by b at index i when b is set, the certificate then held); a report
// when it could not be given.
func (r *refund) send(ctx workflow.Context, ps statemachine.PlanStep, b *certificate.Batch, i int, then ...statemachine.CertEvent) (certificate.Command, *certificate.Report) {
	r.seq++
	cmd := certificate.Command{RequestID: fmt.Sprintf("%s#%d", r.id(), r.seq), Event: ps.Event, ReplyTo: r.id(),
		ReplyRun: workflow.GetInfo(ctx).WorkflowExecution.RunID, Watch: ps.Event == ""}
	if ps.Event == statemachine.Revoke && r.holding(ps.Certificate) == nil {
		// The certificate workflow judges the completed revocation's
		// quota rule by what this refund loaded (judged once, nothing
		// loaded again), and chains the steps after its approval.
		cmd.Judge = &activities.Judgement{Order: r.order, Bundle: r.bundle}
		cmd.Then = then
	}
	if c := r.holding(ps.Certificate); c != nil {
		// Held: the certificate's logic runs here, no message sent. When
		// it runs the command at once, this task's records ride with its
		// CA action.
		// (In a batch, they ride with its first.)
		var recs *activities.Records
		if c.Idle() && i == 0 {
			recs = r.ride(ctx, ps.Certificate)
		}
		c.EnqueueBatched(ctx, cmd, recs, b, i)
	} else if delivered, err := r.ensureCertificate(ctx, ps.Certificate, cmd); err != nil {
		return cmd, &certificate.Report{Certificate: ps.Certificate, Error: err.Error()}
	} else if !delivered {
		if err := workflow.SignalExternalWorkflow(ctx, certificate.WorkflowID(ps.Certificate), "", certificate.SignalCommand, cmd).Get(ctx, nil); err != nil {
			return cmd, &certificate.Report{Certificate: ps.Certificate, Error: "certificate workflow unreachable: " + err.Error()}
		}
	}
	return cmd, nil
}

// reported waits for the report on cmd, the command of plan step ps, and
// notes it (a skipped one leaves no step behind).
func (r *refund) reported(ctx workflow.Context, ps statemachine.PlanStep, cmd certificate.Command) certificate.Report {
	var rep certificate.Report
	_ = workflow.Await(ctx, func() bool {
		var ok bool
		rep, ok = r.take(func(x certificate.Report) bool { return x.RequestID == cmd.RequestID })
		return ok
	})
	r.noteCertificate(rep)
	r.commanded = appendOnce(r.commanded, ps.Certificate)
	if cmd.Watch {
		return rep
	}
	switch {
	case rep.OK:
		r.record(ctx, string(ps.Event), fmt.Sprintf("certificate %s → %s", ps.Certificate, rep.State))
	case !rep.Skipped:
		r.record(ctx, string(ps.Event)+" failed", fmt.Sprintf("certificate %s: %s", ps.Certificate, rep.Error))
	}
	return rep
}

// ensureCertificate starts the certificate's workflow with cmd if it is
// not running (abandoned on close: the certificate outlives the refund).
// It reports whether cmd went with the start; when the workflow was
// already running (or started earlier), the caller signals cmd.
func (r *refund) ensureCertificate(ctx workflow.Context, certID string, cmd certificate.Command) (bool, error) {
	if contains(r.started, certID) {
		return false, nil
	}
	var cert domain.Certificate
	for _, c := range r.order.Certificates {
		if c.ID == certID {
			cert = c
		}
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        certificate.WorkflowID(certID),
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		StaticSummary:     fmt.Sprintf("Certificate %s of order %s", certID, r.in.OrderID),
	})
	f := workflow.ExecuteChildWorkflow(cctx, certificate.WorkflowName, certificate.Input{Certificate: cert, OrderID: r.in.OrderID, Command: &cmd})
	err := f.GetChildWorkflowExecution().Get(ctx, nil)
	var already *temporal.ChildWorkflowExecutionAlreadyStartedError
	if err != nil && !errors.As(err, &already) && !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		return false, fmt.Errorf("starting certificate workflow %s: %w", certID, err)
	}
	r.started = append(r.started, certID)
	if err == nil {
		// A child that ends with a report (certificate.Command.ReplyRun) hands it
		// over with its result; the run does not continue as new before
		// (the result comes to this run only).
		r.children++
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer func() { r.children-- }()
			var st certificate.Status
			if err := f.Get(ctx, &st); err == nil && st.Final != nil {
				r.reports = append(r.reports, *st.Final)
			}
		})
	}
	return err == nil, nil
}

// awaitCustomer pauses the chain until the customer fixes and resubmits a
// certificate the CA refused (SSL-6), or the refund is cancelled.
//
// SSL-6 sets no date by which the customer must resubmit: the wait shows
// the window end as its deadline but does not end there. The run
// continues as new while waiting (carry.go), so however long the customer
// takes the history stays bounded.
func (r *refund) awaitCustomer(ctx workflow.Context, certID string, rep certificate.Report) (statemachine.CertState, bool) {
	r.st.Waiting = fmt.Sprintf("SSL-6: the CA refused the resubmission of %s (%s); the customer must fix the data and resubmit", certID, rep.Error)
	// A continued run finds the wait in WaitingOn and keeps its Since.
	r.wait(domain.Wait{Kind: domain.WaitCustomer, Certificate: certID, Since: workflow.Now(ctx), Deadline: r.windowEnd(), Rule: "SSL-6",
		Detail: "the CA refused the resubmission (" + rep.Error + "); the customer must fix the data and resubmit"})
	r.publish(ctx)
	var changed certificate.Report
	for {
		_ = workflow.Await(ctx, func() bool {
			if r.cancel != nil {
				return true
			}
			var ok bool
			changed, ok = r.take(func(x certificate.Report) bool {
				return x.Certificate == certID && x.RequestID == "" && x.State != rep.State
			})
			return ok || r.continueAsNewDue(ctx)
		})
		if changed.Certificate != "" || r.cancel != nil {
			break
		}
		r.customer = &rep
		if r.continueAsNewNow(ctx, waitCustomer) {
			return "", false
		}
	}
	r.st.Waiting = ""
	r.unwait(domain.WaitCustomer, certID)
	if r.cancelIfAsked(ctx) {
		return "", false
	}
	r.noteCertificate(changed)
	r.record(ctx, "customer "+string(changed.Event), fmt.Sprintf("certificate %s → %s", certID, changed.State))
	return changed.State, true
}

// judgeReview applies SSL-2 / VAS-2..VAS-4 to a completed review.
func (r *refund) judgeReview(ctx workflow.Context, certID string, rep certificate.Report) bool {
	if rep.Event == statemachine.RevocationRejected {
		r.refuse(ctx, []string{"SSL-6"}, fmt.Sprintf("SSL-6: the CA rejected the revocation of %s (%s); the certificate could not be released", certID, rep.Error))
		return false
	}
	cert := r.certificate(certID)
	v := policy.JudgeRevocation(r.bundle.Profile, r.order, cert, rep.At)
	r.record(ctx, "revoked", fmt.Sprintf("certificate %s revocation completed at %s", certID, rep.At.Format(time.RFC3339)))
	if !v.Refund {
		r.refuse(ctx, []string{v.RefundRule}, fmt.Sprintf("%s: the revocation of %s completed at %s, too late for a refund", v.RefundRule, certID, rep.At.Format(time.RFC3339)))
		return false
	}
	return true
}

// reset performs an irreversible product reset (GW-3, PCA-3).
func (r *refund) reset(ctx workflow.Context, step policy.Step) {
	r.commit(ctx)
	actx := calls.With(ctx, calls.CA)
	in := ResetInput{OrderID: r.in.OrderID, Product: r.order.Product}
	for {
		err := workflow.ExecuteActivity(actx, a.Reset, in).Get(ctx, nil)
		if err == nil {
			r.caRecovered(ctx, "")
			break
		}
		if t := calls.ErrorType(err); calls.IsInfraFailure(t) {
			// Unreachable or refused credentials: wait visibly, retry.
			if !r.awaitInfra(ctx, certificate.Report{Event: statemachine.CertEvent(step.Kind), ErrorType: t, Error: calls.ErrorMessage(err)}, step.Rule) {
				return
			}
			continue
		}
		r.refuse(ctx, []string{step.Rule}, fmt.Sprintf("%s: reset failed: %s", step.Rule, calls.ErrorMessage(err)))
		return
	}
	r.record(ctx, string(step.Kind), step.Rule)
}

// awaitApproval waits for an operator (GW-4) or a cancel (CAN-1).
func (r *refund) awaitApproval(ctx workflow.Context, step policy.Step) {
	if r.resuming(waitApproval) == nil {
		r.fire(ctx, statemachine.OrderAwaitApproval)
		r.st.Waiting = fmt.Sprintf("%s: operator approval of a refund of %s", step.Rule, r.amountText())
		// GW-4 sets no date of its own: the approval is due by the window
		// end, if any, as every step of the refund is.
		r.wait(domain.Wait{Kind: domain.WaitOperatorApproval, Since: workflow.Now(ctx), Deadline: r.windowEnd(), Rule: step.Rule,
			Detail: "a second operator must approve a refund of " + r.amountText()})
		r.publish(ctx)
	}
	for {
		_ = workflow.Await(ctx, func() bool { return r.approval != nil || r.cancel != nil || r.continueAsNewDue(ctx) })
		if r.approval != nil || r.cancel != nil {
			break
		}
		if r.continueAsNewNow(ctx, waitApproval) {
			return
		}
	}
	r.st.Waiting = ""
	r.unwait(domain.WaitOperatorApproval, "")
	if r.cancelIfAsked(ctx) {
		return
	}
	r.fire(ctx, statemachine.OrderApprove)
	r.record(ctx, "approved", "by "+r.approval.Operator)
}

// pay moves the money once (M-4), falling back to the account balance when
// the original method fails (GEN-4).
func (r *refund) pay(ctx workflow.Context) {
	if r.st.State != statemachine.OrderPaying {
		r.fire(ctx, statemachine.OrderPay)
	}
	b := r.decision.Refund
	if b == nil {
		r.refuse(ctx, nil, "no refund breakdown")
		return
	}
	res := r.resuming(waitPayment)
	if res != nil && res.PayFallback {
		// Continued while paying to the balance (GEN-4).
		fb := b.FallbackToBalance()
		b = &fb
		r.payFallback = true
	}
	rec, paid, err := r.payUntilAnswered(ctx, *b, res != nil && res.PayFailing)
	if r.can {
		return
	}
	if errtemporal.CodeOf(err) == errs.OriginalMethodFailed && !r.payFallback {
		r.record(ctx, "pay failed", "GEN-4: the original payment method failed; refunding to the account balance")
		fb := b.FallbackToBalance()
		b = &fb
		r.payFallback = true
		rec, paid, err = r.payUntilAnswered(ctx, fb, false)
		if r.can {
			return
		}
	}
	if err != nil {
		// The payment system names the rule that refused (M-3: more than
		// is left); a failure without one is the payment step's (M-4).
		rules := errtemporal.Rules(err)
		if len(rules) == 0 {
			rules = []string{"M-4"}
		}
		r.refuse(ctx, rules, "payment failed: "+calls.ErrorMessage(err))
		return
	}
	if !paid {
		// Nothing to pay.
		r.fire(ctx, statemachine.OrderPaidOut)
		r.finish(ctx, []string{}, "")
		return
	}
	// The same change the payout's activity made of the status it was
	// sent (PaidRecord.record), so the record it wrote is this one.
	p := payoutOf(*b)
	p.PaymentID, p.At = rec.PaymentID, rec.PaidAt
	if rec.PaidAt.IsZero() {
		p.At = paidAt(rec.PayoutReceipt, r.stamped.Add(time.Microsecond))
	}
	from := len(r.st.Steps)
	if err := paidOut(&r.st, p, r.amountText()); err != nil {
		panic(fmt.Sprintf("refund of order %s: illegal order event: %v", r.in.OrderID, err))
	}
	if rec.Final != nil {
		r.recorded = rec.Final
		if rec.Final.UpdatedAt.After(r.stamped) {
			r.stamped = rec.Final.UpdatedAt
		}
	}
	for _, s := range r.st.Steps[from:] {
		r.observe(ctx, s.Step, s.Detail)
	}
	r.publish(ctx)
	r.close(ctx)
}

// payoutOf is the payout of breakdown b, before its answer.
func payoutOf(b policy.Breakdown) Payout {
	return Payout{Cash: b.Cash.String(), GiftCard: b.GiftCard.String(), BenefitPoints: b.BenefitPoints,
		Currency: b.Cash.Currency().Code, Destination: b.Destination}
}

// payUntilAnswered pays, and when the payment side does not answer (an
// outage, not an answer), waits visibly and tries again: an outage never
// ends a refund by itself. The first attempt is a single one
// (calls.PayFirst), so a failure shows as a wait on the payment provider
// at once, not after calls.Pay' retries; then calls.Pay retries with
// backoff, and past its three days the refund tries again at the next
// scheduled attempt. Every attempt uses the same idempotency key, and the
// ledger reconciles a payout that went through (M-4), so waiting pays
// nothing twice. The wait cites M-4, the rule of the payout's attempts
// (one payout per order and destination, by idempotency key, however
// often it is tried) and the one pay cites for a failure the payment
// system names no rule for; GEN-4, which the pay step also carries, says
// where the money goes, not how long it may take.
//
// failing is set when a continued run resumes an outage its previous run
// waited on. Between two scheduled attempts the run may continue as new
// (r.can; carry.go).
func (r *refund) payUntilAnswered(ctx workflow.Context, b policy.Breakdown, failing bool) (PayReceipt, bool, error) {
	first := true
	for {
		// The first attempt answers within calls.PayFirst' minute; its
		// failure shows the wait on the payment provider (Status
		// paying, an upsert: publishedAttrs.calls) at once, and on the
		// happy path the next write is the outcome.
		rec, paid, err := r.payOnce(ctx, b, first, first && (r.committedDurably(ctx) || r.judgedInThisTask(ctx)))
		if err == nil || !calls.IsInfraFailure(calls.ErrorType(err)) {
			if failing {
				r.st.Waiting = ""
				r.unwait(domain.WaitPaymentProvider, "")
				r.record(ctx, "resumed", "the payment side answers again")
				r.publish(ctx)
			}
			return rec, paid, err
		}
		detail := "paying " + PaymentKey(r.in.OrderID, b.Destination) + ": " + calls.ErrorMessage(err)
		if !failing {
			failing = true
			workflow.GetLogger(ctx).Error(waitingPaymentUnreachable, "order", r.in.OrderID, "error", detail)
			workflow.GetMetricsHandler(ctx).Counter(MetricPaymentUnreachable).Inc(1)
			r.record(ctx, "waiting", waitingPaymentUnreachable+": "+detail)
			// One wait per outage, as it began: the latest error is in
			// Waiting, so a new error text is no new wait.
			r.wait(domain.Wait{Kind: domain.WaitPaymentProvider, Since: workflow.Now(ctx), Rule: "M-4", Detail: calls.ErrorMessage(err)})
		}
		r.st.Waiting = waitingPaymentUnreachable + " (" + detail + "); retried at the next scheduled attempt"
		r.publish(ctx)
		if first {
			// The first attempt failed: retry at once, with backoff.
			first = false
			continue
		}
		if err := workflow.Sleep(ctx, r.pollEvery()); err != nil {
			return rec, false, err
		}
		r.payFailing = failing
		if r.continueAsNewNow(ctx, waitPayment) {
			return rec, false, nil
		}
	}
}

// payOnce makes one payout attempt. With local set (the first attempt of
// a refund committed before this workflow task, committedDurably) it is
// a local activity (calls.PayFirstLocal: on the happy path the payout,
// the outcome's upsert and the close are one workflow task); otherwise
// the regular activity: calls.PayFirst's single attempt first, then
// calls.Pay's retries.
func (r *refund) payOnce(ctx workflow.Context, b policy.Breakdown, first, local bool) (PayReceipt, bool, error) {
	var rec PayReceipt
	if b.Cash.IsZero() && b.GiftCard.IsZero() && b.BenefitPoints == 0 {
		return rec, false, nil
	}
	req := activities.PayoutRequest{IdempotencyKey: PaymentKey(r.in.OrderID, b.Destination), OrderID: r.in.OrderID,
		RefundRun: refundRun(ctx), Judgement: r.judgement,
		Cash: b.Cash, GiftCard: b.GiftCard, BenefitPoints: b.BenefitPoints, Destination: b.Destination}
	// This task's records (paying, the last certificate removed) ride
	// with the payout, written before it.
	recs := r.ride(ctx, "")
	in := PayInput{PayoutRequest: req, Records: recs}
	if r.quietEnd() {
		// Nothing but the outcome to write once paid: the last record
		// goes with the payout too (PaidRecord).
		in.Paid = &PaidRecord{Key: r.recordKey(ctx), Status: r.recordStatus(), Payout: payoutOf(b), Amount: r.amountText(),
			NotBefore: r.stamped.Add(time.Microsecond)}
	}
	var f workflow.Future
	switch {
	case local:
		f = workflow.ExecuteLocalActivity(calls.WithLocal(ctx, calls.PayFirstLocal), a.Pay, in)
	case first:
		f = workflow.ExecuteActivity(calls.With(ctx, calls.PayFirst), a.Pay, in)
	default:
		f = workflow.ExecuteActivity(calls.With(ctx, calls.Pay), a.Pay, in)
	}
	err := f.Get(ctx, &rec)
	if recs != nil && (err != nil || !rec.RecordsSaved) {
		r.NotWritten(*recs)
	}
	return rec, err == nil, err
}

// refundRun names this refund in the payment ledger: its first run ID,
// which Temporal keeps across continue-as-new, retry and reset (the run's
// own ID where there is none, as in the test environment). A refund that
// loads and judges its order again after it paid (reset to its first
// workflow task, say) must not count its own payout as refunded before it
// (M-3); it finds the payout by its key instead.
func refundRun(ctx workflow.Context) string {
	info := workflow.GetInfo(ctx)
	if info.FirstRunID != "" {
		return info.FirstRunID
	}
	return info.WorkflowExecution.RunID
}

// ended reports whether the refund has ended: its order state is final
// (refunded, rejected, cancelled).
func (r *refund) ended() bool { return statemachine.IsOrderFinal(r.st.State) }

// judged reports whether the request has left paid: load has read the
// order and its policy and the rules accepted (request) or refused the
// request, or the refund ended without them. load returns and the state
// leaves paid in the same workflow task, so no handler or goroutine sees
// the order read but the state still paid.
func (r *refund) judged() bool { return r.st.State != statemachine.OrderPaid }

// irreversible reports whether the refund is past its first irreversible
// step (revoke, reset, payment), after which CAN-1 refuses a cancel: the
// order state answers it (statemachine.OrderPastIrreversible).
func (r *refund) irreversible() bool { return statemachine.OrderPastIrreversible(r.st.State) }

// commit takes the first irreversible step: from here on a cancel is
// refused (CAN-1). Later irreversible steps find the refund committed.
func (r *refund) commit(ctx workflow.Context) {
	if r.irreversible() {
		return
	}
	r.fire(ctx, statemachine.OrderCommit)
}

func (r *refund) cancelIfAsked(ctx workflow.Context) bool {
	if r.cancel == nil || r.ended() {
		return r.ended()
	}
	r.fire(ctx, statemachine.OrderCancel)
	r.finish(ctx, []string{}, "cancelled by "+orDefault(r.cancel.Actor, "customer"))
	return true
}

func (r *refund) validateCancel(ctx workflow.Context, req CancelRequest) error {
	if r.ended() {
		return errtemporal.New(errs.Conflict, nil, "the refund of order %s has already ended (%s)", r.in.OrderID, r.st.Outcome)
	}
	if r.judged() {
		if ok, rules, msg := policy.CanCancel(r.bundle.Profile, r.irreversible()); !ok {
			return errtemporal.New(errs.Conflict, rules, "%s", msg)
		}
	}
	if r.cancel != nil {
		return nil
	}
	if _, err := statemachine.OrderTransition(r.st.State, statemachine.OrderCancel); err != nil && r.st.State != statemachine.OrderPaid {
		return errtemporal.New(errs.Conflict, []string{"CAN-1"}, "CAN-1: the refund of order %s can no longer be cancelled (%s)", r.in.OrderID, r.st.State)
	}
	return nil
}

func (r *refund) handleCancel(ctx workflow.Context, req CancelRequest) (Status, error) {
	_ = workflow.Await(ctx, r.judged)
	if !r.ended() {
		if ok, rules, msg := policy.CanCancel(r.bundle.Profile, r.irreversible()); !ok {
			return r.st, errtemporal.New(errs.Conflict, rules, "%s", msg)
		}
	}
	if r.cancel == nil {
		r.cancel = &req
		r.audit(domain.AuditEntry{Action: domain.AuditRefundCancelled, At: workflow.Now(ctx), Actor: domain.ActorOr(req.By, req.Actor), Note: req.Reason})
		r.publish(ctx)
	}
	_ = workflow.Await(ctx, r.ended)
	return r.st, nil
}

func (r *refund) validateApprove(ctx workflow.Context, req ApproveRequest) error {
	if strings.TrimSpace(req.Operator) == "" {
		return errtemporal.New(errs.Invalid, []string{"GW-4"}, "GW-4: the approving operator is required")
	}
	if r.st.State != statemachine.OrderAwaitingApproval || r.approval != nil {
		st, _ := r.status()
		return errtemporal.New(errs.Conflict, []string{"GW-4"}, "GW-4: the refund of order %s is not awaiting approval (state %s)", r.in.OrderID, st.State)
	}
	// GW-4, four eyes: whoever asked for the refund cannot approve it.
	if by := r.in.Request.RequestedBy; by != "" && by == req.Operator {
		return errtemporal.New(errs.Forbidden, []string{"GW-4"}, "GW-4: %s requested this refund and cannot also approve it; another operator must", by)
	}
	return nil
}

func (r *refund) handleApprove(ctx workflow.Context, req ApproveRequest) (Status, error) {
	r.approval = &req
	r.audit(domain.AuditEntry{Action: domain.AuditRefundApproved, At: workflow.Now(ctx), Actor: domain.ActorOr(req.By, req.Operator), Note: req.Note})
	// The approve event (or a cancel or refusal) moves the order machine
	// on; the request above is only who approved and why.
	_ = workflow.Await(ctx, func() bool { return r.st.State != statemachine.OrderAwaitingApproval })
	return r.st, nil
}

// refuse ends the refund rejected, naming the rules. The order machine
// refuses from every state that is not final (paid included: a request
// judged ineligible, or an order that could not be read).
func (r *refund) refuse(ctx workflow.Context, rules []string, message string) {
	if r.ended() {
		return
	}
	r.fire(ctx, statemachine.OrderRefuse)
	if rules == nil {
		rules = []string{}
	}
	r.finish(ctx, rules, message)
}

// finish closes a refund the order machine has just brought to a final
// state; the outcome is that state's (OutcomeOf).
func (r *refund) finish(ctx workflow.Context, reasons []string, message string) {
	r.st.Reasons, r.st.Message, r.st.Waiting, r.st.WaitingOn = reasons, message, "", []domain.Wait{}
	r.letGo(ctx)
	r.record(ctx, string(r.st.Outcome), message)
	r.publish(ctx)
	r.close(ctx)
}

// close lets go of the holds (when finish did not yet), answers pending
// updates and writes the last record before the run closes.
func (r *refund) close(ctx workflow.Context) {
	if !r.letGone {
		r.letGo(ctx)
	}
	_ = workflow.Await(ctx, func() bool {
		return workflow.AllHandlersFinished(ctx) && !r.dirty && !r.flushing && r.forwarding == 0
	})
}

// fire moves the order machine; an illegal event is a bug and fails the
// workflow task.
func (r *refund) fire(ctx workflow.Context, ev statemachine.OrderEvent) {
	next, err := statemachine.OrderTransition(r.st.State, ev)
	if err != nil {
		// An event the order machine refuses is a bug in this workflow,
		// never a business outcome: fail the workflow task loudly (Temporal
		// retries it and the Web UI shows it; a fixed build resumes the
		// refund) rather than going on in a state the machine never allowed.
		panic(fmt.Sprintf("refund of order %s: illegal order event: %v", r.in.OrderID, err))
	}
	// The only place the refund's state changes, and its outcome with it.
	r.st.State, r.st.Outcome = next, OutcomeOf(next)
	if r.irreversibleAt == 0 && r.irreversible() {
		r.irreversibleAt = workflow.GetInfo(ctx).GetCurrentHistoryLength()
	}
	r.publish(ctx)
}

// committedDurably reports whether the refund was past its irreversible
// step (CAN-1: no cancel from then on) before this workflow task: a later
// task has started since it was first seen so, and a task starts only
// once the one before it completed, so that step is in the history.
//
// A workflow task whose worker is lost is run again from the last
// completed task, with whatever arrived meanwhile (a cancel, an approval
// or none, another CA result). So a step taken inside a task, as a local
// activity is, may be taken again on another path; for the payout that
// is safe only when every path from here pays: the refund was committed
// before this task, so a cancel is refused whatever arrives (a refund
// approved or committed in this very task is not, nor one never
// committed before it pays, as unused quota).
func (r *refund) committedDurably(ctx workflow.Context) bool {
	return r.irreversibleAt != 0 && r.irreversibleAt < workflow.GetInfo(ctx).GetCurrentHistoryLength()
}

// judgedInThisTask reports whether this workflow task judged the refund:
// its judgement opened in the ledger in this task (load), so a try of
// the task run again after its worker was lost judges again, and the
// ledger refuses a payout the lost try decided unless the new judgement
// found it (ports.Ledger.OpenJudgement). A payout there is safe as a
// local activity: every path of the task run again either pays that
// payout again by its key (payAgain) or finds it never made. A refund
// that pays in a later task (after an approval, say) is not judged in
// it, and a task run again would not open a new judgement.
func (r *refund) judgedInThisTask(ctx workflow.Context) bool {
	return r.judgement > 0 && r.judgedAt == workflow.GetInfo(ctx).GetCurrentHistoryLength()
}

func (r *refund) record(ctx workflow.Context, step, detail string) {
	r.st.Steps = append(r.st.Steps, StepRecord{At: workflow.Now(ctx), Step: step, Detail: detail})
	r.observe(ctx, step, detail)
}

// take removes and returns the first report matching ok.
func (r *refund) take(ok func(certificate.Report) bool) (certificate.Report, bool) {
	for i, rep := range r.reports {
		if ok(rep) {
			r.reports = append(r.reports[:i:i], r.reports[i+1:]...)
			return rep, true
		}
	}
	return certificate.Report{}, false
}

func (r *refund) noteCertificate(rep certificate.Report) {
	for i := range r.st.Certificates {
		if r.st.Certificates[i].ID == rep.Certificate && rep.State != "" {
			r.st.Certificates[i].State = rep.State
		}
	}
}

func (r *refund) certificate(id string) domain.Certificate {
	for _, c := range r.order.Certificates {
		if c.ID == id {
			return c
		}
	}
	return domain.Certificate{ID: id}
}

// publish shows the refund's state everywhere it is read: the Web UI's
// details at once, the search attributes and the store's record (the
// console's read model) through the publisher when the workflow task's
// code blocks; one vocabulary (statemachine.OrderState) in all three.
func (r *refund) publish(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, r.details())
	r.dirty = true
}

// flush writes the search attributes (when one the operators filter by
// changed) and the record (when it changed), and the held certificates'
// pending records: the records by one local activity (a marker in history,
// no task round trip) and one store transaction. Records that rode with
// an activity the task scheduled (ride) are no longer pending here. Before the request is judged (state paid) there is no
// refund to show yet. The attributes are upserted and the local activity
// started here, in the inbox; a coroutine of its own waits for the write
// (flushing until it is done), so the inbox goes on taking signals while
// the store is slow or out.
func (r *refund) flush(ctx workflow.Context) {
	recs := r.pending
	r.pending = activities.Records{}
	if r.st.State != statemachine.OrderPaid {
		r.upsertAttributes(ctx)
		recs.Refund = r.changedRecord(ctx)
	}
	if recs.Empty() {
		return
	}
	// One local activity and one transaction for the task's records. A
	// quota return is the customer's (SSL-6, SSL-7, VAS-3): retried for as
	// long as the store is out, as a certificate workflow retries its own;
	// the projections alone are given up after calls.Record' ten minutes
	// (logged), and the next change writes them again.
	opts := calls.Record
	if len(recs.QuotaReturns) > 0 {
		opts = calls.LocalStore
	}
	recs.OrderID = r.in.OrderID
	f := workflow.ExecuteLocalActivity(calls.WithLocal(ctx, opts), a.SaveRecords, recs)
	r.flushing = true
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { r.flushing = false }()
		if err := f.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("recording refund and certificates failed", "quota_returns", len(recs.QuotaReturns),
				"certificates", len(recs.Certificates), "error", err)
			return
		}
		if recs.Refund != nil {
			r.recorded = recs.Refund
		}
	})
}

// Keep (certificate.Host) has the publisher write a held certificate's new state with this
// task's other records. Every state is kept, in order, even when the same
// certificate changes again in the task (revoked, then removed): the store
// writes them one after the other in one transaction, so each change is a
// certificate.state_changed event of its own, and none is skipped.
func (r *refund) Keep(rec activities.CertificateRecord) {
	r.dirty = true
	r.pending.Certificates = append(r.pending.Certificates, rec)
}

// ReturnQuota (certificate.Host) has the publisher return a held certificate's quota with
// this task's other records (before the certificate's state).
func (r *refund) ReturnQuota(q activities.QuotaReturn) {
	r.dirty = true
	r.pending.QuotaReturns = append(r.pending.QuotaReturns, q)
}

// Report (certificate.Host) takes a held certificate's report as if it
// had been signalled.
func (r *refund) Report(rep certificate.Report) { r.reports = append(r.reports, rep) }

// upsertAttributes upserts the search attributes when the operators'
// lists gain something (calls): the upsert then sets them all as they
// are, so whatever changed since rides with it.
func (r *refund) upsertAttributes(ctx workflow.Context) {
	ids, states := r.heldCertificates()
	kinds := waitKinds(r.st.WaitingOn)
	attrs := publishedAttrs{state: r.st.State, escalated: r.st.Escalated, product: r.order.Product,
		waitingOn: strings.Join(kinds, ","), certIDs: strings.Join(ids, ","), certState: strings.Join(states, ",")}
	if !r.published.calls(attrs) {
		return
	}
	up := []temporal.SearchAttributeUpdate{
		certificate.OrderIDKey.ValueSet(r.in.OrderID),
		RefundStatusKey.ValueSet(string(r.st.State)),
		EscalatedKey.ValueSet(r.st.Escalated),
	}
	if r.order.Product != "" {
		up = append(up, ProductKey.ValueSet(string(r.order.Product)))
	}
	// The lists are set while they hold something and unset when they
	// empty (a finished refund waits on and holds nothing).
	was := r.published
	if was == nil {
		was = &publishedAttrs{}
	}
	if len(kinds) > 0 {
		up = append(up, WaitingOnKey.ValueSet(kinds))
	} else if was.waitingOn != "" {
		up = append(up, WaitingOnKey.ValueUnset())
	}
	if len(ids) > 0 {
		up = append(up, certificate.CertificateIDsKey.ValueSet(ids), certificate.CertificateStatesKey.ValueSet(states))
	} else if was.certIDs != "" {
		up = append(up, certificate.CertificateIDsKey.ValueUnset(), certificate.CertificateStatesKey.ValueUnset())
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, up...); err != nil {
		workflow.GetLogger(ctx).Error("search attributes not updated", "error", err)
	}
	r.published = &attrs
}

// calls reports whether now must be upserted over what was published
// (nil: nothing yet, or only what the start set): when an operators' list
// (docs/operations.md, "Saved queries for the Web UI") gains the refund.
// That is a new wait (WaitingOn), a certificate entering revocation review
// (CertificateState = "validating_revocation"), escalation set or
// cleared, or the refund finishing (the "Finished" lists filter by its
// final RefundStatus). Every long stay of a running refund is a wait, so
// it shows at once. A change no list gains by rides with the next upsert:
// a step between two waits (releasing, committed, paying), a wait or a
// review ending, a certificate held or removed. Those last from
// milliseconds to the next wait; a refund that stops there (a CA or a
// payment side failing, an approval, a customer) starts a wait, which
// upserts. The refund's Current Details and the store's record show
// every step as it happens.
func (was *publishedAttrs) calls(now publishedAttrs) bool {
	if was == nil {
		was = &publishedAttrs{}
	}
	gains := func(old, cur string) bool {
		for _, x := range strings.Split(cur, ",") {
			if x != "" && !slices.Contains(strings.Split(old, ","), x) {
				return true
			}
		}
		return false
	}
	return gains(was.waitingOn, now.waitingOn) || gains(was.underReview(), now.underReview()) ||
		was.escalated != now.escalated || (statemachine.IsOrderFinal(now.state) && now.state != was.state)
}

// underReview lists, joined, the certificates under revocation review.
func (p publishedAttrs) underReview() string {
	var review []string
	ids, states := strings.Split(p.certIDs, ","), strings.Split(p.certState, ",")
	for i, s := range states {
		if s == string(statemachine.ValidatingRevocation) && i < len(ids) {
			review = append(review, ids[i])
		}
	}
	return strings.Join(review, ",")
}

// changedRecord returns the refund's record when it changed since it was
// last written (nil when not).
func (r *refund) changedRecord(ctx workflow.Context) *activities.RefundRecord {
	rec := recordOf(r.recordKey(ctx), r.st)
	if r.recorded != nil && sameRecord(*r.recorded, rec) {
		return nil
	}
	rec.UpdatedAt = workflow.Now(ctx)
	if !rec.UpdatedAt.After(r.stamped) {
		rec.UpdatedAt = r.stamped.Add(time.Microsecond)
	}
	r.stamped = rec.UpdatedAt
	return &rec
}

// recordKey is what the refund's record holds besides its status.
func (r *refund) recordKey(ctx workflow.Context) recordKey {
	return recordKey{OrderID: r.in.OrderID, RequestedBy: r.in.Request.RequestedBy, RefundRun: refundRun(ctx), Due: r.due()}
}

// ride takes this workflow task's records (the refund's record, the held
// certificates' states and quota returns) to be written by the activity
// the task schedules next, before it acts (activities.WriteRecords): the
// task then needs no local activity of its own for them. Whatever the
// activity did not write comes back (NotWritten) and the publisher writes
// it. Only records nothing can overtake ride: not while a write is under
// way, and of the certificates only the one the activity acts on (whose
// next change waits for it) and removed ones (which change no more), each
// with its quota return. Nil when nothing rides.
func (r *refund) ride(ctx workflow.Context, certID string) *activities.Records {
	if r.flushing {
		return nil
	}
	rides := map[string]bool{}
	for _, c := range r.pending.Certificates {
		if c.Certificate.ID != certID && c.Certificate.State != statemachine.Removed {
			return nil
		}
		rides[c.Certificate.ID] = true
	}
	for _, q := range r.pending.QuotaReturns {
		if !rides[q.CertificateID] {
			return nil
		}
	}
	recs := r.pending
	r.pending = activities.Records{}
	if r.st.State != statemachine.OrderPaid {
		recs.Refund = r.changedRecord(ctx)
	}
	if recs.Empty() {
		return nil
	}
	recs.OrderID = r.in.OrderID
	if recs.Refund != nil {
		// As if written; NotWritten takes it back.
		r.recorded = recs.Refund
	}
	return &recs
}

// NotWritten (certificate.Host) takes back records that rode with an
// activity and were not written, or may not have been: the publisher
// writes them, before any record of a later change, and the refund's
// current record with them.
func (r *refund) NotWritten(recs activities.Records) {
	r.pending.QuotaReturns = append(slices.Clone(recs.QuotaReturns), r.pending.QuotaReturns...)
	r.pending.Certificates = append(slices.Clone(recs.Certificates), r.pending.Certificates...)
	if recs.Refund != nil {
		r.recorded = nil
	}
	r.dirty = true
}

// sameRecord compares two records but for their time.
func sameRecord(x, y activities.RefundRecord) bool {
	x.UpdatedAt, y.UpdatedAt = time.Time{}, time.Time{}
	return x.OrderID == y.OrderID && x.State == y.State && x.Outcome == y.Outcome && slices.Equal(x.Reasons, y.Reasons) &&
		x.Cash == y.Cash && x.Currency == y.Currency && x.PaymentID == y.PaymentID && x.Waiting == y.Waiting &&
		x.Escalated == y.Escalated && x.RequestedBy == y.RequestedBy && sameWaits(x.WaitingOn, y.WaitingOn) &&
		sameEscalation(x.Escalation, y.Escalation) && sameAudit(x.Audit, y.Audit) && x.Message == y.Message &&
		x.GiftCard == y.GiftCard && x.BenefitPoints == y.BenefitPoints && x.Destination == y.Destination &&
		(x.Due == nil) == (y.Due == nil) && (x.Due == nil || *x.Due == *y.Due) && slices.EqualFunc(x.Steps, y.Steps, sameStep)
}

func sameStep(x, y StepRecord) bool {
	return x.At.Equal(y.At) && x.Step == y.Step && x.Detail == y.Detail
}

// due is the record's amount due: the decision's breakdown once an
// eligible request is judged (it is set in the same workflow task as the
// state the judgement leads to, so it costs no record write of its own),
// nil before and for a request judged not eligible.
func (r *refund) due() *activities.RefundDue {
	b := r.decision.Refund
	if !r.decision.Eligible || b == nil {
		return nil
	}
	return &activities.RefundDue{Cash: b.Cash.String(), GiftCard: b.GiftCard.String(), BenefitPoints: b.BenefitPoints,
		Currency: b.Cash.Currency().Code, Destination: b.Destination}
}

func (r *refund) details() string {
	var b strings.Builder
	st, _ := r.status()
	// The first line is all the Web UI's details frame shows for sure.
	fmt.Fprintf(&b, "%s\n\n", Headline(st))
	fmt.Fprintf(&b, "**Refund** of order `%s` — **%s** (%s)", r.in.OrderID, st.State, st.Outcome)
	if r.cal != nil {
		fmt.Fprintf(&b, "\n\n**Profile:** %s · **Product:** %s", r.bundle.Profile.ID(), r.order.Product)
	}
	if len(r.st.Reasons) > 0 {
		fmt.Fprintf(&b, "\n\n**Rules:** %s", strings.Join(r.st.Reasons, ", "))
	}
	if r.st.Message != "" {
		fmt.Fprintf(&b, "\n\n%s", r.st.Message)
	}
	if r.st.Waiting != "" {
		fmt.Fprintf(&b, "\n\n**Waiting for:** %s", r.st.Waiting)
	}
	if e := r.st.Escalation; e != nil {
		fmt.Fprintf(&b, "\n\n**⚠ Escalated (%s)** at %s: %s", e.Rule, e.At.Format(time.RFC3339), e.Reason)
	}
	for _, c := range r.st.Certificates {
		fmt.Fprintf(&b, "\n- certificate `%s`: %s", c.ID, c.State)
	}
	if p := r.st.Payout; p != nil {
		fmt.Fprintf(&b, "\n\n**Paid:** %s %s to %s (%s)", p.Cash, p.Currency, p.Destination, p.PaymentID)
	}
	return b.String()
}

func (r *refund) deadlineText() string {
	var parts []string
	if w := r.decision.Window; w != nil {
		parts = append(parts, fmt.Sprintf("window (%s) ends %s", w.Rule, w.End.Format(time.RFC3339)))
	}
	if d := r.decision.ReviewDeadline; d != nil {
		parts = append(parts, fmt.Sprintf("worst-case review end (%s, %s) %s", d.Rule, d.Calendar, d.At.Format(time.RFC3339)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

func (r *refund) amountText() string {
	if r.decision.Refund == nil {
		return "nothing"
	}
	return amountOf(&r.decision)
}

func refusalText(rs []policy.Refusal) string {
	parts := make([]string, 0, len(rs))
	for _, x := range rs {
		parts = append(parts, x.Rule+": "+x.Message)
	}
	return strings.Join(parts, "; ")
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func appendOnce(xs []string, x string) []string {
	if contains(xs, x) {
		return xs
	}
	return append(xs, x)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
