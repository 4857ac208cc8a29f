package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/statemachine"
)

// ErrOriginalMethodFailed is what a Payments implementation returns (or
// wraps) when a refund to the original payment method cannot go through,
// e.g. the card was cancelled (GEN-4). No money moved.
var ErrOriginalMethodFailed = errors.New("refund to the original payment method failed")

// Activities is the set of activities the worker registers. Workflows call
// them through a nil *Activities (var a *Activities; a.Pay), so method
// names are the activity types.
type Activities struct {
	CA       CA
	Payments Payments
	Store    Store
	Policies Policies
	// ReviewPoll is how often a refund asks the CA about a revocation
	// review still open (zero: DefaultReviewPoll). It reaches workflows
	// through PolicyBundle, recorded in their history.
	ReviewPoll time.Duration
}

// DefaultReviewPoll is the review polling interval when none is configured.
const DefaultReviewPoll = time.Hour

// PolicyBundle is the profile and calendar that judge an order, recorded in
// workflow history so a later profile edit never changes a running refund.
type PolicyBundle struct {
	Profile  policy.Profile `json:"profile"`
	Calendar calendar.Spec  `json:"calendar"`
	// ReviewPoll is the worker's review polling interval when the bundle
	// was resolved (an operational setting, not a rule).
	ReviewPoll time.Duration `json:"review_poll,omitempty"`
}

// LoadOrder reads an order with its certificates' current states. When the
// store keeps the payment ledger too (RefundLedger), what it paid out for
// the order counts as already refunded (M-3): a refund after a paid one is
// refused by the rules, not by the payment.
func (a *Activities) LoadOrder(ctx context.Context, orderID string) (domain.Order, error) {
	o, err := a.Store.GetOrder(ctx, orderID)
	if err != nil {
		return domain.Order{}, toApplicationError(fmt.Errorf("loading order %s: %w", orderID, err))
	}
	if l, ok := a.Store.(RefundLedger); ok {
		paid, err := l.RefundedAmount(ctx, orderID)
		if err != nil {
			return domain.Order{}, toApplicationError(fmt.Errorf("reading payouts of order %s: %w", orderID, err))
		}
		o.AlreadyRefunded = o.AlreadyRefunded.Add(paid)
	}
	return o, nil
}

// ResolvePolicy returns the profile version in force when the order was
// paid, and its business-day calendar.
func (a *Activities) ResolvePolicy(ctx context.Context, profile string, paidAt time.Time) (PolicyBundle, error) {
	p, cal, err := a.Policies.Resolve(ctx, profile, paidAt)
	if err != nil {
		return PolicyBundle{}, toApplicationError(fmt.Errorf("resolving profile %q: %w", profile, err))
	}
	poll := a.ReviewPoll
	if poll <= 0 {
		poll = DefaultReviewPoll
	}
	return PolicyBundle{Profile: p, Calendar: cal, ReviewPoll: poll}, nil
}

// CertificateActionInput asks the CA to perform a console action.
type CertificateActionInput struct {
	CertificateID string                 `json:"certificate_id"`
	Action        statemachine.CertEvent `json:"action"`
	Reason        string                 `json:"reason,omitempty"`
}

// ActionReceipt is what a console action returns: for a revocation, the
// review the CA opened.
type ActionReceipt struct {
	Review ReviewReceipt `json:"review,omitempty"`
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
	return rec, caError(fmt.Errorf("%s %s: %w", in.Action, in.CertificateID, err))
}

// RevocationStatus asks the CA where a revocation review stands: the
// reconciliation that finds a result whose callback never arrived.
func (a *Activities) RevocationStatus(ctx context.Context, certID string) (ReviewStatus, error) {
	st, err := a.CA.RevocationStatus(ctx, certID)
	if err != nil {
		return ReviewStatus{}, caError(fmt.Errorf("revocation status of %s: %w", certID, err))
	}
	return st, nil
}

// caError converts a CA failure; refused credentials are the
// non-retryable errs.Misconfigured (logged by the workflow once, not per
// attempt), whatever code the client gave them.
func caError(err error) error {
	if errors.Is(err, ErrCARefusedCredentials) && errs.CodeOf(err) != errs.Misconfigured {
		err = errs.Wrap(errs.Misconfigured, err, "the CA refuses our credentials")
	}
	return toApplicationError(err)
}

// ResetInput asks to reset a gateway instance or a private CA.
type ResetInput struct {
	OrderID string         `json:"order_id"`
	Product domain.Product `json:"product"`
}

// Reset resets a product instance (GW-3, PCA-3). It deletes data: the
// workflow calls it only after the requester confirmed (SSL-9).
func (a *Activities) Reset(ctx context.Context, in ResetInput) error {
	if err := a.CA.Reset(ctx, in.OrderID, in.Product); err != nil {
		return caError(fmt.Errorf("resetting %s of order %s: %w", in.Product, in.OrderID, err))
	}
	return nil
}

// Pay moves the refund. On a retry it first reconciles with the payment
// system by idempotency key, so a call that timed out after the money moved
// is not paid again (M-4).
func (a *Activities) Pay(ctx context.Context, req PayoutRequest) (PayoutReceipt, error) {
	if activity.GetInfo(ctx).Attempt > 1 {
		rec, found, err := a.Payments.Lookup(ctx, req.IdempotencyKey)
		if err != nil {
			return PayoutReceipt{}, toApplicationError(fmt.Errorf("reconciling payout %s: %w", req.IdempotencyKey, err))
		}
		if found {
			activity.GetLogger(ctx).Info("payout already made, reconciled", "key", req.IdempotencyKey, "payment", rec.PaymentID)
			return rec, nil
		}
	}
	rec, err := a.Payments.Refund(ctx, req)
	if errors.Is(err, ErrOriginalMethodFailed) {
		return PayoutReceipt{}, errtemporal.From(&errs.Error{Code: errs.OriginalMethodFailed, Message: ErrOriginalMethodFailed.Error(), Rules: []string{"GEN-4"}, Err: err})
	}
	if err != nil {
		return PayoutReceipt{}, toApplicationError(fmt.Errorf("paying %s: %w", req.IdempotencyKey, err))
	}
	return rec, nil
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
		return toApplicationError(fmt.Errorf("recording certificate %s: %w", in.Certificate.ID, err))
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
		return false, toApplicationError(fmt.Errorf("returning quota of %s: %w", in.CertificateID, err))
	}
	return ok, nil
}

// RecordRefund writes a refund's status to the store.
func (a *Activities) RecordRefund(ctx context.Context, rec RefundRecord) error {
	if err := a.Store.SaveRefund(ctx, rec); err != nil {
		return toApplicationError(fmt.Errorf("recording refund %s: %w", rec.OrderID, err))
	}
	return nil
}

// toApplicationError converts a coded error into the application error a
// workflow branches on: its errs code as the type, its rules in the
// details. Unavailable and uncoded errors stay retryable; the others are
// final.
func toApplicationError(err error) error { return errtemporal.From(err) }
