package certificate

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/internal/calls"
)

// Limits that keep a long-lived certificate workflow's history bounded.
const (
	continueAsNewAfterEvents = 2000
	keepSeenEvents           = 500
	keepTransitions          = 200
	maxHeldResults           = 32
	keepStrays               = 20
	keepAudit                = 50
	// maxResultSkew is how far in the future a result's occurred_at may be
	// (the webhook timestamp tolerance's default): later, it is stray.
	maxResultSkew = 5 * time.Minute
)

// Workflow is the single writer of one certificate's state. Console
// actions arrive as updates, refund chains' steps as command signals, and CA
// review results as signals carrying the CA's event ID (a repeated ID is
// ignored). A revocation result is applied only to the open review it
// answers (by review ID, else by occurring after the submission); any other
// is a stray: recorded, never applied, never held. It ends when the
// certificate is removed, and continues as new before its history grows
// large.
func Workflow(ctx workflow.Context, in Input) (Status, error) {
	c := newCertificate(in)
	if c.cert.State == statemachine.Removed && in.Carry == nil && in.Command == nil {
		// A late callback for a removed certificate starts a run with
		// nothing to do: the certificate is gone and no event can apply.
		workflow.GetLogger(ctx).Info("certificate already removed; nothing to do", "certificate", c.cert.ID)
		return c.status(), nil
	}
	if err := c.setup(ctx); err != nil {
		return Status{}, err
	}
	if in.Carry == nil || !in.Carry.Holding {
		// One writer per certificate: take the hold in the store (from the
		// refund handing it over, if any); a refund holding it keeps it.
		if holder := c.takeHold(ctx, in.HandedFrom); holder != WorkflowID(c.cert.ID) {
			return c.yield(ctx, holder)
		}
	}
	return c.run(ctx)
}

// certOp is one queued change: a console action, a command, or a CA result.
type certOp struct {
	watch     bool
	disown    bool
	poll      time.Duration
	event     statemachine.CertEvent
	source    string
	requestID string
	replyTo   string
	replyRun  string
	judge     *activities.Judgement
	then      []statemachine.CertEvent
	result    *CAResult
	done      bool
	err       error
	// records are the host's records that ride with the op's CA action
	// (EnqueueWith); recorded is set once the action wrote them.
	records  *activities.Records
	recorded bool
	// batch, when set, takes the op's CA action with other certificates'
	// (EnqueueBatched), at index batchAt; acted is set once it was handed
	// in, skipped when the batch did not take it.
	batch   *Batch
	batchAt int
	acted   bool
	skipped bool
}

type Runner struct {
	orderID     string
	cert        domain.Certificate
	transitions []Transition
	seen        map[string]bool
	seenOrder   []string
	held        []CAResult
	owner       string
	queue       []*certOp
	// current is the op serve runs (a held certificate's), nil between.
	current *certOp
	review  *Review
	strays  []Stray
	// poll is how often the certificate asks the CA about an open review
	// that no refund waits for (zero: activities.DefaultReviewPoll).
	poll time.Duration
	// judge is the order and policy that judge a completed revocation,
	// when a refund's revoke brought them.
	judge *activities.Judgement
	// ownerRun is the owner's run; then the steps to take on its behalf
	// after an approved revocation (Command.Then).
	ownerRun string
	then     []statemachine.CertEvent
	// final is the report returned as the result (see Command.ReplyRun).
	final *Report
	// first is the command the workflow was started with, if any.
	first *Command
	// published is the state last upserted as a search attribute.
	published statemachine.CertState
	// host is the refund that holds the certificate and runs this
	// certificate's logic inside its own workflow (nil in the
	// certificate's workflow): reports go to it directly, and the refund
	// shows the certificate in its own details and attributes.
	host Host
	// busy is true from the moment a held certificate's ops are handed to
	// a coroutine until its queue is empty again (see kick).
	busy bool
	// audit is the console's actions on the certificate, oldest first.
	audit []domain.AuditEntry
}

func newCertificate(in Input) *Runner {
	c := &Runner{orderID: in.OrderID, cert: in.Certificate, seen: map[string]bool{}, review: in.Review, first: in.Command}
	if in.Carry != nil {
		c.transitions = in.Carry.Transitions
		c.held = in.Carry.Held
		c.owner = in.Carry.Owner
		c.review = in.Carry.Review
		c.strays = in.Carry.Strays
		c.poll = in.Carry.Poll
		c.judge = in.Carry.Judge
		c.ownerRun = in.Carry.OwnerRun
		c.then = in.Carry.Then
		c.audit = in.Carry.Audit
		for _, id := range in.Carry.SeenEvents {
			c.remember(id)
		}
	}
	return c
}

