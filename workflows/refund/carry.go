package refund

import (
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/internal/calls"
)

// Bounded histories: a refund can wait for weeks (a review that outlasts
// its T-3 deadline and is polled every hour, a customer who resubmits two
// months later, a payment side down for days). Its run continues as new
// once Temporal suggests it or its history passes
// refundContinueAsNewAfterEvents, at the first safe point, and hands the
// next run everything (Carry): the new run resumes where this one
// stopped, without judging or holding again.
//
// A safe point is inside one of the refund's waits (the review's poll
// loop, the customer, the operator's approval, between two attempts of a
// step the CA or the payment side failed, between two release steps) when
// nothing is under way: no activity or child workflow in flight (the
// waits run none), every update handler finished, no record being
// written or waiting to be, no CA result being forwarded, every held
// certificate idle, and no signal received but not yet taken.
//
// A short refund never reaches the bound: continue-as-new adds no event
// to the paths TestEventBudgets measures.

// refundContinueAsNewAfterEvents is the history length past which a
// refund run continues as new at its next safe point. A wait's round
// (an hourly poll of a review: a timer, an activity, their workflow
// tasks) is about a dozen events, so a run ends within a few dozen events
// of the bound; Temporal's own suggestion comes far later (thousands of
// events), and 2,000 keeps a run's replay on a worker that picks it up
// cheap. The certificate workflow uses the same bound
// (continueAsNewAfterEvents).
const refundContinueAsNewAfterEvents = 2000

// The waits a run continues as new in (Carry.Wait).
const (
	waitReview   = "review"
	waitCustomer = "customer"
	waitApproval = "approval"
	waitPayment  = "payment"
)

// historyFull tells whether the run should continue as new.
func (r *refund) historyFull(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > refundContinueAsNewAfterEvents
}

// safePoint tells whether nothing is under way that a continue-as-new
// would lose (see the top of this file).
func (r *refund) safePoint(ctx workflow.Context) bool {
	if r.ended() || !r.judged() || r.lettingGo || r.dirty || r.flushing || r.forwarding > 0 || r.children > 0 ||
		!workflow.AllHandlersFinished(ctx) {
		return false
	}
	for _, ch := range []workflow.ReceiveChannel{r.results, r.reportCh, r.fixedCh} {
		if ch != nil && ch.Len() > 0 {
			return false
		}
	}
	for _, c := range r.held {
		if !c.Idle() {
			return false
		}
	}
	return true
}

// continueAsNewDue tells a wait's condition to end the wait: the history
// is long and the run is at a safe point.
func (r *refund) continueAsNewDue(ctx workflow.Context) bool {
	return r.historyFull(ctx) && r.safePoint(ctx)
}

// continueAsNewNow stops the run to continue as new, in wait, when it is
// due; the caller returns up to Workflow, which returns the
// continue-as-new error in the same workflow task (nothing can start in
// between).
func (r *refund) continueAsNewNow(ctx workflow.Context, wait string) bool {
	if r.can {
		return true
	}
	if !r.continueAsNewDue(ctx) {
		return false
	}
	r.can, r.canWait = true, wait
	workflow.GetLogger(ctx).Info("refund continues as new", "order", r.in.OrderID, "wait", wait,
		"history_length", workflow.GetInfo(ctx).GetCurrentHistoryLength(), "runs", r.runs+1)
	return true
}

// resuming returns, once, the carry of the run this one continues when it
// stopped in wait; nil otherwise.
func (r *refund) resuming(wait string) *Carry {
	c := r.resume
	if c == nil || c.Wait != wait {
		return nil
	}
	r.resume = nil
	return c
}

// carryInput is the next run's input: the same request, and everything
// this run knows.
func (r *refund) carryInput() Input {
	c := &Carry{
		Runs: r.runs + 1, Status: r.st, Order: r.order, Bundle: r.bundle, Decision: r.decision,
		Cancel: r.cancel, Approval: r.approval, Reports: r.reports, Started: r.started, Commanded: r.commanded, Seq: r.seq,
		CAFailing: r.ca.failing, CAFixed: r.ca.fixed, CASince: r.ca.since, CAKind: r.ca.kind,
		Recorded: r.recorded, Holds: r.holds, Handed: r.handed,
		Step: r.step, Queue: r.queue, Replans: r.replans,
		Wait: r.canWait, NextPoll: r.nextPoll, Customer: r.customer, PayFailing: r.payFailing, PayFallback: r.payFallback,
		Judgement: r.judgement,
	}
	c.Status.Held = nil
	for _, rv := range r.ca.reviews {
		c.Reviews = append(c.Reviews, CarriedReview{Certificate: rv.cert, Review: rv.review})
	}
	if p := r.published; p != nil {
		c.Published = &PublishedAttributes{State: p.state, Escalated: p.escalated, Product: p.product, WaitingOn: p.waitingOn,
			CertIDs: p.certIDs, CertState: p.certState}
	}
	for _, h := range r.held {
		c.Held = append(c.Held, h.Carry())
	}
	in := r.in
	in.Carry = c
	return in
}

// restore takes up where the previous run stopped: its state, and the
// held certificates, whose logic runs here again as their ops come.
func (r *refund) restore(c *Carry) {
	r.resume, r.runs = c, c.Runs
	r.st = c.Status
	r.order, r.bundle, r.decision = c.Order, c.Bundle, c.Decision
	// Built from what the first run read: the rules are not asked again.
	if cal, err := calls.CalendarFor(r.bundle.Calendar); err == nil {
		r.cal = cal
	}
	r.cancel, r.approval = c.Cancel, c.Approval
	r.reports, r.started, r.commanded, r.seq = c.Reports, c.Started, c.Commanded, c.Seq
	r.ca.failing, r.ca.fixed, r.ca.since, r.ca.kind = c.CAFailing, c.CAFixed, c.CASince, c.CAKind
	for _, rv := range c.Reviews {
		r.ca.reviews = append(r.ca.reviews, certReview{cert: rv.Certificate, review: rv.Review})
	}
	if p := c.Published; p != nil {
		r.published = &publishedAttrs{state: p.State, escalated: p.Escalated, product: p.Product, waitingOn: p.WaitingOn,
			certIDs: p.CertIDs, certState: p.CertState}
	}
	r.recorded = c.Recorded
	r.holds, r.handed = c.Holds, c.Handed
	r.step, r.queue, r.replans = c.Step, slices.Clone(c.Queue), c.Replans
	r.payFailing, r.payFallback = c.PayFailing, c.PayFallback
	r.judgement = c.Judgement
	for _, in := range c.Held {
		h := certificate.Held(in, r, "", &activities.Judgement{Order: r.order, Bundle: r.bundle}, 0)
		r.held = append(r.held, h)
	}
}
