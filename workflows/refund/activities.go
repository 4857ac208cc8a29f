package refund

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/certificate"
	"go.temporal.io/sdk/activity"
)

// The refund's activities: the holds it takes and lets go of with the
// judgement it reads, the product reset, the payment, and its records.
// Workflows name them through a nil *Activities (a.Pay), so the method
// names are the activity types.

// Activities are the refund's activities; the worker registers them with
// their clients (workflows.RegisterActivities).
type Activities struct {
	activities.Deps
}

// a is the typed handle the workflow uses to name its activities; ca names
// the certificate's (the review status a refund asks for).
var (
	a  *Activities
	ca *certificate.Activities
)

// ErrOriginalMethodFailed is the cause of a Pay error when a refund to the
// original payment method did not go through, e.g. the card was cancelled
// (GEN-4). No money moved.
var ErrOriginalMethodFailed = errors.New("refund to the original payment method failed")

// ResetInput asks to reset a gateway instance or a private CA.
type ResetInput struct {
	OrderID string         `json:"order_id"`
	Product domain.Product `json:"product"`
}

// Reset resets a product instance (GW-3, PCA-3). It deletes data: the
// workflow calls it only after the requester confirmed (SSL-9).
func (a *Activities) Reset(ctx context.Context, in ResetInput) error {
	if err := a.CA.Reset(ctx, in.OrderID, in.Product); err != nil {
		return activities.CAError(fmt.Errorf("resetting %s of order %s: %w", in.Product, in.OrderID, err))
	}
	return nil
}

// PayInput is a payout and the records the workflow task that asked for
// it made (Records, nil when none): written before the payout, so the
// task costs no local activity of its own (WriteRecords).
type PayInput struct {
	activities.PayoutRequest
	Records *activities.Records `json:"records,omitempty"`
	// Paid, when set, is the refund as the payout was asked: once the
	// money moved, its last record is written from it (PaidRecord) and
	// returned as PayReceipt.Final.
	Paid *PaidRecord `json:"paid,omitempty"`
}

// Pay moves the refund once (M-4), in three steps:
//
//  0. the records that came with the request are written
//     (WriteRecords: the receipt says whether they were);
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
func (a *Activities) Pay(ctx context.Context, in PayInput) (PayReceipt, error) {
	saved := activities.WriteRecords(ctx, a.Store, in.Records)
	rec, err := a.pay(ctx, in.PayoutRequest)
	rec.RecordsSaved = saved
	out := PayReceipt{PayoutReceipt: rec}
	if err != nil || in.Paid == nil {
		return out, err
	}
	// 4. The refund's last record, as the workflow will make it of this
	// answer (PaidRecord.record). Not written is not a failure: the
	// workflow writes it.
	final, at, ferr := in.Paid.record(rec)
	if ferr == nil {
		ferr = a.Store.SaveRecords(ctx, activities.Records{OrderID: final.OrderID, Refund: &final})
	}
	if ferr != nil {
		activity.GetLogger(ctx).Warn("the paid refund's record not written; the workflow writes it", "order", in.OrderID, "error", ferr)
		return out, nil
	}
	out.Final, out.PaidAt = &final, at
	return out, nil
}

