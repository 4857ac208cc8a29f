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
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
)

// ErrOriginalMethodFailed is the cause of a Pay error when a refund to the
// original payment method did not go through, e.g. the card was cancelled
// (GEN-4). No money moved.
var ErrOriginalMethodFailed = errors.New("refund to the original payment method failed")

// Activities is the set of activities the worker registers. Workflows call
// them through a nil *Activities (var a *Activities; a.Pay), so method
// names are the activity types.
type Activities struct {
	CA       CA
	Payments Payments
	Store    Store
	Policies Policies
	// Runs tells whether a holder's workflow still runs, so a would-be
	// holder can take over a hold its holder left behind (holds.go). Nil:
	// no take-over, a hold is only ever handed over or released.
	Runs Runs
	// ReviewPoll is how often a refund asks the CA about a revocation
	// review still open (zero: DefaultReviewPoll). It reaches workflows
	// through PolicyBundle, recorded in their history.
	ReviewPoll time.Duration
	// PayPollInterval is how often Pay polls a pending refund; zero means
	// DefaultPayPollInterval.
	PayPollInterval time.Duration
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

// LoadOrder reads an order with its certificates' current states. What the
// refund ledger paid out for the order counts as already refunded (M-3): a
// refund after a paid one is refused by the rules, not by the payment.
func (a *Activities) LoadOrder(ctx context.Context, orderID string) (domain.Order, error) {
	return a.loadOrder(ctx, orderID, "")
}

// loadOrder is LoadOrder for the refund refundRun (its workflow's first
// run ID; "" for none): the payouts it reserved itself are not counted as
// refunded before it, so a refund that judges again after it paid (its
// first workflow task lost and run again, or a reset) is not refused by
// its own payment.
func (a *Activities) loadOrder(ctx context.Context, orderID, refundRun string) (domain.Order, error) {
	o, err := a.Store.GetOrder(ctx, orderID)
	if err != nil {
		return domain.Order{}, toApplicationError(fmt.Errorf("loading order %s: %w", orderID, err))
	}
	paid, err := a.Store.RefundedByOthers(ctx, orderID, refundRun)
	if err != nil {
		return domain.Order{}, toApplicationError(fmt.Errorf("reading payouts of order %s: %w", orderID, err))
	}
	o.AlreadyRefunded = o.AlreadyRefunded.Add(paid)
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

// DefaultPayPollInterval is how often Pay asks the provider about a
// pending refund when Activities.PayPollInterval is zero.
const DefaultPayPollInterval = 500 * time.Millisecond

// Pay moves the refund once (M-4), in three steps:
//
//  1. the ledger reserves the payout under its idempotency key after the
//     M-3 / TC-6 check, one serialised step before any provider call;
//  2. the provider is asked for the refund with the same key (on a retry,
//     or when the key was reserved before, it is first looked up, so a
//     call that timed out or a worker that crashed after the money moved
//     pays nothing more);
//  3. a pending refund is polled until it settles, and the ledger records
//     the outcome.
//
// A refund to the original method that fails, at once or after the
// provider accepted it, is a non-retryable errs.OriginalMethodFailed error:
// the workflow pays to the balance instead (GEN-4). A refund to the balance
// that fails is a non-retryable errs.Conflict: its key is spent, and there
// is no further fallback. A refund still pending
// when the attempt's time runs out is a retryable error; the retry resumes
// polling.
func (a *Activities) Pay(ctx context.Context, req PayoutRequest) (PayoutReceipt, error) {
	p, created, err := a.Store.ReservePayout(ctx, req)
	if err != nil {
		return PayoutReceipt{}, toApplicationError(fmt.Errorf("reserving payout %s: %w", req.IdempotencyKey, err))
	}
	switch p.Status {
	case ports.PayoutPaid:
		activity.GetLogger(ctx).Info("payout already made, reconciled", "key", req.IdempotencyKey, "payment", p.ProviderID)
		return receipt(p), nil
	case ports.PayoutFailed:
		return PayoutReceipt{}, payoutFailed(req, p.Reason)
	}
	var ref ProviderRefund
	found := false
	if !created || activity.GetInfo(ctx).Attempt > 1 {
		if ref, found, err = a.Payments.Lookup(ctx, req.IdempotencyKey); err != nil {
			return PayoutReceipt{}, toApplicationError(fmt.Errorf("reconciling payout %s: %w", req.IdempotencyKey, err))
		}
	}
	if !found {
		ref, err = a.Payments.Refund(ctx, req)
		if err != nil {
			if c := errs.CodeOf(err); c == errs.Invalid || c == errs.Conflict {
				// The provider refused the request itself: nothing moved,
				// and the same key would be refused again.
				if _, serr := a.Store.SettlePayout(ctx, req.IdempotencyKey, ports.Settlement{Status: ports.PayoutFailed, Reason: errs.MessageOf(err)}); serr != nil {
					return PayoutReceipt{}, toApplicationError(fmt.Errorf("recording refused payout %s: %w", req.IdempotencyKey, serr))
				}
			}
			return PayoutReceipt{}, toApplicationError(fmt.Errorf("paying %s: %w", req.IdempotencyKey, err))
		}
	}
	if ref, err = a.awaitSettled(ctx, ref); err != nil {
		return PayoutReceipt{}, err
	}
	if ref.Status == RefundFailed {
		if _, err := a.Store.SettlePayout(ctx, req.IdempotencyKey, ports.Settlement{Status: ports.PayoutFailed, Reason: ref.FailureReason}); err != nil {
			return PayoutReceipt{}, toApplicationError(fmt.Errorf("recording failed payout %s: %w", req.IdempotencyKey, err))
		}
		return PayoutReceipt{}, payoutFailed(req, ref.FailureReason)
	}
	if p, err = a.Store.SettlePayout(ctx, req.IdempotencyKey, ports.Settlement{Status: ports.PayoutPaid, ProviderID: ref.ID}); err != nil {
		return PayoutReceipt{}, toApplicationError(fmt.Errorf("recording payout %s: %w", req.IdempotencyKey, err))
	}
	return receipt(p), nil
}

// awaitSettled polls a pending refund until the provider settles it. A
// pending refund is never taken as paid.
func (a *Activities) awaitSettled(ctx context.Context, ref ProviderRefund) (ProviderRefund, error) {
	every := a.PayPollInterval
	if every <= 0 {
		every = DefaultPayPollInterval
	}
	key := ref.IdempotencyKey
	for ref.Status == RefundPending {
		activity.RecordHeartbeat(ctx, ref.ID)
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return ProviderRefund{}, errs.Wrap(errs.Unavailable, ctx.Err(), "refund %s (%s) is still pending at the provider", ref.ID, key)
		case <-t.C:
		}
		next, found, err := a.Payments.Lookup(ctx, key)
		if err != nil {
			return ProviderRefund{}, toApplicationError(fmt.Errorf("polling refund %s: %w", ref.ID, err))
		}
		if !found {
			return ProviderRefund{}, errs.E(errs.Internal, "refund %s (%s) vanished at the provider", ref.ID, key)
		}
		ref = next
	}
	switch ref.Status {
	case RefundSucceeded, RefundFailed:
		return ref, nil
	}
	return ProviderRefund{}, errs.E(errs.Internal, "refund %s: unknown status %q from the provider", ref.ID, ref.Status)
}

func receipt(p ports.Payout) PayoutReceipt {
	return PayoutReceipt{PaymentID: p.ProviderID, IdempotencyKey: p.Request.IdempotencyKey, Destination: p.Request.Destination, At: p.SettledAt}
}

// payoutFailed is the error of a payout the provider failed, recorded
// failed in the ledger: to the original method it is
// errs.OriginalMethodFailed and the workflow falls back to the balance
// (GEN-4); to the balance there is nothing left to try, and the same key
// would meet the same failed payout again, so it is a non-retryable
// errs.Conflict.
func payoutFailed(req PayoutRequest, reason string) error {
	if req.Destination == domain.OriginalMethod {
		msg := ErrOriginalMethodFailed.Error()
		if reason != "" {
			msg += ": " + reason
		}
		return errtemporal.From(&errs.Error{Code: errs.OriginalMethodFailed, Message: msg, Rules: []string{"GEN-4"}, Err: ErrOriginalMethodFailed})
	}
	return errtemporal.From(errs.E(errs.Conflict, "refund %s to the %s failed: %s", req.IdempotencyKey, req.Destination, reason))
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

// SaveRecords writes one workflow task's records in one transaction.
func (a *Activities) SaveRecords(ctx context.Context, recs Records) error {
	if err := a.Store.SaveRecords(ctx, recs); err != nil {
		return toApplicationError(fmt.Errorf("recording order %s: %w", recs.OrderID, err))
	}
	return nil
}

// toApplicationError converts a coded error into the application error a
// workflow branches on: its errs code as the type, its rules in the
// details. Unavailable and uncoded errors stay retryable; the others are
// final.
func toApplicationError(err error) error { return errtemporal.From(err) }
