package policy

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// changeable lists the rules whose refusal the customer or time can undo:
// a missing confirmation (TC-5, SSL-9), a certificate that could not be
// released yet (SSL-6: the CA rejected the revocation or the resubmission),
// a payment that did not go through (M-4, GEN-4).
var changeable = []string{"TC-5", "SSL-9", "SSL-6", "M-4", "GEN-4"}

// FinalRefusal reports whether a refund refused with rules stays refused
// whatever the customer does later, and the first rule that makes it so:
// a late request (GEN-1, VAS-1), a review completed too late (SSL-2,
// VAS-3, VAS-4), a product or order fact (SSL-3, TC-1, GEN-2, UNU-*),
// money already refunded (M-3). A refusal without rules (a technical
// failure) or with only changeable rules is not final: a new request may
// follow it.
func FinalRefusal(rules []string) (final bool, rule string) {
	for _, r := range rules {
		isChangeable := false
		for _, c := range changeable {
			if r == c {
				isChangeable = true
				break
			}
		}
		if !isChangeable {
			return true, r
		}
	}
	return false, ""
}

// RefusePaidOut applies M-3 to an order whose refund already paid out
// (paidOut, in currency, from the payment ledger): a refund is paid once
// per order, so even when the prorated arithmetic leaves a remainder, the
// decision is a refusal citing M-3 with the amount. A decision for an
// order with nothing paid out is returned unchanged.
func RefusePaidOut(d Decision, paidOut decimal.Decimal, currency string) Decision {
	if !paidOut.IsPositive() {
		return d
	}
	d.Eligible = false
	d.Refund = nil
	for _, r := range d.Refusals {
		if r.Rule == RuleM3 {
			return d
		}
	}
	d.Refusals = append(d.Refusals, Refusal{Rule: RuleM3,
		Message: fmt.Sprintf("%s %s was already refunded for this order: a refund is paid once", paidOut, currency)})
	return d
}