func (c *Runner) setup(ctx workflow.Context) error {
	if c.cert.ID == "" {
		return errtemporal.New(errs.Invalid, nil, "certificate input has no ID")
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) {
		return c.status(), nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAction, c.handleAction,
		workflow.UpdateHandlerOptions{Validator: c.validateAction}); err != nil {
		return err
	}
	results := workflow.GetSignalChannel(ctx, SignalCAResult)
	commands := workflow.GetSignalChannel(ctx, SignalCommand)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(results, func(ch workflow.ReceiveChannel, _ bool) {
				var r CAResult
				ch.Receive(ctx, &r)
				c.receiveResult(ctx, r)
			})
			sel.AddReceive(commands, func(ch workflow.ReceiveChannel, _ bool) {
				var cmd Command
				ch.Receive(ctx, &cmd)
				c.enqueue(cmd)
			})
			sel.Select(ctx)
		}
	})
	if in := c.first; in != nil {
		c.first = nil
		c.enqueue(*in)
	}
	c.publish(ctx)
	return nil
}

// enqueue queues a refund's command.
func (c *Runner) enqueue(cmd Command) {
	c.queue = append(c.queue, &certOp{watch: cmd.Watch, disown: cmd.Disown, poll: cmd.Poll, event: cmd.Event,
		source: cmd.ReplyTo, requestID: cmd.RequestID, replyTo: cmd.ReplyTo, replyRun: cmd.ReplyRun, judge: cmd.Judge, then: cmd.Then})
}

func (c *Runner) run(ctx workflow.Context) (Status, error) {
	for {
		ready := func() bool {
			return len(c.queue) > 0 || c.cert.State == statemachine.Removed || c.shouldContinueAsNew(ctx)
		}
		if c.watchingAlone() {
			// No refund waits for this review: ask the CA on a schedule,
			// so a decision whose callback was lost still applies.
			if ok, err := calls.AwaitWithTimeout(ctx, c.pollEvery(), ready); err != nil {
				return c.status(), err
			} else if !ok {
				c.pollAlone(ctx)
			}
		} else if err := workflow.Await(ctx, ready); err != nil {
			return c.status(), err
		}
		for len(c.queue) > 0 {
			op := c.queue[0]
			c.queue = c.queue[1:]
			c.execute(ctx, op)
		}
		if c.cert.State == statemachine.Removed {
			// Let update callers receive their answers before the run ends.
			_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && len(c.queue) == 0 })
			return c.status(), nil
		}
		if c.shouldContinueAsNew(ctx) {
			_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
			if len(c.queue) == 0 {
				return c.status(), workflow.NewContinueAsNewError(ctx, Workflow, c.carryInput())
			}
		}
	}
}

func (c *Runner) shouldContinueAsNew(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > continueAsNewAfterEvents
}

func (c *Runner) carryInput() Input {
	carry := &Carry{
		Transitions: calls.Tail(c.transitions, keepTransitions),
		SeenEvents:  calls.Tail(c.seenOrder, keepSeenEvents),
		Held:        c.held,
		Owner:       c.owner,
		Review:      c.review,
		Strays:      calls.Tail(c.strays, keepStrays),
		Poll:        c.poll,
		Judge:       c.judge,
		OwnerRun:    c.ownerRun,
		Then:        c.then,
		Holding:     true,
		Audit:       calls.Tail(c.audit, keepAudit),
	}
	return Input{Certificate: c.cert, OrderID: c.orderID, Carry: carry}
}

// validateAction refuses, without writing history, what the console may not
// do from the current state.
func (c *Runner) validateAction(ctx workflow.Context, req ActionRequest) error {
	if !statemachine.IsConsoleAction(req.Action) {
		return errtemporal.New(errs.Invalid, nil, "%q is not a console action", req.Action)
	}
	if _, err := statemachine.CertTransition(c.cert.State, req.Action); err != nil {
		return errtemporal.From(err)
	}
	// SSL-9: revocation cannot be undone; the requester must confirm it.
	if statemachine.IsIrreversible(req.Action) && !req.ConfirmIrreversible {
		return errtemporal.New(errs.Invalid, []string{"SSL-9"}, "SSL-9: %s cannot be undone; confirm_irreversible must be true", req.Action)
	}
	return nil
}

