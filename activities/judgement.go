package activities

import (
	"context"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/statemachine"
)

// Judgement is an order with the policy bundle that judges it: what a
// refund needs to evaluate a request, and what a certificate needs to
// judge a completed revocation's quota rule (SSL-7, VAS-2..VAS-4).
type Judgement struct {
	Order  domain.Order `json:"order"`
	Bundle PolicyBundle `json:"bundle"`
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

// HeldJudgement is a Judgement and, per certificate of the order not yet
// removed, who holds it after the call (Holder when taken).
type HeldJudgement struct {
	Judgement
	Holders map[string]string `json:"holders,omitempty"`
}

// LoadAndHold holds the order's certificates (those not removed) for
// in.Holder and then reads the judgement (LoadJudgement), so the states
// read are those of certificates nobody else writes any more: what a
// refund needs before it releases them, in one local activity (one
// marker). Each hold is the store's compare-and-set, so a retry is safe.
func (a *Activities) LoadAndHold(ctx context.Context, in HoldJudgementInput) (HeldJudgement, error) {
	o, err := a.loadOrder(ctx, in.OrderID, in.RefundRun)
	if err != nil {
		return HeldJudgement{}, err
	}
	var ids []string
	for _, c := range o.Certificates {
		if c.State != statemachine.Removed {
			ids = append(ids, c.ID)
		}
	}
	var out HeldJudgement
	if len(ids) > 0 {
		if out.Holders, err = a.HoldCertificates(ctx, HoldInput{Holder: in.Holder, Certificates: ids}); err != nil {
			return HeldJudgement{}, err
		}
	}
	if out.Judgement, err = a.loadJudgement(ctx, in.OrderID, in.RefundRun); err != nil {
		return HeldJudgement{}, err
	}
	return out, nil
}

// LoadJudgement reads the order (LoadOrder) and resolves the policy in
// force when it was paid (ResolvePolicy) in one call. Both are
// millisecond-long local reads, so workflows run it as a local activity:
// one marker in history instead of two activity round trips.
func (a *Activities) LoadJudgement(ctx context.Context, orderID string) (Judgement, error) {
	return a.loadJudgement(ctx, orderID, "")
}

// loadJudgement is LoadJudgement for the refund refundRun (loadOrder).
func (a *Activities) loadJudgement(ctx context.Context, orderID, refundRun string) (Judgement, error) {
	o, err := a.loadOrder(ctx, orderID, refundRun)
	if err != nil {
		return Judgement{}, err
	}
	b, err := a.ResolvePolicy(ctx, o.Profile, o.PaidAt)
	if err != nil {
		return Judgement{}, err
	}
	return Judgement{Order: o, Bundle: b}, nil
}
