package policy

// CanCancel reports whether a refund request may still be cancelled, with
// the rules that decide it and a client-safe message. CAN-1 (aliyun-*):
// only before the first irreversible step (revoke, reset, payment).
// CAN-2 with TC-3 (tencent): never.
func CanCancel(p Profile, irreversibleDone bool) (ok bool, rules []string, message string) {
	rules = append([]string(nil), p.Cancel.Rules...)
	switch p.Cancel.Policy {
	case CancelBeforeIrreversible:
		if irreversibleDone {
			return false, rules, "the refund can no longer be cancelled: an irreversible step (revoke, reset or payment) has already been taken"
		}
		return true, rules, "the refund can be cancelled until its first irreversible step (revoke, reset or payment)"
	case CancelNever:
		return false, rules, "a submitted refund request cannot be cancelled"
	}
	return false, rules, "the profile has no cancellation terms"
}
