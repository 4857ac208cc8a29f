package policy

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