func (a *Activities) pay(ctx context.Context, req activities.PayoutRequest) (activities.PayoutReceipt, error) {
	p, created, err := a.Store.ReservePayout(ctx, req)
	if err != nil {
		return activities.PayoutReceipt{}, errtemporal.From(fmt.Errorf("reserving payout %s: %w", req.IdempotencyKey, err))
	}
	switch p.Status {
	case ports.PayoutPaid:
		activity.GetLogger(ctx).Info("payout already made, reconciled", "key", req.IdempotencyKey, "payment", p.ProviderID)
		return receipt(p), nil
	case ports.PayoutFailed:
		return activities.PayoutReceipt{}, payoutFailed(req, p.Reason)
	}
	var ref activities.ProviderRefund
	found := false
	if !created || activity.GetInfo(ctx).Attempt > 1 {
		if ref, found, err = a.Payments.Lookup(ctx, req.IdempotencyKey); err != nil {
			return activities.PayoutReceipt{}, errtemporal.From(fmt.Errorf("reconciling payout %s: %w", req.IdempotencyKey, err))
		}
	}
	if !found {
		ref, err = a.Payments.Refund(ctx, req)
		if err != nil {
			if c := errs.CodeOf(err); c == errs.Invalid || c == errs.Conflict {
				// The provider refused the request itself: nothing moved,
				// and the same key would be refused again.
				if _, serr := a.Store.SettlePayout(ctx, req.IdempotencyKey, ports.Settlement{Status: ports.PayoutFailed, Reason: errs.MessageOf(err)}); serr != nil {
					return activities.PayoutReceipt{}, errtemporal.From(fmt.Errorf("recording refused payout %s: %w", req.IdempotencyKey, serr))
				}
			}
			return activities.PayoutReceipt{}, errtemporal.From(fmt.Errorf("paying %s: %w", req.IdempotencyKey, err))
		}
	}
	if ref, err = a.awaitSettled(ctx, ref); err != nil {
		return activities.PayoutReceipt{}, err
	}
	if ref.Status == activities.RefundFailed {
		if _, err := a.Store.SettlePayout(ctx, req.IdempotencyKey, ports.Settlement{Status: ports.PayoutFailed, Reason: ref.FailureReason}); err != nil {
			return activities.PayoutReceipt{}, errtemporal.From(fmt.Errorf("recording failed payout %s: %w", req.IdempotencyKey, err))
		}
		return activities.PayoutReceipt{}, payoutFailed(req, ref.FailureReason)
	}
	if p, err = a.Store.SettlePayout(ctx, req.IdempotencyKey, ports.Settlement{Status: ports.PayoutPaid, ProviderID: ref.ID}); err != nil {
		return activities.PayoutReceipt{}, errtemporal.From(fmt.Errorf("recording payout %s: %w", req.IdempotencyKey, err))
	}
	return receipt(p), nil
}

// awaitSettled polls a pending refund until the provider settles it. A
// pending refund is never taken as paid.
func (a *Activities) awaitSettled(ctx context.Context, ref activities.ProviderRefund) (activities.ProviderRefund, error) {
	every := a.PayPollInterval
	if every <= 0 {
		every = activities.DefaultPayPollInterval
	}
	key := ref.IdempotencyKey
	for ref.Status == activities.RefundPending {
		activity.RecordHeartbeat(ctx, ref.ID)
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return activities.ProviderRefund{}, errs.Wrap(errs.Unavailable, ctx.Err(), "refund %s (%s) is still pending at the provider", ref.ID, key)
		case <-t.C:
		}
		next, found, err := a.Payments.Lookup(ctx, key)
		if err != nil {
			return activities.ProviderRefund{}, errtemporal.From(fmt.Errorf("polling refund %s: %w", ref.ID, err))
		}
		if !found {
			return activities.ProviderRefund{}, errs.E(errs.Internal, "refund %s (%s) vanished at the provider", ref.ID, key)
		}
		ref = next
	}
	switch ref.Status {
	case activities.RefundSucceeded, activities.RefundFailed:
		return ref, nil
	}
	return activities.ProviderRefund{}, errs.E(errs.Internal, "refund %s: unknown status %q from the provider", ref.ID, ref.Status)
}

func receipt(p ports.Payout) activities.PayoutReceipt {
	return activities.PayoutReceipt{PaymentID: p.ProviderID, IdempotencyKey: p.Request.IdempotencyKey, Destination: p.Request.Destination, At: p.SettledAt}
}

