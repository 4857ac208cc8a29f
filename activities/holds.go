package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"

	"github.com/certflow/certflow/errs/errtemporal"
)

// Runs is what the take-over of an orphaned hold needs from Temporal: does
// a workflow run? The worker injects Temporal's DescribeWorkflowExecution
// (temporalx.WorkflowRuns); tests inject fakes.
type Runs interface {
	// Running reports whether the workflow with this ID has a run open
	// (a run continued as new or reset counts: the ID's current run is
	// asked). Closed — completed, failed, terminated, cancelled, timed
	// out — or never started is false, with status saying which
	// ("terminated", "not found"…). A Temporal that does not answer is an
	// error (errs.Unavailable): nothing is taken over then.
	Running(ctx context.Context, workflowID string) (running bool, status string, err error)
}

// Hold holds each certificate for holder (taking them over from from when
// it holds them) and returns, per certificate ID, who holds it after the
// call.
//
// Each hold is the store's compare-and-set, so a retry after a failure
// part-way is safe: a certificate already held for holder stays so. A
// certificate held by another is not an error: the map names its holder,
// and the workflow decides what to do (send the work to that holder) —
// unless that holder's workflow no longer runs: then the hold is taken
// over (takeOver), and the map names holder.
func Hold(ctx context.Context, d Deps, holder, from string, certIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(certIDs))
	for _, id := range certIDs {
		h, err := d.Store.HoldCertificate(ctx, id, holder, from)
		if err == nil && h != holder && h != "" {
			h, err = takeOver(ctx, d, id, holder)
		}
		if err != nil {
			return nil, errtemporal.From(fmt.Errorf("holding certificate %s for %s: %w", id, holder, err))
		}
		out[id] = h
	}
	return out, nil
}

// takeOver takes certID's hold over for holder when the workflow holding
// it no longer runs (terminated, failed, timed out, completed without
// letting go, or never known to Temporal), and returns who holds it after:
// holder when taken over, else the holder of the moment.
//
// The hold is read (holder and sequence number) before Temporal is asked,
// and taken over by one compare-and-set naming both, so a hold taken since
// — by a new run of the same workflow ID (a new refund of the order), by a
// hand-over, or by another would-be holder taking it over first — is never
// taken: of racers exactly one wins, and a holder whose workflow runs
// keeps its hold. A hold by holder's own workflow ID is holder's already
// (HoldCertificate took it): the ID names the writer, whichever its run.
func takeOver(ctx context.Context, d Deps, certID, holder string) (string, error) {
	if d.Runs == nil {
		return d.Store.CertificateHolder(ctx, certID)
	}
	h, err := d.Store.CertificateHold(ctx, certID)
	if err != nil {
		return "", err
	}
	if h.Holder == "" || h.Holder == holder {
		// Released (or taken by holder's ID) since: take it as usual.
		return d.Store.HoldCertificate(ctx, certID, holder, "")
	}
	running, status, err := d.Runs.Running(ctx, h.Holder)
	if err != nil {
		return "", fmt.Errorf("asking Temporal whether %s, the holder of certificate %s, runs: %w", h.Holder, certID, err)
	}
	if running {
		// The one writer: the work goes to it.
		return h.Holder, nil
	}
	now, err := d.Store.TakeOverCertificate(ctx, certID, holder, h)
	if err != nil {
		return "", err
	}
	if now == holder && activity.IsActivity(ctx) {
		activity.GetLogger(ctx).Warn("certificate hold taken over from a workflow that no longer runs",
			"certificate", certID, "holder", holder, "taken_from", h.Holder, "taken_from_status", status, "hold_seq", h.Seq)
	}
	return now, nil
}
