package policy

import (
	"slices"
	"time"

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/statemachine"
)

// Refusal is one reason a refund is refused, citing its rule.
type Refusal struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// Confirmation is a confirmation the request still lacks: the request
// field to set and the rule that asks for it (SSL-9, TC-5).
type Confirmation struct {
	Rule    string `json:"rule"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// The request fields a Confirmation can name.
const (
	FieldConfirmIrreversible  = "confirm_irreversible"
	FieldAcceptLateReviewRisk = "accept_late_review_risk"
	FieldConsent              = "consent"
)

// StepKind names a step of the refund.
type StepKind string

// The step kinds, in the order they can appear.
const (
	StepRelease       StepKind = "release_certificates"
	StepResetGateway  StepKind = "reset_gateway"
	StepResetCA       StepKind = "reset_private_ca"
	StepAwaitApproval StepKind = "await_approval"
	StepPay           StepKind = "pay"
)

// Step is one step the refund takes, in order, with the rule that requires
// it. Irreversible steps (revoke, reset, payment) end the right to cancel
// (CAN-1) and need confirmation first (SSL-9).
type Step struct {
	Kind         StepKind                `json:"kind"`
	Rule         string                  `json:"rule"`
	Irreversible bool                    `json:"irreversible"`
	Plan         []statemachine.PlanStep `json:"plan,omitempty"`
}

// Window is the refund window that applies to an order (T-1): a request or
// a completed revocation review at or before End is in time.
type Window struct {
	End time.Time `json:"end"`
	// Rule refuses a late request (GEN-1, VAS-1, GEN-2 for a promotion's
	// own window).
	Rule string `json:"rule"`
	// LateReviewRule refuses a refund whose revocation review completed
	// after End (SSL-2, VAS-3, VAS-4).
	LateReviewRule string `json:"late_review_rule"`
	// RevocationRule grants the refund when the review completed by End
	// (SSL-2, VAS-2).
	RevocationRule string `json:"revocation_rule,omitempty"`
}

// Breakdown is where the refunded money goes.
type Breakdown struct {
	Cash          money.Amount       `json:"cash"`
	GiftCard      money.Amount       `json:"gift_card"`
	BenefitPoints int64              `json:"benefit_points"`
	Destination   domain.Destination `json:"destination"`
	// Rules lists the rules that shaped the amounts and the destination, in
	// a fixed order.
	Rules []string `json:"rules"`
}

// FallbackToBalance is the breakdown to pay when the original payment
// method fails (GEN-4): the same amounts to the account balance. A
// breakdown already bound for the balance (TC-6) is returned unchanged.
func (b Breakdown) FallbackToBalance() Breakdown {
	b.Rules = slices.Clone(b.Rules)
	if b.Destination == domain.AccountBalance {
		return b
	}
	b.Destination = domain.AccountBalance
	if !slices.Contains(b.Rules, RuleGEN4) {
		b.Rules = append(b.Rules, RuleGEN4)
	}
	return b
}

// Decision is the judgement of a refund request. When Eligible, Steps end
// with a pay step and Refund is set; otherwise Refusals say why, and
// MissingConfirmations say which request fields would lift a refusal.
type Decision struct {
	Profile              string             `json:"profile"`
	Eligible             bool               `json:"eligible"`
	Refusals             []Refusal          `json:"refusals"`
	Steps                []Step             `json:"steps"`
	Window               *Window            `json:"window,omitempty"`
	ReviewDeadline       *calendar.Deadline `json:"review_deadline,omitempty"`
	MissingConfirmations []Confirmation     `json:"missing_confirmations"`
	Refund               *Breakdown         `json:"refund,omitempty"`
	RequiresApproval     bool               `json:"requires_approval"`
}

// Reasons returns the rule IDs of the refusals, in order, each once.
func (d Decision) Reasons() []string {
	out := []string{}
	for _, r := range d.Refusals {
		if !slices.Contains(out, r.Rule) {
			out = append(out, r.Rule)
		}
	}
	return out
}

// Irreversible reports whether any step before payment cannot be undone
// (a revoke or a reset).
func (d Decision) Irreversible() bool {
	for _, s := range d.Steps {
		if s.Irreversible && s.Kind != StepPay {
			return true
		}
	}
	return false
}

// Verdict judges a completed revocation review: whether the order is still
// refunded, and whether the certificate's quota comes back, each with the
// rule that decided it.
type Verdict struct {
	Refund        bool   `json:"refund"`
	RefundRule    string `json:"refund_rule"`
	QuotaReturned bool   `json:"quota_returned"`
	QuotaRule     string `json:"quota_rule"`
}
