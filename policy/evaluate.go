package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
)

// Evaluate judges refund request req for order o under profile p, at now,
// the instant of the request. cal is the business-day calendar for review
// deadlines (T-2, T-3); nil means the profile's builtin calendar.
//
// Malformed input is an errs.Invalid error naming the field. Otherwise the
// Decision collects every refusal that applies, in the fixed order of
// checks(), and, when eligible, the steps to take (ending with pay) and the
// refund breakdown. Evaluate is pure and deterministic.
func Evaluate(p Profile, cal *calendar.Calendar, o domain.Order, req domain.RefundRequest, now time.Time) (Decision, error) {
	pay, err := validate(p, o, req, now)
	if err != nil {
		return Decision{}, err
	}
	e := &evaluation{p: p, cal: cal, o: o, req: req, now: now, pay: pay}
	e.d = Decision{
		Profile:              p.ID(),
		Refusals:             []Refusal{},
		Steps:                []Step{},
		MissingConfirmations: []Confirmation{},
		Window:               WindowFor(p, o),
	}
	for _, c := range checks() {
		if err := c(e); err != nil {
			return Decision{}, err
		}
	}
	return e.finish(), nil
}

// evaluation is one Evaluate call's working state.
type evaluation struct {
	p   Profile
	cal *calendar.Calendar
	o   domain.Order
	req domain.RefundRequest
	now time.Time
	pay paid

	d Decision
	// pre holds the steps before payment, in order.
	pre []Step
	// share, when set, prorates the refund (GW-4).
	share *share
	// refund is the breakdown, set by computeRefund.
	refund *Breakdown
}

// share is the fraction num/den of the cash that a prorated refund returns.
type share struct{ num, den int64 }

// check is one rule's contribution to a decision: it refuses, asks for a
// confirmation, or plans a step. An error means the input cannot be judged.
type check func(*evaluation) error

// checks is the fixed order in which rules are applied; refusals appear in
// this order.
func checks() []check {
	return []check{
		checkPromotion,      // GEN-2
		checkWindow,         // T-1, GEN-1, VAS-1, GEN-2
		checkConsent,        // TC-5
		checkManagedService, // SSL-4
		checkCombined,       // SSL-3
		checkRefusedStates,  // TC-1
		checkCountComplete,  // VAS-5
		planRelease,         // SSL-5, SSL-6, SSL-8, TC-4
		planGateway,         // GW-2, GW-3, GW-4
		planPrivateCA,       // PCA-2, PCA-3
		checkUnused,         // UNU-1..UNU-4
		checkConfirmed,      // SSL-9
		checkReviewDeadline, // SSL-9, T-3
		computeRefund,       // GEN-3, M-2, M-3, TC-2, TC-6, GEN-4
	}
}

func (e *evaluation) refuse(rule, format string, args ...any) {
	e.d.Refusals = append(e.d.Refusals, Refusal{Rule: rule, Message: fmt.Sprintf(format, args...)})
}

// require refuses under rule for want of the request field, and records
// the confirmation that would lift the refusal.
func (e *evaluation) require(rule, field, message string) {
	e.refuse(rule, "%s", message)
	e.d.MissingConfirmations = append(e.d.MissingConfirmations, Confirmation{Rule: rule, Field: field, Message: message})
}

// finish settles eligibility. Only an eligible decision carries steps and a
// refund; every step list ends with the payment, itself irreversible
// (CAN-1).
func (e *evaluation) finish() Decision {
	d := e.d
	d.Eligible = len(d.Refusals) == 0
	if !d.Eligible {
		return d
	}
	d.Steps = append(slices.Clone(e.pre), Step{Kind: StepPay, Rule: e.p.Refund.Rule, Irreversible: true})
	d.Refund = e.refund
	d.RequiresApproval = slices.ContainsFunc(d.Steps, func(s Step) bool { return s.Kind == StepAwaitApproval })
	return d
}

func stamp(t time.Time) string { return t.Format(time.RFC3339) }

// checkPromotion: GEN-2, a promotion may declare the order non-refundable.
func checkPromotion(e *evaluation) error {
	if promotionRefuses(e.p, e.o) {
		e.refuse(e.p.PromotionRule, "promotion %q declares the order non-refundable", e.o.Promotion.ID)
	}
	return nil
}

// checkWindow: T-1 with GEN-1 (VAS-1 in aliyun-cn, GEN-2 for a promotion's
// own window): a request one second after paid_at + N*24h is late.
func checkWindow(e *evaluation) error {
	w := e.d.Window
	if w == nil || w.within(e.now) {
		return nil
	}
	days := int(w.End.Sub(e.o.PaidAt) / day)
	e.refuse(w.Rule, "requested at %s, after the %d-day refund window that ended at %s",
		stamp(e.now), days, stamp(w.End))
	return nil
}

// checkConsent: TC-5, the requester must consent to the refund policy.
func checkConsent(e *evaluation) error {
	if e.p.ConsentRule != "" && !e.req.Consent {
		e.require(e.p.ConsentRule, FieldConsent, "the request must consent to the refund policy")
	}
	return nil
}

// checkManagedService: SSL-4, a certificate's managed service is refunded
// with the certificate, never on its own.
func checkManagedService(e *evaluation) error {
	if e.req.Scope != domain.ScopeManagedService {
		return nil
	}
	if multiYear(e.o) {
		e.refuse(RuleSSL4, "the managed service of a %d-year certificate is refunded only together with the certificate", e.o.ValidityYears)
		return nil
	}
	e.refuse(RuleSSL4, "a 1-year certificate includes no managed service to refund; refund the order instead")
	return nil
}

// multiYear reports whether o is a 2- or 3-year certificate order, whose
// price includes the managed service (SSL-4).
func multiYear(o domain.Order) bool {
	return o.Product == domain.SSLCertificate && o.ValidityYears >= 2
}

// checkCombined: SSL-3, combined multi-domain certificates are not
// refundable, in the profiles whose seed says so.
func checkCombined(e *evaluation) error {
	if e.p.CombinedRule != "" && e.o.Product == domain.SSLCertificate && e.o.CombinedMultiDomain {
		e.refuse(e.p.CombinedRule, "multi-domain certificates made with Combine Certificates are not refundable")
	}
	return nil
}

// checkRefusedStates: TC-1, an issued certificate is not refundable.
func checkRefusedStates(e *evaluation) error {
	var ids []string
	for _, c := range e.o.Certificates {
		if e.p.refuses(c.State) {
			ids = append(ids, fmt.Sprintf("%s (%s)", c.ID, c.State))
		}
	}
	if len(ids) > 0 {
		e.refuse(e.p.RefusedStates.Rule, "certificate %s was issued: not refundable", strings.Join(ids, ", "))
	}
	return nil
}

// checkCountComplete: VAS-5, the order's certificate count must be
// complete: a revocation that did not return its quota leaves it short.
func checkCountComplete(e *evaluation) error {
	if e.p.CountCompleteRule == "" {
		return nil
	}
	var ids []string
	for _, c := range e.o.Certificates {
		if c.RevokedAt != nil && !c.QuotaReturned {
			ids = append(ids, c.ID)
		}
	}
	if len(ids) > 0 {
		e.refuse(e.p.CountCompleteRule, "the certificate count is incomplete: certificate %s was revoked without its quota being returned",
			strings.Join(ids, ", "))
	}
	return nil
}
