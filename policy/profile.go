package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // profile time zones resolve the same on every machine

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/statemachine"
)

// Profile is a named, versioned set of refund rules as data: the windows,
// the rule IDs that apply and their parameters, transcribed from one seed
// document. The JSON form is the profile file format (profiles/*.json), so a
// Profile round-trips through workflow history unchanged.
type Profile struct {
	Name          string    `json:"name"`
	Version       string    `json:"version"`
	EffectiveFrom time.Time `json:"effective_from"`
	Timezone      string    `json:"timezone"`
	// Calendar names the builtin business-day calendar (T-2) of the profile.
	Calendar string `json:"calendar"`
	// Source names the seed document the profile transcribes.
	Source string `json:"source,omitempty"`
	// Products lists what the profile sells, in a fixed order.
	Products []domain.Product `json:"products"`
	// Window is the refund window (GEN-1, VAS-1); nil means the profile has
	// no calendar window (tencent: its seed gives none).
	Window *WindowTerms `json:"window,omitempty"`
	// ValueAddedWindow replaces Window for an order with a basic or
	// advanced value-added service (VAS-1).
	ValueAddedWindow *WindowTerms `json:"value_added_window,omitempty"`
	// PromotionRule is the rule under which a promotion's own terms apply
	// (GEN-2); empty means the profile's seed gives promotions no terms and
	// they are ignored.
	PromotionRule string `json:"promotion_rule,omitempty"`
	// ConsentRule, when set, refuses a request without consent to the
	// refund policy (TC-5).
	ConsentRule string `json:"consent_rule,omitempty"`
	// CombinedRule, when set, refuses an SSL order whose certificate was
	// made with Combine Certificates (SSL-3); empty when the profile's seed
	// states no such restriction (tencent refunds any certificate that was
	// not issued, TC-1).
	CombinedRule string `json:"combined_rule,omitempty"`
	// Inferred names the terms of this profile that its own seed page does
	// not state, each rule ID with where it was taken from and why: they
	// are the vendor's terms by inference, not by the page's words.
	Inferred map[string]string `json:"inferred,omitempty"`
	// ReviewBusinessDays bounds a CA revocation review (SSL-6, T-3); zero
	// when the profile never revokes (its RefusedStates refuse Issued).
	ReviewBusinessDays int `json:"review_business_days,omitempty"`
	// Quota says when a revoked certificate's quota comes back (SSL-7,
	// VAS-3).
	Quota QuotaTerms `json:"quota"`
	// Release says which certificates must be released before paying
	// (SSL-6, TC-4).
	Release ReleaseTerms `json:"release"`
	// RefusedStates refuses an order with a certificate in one of these
	// states (TC-1).
	RefusedStates *StateRefusal `json:"refused_states,omitempty"`
	// CountCompleteRule, when set, refuses an order whose certificate count
	// is incomplete: a revocation that did not return its quota (VAS-5).
	CountCompleteRule string `json:"count_complete_rule,omitempty"`
	// Refund says what is refunded and where it goes (GEN-3, GEN-4, TC-2,
	// TC-6).
	Refund RefundTerms `json:"refund"`
	// Cancel says whether a refund request can be cancelled (CAN-1, CAN-2).
	Cancel CancelTerms `json:"cancel"`
}

// WindowTerms is a refund window counted in calendar days from payment
// (T-1), with the rules it is cited under.
type WindowTerms struct {
	// Rule refuses a request made after the window (GEN-1, VAS-1).
	Rule string `json:"rule"`
	Days int    `json:"days"`
	// RevocationRule grants the refund of a certificate whose revocation
	// review completed inside the window (SSL-2, VAS-2).
	RevocationRule string `json:"revocation_rule"`
	// LateReviewRule refuses it when the review completed later (SSL-2,
	// VAS-3, VAS-4).
	LateReviewRule string `json:"late_review_rule"`
}

// QuotaBasis is what a quota-return period is counted from.
type QuotaBasis string

