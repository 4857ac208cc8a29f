package workflows

import (
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
	"github.com/certflow/certflow/statemachine"
)

// A refund holds the certificates it releases (docs/orchestration.md):
// the store names it their one writer, and it runs each certificate's
// logic (the certificate type of certificate.go) inside its own workflow,
// so a release costs no second workflow and no message round trips. A
// certificate a certificate workflow holds (the console acted on it
// first) is commanded through that workflow, as before. As the refund
// ends it lets go: a certificate with a CA result still to come (an open
// review) is handed over to a certificate workflow, the others are
// released.

// hold runs the plan's certificates this refund holds (LoadAndHold took
// them) here; those another workflow holds are commanded.
func (r *refund) hold(ctx workflow.Context, plan []statemachine.PlanStep) {
	judge := &activities.Judgement{Order: r.order, Bundle: r.bundle}
	for _, ps := range plan {
		id := ps.Certificate
		if !contains(r.holds, id) || r.holding(id) != nil || contains(r.handed, id) {
			continue
		}
		c := newCertificate(CertificateInput{Certificate: r.certificate(id), OrderID: r.in.OrderID})
		c.host, c.owner, c.judge, c.poll = r, r.id(), judge, r.pollEvery()
		r.held = append(r.held, c)
		workflow.Go(ctx, c.serve)
	}
}

// holding returns the held certificate certID, or nil.
func (r *refund) holding(certID string) *certificate {
	if contains(r.handed, certID) {
		return nil
	}
	for _, c := range r.held {
		if c.cert.ID == certID {
			return c
		}
	}
	return nil
}

// caResult takes a CA result the gateway routed here: applied to a held
// certificate, passed on to the certificate's workflow otherwise (handed
// over, or never held: a route read just before the hold changed).
func (r *refund) caResult(ctx workflow.Context, res CAResult) {
	if c := r.holding(res.Certificate); c != nil {
		c.receiveResult(ctx, res)
		return
	}
	r.forwarding++
	defer func() { r.forwarding-- }()
	if err := workflow.SignalExternalWorkflow(ctx, CertificateWorkflowID(res.Certificate), "", SignalCAResult, res).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("CA result for a certificate this refund does not hold; not delivered", "certificate", res.Certificate,
			"event_id", res.EventID, "error", err)
	}
}

func (r *refund) validateCertificateAction(ctx workflow.Context, req RefundCertificateAction) error {
	c := r.holding(req.Certificate)
	if c == nil || r.finished {
		return errtemporal.New(errs.NotFound, nil, "the refund of order %s does not hold certificate %s", r.in.OrderID, req.Certificate)
	}
	return c.validateAction(ctx, req.ActionRequest)
}

func (r *refund) handleCertificateAction(ctx workflow.Context, req RefundCertificateAction) (CertificateStatus, error) {
	r.audit(certificateAudit(ctx, req.Certificate, req.ActionRequest))
	r.publish(ctx)
	return r.holding(req.Certificate).handleAction(ctx, req.ActionRequest)
}

// letGo ends the refund's holds once the held certificates are idle: one
// with a CA result still to come is handed over to a certificate workflow
// (which takes the hold from this refund and asks the CA itself), the
// others are released in one store write. A removed certificate needs
// neither: the store clears its holder with its last state.
func (r *refund) letGo(ctx workflow.Context) {
	if len(r.holds) == 0 {
		return
	}
	_ = workflow.Await(ctx, func() bool {
		for _, c := range r.held {
			if !c.idle() {
				return false
			}
		}
		return true
	})
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
		case c.cert.State == statemachine.Removed:
		case !awaitsCA(c.cert.State) || !r.handOver(ctx, c):
			release = append(release, id)
		}
		r.handed = append(r.handed, id)
	}
	if len(release) == 0 {
		return
	}
	in := activities.ReleaseInput{Holder: r.id(), Certificates: release}
	if err := workflow.ExecuteLocalActivity(withLocalOptions(ctx, recordOptions), a.ReleaseCertificates, in).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("certificate holds not released", "certificates", release, "error", err)
	}
}

// handOver starts a certificate workflow for a held certificate with a CA
// result still to come; it takes the hold from this refund and follows
// the review alone (polling the CA), so its quota rule still applies.
func (r *refund) handOver(ctx workflow.Context, c *certificate) bool {
	c.owner = ""
	in := c.carryInput()
	in.Carry.Holding, in.HandedFrom = false, r.id()
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        CertificateWorkflowID(c.cert.ID),
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		StaticSummary:     fmt.Sprintf("Certificate %s of order %s (handed over by %s)", c.cert.ID, r.in.OrderID, r.id()),
	})
	if err := workflow.ExecuteChildWorkflow(cctx, CertificateWorkflow, in).GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("certificate not handed over; its hold is released", "certificate", c.cert.ID, "error", err)
		return false
	}
	return true
}
