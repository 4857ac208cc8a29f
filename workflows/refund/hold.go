package refund

import (
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/internal/calls"
)

// Who owns a certificate, and the one route of a CA result.
//
// A certificate has one writer, its holder, named in the store by workflow
// ID (ports.Holds): the refund of its order while that refund releases it,
// else its certificate workflow (certificate.Workflow), which holds it from
// its first task until it is removed. A refund takes the holds of all its
// order's certificates that are not removed, and nobody else holds, in its
// first local activity (LoadAndHold); it runs each held certificate's
// logic (a certificate.Runner, with the refund as its Host) inside its own workflow,
// so a release costs no second workflow and no message round trips. A
// certificate a certificate workflow holds (the console acted on it
// first) is commanded through that workflow. As the refund ends it lets
// go (letGo): a certificate with a CA result still to come (an open
// review) is handed over to a certificate workflow, the others are
// released. A holder that ended without letting go (terminated, failed)
// loses its holds to the next would-be holder, which takes them over once
// Temporal says the holder's workflow is closed (activities.HoldCertificates,
// docs/storage-and-payments.md "Orphaned holds"); a new run of the same
// workflow ID (a new refund of the order, a reset) is the same holder.
//
// A CA callback reaches the holder by one route (gateway/callbacks.go
// deliver):
//
//  1. a running certificate workflow gets a plain signal;
//  2. else a refund the store names holder gets a plain signal;
//  3. else (nobody holds it) the refund of its order, if one runs, is
//     offered the result (UpdateCAResult): a refund that has not yet
//     learnt what it holds (LoadAndHold under way) takes the result once
//     it has, so a callback racing the hold starts no workflow; a refund
//     that does not hold the certificate refuses it without writing
//     history;
//  4. else the certificate's workflow is signalled with start.
//
// The refund takes CA results (signal or update) only once its holds are
// known (holdKnown); a result for a certificate it holds is applied here,
// starting the certificate's logic here if the release has not reached it
// yet. A result that reached the refund by signal for a certificate it
// does not hold (the route was read just before a hand-over) is passed on
// to the certificate's workflow: the one forward left, one way. Results
// are deduplicated by event ID in the certificate, which carries the IDs
// it has seen to the workflow it is handed over to, so a result delivered
// twice (the CA retrying after a 5xx) is applied once.

// hold runs the plan's certificates this refund holds (LoadAndHold took
// them) here; those another workflow holds are commanded.
func (r *refund) hold(ctx workflow.Context, plan []statemachine.PlanStep) {
	for _, ps := range plan {
		r.runHeld(ctx, ps.Certificate)
	}
}

// holdKnown tells whether the refund knows which certificates it holds
// (load done), or has ended without learning it.
func (r *refund) holdKnown() bool { return r.judged() }

// owns tells whether the store names this refund the holder of certID and
// it has not let go of it.
func (r *refund) owns(certID string) bool {
	return contains(r.holds, certID) && !contains(r.handed, certID)
}

// runHeld returns the held certificate certID, starting its logic here if
// the refund holds it and does not run it yet; nil when the refund does
// not hold it, or is letting go of its holds.
func (r *refund) runHeld(ctx workflow.Context, certID string) *certificate.Runner {
	if c := r.holding(certID); c != nil || !r.owns(certID) || r.lettingGo {
		return c
	}
	c := certificate.Held(certificate.Input{Certificate: r.certificate(certID), OrderID: r.in.OrderID}, r, r.id(),
		&activities.Judgement{Order: r.order, Bundle: r.bundle}, r.pollEvery())
	r.held = append(r.held, c)
	return c
}

// holding returns the held certificate certID, or nil.
func (r *refund) holding(certID string) *certificate.Runner {
	if contains(r.handed, certID) {
		return nil
	}
	for _, c := range r.held {
		if c.ID() == certID {
			return c
		}
	}
	return nil
}

// caResult takes a CA result signalled here (the store named this refund
// the holder): applied to a held certificate, passed on to the
// certificate's workflow otherwise (handed over as the refund ended).
func (r *refund) caResult(ctx workflow.Context, res certificate.CAResult) {
	if c := r.runHeld(ctx, res.Certificate); c != nil {
		c.Receive(ctx, res)
		return
	}
	// Sent at once; a coroutine of its own waits for the delivery, so the
	// inbox is not held up (it takes the next result once this one is
	// delivered).
	r.forwarding++
	f := workflow.SignalExternalWorkflow(ctx, certificate.WorkflowID(res.Certificate), "", certificate.SignalCAResult, res)
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { r.forwarding-- }()
		if err := f.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("CA result for a certificate this refund does not hold; not delivered", "certificate", res.Certificate,
				"event_id", res.EventID, "error", err)
		}
	})
}