func (c *Runner) handleAction(ctx workflow.Context, req ActionRequest) (Status, error) {
	source := "console"
	if req.Actor != "" {
		source = "console:" + req.Actor
	}
	op := &certOp{event: req.Action, source: source}
	c.queue = append(c.queue, op)
	// Who asked, as the console authenticated them: recorded as the
	// action is accepted (the validator passed), whatever the CA answers.
	c.audit = append(c.audit, Audit(ctx, c.cert.ID, req))
	c.kick(ctx)
	if err := workflow.Await(ctx, func() bool { return op.done }); err != nil {
		return c.status(), err
	}
	return c.status(), op.err
}

// receiveResult dedupes a CA result by event ID and queues it.
func (c *Runner) receiveResult(ctx workflow.Context, r CAResult) {
	if r.EventID == "" || c.seen[r.EventID] {
		workflow.GetLogger(ctx).Info("CA result ignored (duplicate or without event ID)", "event_id", r.EventID, "result", r.Result)
		return
	}
	c.remember(r.EventID)
	c.queue = append(c.queue, &certOp{event: r.Result, source: "ca", result: &r})
}

func (c *Runner) remember(id string) {
	if c.seen[id] {
		return
	}
	c.seen[id] = true
	c.seenOrder = append(c.seenOrder, id)
}

func (c *Runner) execute(ctx workflow.Context, op *certOp) {
	defer func() {
		if op.batch != nil && !op.acted {
			// No action taken (a result, or a state that allows none):
			// the batch goes on without it.
			op.batch.drop(ctx)
		}
		if op.records != nil && !op.recorded && c.host != nil {
			// Not written (no CA action, or it failed or could not
			// write them): the host writes them itself.
			c.host.NotWritten(*op.records)
		}
		op.done = true
	}()
	if op.result != nil {
		c.applyResult(ctx, *op.result)
		return
	}
	if op.disown {
		if c.owner == op.replyTo {
			c.owner, c.ownerRun, c.then = "", "", nil
		}
		if op.poll > 0 {
			c.poll = op.poll
		}
		return
	}
	if op.replyTo != "" {
		c.owner, c.ownerRun = op.replyTo, op.replyRun
	}
	if op.judge != nil {
		c.judge = op.judge
	}
	if op.watch {
		c.reply(ctx, op, true)
		return
	}
	next, err := statemachine.CertTransition(c.cert.State, op.event)
	if err != nil {
		op.err = errtemporal.From(err)
		c.reply(ctx, op, false)
		return
	}
	if statemachine.IsConsoleAction(op.event) {
		actx := calls.With(ctx, calls.CA)
		in := CertificateActionInput{CertificateID: c.cert.ID, Action: op.event, Reason: "refund", Records: op.records}
		var rec ActionReceipt
		var err error
		if op.batch != nil {
			op.acted = true
			rec, err = op.batch.act(ctx, op.batchAt, in)
			op.skipped = errors.Is(err, errSkipped)
		} else {
			err = workflow.ExecuteActivity(actx, a.CertificateAction, in).Get(ctx, &rec)
		}
		if err != nil {
			op.err = err
			c.reply(ctx, op, false)
			return
		}
		op.recorded = rec.RecordsSaved
		if op.event == statemachine.Revoke {
			c.openReview(ctx, rec.Review)
			c.then = op.then
		}
	}
	c.transition(ctx, op.event, next, op.source, "", workflow.Now(ctx))
	c.reply(ctx, op, true)
	c.retryHeld(ctx)
}

// watchingAlone tells whether the certificate has a review open that no
// refund waits for.
func (c *Runner) watchingAlone() bool {
	return c.cert.State == statemachine.ValidatingRevocation && c.owner == ""
}

func (c *Runner) pollEvery() time.Duration {
	if c.poll > 0 {
		return c.poll
	}
	return activities.DefaultReviewPoll
}

// pollAlone asks the CA about the open review and queues a decided result
// as if its callback had come (deduplicated by event ID). A failure is
// logged and asked again at the next poll.
func (c *Runner) pollAlone(ctx workflow.Context) {
	var st activities.ReviewStatus
	if err := workflow.ExecuteActivity(calls.With(ctx, calls.Poll), a.RevocationStatus, c.cert.ID).Get(ctx, &st); err != nil {
		workflow.GetLogger(ctx).Warn("asking the CA about the open review failed; asking again later", "certificate", c.cert.ID, "error", err)
		return
	}
	if st.Result == "" {
		return
	}
	r := CAResult{EventID: st.EventID, Certificate: c.cert.ID, Result: st.Result, Reason: st.Reason, At: st.At, ReviewID: st.ReviewID}
	if r.EventID == "" {
		r.EventID = fmt.Sprintf("poll/%s/%s/%s", c.cert.ID, st.ReviewID, st.Result)
	}
	c.receiveResult(ctx, r)
}

