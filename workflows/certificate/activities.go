package certificate

import (
	"context"
	"fmt"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
	"github.com/certflow/certflow/statemachine"
	"go.temporal.io/sdk/activity"
)

// The certificate's activities: its actions at the CA, the review status
// it asks for, its state and quota in the store, its hold. Workflows name
// them through a nil *Activities (a.CertificateAction), so the method
// names are the activity types.

// Activities are the certificate's activities; the worker registers them
// with their clients (workflows.RegisterActivities).
type Activities struct {
	activities.Deps
}

// a is the typed handle the workflow uses to name its activities.
var a *Activities

// CertificateActionInput asks the CA to perform a console action.
type CertificateActionInput struct {
	CertificateID string                 `json:"certificate_id"`
	Action        statemachine.CertEvent `json:"action"`
	Reason        string                 `json:"reason,omitempty"`
	// Records are the holding refund's records of the workflow task that
	// asked for the action, written before it (activities.WriteRecords);
	// nil when none.
	Records *activities.Records `json:"records,omitempty"`
}

// ActionReceipt is what a console action returns: for a revocation, the
// review the CA opened.
type ActionReceipt struct {
	Review activities.ReviewReceipt `json:"review,omitempty"`
	// RecordsSaved is set when the records that came with the action were
	// written.
	RecordsSaved bool `json:"records_saved,omitempty"`
}

// CertificateAction performs a console action at the CA. A refused
// resubmission is a non-retryable errs.ResubmissionRejected error carrying
// the CA's reason (SSL-6: the customer must fix the data); refused
// credentials are a non-retryable errs.Misconfigured error.
func (a *Activities) CertificateAction(ctx context.Context, in CertificateActionInput) (ActionReceipt, error) {
	var (
		rec ActionReceipt
		err error
	)
	rec.RecordsSaved = activities.WriteRecords(ctx, a.Store, in.Records)
	switch in.Action {
	case statemachine.Revoke:
		rec.Review, err = a.CA.Revoke(ctx, in.CertificateID, in.Reason)
	default:
		err = a.CA.Act(ctx, in.CertificateID, in.Action)
	}
	if err == nil {
		return rec, nil
	}
	if in.Action == statemachine.Resubmit && errs.CodeOf(err) == errs.Invalid {
		return rec, errtemporal.From(&errs.Error{Code: errs.ResubmissionRejected, Message: errs.MessageOf(err), Rules: []string{"SSL-6"}, Err: err})
	}
	return rec, activities.CAError(fmt.Errorf("%s %s: %w", in.Action, in.CertificateID, err))
}

// CertificateActions takes a batch of console actions (Batch), in order,
// each as CertificateAction does (the first writes the records that came
// with it). The first action's failure is the activity's (retried as
// that action alone would be, none after it taken); a later one's stops
// the batch: it and the rest come back Skipped, for the workflow to
// command again, each with its own retries.
func (a *Activities) CertificateActions(ctx context.Context, in CertificateActionsInput) ([]ActionResult, error) {
	out := make([]ActionResult, len(in.Actions))
	for i, act := range in.Actions {
		rec, err := a.CertificateAction(ctx, act)
		if err != nil && i == 0 {
			return nil, err
		}
		if err != nil {
			activity.GetLogger(ctx).Info("batched CA action failed; it and the actions after it are commanded again",
				"certificate", act.CertificateID, "action", act.Action, "error", err)
			for j := i; j < len(out); j++ {
				out[j].Skipped = true
			}
			return out, nil
		}
		out[i].Receipt = rec
	}
	return out, nil
}

// RevocationStatus asks the CA where a revocation review stands: the
// reconciliation that finds a result whose callback never arrived.
func (a *Activities) RevocationStatus(ctx context.Context, certID string) (activities.ReviewStatus, error) {
	st, err := a.CA.RevocationStatus(ctx, certID)
	if err != nil {
		return activities.ReviewStatus{}, activities.CAError(fmt.Errorf("revocation status of %s: %w", certID, err))
	}
	return st, nil
}

// RecordCertificateInput is a certificate's new state for the store.
type RecordCertificateInput struct {
	OrderID     string             `json:"order_id"`
	Certificate domain.Certificate `json:"certificate"`
	At          time.Time          `json:"at"`
}

// RecordCertificate writes a certificate's state to the store (the
// console's projection; the workflow stays the source of truth).
func (a *Activities) RecordCertificate(ctx context.Context, in RecordCertificateInput) error {
	if err := a.Store.SaveCertificate(ctx, in.OrderID, in.Certificate, in.At); err != nil {
		return errtemporal.From(fmt.Errorf("recording certificate %s: %w", in.Certificate.ID, err))
	}
	return nil
}

// ReturnQuotaInput gives a certificate's quota back.
type ReturnQuotaInput struct {
	OrderID       string    `json:"order_id"`
	CertificateID string    `json:"certificate_id"`
	Rule          string    `json:"rule"`
	At            time.Time `json:"at"`
}

// ReturnQuota returns a certificate's quota once; it reports whether this
// call returned it.
func (a *Activities) ReturnQuota(ctx context.Context, in ReturnQuotaInput) (bool, error) {
	ok, err := a.Store.ReturnQuota(ctx, in.OrderID, in.CertificateID, in.Rule, in.At)
	if err != nil {
		return false, errtemporal.From(fmt.Errorf("returning quota of %s: %w", in.CertificateID, err))
	}
	return ok, nil
}

// HoldInput asks to hold certificates for Holder (taking them over from
// From when it holds them).
type HoldInput struct {
	Holder       string   `json:"holder"`
	From         string   `json:"from,omitempty"`
	Certificates []string `json:"certificates"`
}

// HoldCertificates holds each certificate for in.Holder (taking them over
// from in.From) and returns, per certificate ID, who holds it after the
// call: activities.Hold, the store's compare-and-set per certificate, with
// the take-over of a hold whose workflow no longer runs.
func (a *Activities) HoldCertificates(ctx context.Context, in HoldInput) (map[string]string, error) {
	return activities.Hold(ctx, a.Deps, in.Holder, in.From, in.Certificates)
}

// LoadJudgement reads the order and resolves the policy in force when it
// was paid in one call (a revocation no refund commanded is judged by it). Both are
// millisecond-long local reads, so workflows run it as a local activity:
// one marker in history instead of two activity round trips.
func (a *Activities) LoadJudgement(ctx context.Context, orderID string) (activities.Judgement, error) {
	return activities.LoadJudgement(ctx, a.Deps, orderID, "")
}
