package activities

import (
	"context"

	"github.com/certflow/certflow/domain"
)

// Judgement is an order with the policy bundle that judges it: what a
// refund needs to evaluate a request, and what a certificate needs to
// judge a completed revocation's quota rule (SSL-7, VAS-2..VAS-4).
type Judgement struct {
	Order  domain.Order `json:"order"`
	Bundle PolicyBundle `json:"bundle"`
}

// LoadJudgement reads the order (LoadOrder) and resolves the policy in
// force when it was paid (ResolvePolicy) in one call. Both are
// millisecond-long local reads, so workflows run it as a local activity:
// one marker in history instead of two activity round trips.
func (a *Activities) LoadJudgement(ctx context.Context, orderID string) (Judgement, error) {
	o, err := a.LoadOrder(ctx, orderID)
	if err != nil {
		return Judgement{}, err
	}
	b, err := a.ResolvePolicy(ctx, o.Profile, o.PaidAt)
	if err != nil {
		return Judgement{}, err
	}
	return Judgement{Order: o, Bundle: b}, nil
}