// openReview remembers the review a revoke opened at the CA.
func (c *Runner) openReview(ctx workflow.Context, rec activities.ReviewReceipt) {
	at := rec.SubmittedAt
	if at.IsZero() {
		at = workflow.Now(ctx)
	}
	c.review = &Review{ID: rec.ReviewID, SubmittedAt: at}
}

// isRevocationResult tells the results that answer a revocation review.
func isRevocationResult(ev statemachine.CertEvent) bool {
	return ev == statemachine.RevocationApproved || ev == statemachine.RevocationRejected
}

// strayReason says why a revocation result answers no open review, or ""
// when it answers the open one.
func (c *Runner) strayReason(r CAResult, now time.Time) string {
	at := r.At
	if at.IsZero() {
		at = now
	}
	switch {
	case r.Stray != "":
		return r.Stray
	case at.After(now.Add(maxResultSkew)):
		return fmt.Sprintf("occurred_at %s is in the future", at.Format(time.RFC3339))
	case c.cert.State != statemachine.ValidatingRevocation:
		return fmt.Sprintf("no revocation review is open (certificate %s)", c.cert.State)
	case c.review == nil:
		// A review under way before this workflow knew of it: nothing to
		// compare with but the state.
		return ""
	case r.ReviewID != "" && c.review.ID != "" && r.ReviewID != c.review.ID:
		return fmt.Sprintf("answers review %s, not the open review %s", r.ReviewID, c.review.ID)
	case !c.review.SubmittedAt.IsZero() && at.Before(c.review.SubmittedAt):
		return fmt.Sprintf("occurred_at %s is before the revocation was submitted (%s)", at.Format(time.RFC3339), c.review.SubmittedAt.Format(time.RFC3339))
	}
	return ""
}

// recordStray keeps a result that answers nothing, for the certificate's
// history; it changes nothing else.
func (c *Runner) recordStray(ctx workflow.Context, r CAResult, why string) {
	c.strays = append(c.strays, Stray{Result: r, Why: why, At: workflow.Now(ctx)})
	if len(c.strays) > keepStrays {
		c.strays = calls.Tail(c.strays, keepStrays)
	}
	workflow.GetLogger(ctx).Warn("stray CA result recorded, not applied", "event_id", r.EventID, "result", r.Result, "review_id", r.ReviewID, "why", why)
	c.publish(ctx)
}

// applyResult applies a CA result. A revocation result that answers no
// open review is recorded as stray; another result that answers an action
// not yet taken is held.
func (c *Runner) applyResult(ctx workflow.Context, r CAResult) {
	if isRevocationResult(r.Result) {
		if why := c.strayReason(r, workflow.Now(ctx)); why != "" {
			c.recordStray(ctx, r, why)
			return
		}
	}
	next, err := statemachine.CertTransition(c.cert.State, r.Result)
	if err != nil {
		if len(c.held) < maxHeldResults {
			c.held = append(c.held, r)
		}
		workflow.GetLogger(ctx).Info("CA result held until its action happens", "event_id", r.EventID, "result", r.Result, "state", c.cert.State)
		return
	}
	at := workflow.Now(ctx)
	// A result recovered late (escalation) carries the CA's decision time.
	if !r.At.IsZero() && r.At.Before(at) {
		at = r.At
	}
	review := c.review
	if isRevocationResult(r.Result) {
		c.review = nil
	}
	c.transition(ctx, r.Result, next, "ca", r.EventID, at)
	var done []Transition
	if r.Result == statemachine.RevocationApproved {
		done = c.continueChain(ctx, at)
	}
	c.notifyOwner(ctx, Report{Certificate: c.cert.ID, Event: r.Result, OK: true, State: c.cert.State, Error: r.Reason, At: at,
		QuotaReturned: c.cert.QuotaReturned, Review: review, Done: done})
	c.retryHeld(ctx)
}