// The quota bases.
const (
	// QuotaFromIssuance counts from the certificate's issuance (SSL-7).
	QuotaFromIssuance QuotaBasis = "issuance"
	// QuotaFromPayment counts from the order's payment (VAS-3).
	QuotaFromPayment QuotaBasis = "payment"
	// QuotaNever: a revocation never returns the quota.
	QuotaNever QuotaBasis = "never"
)

// QuotaTerms says when a completed revocation returns the certificate quota.
type QuotaTerms struct {
	Rule  string     `json:"rule"`
	Basis QuotaBasis `json:"basis"`
	Days  int        `json:"days,omitempty"`
	// DomainUnchanged requires that the certificate's domain never changed
	// (SSL-7).
	DomainUnchanged bool `json:"domain_unchanged,omitempty"`
}

// ReleaseTerms says which certificates the refund releases first.
type ReleaseTerms struct {
	Rule string `json:"rule"`
	// States lists the states whose certificates must be released; empty
	// means every certificate not yet removed (SSL-6). TC-4 lists only
	// Pending Submission.
	States []statemachine.CertState `json:"states,omitempty"`
}

// StateRefusal refuses an order with a certificate in one of States.
type StateRefusal struct {
	Rule   string                   `json:"rule"`
	States []statemachine.CertState `json:"states"`
}

// RefundTerms says what is refunded and where to.
type RefundTerms struct {
	// Rule sends the money (GEN-4, TC-6); the pay step carries it.
	Rule        string             `json:"rule"`
	Destination domain.Destination `json:"destination"`
	// CashOnlyRule excludes vouchers and coupons (GEN-3, TC-2).
	CashOnlyRule string `json:"cash_only_rule"`
	// GiftCard returns the gift-card part as gift card, in the proportions
	// paid (TC-6); false refunds cash only (GEN-3).
	GiftCard bool `json:"gift_card,omitempty"`
	// BenefitPoints returns benefit points to their package (TC-6).
	BenefitPoints bool `json:"benefit_points,omitempty"`
}

// CancelPolicy says when a refund request may be cancelled.
type CancelPolicy string

// The cancel policies.
const (
	// CancelBeforeIrreversible: until the first revoke, reset or payment
	// (CAN-1).
	CancelBeforeIrreversible CancelPolicy = "before_irreversible"
	// CancelNever: a submitted request stands (CAN-2, TC-3).
	CancelNever CancelPolicy = "never"
)

// CancelTerms says whether a refund request can be cancelled.
type CancelTerms struct {
	Policy CancelPolicy `json:"policy"`
	Rules  []string     `json:"rules"`
}

// ID is name@version.
func (p Profile) ID() string { return p.Name + "@" + p.Version }

// Sells reports whether the profile sells product pr.
func (p Profile) Sells(pr domain.Product) bool { return slices.Contains(p.Products, pr) }

// BuiltinCalendar builds the profile's shipped business-day calendar (T-2).
func (p Profile) BuiltinCalendar() (*calendar.Calendar, error) {
	spec, err := calendar.Builtin(p.Calendar)
	if err != nil {
		return nil, fmt.Errorf("calendar of profile %s: %w", p.ID(), err)
	}
	return calendar.FromSpec(spec)
}

