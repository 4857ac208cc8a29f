// Package policy: STUB, replaced by the policy helper.
package policy

import (
	"time"

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/statemachine"
)

// Profile is a named, versioned set of refund rules as data.
type Profile struct {
	Name          string    `json:"name"`
	Version       string    `json:"version"`
	EffectiveFrom time.Time `json:"effective_from"`
	Timezone      string    `json:"timezone"`
	Calendar      string    `json:"calendar"`
}

// ID is name@version.
func (p Profile) ID() string { return p.Name + "@" + p.Version }

// Registry holds the embedded profiles.
type Registry struct{}

func LoadRegistry() (*Registry, error)                                     { panic("stub") }
func (r *Registry) Resolve(name string, paidAt time.Time) (Profile, error) { panic("stub") }

// Refusal is one reason a refund is refused.
type Refusal struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// Confirmation is a confirmation the request still lacks.
type Confirmation struct {
	Rule    string `json:"rule"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// StepKind names a step required before payment.
type StepKind string

// The step kinds.
const (
	StepRelease       StepKind = "release_certificates"
	StepResetGateway  StepKind = "reset_gateway"
	StepResetCA       StepKind = "reset_private_ca"
	StepAwaitApproval StepKind = "await_approval"
	StepPay           StepKind = "pay"
)

// Step is one step the refund takes, in order.
type Step struct {
	Kind         StepKind                `json:"kind"`
	Rule         string                  `json:"rule"`
	Irreversible bool                    `json:"irreversible"`
	Plan         []statemachine.PlanStep `json:"plan,omitempty"`
}

// Window is the refund window that applies.
type Window struct {
	End            time.Time `json:"end"`
	Rule           string    `json:"rule"`
	LateReviewRule string    `json:"late_review_rule"`
}

// Breakdown is where the money goes.
type Breakdown struct {
	Cash          money.Amount       `json:"cash"`
	GiftCard      money.Amount       `json:"gift_card"`
	BenefitPoints int64              `json:"benefit_points"`
	Destination   domain.Destination `json:"destination"`
	Rules         []string           `json:"rules"`
}

// Decision is the judgement of a refund request.
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

// Verdict judges a completed revocation.
type Verdict struct {
	Refund        bool   `json:"refund"`
	RefundRule    string `json:"refund_rule"`
	QuotaReturned bool   `json:"quota_returned"`
	QuotaRule     string `json:"quota_rule"`
}

func Evaluate(p Profile, cal *calendar.Calendar, o domain.Order, req domain.RefundRequest, now time.Time) (Decision, error) {
	panic("stub")
}
func JudgeRevocation(p Profile, o domain.Order, c domain.Certificate, completedAt time.Time) Verdict {
	panic("stub")
}
func CanCancel(p Profile, irreversibleDone bool) (ok bool, rules []string, message string) {
	panic("stub")
}
func (d Decision) Reasons() []string             { panic("stub") }
func (b Breakdown) FallbackToBalance() Breakdown { panic("stub") }