// continueChain performs the owner's steps that follow an approved
// revocation (Command.Then) when the revocation keeps the refund
// (policy.JudgeRevocation, the rule the refund applies to the same
// report), so the whole chain is reported once. A step that fails stops
// the chain: the refund commands what is left as before.
func (c *Runner) continueChain(ctx workflow.Context, at time.Time) []Transition {
	then := c.then
	c.then = nil
	if len(then) == 0 || c.owner == "" || c.judge == nil {
		return nil
	}
	if v := policy.JudgeRevocation(c.judge.Bundle.Profile, c.judge.Order, c.cert, at); !v.Refund {
		return nil
	}
	var done []Transition
	for _, ev := range then {
		next, err := statemachine.CertTransition(c.cert.State, ev)
		if err != nil || !statemachine.IsConsoleAction(ev) {
			break
		}
		in := CertificateActionInput{CertificateID: c.cert.ID, Action: ev, Reason: "refund"}
		if err := workflow.ExecuteActivity(calls.With(ctx, calls.CA), a.CertificateAction, in).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("chained release step failed; the refund commands it again", "certificate", c.cert.ID, "event", ev, "error", err)
			break
		}
		c.transition(ctx, ev, next, c.owner, "", workflow.Now(ctx))
		done = append(done, c.transitions[len(c.transitions)-1])
	}
	return done
}

func (c *Runner) retryHeld(ctx workflow.Context) {
	for i := 0; i < len(c.held); i++ {
		r := c.held[i]
		if _, err := statemachine.CertTransition(c.cert.State, r.Result); err != nil || isRevocationResult(r.Result) {
			continue
		}
		c.held = append(c.held[:i:i], c.held[i+1:]...)
		c.applyResult(ctx, r)
		return
	}
}

// transition records a state change and its consequences: the store
// projection, the search attribute, and quota returns.
func (c *Runner) transition(ctx workflow.Context, ev statemachine.CertEvent, next statemachine.CertState, source, eventID string, at time.Time) {
	from := c.cert.State
	c.cert.State = next
	c.transitions = append(c.transitions, Transition{From: from, To: next, Event: ev, At: at, Source: source, EventID: eventID})
	switch {
	case ev == statemachine.Cancel && from == statemachine.PendingApplication:
		// SSL-6: cancelling an application returns the certificate quota.
		c.returnQuota(ctx, "SSL-6", at)
	case ev == statemachine.RevocationApproved:
		c.cert.RevokedAt = &at
		c.judgeRevocation(ctx, at)
	}
	c.publish(ctx)
	if c.host != nil {
		// The holding refund writes it with the rest of the task's records.
		c.host.Keep(activities.CertificateRecord{Certificate: c.cert, At: at})
		return
	}
	// The store projection is a local write: a local activity (a marker,
	// no task round trip), given up after calls.Record' ten minutes
	// (logged); the next change writes the whole certificate again.
	rec := RecordCertificateInput{OrderID: c.orderID, Certificate: c.cert, At: at}
	if err := workflow.ExecuteLocalActivity(calls.WithLocal(ctx, calls.Record), a.RecordCertificate, rec).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("recording certificate state failed", "error", err)
	}
}

// judgeRevocation applies the quota rule of a completed revocation (SSL-7,
// VAS-2..VAS-4), whatever became of any refund. The order and policy come
// with the refund's revoke command (judged once, by what the refund
// loaded); a revocation no refund commanded (the console's) reads them
// with one local activity.
func (c *Runner) judgeRevocation(ctx workflow.Context, at time.Time) {
	j := c.judge
	if j == nil {
		var loaded activities.Judgement
		if err := workflow.ExecuteLocalActivity(calls.WithLocal(ctx, calls.LocalStore), a.LoadJudgement, c.orderID).Get(ctx, &loaded); err != nil {
			workflow.GetLogger(ctx).Error("loading order and policy to judge revocation failed", "error", err)
			return
		}
		j = &loaded
	}
	v := policy.JudgeRevocation(j.Bundle.Profile, j.Order, c.cert, at)
	if v.QuotaReturned {
		c.returnQuota(ctx, v.QuotaRule, at)
	}
}

func (c *Runner) returnQuota(ctx workflow.Context, rule string, at time.Time) {
	if c.cert.QuotaReturned {
		return
	}
	if c.host != nil {
		// Written by the holding refund with the certificate's new state,
		// in one transaction and before it.
		c.host.ReturnQuota(activities.QuotaReturn{CertificateID: c.cert.ID, Rule: rule, At: at})
		c.cert.QuotaReturned = true
		return
	}
	in := ReturnQuotaInput{OrderID: c.orderID, CertificateID: c.cert.ID, Rule: rule, At: at}
	var returned bool
	if err := workflow.ExecuteLocalActivity(calls.WithLocal(ctx, calls.LocalStore), a.ReturnQuota, in).Get(ctx, &returned); err != nil {
		workflow.GetLogger(ctx).Error("returning quota failed", "error", err)
		return
	}
	c.cert.QuotaReturned = true
}