// ParseProfile decodes and validates one profile file. Unknown fields are
// errors, so a misspelt parameter cannot silently fall back to a default.
// Errors are errs.Invalid and name the file and the field.
func ParseProfile(file string, data []byte) (Profile, error) {
	// effective_from is decoded as text so that a bad date names its field.
	var f struct {
		Profile
		EffectiveFrom string `json:"effective_from"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Profile{}, errs.Wrap(errs.Invalid, err, "profile file %s: %s", file, jsonProblem(err))
	}
	p := f.Profile
	if f.EffectiveFrom != "" {
		t, err := time.Parse(time.RFC3339, f.EffectiveFrom)
		if err != nil {
			return Profile{}, errs.Wrap(errs.Invalid, err, "profile file %s: field effective_from: not an RFC 3339 time: %q", file, f.EffectiveFrom)
		}
		p.EffectiveFrom = t
	}
	if err := p.Validate(); err != nil {
		return Profile{}, errs.Wrap(errs.Invalid, err, "profile file %s: %s", file, errs.MessageOf(err))
	}
	return p, nil
}

// jsonProblem names the field a decoding error is about, when it can.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// The field path starts at the embedded Profile of ParseProfile.
		return fmt.Sprintf("field %s: cannot hold a JSON %s", strings.TrimPrefix(te.Field, "Profile."), te.Value)
	}
	return "malformed profile: " + strings.TrimPrefix(err.Error(), "json: ")
}

// Validate checks a profile's fields; the error (errs.Invalid) names the
// first bad field.
func (p Profile) Validate() error {
	for _, c := range []func() error{
		p.validateIdentity, p.validateProducts, p.validateWindows,
		p.validateRuleNames, p.validateQuota, p.validateStates,
		p.validateRefund, p.validateCancel, p.validateReview,
	} {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}

func fieldErr(field, format string, args ...any) error {
	return errs.E(errs.Invalid, "field %s: %s", field, fmt.Sprintf(format, args...))
}

func (p Profile) validateIdentity() error {
	switch {
	case p.Name == "":
		return fieldErr("name", "missing")
	case p.Version == "":
		return fieldErr("version", "missing")
	case p.EffectiveFrom.IsZero():
		return fieldErr("effective_from", "missing")
	case p.Timezone == "":
		return fieldErr("timezone", "missing")
	case p.Calendar == "":
		return fieldErr("calendar", "missing")
	}
	if _, err := time.LoadLocation(p.Timezone); err != nil {
		return fieldErr("timezone", "unknown time zone %q", p.Timezone)
	}
	if _, err := calendar.Builtin(p.Calendar); err != nil {
		return fieldErr("calendar", "unknown builtin calendar %q", p.Calendar)
	}
	return nil
}

func (p Profile) validateProducts() error {
	if len(p.Products) == 0 {
		return fieldErr("products", "empty")
	}
	for i, pr := range p.Products {
		if !pr.Valid() {
			return fieldErr(fmt.Sprintf("products[%d]", i), "unknown product %q", pr)
		}
		if slices.Contains(p.Products[:i], pr) {
			return fieldErr(fmt.Sprintf("products[%d]", i), "duplicate product %q", pr)
		}
	}
	return nil
}

func (p Profile) validateWindows() error {
	if p.ValueAddedWindow != nil && p.Window == nil {
		return fieldErr("value_added_window", "needs a window")
	}
	for _, w := range []struct {
		field string
		terms *WindowTerms
	}{{"window", p.Window}, {"value_added_window", p.ValueAddedWindow}} {
		if w.terms == nil {
			continue
		}
		if w.terms.Days <= 0 {
			return fieldErr(w.field+".days", "must be positive, got %d", w.terms.Days)
		}
		for _, r := range []struct{ field, id string }{
			{".rule", w.terms.Rule}, {".revocation_rule", w.terms.RevocationRule}, {".late_review_rule", w.terms.LateReviewRule},
		} {
			if err := requireRule(w.field+r.field, r.id); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p Profile) validateRuleNames() error {
	for _, r := range []struct{ field, id string }{
		{"promotion_rule", p.PromotionRule}, {"consent_rule", p.ConsentRule}, {"count_complete_rule", p.CountCompleteRule},
		{"combined_rule", p.CombinedRule},
	} {
		if r.id != "" && !KnownRule(r.id) {
			return fieldErr(r.field, "unknown rule %q", r.id)
		}
	}
	for id, why := range p.Inferred {
		switch {
		case !KnownRule(id):
			return fieldErr("inferred", "unknown rule %q", id)
		case strings.TrimSpace(why) == "":
			return fieldErr("inferred", "rule %s: say where it was inferred from and why", id)
		}
	}
	return nil
}

func (p Profile) validateQuota() error {
	q := p.Quota
	if err := requireRule("quota.rule", q.Rule); err != nil {
		return err
	}
	switch q.Basis {
	case QuotaFromIssuance, QuotaFromPayment:
		if q.Days <= 0 {
			return fieldErr("quota.days", "must be positive, got %d", q.Days)
		}
	case QuotaNever:
	default:
		return fieldErr("quota.basis", "unknown basis %q", q.Basis)
	}
	return nil
}

func (p Profile) validateStates() error {
	if err := requireRule("release.rule", p.Release.Rule); err != nil {
		return err
	}
	if err := validStates("release.states", p.Release.States); err != nil {
		return err
	}
	if p.RefusedStates == nil {
		return nil
	}
	if err := requireRule("refused_states.rule", p.RefusedStates.Rule); err != nil {
		return err
	}
	if len(p.RefusedStates.States) == 0 {
		return fieldErr("refused_states.states", "empty")
	}
	return validStates("refused_states.states", p.RefusedStates.States)
}

func validStates(field string, states []statemachine.CertState) error {
	for i, s := range states {
		if !statemachine.ValidCertState(s) {
			return fieldErr(fmt.Sprintf("%s[%d]", field, i), "unknown certificate state %q", s)
		}
	}
	return nil
}

func (p Profile) validateRefund() error {
	if err := requireRule("refund.rule", p.Refund.Rule); err != nil {
		return err
	}
	if err := requireRule("refund.cash_only_rule", p.Refund.CashOnlyRule); err != nil {
		return err
	}
	switch p.Refund.Destination {
	case domain.OriginalMethod, domain.AccountBalance:
		return nil
	}
	return fieldErr("refund.destination", "unknown destination %q", p.Refund.Destination)
}

func (p Profile) validateCancel() error {
	switch p.Cancel.Policy {
	case CancelBeforeIrreversible, CancelNever:
	default:
		return fieldErr("cancel.policy", "unknown policy %q", p.Cancel.Policy)
	}
	if len(p.Cancel.Rules) == 0 {
		return fieldErr("cancel.rules", "empty")
	}
	for i, r := range p.Cancel.Rules {
		if err := requireRule(fmt.Sprintf("cancel.rules[%d]", i), r); err != nil {
			return err
		}
	}
	return nil
}

// validateReview requires a review bound wherever a certificate can be
// revoked by the refund: SSL-9 compares it with the window.
func (p Profile) validateReview() error {
	if p.ReviewBusinessDays < 0 {
		return fieldErr("review_business_days", "negative")
	}
	revokes := p.Sells(domain.SSLCertificate) && !p.refuses(statemachine.Issued)
	if revokes && p.ReviewBusinessDays == 0 {
		return fieldErr("review_business_days", "required: the profile revokes issued certificates")
	}
	return nil
}

func requireRule(field, id string) error {
	if id == "" {
		return fieldErr(field, "missing")
	}
	if !KnownRule(id) {
		return fieldErr(field, "unknown rule %q", id)
	}
	return nil
}

// refuses reports whether the profile refuses an order holding a
// certificate in state s (TC-1).
func (p Profile) refuses(s statemachine.CertState) bool {
	return p.RefusedStates != nil && slices.Contains(p.RefusedStates.States, s)
}

// releases reports whether a certificate in state s goes into the release
// plan (SSL-6, TC-4). Removed certificates do when every state does: they
// need nothing, but their place in a multi-year order matters (SSL-8).
func (p Profile) releases(s statemachine.CertState) bool {
	return len(p.Release.States) == 0 || slices.Contains(p.Release.States, s)
}

// clone returns p with its own copies of every slice and pointer, so a
// caller cannot change a registry's profile through a resolved one.
func (p Profile) clone() Profile {
	p.Products = slices.Clone(p.Products)
	p.Release.States = slices.Clone(p.Release.States)
	p.Cancel.Rules = slices.Clone(p.Cancel.Rules)
	if p.Window != nil {
		w := *p.Window
		p.Window = &w
	}
	if p.ValueAddedWindow != nil {
		w := *p.ValueAddedWindow
		p.ValueAddedWindow = &w
	}
	if p.RefusedStates != nil {
		r := StateRefusal{Rule: p.RefusedStates.Rule, States: slices.Clone(p.RefusedStates.States)}
		p.RefusedStates = &r
	}
	return p
}