// validateCAResult refuses, without writing history, a CA result offered
// for a certificate this refund is known not to hold.
func (r *refund) validateCAResult(ctx workflow.Context, res certificate.CAResult) error {
	if r.letGone || (r.holdKnown() && !r.owns(res.Certificate)) {
		return r.notHolding(res.Certificate)
	}
	return nil
}

// takeCAResult takes a CA result offered while the store named no holder
// (UpdateCAResult): once the refund knows its holds, it applies a
// result for a certificate it holds and refuses the others (errs.NotFound:
// the sender starts the certificate's workflow). While the refund lets go
// it answers after letting go, when the store no longer names it.
func (r *refund) takeCAResult(ctx workflow.Context, res certificate.CAResult) error {
	_ = workflow.Await(ctx, func() bool { return r.holdKnown() && (!r.lettingGo || r.letGone) })
	c := r.runHeld(ctx, res.Certificate)
	if c == nil {
		return r.notHolding(res.Certificate)
	}
	c.Receive(ctx, res)
	return nil
}

func (r *refund) notHolding(certID string) error {
	return errtemporal.New(errs.NotFound, nil, "the refund of order %s does not hold certificate %s", r.in.OrderID, certID)
}

func (r *refund) validateCertificateAction(ctx workflow.Context, req CertificateAction) error {
	c := r.holding(req.Certificate)
	if c == nil || r.ended() {
		return errtemporal.New(errs.NotFound, nil, "the refund of order %s does not hold certificate %s", r.in.OrderID, req.Certificate)
	}
	return c.ValidateAction(ctx, req.ActionRequest)
}

func (r *refund) handleCertificateAction(ctx workflow.Context, req CertificateAction) (certificate.Status, error) {
	r.audit(certificate.Audit(ctx, req.Certificate, req.ActionRequest))
	r.publish(ctx)
	return r.holding(req.Certificate).HandleAction(ctx, req.ActionRequest)
}

// letGo ends the refund's holds once the held certificates are idle: one
// with a CA result still to come is handed over to a certificate workflow
// (which takes the hold from this refund and asks the CA itself), the
// others are released in one store write. A removed certificate needs
// neither: the store clears its holder with its last state.
func (r *refund) letGo(ctx workflow.Context) {
	defer func() { r.letGone = true }()
	if len(r.holds) == 0 {
		return
	}
	_ = workflow.Await(ctx, func() bool {
		for _, c := range r.held {
			if !c.Idle() {
				return false
			}
		}
		return true
	})
	r.lettingGo = true
	var release []string
	for _, id := range r.holds {
		if contains(r.handed, id) {
			continue
		}
		c := r.holding(id)
		switch {
		case c == nil:
			if r.certificate(id).State != statemachine.Removed {
				release = append(release, id)
			}
		case c.State() == statemachine.Removed:
		case !certificate.AwaitsCA(c.State()) || !r.handOver(ctx, c):
			release = append(release, id)
		}
		r.handed = append(r.handed, id)
	}
	if len(release) == 0 {
		return
	}
	in := ReleaseInput{Holder: r.id(), Certificates: release}
	if err := workflow.ExecuteLocalActivity(calls.WithLocal(ctx, calls.Record), a.ReleaseCertificates, in).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("certificate holds not released", "certificates", release, "error", err)
	}
}

// quietEnd reports whether the refund could end now writing nothing but
// its own record: no record pending, and letGo would find nothing to
// release or hand over (every certificate it holds removed, or handed
// over already).
func (r *refund) quietEnd() bool {
	if r.flushing || !r.pending.Empty() {
		return false
	}
	for _, id := range r.holds {
		if contains(r.handed, id) {
			continue
		}
		if c := r.holding(id); c != nil {
			if c.State() != statemachine.Removed || !c.Idle() {
				return false
			}
		} else if r.certificate(id).State != statemachine.Removed {
			return false
		}
	}
	return true
}

// handOver starts a certificate workflow for a held certificate with a CA
// result still to come; it takes the hold from this refund and follows
// the review alone (polling the CA), so its quota rule still applies.
func (r *refund) handOver(ctx workflow.Context, c *certificate.Runner) bool {
	c.Disown()
	in := c.Carry()
	in.Carry.Holding, in.HandedFrom = false, r.id()
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        certificate.WorkflowID(c.ID()),
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		StaticSummary:     fmt.Sprintf("Certificate %s of order %s (handed over by %s)", c.ID(), r.in.OrderID, r.id()),
	})
	if err := workflow.ExecuteChildWorkflow(cctx, certificate.WorkflowName, in).GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("certificate not handed over; its hold is released", "certificate", c.ID(), "error", err)
		return false
	}
	return true
}