func (c *Runner) reply(ctx workflow.Context, op *certOp, ok bool) {
	if op.replyTo == "" {
		if ok {
			c.notifyOwner(ctx, Report{Certificate: c.cert.ID, Event: op.event, OK: true, State: c.cert.State, At: workflow.Now(ctx), QuotaReturned: c.cert.QuotaReturned})
		}
		return
	}
	r := Report{RequestID: op.requestID, Certificate: c.cert.ID, Event: op.event, OK: ok, State: c.cert.State, At: workflow.Now(ctx),
		QuotaReturned: c.cert.QuotaReturned, Review: c.review}
	if op.watch && c.cert.RevokedAt != nil {
		r.At = *c.cert.RevokedAt
	}
	if op.err != nil {
		r.ErrorType, r.Error = calls.ErrorType(op.err), calls.ErrorMessage(op.err)
	}
	r.Skipped = op.skipped
	if c.host == nil && c.cert.State == statemachine.Removed && isParent(ctx, op.replyTo, op.replyRun) {
		// The run ends now and its parent is told so: the report goes
		// with the result, not in a signal of its own.
		c.final = &r
		return
	}
	c.signal(ctx, op.replyTo, r)
}

// isParent tells whether the run id/run started this workflow as a child.
func isParent(ctx workflow.Context, id, run string) bool {
	p := workflow.GetInfo(ctx).ParentWorkflowExecution
	return p != nil && run != "" && p.ID == id && p.RunID == run
}

func (c *Runner) notifyOwner(ctx workflow.Context, r Report) {
	if c.host == nil && c.owner != "" && c.cert.State == statemachine.Removed && isParent(ctx, c.owner, c.ownerRun) {
		// The run ends now and its parent is told so (see reply).
		c.final = &r
		return
	}
	if c.owner != "" {
		c.signal(ctx, c.owner, r)
	}
}

func (c *Runner) signal(ctx workflow.Context, workflowID string, r Report) {
	if c.host != nil {
		c.host.Report(r)
		return
	}
	if err := workflow.SignalExternalWorkflow(ctx, workflowID, "", SignalReport, r).Get(ctx, nil); err != nil {
		// The watcher may have finished (a refused refund); the certificate goes on.
		workflow.GetLogger(ctx).Info("report not delivered", "to", workflowID, "error", err)
	}
}

// publish shows the certificate in the Web UI's details and, when its
// state changed since the last upsert, in the search attributes (an
// upsert is an event; the details are not).
func (c *Runner) publish(ctx workflow.Context) {
	if c.host != nil {
		return
	}
	if c.published != c.cert.State {
		if err := workflow.UpsertTypedSearchAttributes(ctx,
			CertificateIDsKey.ValueSet([]string{c.cert.ID}),
			OrderIDKey.ValueSet(c.orderID),
			CertificateStatesKey.ValueSet([]string{string(c.cert.State)}),
		); err != nil {
			workflow.GetLogger(ctx).Error("search attributes not updated", "error", err)
		}
		c.published = c.cert.State
	}
	// The first line is all the Web UI's details frame shows for sure.
	details := certificateHeadline(c.status(), c.owner) + "\n\n" +
		fmt.Sprintf("**Certificate** `%s` of order `%s`\n\n**State:** %s", c.cert.ID, c.orderID, c.cert.State)
	if n := len(c.transitions); n > 0 {
		t := c.transitions[n-1]
		details += fmt.Sprintf("\n\n**Last change:** %s → %s by `%s` (%s) at %s", t.From, t.To, t.Event, t.Source, t.At.Format(time.RFC3339))
	}
	if rv := c.review; rv != nil && c.cert.State == statemachine.ValidatingRevocation {
		details += fmt.Sprintf("\n\n**Open review:** `%s` submitted %s", orDefault(rv.ID, "(no ID)"), rv.SubmittedAt.Format(time.RFC3339))
	}
	if len(c.held) > 0 {
		details += fmt.Sprintf("\n\n**Held CA results:** %d", len(c.held))
	}
	if n := len(c.strays); n > 0 {
		st := c.strays[n-1]
		details += fmt.Sprintf("\n\n**Stray CA results (not applied):** %d; last %s `%s`: %s", n, st.Result.Result, st.Result.EventID, st.Why)
	}
	workflow.SetCurrentDetails(ctx, details)
}

