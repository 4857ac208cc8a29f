package activities

import "github.com/certflow/certflow/domain"

// Judgement is an order with the policy bundle that judges it: what a
// refund needs to evaluate a request, and what a certificate needs to
// judge a completed revocation's quota rule (SSL-7, VAS-2..VAS-4).
type Judgement struct {
	Order  domain.Order `json:"order"`
	Bundle PolicyBundle `json:"bundle"`
}
