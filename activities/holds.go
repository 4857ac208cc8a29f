package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"
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

// HoldInput asks to hold certificates for Holder (taking them over from
// From when it holds them).
type HoldInput struct {
	Holder       string   `json:"holder"`
	From         string   `json:"from,omitempty"`
	Certificates []string `json:"certificates"`
}

// HoldCertificates holds each certificate for in.Holder and returns, per
// certificate ID, who holds it after the call.
//
// Each hold is the store's compare-and-set, so a retry after a failure
// part-way is safe: a certificate already held for in.Holder stays so. A
// certificate held by another is not an error: the map names its holder,
// and the workflow decides what to do (send the work to that holder) —
// unless that holder's workflow no longer runs: then the hold is taken
// over (takeOver), and the map names in.Holder.
func (a *Activities) HoldCertificates(ctx context.Context, in HoldInput) (map[string]string, error) {
	out := make(map[string]string, len(in.Certificates))
	for _, id := range in.Certificates {
		holder, err := a.Store.HoldCertificate(ctx, id, in.Holder, in.From)
		if err == nil && holder != in.Holder && holder != "" {
			holder, err = a.takeOver(ctx, id, in.Holder)
		}
		if err != nil {
			return nil, toApplicationError(fmt.Errorf("holding certificate %s for %s: %w", id, in.Holder, err))
		}
		out[id] = holder
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
func (a *Activities) takeOver(ctx context.Context, certID, holder string) (string, error) {
	if a.Runs == nil {
		return a.Store.CertificateHolder(ctx, certID)
	}
	h, err := a.Store.CertificateHold(ctx, certID)
	if err != nil {
		return "", err
	}
	if h.Holder == "" || h.Holder == holder {
		// Released (or taken by holder's ID) since: take it as usual.
		return a.Store.HoldCertificate(ctx, certID, holder, "")
	}
	running, status, err := a.Runs.Running(ctx, h.Holder)
	if err != nil {
		return "", fmt.Errorf("asking Temporal whether %s, the holder of certificate %s, runs: %w", h.Holder, certID, err)
	}
	if running {
		// The one writer: the work goes to it.
		return h.Holder, nil
	}
	now, err := a.Store.TakeOverCertificate(ctx, certID, holder, h)
	if err != nil {
		return "", err
	}
	if now == holder && activity.IsActivity(ctx) {
		activity.GetLogger(ctx).Warn("certificate hold taken over from a workflow that no longer runs",
			"certificate", certID, "holder", holder, "taken_from", h.Holder, "taken_from_status", status, "hold_seq", h.Seq)
	}
	return now, nil
}

// ReleaseInput ends Holder's hold of certificates.
type ReleaseInput struct {
	Holder       string   `json:"holder"`
	Certificates []string `json:"certificates"`
}

// ReleaseCertificates ends in.Holder's hold of each certificate; one held
// by another, or by nobody, is left as it is, so a retry is harmless.
func (a *Activities) ReleaseCertificates(ctx context.Context, in ReleaseInput) error {
	for _, id := range in.Certificates {
		if err := a.Store.ReleaseCertificate(ctx, id, in.Holder); err != nil {
			return toApplicationError(fmt.Errorf("releasing certificate %s from %s: %w", id, in.Holder, err))
		}
	}
	return nil
}