func (c *Runner) status() Status {
	return Status{
		ID: c.cert.ID, OrderID: c.orderID, State: c.cert.State,
		Transitions: c.transitions, QuotaReturned: c.cert.QuotaReturned, Held: c.held,
		Review: c.review, Strays: c.strays, Final: c.final, Audit: append([]domain.AuditEntry{}, c.audit...),
	}
}

// takeHold makes this workflow the certificate's one writer in the store
// (from the refund handing it over, if from is set) and returns who holds
// it: this workflow, or the refund that holds it. A store that does not
// answer is asked again; the certificate is not written meanwhile.
func (c *Runner) takeHold(ctx workflow.Context, from string) string {
	self := WorkflowID(c.cert.ID)
	in := HoldInput{Holder: self, From: from, Certificates: []string{c.cert.ID}}
	for {
		var holders map[string]string
		err := workflow.ExecuteLocalActivity(calls.WithLocal(ctx, calls.LocalStore), a.HoldCertificates, in).Get(ctx, &holders)
		if err == nil {
			if h := holders[c.cert.ID]; h != "" {
				return h
			}
			return self
		}
		if calls.ErrorType(err) == string(errs.NotFound) {
			// A certificate the store does not know (a test, an import
			// under way): nobody else can hold it.
			return self
		}
		workflow.GetLogger(ctx).Error("taking the certificate's hold failed; trying again", "certificate", c.cert.ID, "error", err)
		if err := workflow.Sleep(ctx, time.Minute); err != nil {
			return self
		}
	}
}

// yield ends a run that found a refund holding the certificate: console
// actions and commands are refused naming the holder (the gateway routes
// them there), CA results are passed on to it.
func (c *Runner) yield(ctx workflow.Context, holder string) (Status, error) {
	workflow.GetLogger(ctx).Info("certificate held by a refund; this workflow ends", "certificate", c.cert.ID, "holder", holder)
	for {
		for len(c.queue) > 0 {
			op := c.queue[0]
			c.queue = c.queue[1:]
			if op.result != nil {
				if err := workflow.SignalExternalWorkflow(ctx, holder, "", SignalCAResult, *op.result).Get(ctx, nil); err != nil {
					workflow.GetLogger(ctx).Warn("CA result not passed on to the certificate's holder", "holder", holder, "event_id", op.result.EventID, "error", err)
				}
			} else {
				op.err = errtemporal.New(errs.Conflict, nil, "certificate %s is being released by %s: its actions go there", c.cert.ID, holder)
				if op.replyTo != "" {
					c.reply(ctx, op, false)
				}
			}
			op.done = true
		}
		_ = workflow.Await(ctx, func() bool { return len(c.queue) > 0 || workflow.AllHandlersFinished(ctx) })
		if len(c.queue) == 0 {
			return c.status(), nil
		}
	}
}

// kick has a held certificate's queued ops run inside its holder's
// workflow: by a coroutine started when an op is queued and none runs,
// which runs them one at a time, as the certificate workflow's run loop
// does in its own, and ends when the queue is empty. An idle held
// certificate (a review open at the CA) costs its holder no coroutine.
// The certificate workflow's own loop runs its queue (no host: nothing to
// do here).
func (c *Runner) kick(ctx workflow.Context) {
	if c.host == nil || c.busy || len(c.queue) == 0 {
		return
	}
	c.busy = true
	workflow.Go(ctx, c.serve)
}

// serve runs the queue until it is empty (see kick).
func (c *Runner) serve(ctx workflow.Context) {
	for len(c.queue) > 0 {
		op := c.queue[0]
		c.queue = c.queue[1:]
		c.current = op
		c.execute(ctx, op)
		c.current = nil
	}
	c.busy = false
}

// ResultPending tells whether a CA result is queued or being applied: one
// that came while the certificate's command was under way (a CA that
// answers its review at once), whose report is on its way to the host.
func (c *Runner) ResultPending() bool {
	if c.current != nil && c.current.result != nil {
		return true
	}
	return slices.ContainsFunc(c.queue, func(op *certOp) bool { return op.result != nil })
}

// idle tells whether a held certificate has nothing queued or under way.
func (c *Runner) idle() bool { return len(c.queue) == 0 && !c.busy }

// awaitsCA tells whether a CA result may still arrive for a certificate
// in state s (a review or validation open at the CA).
func awaitsCA(s statemachine.CertState) bool {
	return slices.ContainsFunc(statemachine.CertEvents(s), statemachine.IsCAResult)
}

