package policy

import (
	"time"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/statemachine"
)

// JudgeRevocation judges the revocation review of certificate c of order o,
// completed at completedAt: whether the refund still goes ahead (SSL-2,
// VAS-2..VAS-4, GEN-2 windows; TC-1 never) and whether the certificate's
// quota comes back (SSL-7, VAS-2, VAS-3, VAS-4; tencent: never).
func JudgeRevocation(p Profile, o domain.Order, c domain.Certificate, completedAt time.Time) Verdict {
	refund, refundRule := judgeRefund(p, o, completedAt)
	quota, quotaRule := judgeQuota(p, o, c, completedAt)
	return Verdict{Refund: refund, RefundRule: refundRule, QuotaReturned: quota, QuotaRule: quotaRule}
}

// judgeRefund: SSL-2 / VAS-2 a review completed by the window's end (T-1)
// keeps the refund; later, SSL-2 / VAS-3 / VAS-4 refuse it.
func judgeRefund(p Profile, o domain.Order, at time.Time) (bool, string) {
	if rs := p.RefusedStates; rs != nil && p.refuses(statemachine.Issued) {
		return false, rs.Rule // TC-1: an issued certificate is never refunded
	}
	if promotionRefuses(p, o) {
		return false, p.PromotionRule
	}
	w := WindowFor(p, o)
	if w == nil {
		return true, p.Release.Rule
	}
	if w.within(at) {
		return true, w.RevocationRule
	}
	return false, w.LateReviewRule
}

// judgeQuota applies the profile's quota terms.
func judgeQuota(p Profile, o domain.Order, c domain.Certificate, at time.Time) (bool, string) {
	q := p.Quota
	switch q.Basis {
	case QuotaFromIssuance:
		// SSL-7: within 28 days of issuance, domain never changed. Without
		// an issuance time the condition cannot be shown: not returned.
		if c.IssuedAt == nil || (q.DomainUnchanged && c.DomainChanged) {
			return false, q.Rule
		}
		return !at.After(c.IssuedAt.Add(time.Duration(q.Days) * day)), q.Rule
	case QuotaFromPayment:
		// VAS-2: revoked inside the refund window; VAS-3: after it but
		// within 30 days of payment; later neither (VAS-3, VAS-4).
		w := WindowFor(p, o)
		if w != nil && w.within(at) {
			return true, w.RevocationRule
		}
		if !at.After(o.PaidAt.Add(time.Duration(q.Days) * day)) {
			return true, q.Rule
		}
		if w != nil {
			return false, w.LateReviewRule
		}
	}
	return false, q.Rule
}