// payoutFailed is the error of a payout the provider failed, recorded
// failed in the ledger: to the original method it is
// errs.OriginalMethodFailed and the workflow falls back to the balance
// (GEN-4); to the balance there is nothing left to try, and the same key
// would meet the same failed payout again, so it is a non-retryable
// errs.Conflict.
func payoutFailed(req activities.PayoutRequest, reason string) error {
	if req.Destination == domain.OriginalMethod {
		msg := ErrOriginalMethodFailed.Error()
		if reason != "" {
			msg += ": " + reason
		}
		return errtemporal.From(&errs.Error{Code: errs.OriginalMethodFailed, Message: msg, Rules: []string{"GEN-4"}, Err: ErrOriginalMethodFailed})
	}
	return errtemporal.From(errs.E(errs.Conflict, "refund %s to the %s failed: %s", req.IdempotencyKey, req.Destination, reason))
}

// SaveRecords writes one workflow task's records in one transaction.
func (a *Activities) SaveRecords(ctx context.Context, recs activities.Records) error {
	if err := a.Store.SaveRecords(ctx, recs); err != nil {
		return errtemporal.From(fmt.Errorf("recording order %s: %w", recs.OrderID, err))
	}
	return nil
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
			return errtemporal.From(fmt.Errorf("releasing certificate %s from %s: %w", id, in.Holder, err))
		}
	}
	return nil
}

// HoldJudgementInput asks for an order's judgement with its certificates
// held for Holder (a refund).
type HoldJudgementInput struct {
	OrderID string `json:"order_id"`
	Holder  string `json:"holder"`
	// RefundRun is the refund's first run ID: its own payouts are not
	// counted as refunded before it (ports.Ledger.RefundedByOthers).
	RefundRun string `json:"refund_run,omitempty"`
}

// HeldJudgement is a activities.Judgement and, per certificate of the order not yet
// removed, who holds it after the call (Holder when taken).
type HeldJudgement struct {
	activities.Judgement
	Holders map[string]string `json:"holders,omitempty"`
	// Run is the judgement the ledger opened for in.RefundRun (its number,
	// and the run's own payout when an earlier try of the same judgement,
	// or the refund before a reset, reserved one); zero without a run.
	Run ports.RunJudgement `json:"run,omitzero"`
}

// LoadAndHold holds the order's certificates (those not removed) for
// in.Holder and then reads the judgement (LoadJudgement), so the states
// read are those of certificates nobody else writes any more: what a
// refund needs before it releases them, in one local activity (one
// marker). Each hold is the store's compare-and-set, so a retry is safe.
// It opens the refund run's judgement in the ledger too (OpenJudgement):
// a payout decided in this workflow task, by a try of it that was lost,
// is either found (Run.Payout) or never made.
func (a *Activities) LoadAndHold(ctx context.Context, in HoldJudgementInput) (HeldJudgement, error) {
	o, err := a.Store.GetOrder(ctx, in.OrderID)
	if err != nil {
		return HeldJudgement{}, errtemporal.From(fmt.Errorf("loading order %s: %w", in.OrderID, err))
	}
	var ids []string
	for _, c := range o.Certificates {
		if c.State != statemachine.Removed {
			ids = append(ids, c.ID)
		}
	}
	var out HeldJudgement
	if len(ids) > 0 {
		if out.Holders, err = activities.Hold(ctx, a.Deps, in.Holder, "", ids); err != nil {
			return HeldJudgement{}, err
		}
	}
	if in.RefundRun != "" {
		// Before the order is read: a payout reserved under an earlier
		// number is found here, one reserved later is refused.
		if out.Run, err = a.Store.OpenJudgement(ctx, in.OrderID, in.RefundRun); err != nil {
			return HeldJudgement{}, errtemporal.From(fmt.Errorf("opening the judgement of order %s: %w", in.OrderID, err))
		}
	}
	if out.Judgement, err = activities.LoadJudgement(ctx, a.Deps, in.OrderID, in.RefundRun); err != nil {
		return HeldJudgement{}, err
	}
	return out, nil
}