// Host is the refund that holds a certificate and runs its Runner inside
// its own workflow (workflows/refund, hold.go): the runner's store writes
// and reports go to it, to be written or taken with the refund's own.
type Host interface {
	// Keep takes the certificate's new state, to be written with the
	// refund's records of the same task.
	Keep(activities.CertificateRecord)
	// ReturnQuota takes a quota return, written with the certificate's
	// new state, in one transaction and before it.
	ReturnQuota(activities.QuotaReturn)
	// Report takes a report the certificate would have signalled.
	Report(Report)
	// NotWritten gives back records that came with a command
	// (EnqueueWith) and were not written with its CA action, or may not
	// have been: the host writes them (again) itself.
	NotWritten(activities.Records)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Audit is the audit entry of a console action on a certificate.
func Audit(ctx workflow.Context, certID string, req ActionRequest) domain.AuditEntry {
	return domain.AuditEntry{Action: domain.AuditCertificateAction, At: workflow.Now(ctx), Actor: domain.ActorOr(req.By, req.Actor),
		Certificate: certID, Event: string(req.Action)}
}

// Held builds the Runner of a certificate a refund holds (from in, or from
// in.Carry when the refund continues as new): host runs it inside its own
// workflow, each batch of ops in a coroutine of their own that ends with
// the batch (Enqueue, Receive, HandleAction start it). owner and
// poll, when set, replace the carried ones; judge is the order and policy
// the refund judged by, used when the carried state brings none.
func Held(in Input, host Host, owner string, judge *activities.Judgement, poll time.Duration) *Runner {
	c := newCertificate(in)
	c.host = host
	if owner != "" {
		c.owner = owner
	}
	if c.judge == nil {
		c.judge = judge
	}
	if poll > 0 {
		c.poll = poll
	}
	return c
}

// The held certificate's face to its host.

// ID is the certificate's ID.
func (c *Runner) ID() string { return c.cert.ID }

// State is the certificate's state.
func (c *Runner) State() statemachine.CertState { return c.cert.State }

// Enqueue queues a command of the host's release chain and has it run.
func (c *Runner) Enqueue(ctx workflow.Context, cmd Command) {
	c.EnqueueWith(ctx, cmd, nil)
}

// EnqueueWith is Enqueue with the host's records of this workflow task,
// written by the command's CA action before it acts (one activity instead
// of a local activity more); whatever the action did not write goes back
// to the host (Host.NotWritten).
func (c *Runner) EnqueueWith(ctx workflow.Context, cmd Command, recs *activities.Records) {
	c.EnqueueBatched(ctx, cmd, recs, nil, 0)
}

// EnqueueBatched is EnqueueWith with the command's CA action taken by b,
// at index i, with the other certificates' of the batch (nil b: alone).
func (c *Runner) EnqueueBatched(ctx workflow.Context, cmd Command, recs *activities.Records, b *Batch, i int) {
	c.enqueue(cmd)
	op := c.queue[len(c.queue)-1]
	op.records, op.batch, op.batchAt = recs, b, i
	c.kick(ctx)
}

// Receive applies a CA result (deduplicated by its event ID).
func (c *Runner) Receive(ctx workflow.Context, r CAResult) {
	c.receiveResult(ctx, r)
	c.kick(ctx)
}

// ValidateAction and HandleAction are the console action update's
// validator and handler, run by the host's update.
func (c *Runner) ValidateAction(ctx workflow.Context, req ActionRequest) error {
	return c.validateAction(ctx, req)
}

// HandleAction: see ValidateAction.
func (c *Runner) HandleAction(ctx workflow.Context, req ActionRequest) (Status, error) {
	return c.handleAction(ctx, req)
}

// Idle tells whether nothing is queued or under way.
func (c *Runner) Idle() bool { return c.idle() }

// Status is what the certificate's workflow query would answer.
func (c *Runner) Status() Status { return c.status() }

// Disown tells the certificate nobody waits for its review any more: handed
// over as the host ends, it asks the CA itself.
func (c *Runner) Disown() { c.owner = "" }

// Carry is the input of a run that continues the certificate: the host's
// continue-as-new, or the certificate workflow it is handed over to.
func (c *Runner) Carry() Input { return c.carryInput() }

// AwaitsCA tells whether a certificate in state s waits for the CA's
// answer (a result may still come).
func AwaitsCA(s statemachine.CertState) bool { return awaitsCA(s) }
