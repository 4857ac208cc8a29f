package policy

import (
	"time"

	"github.com/certflow/certflow/domain"
)

// day is a calendar day as T-1 counts it: 24 hours from the payment instant.
const day = 24 * time.Hour

// WindowFor returns the refund window of order o under profile p, or nil
// when the profile has none (tencent). T-1: the window ends N*24h after
// payment. VAS-1: an order with a value-added service takes the profile's
// value-added window. GEN-2: a promotion carrying its own window_days
// replaces the length, and the window is then cited as GEN-2.
func WindowFor(p Profile, o domain.Order) *Window {
	terms := p.Window
	if o.ValueAdded.Has() && p.ValueAddedWindow != nil {
		terms = p.ValueAddedWindow
	}
	if days, ok := promotionWindow(p, o); ok {
		w := &Window{End: o.PaidAt.Add(time.Duration(days) * day), Rule: p.PromotionRule,
			LateReviewRule: p.PromotionRule, RevocationRule: p.PromotionRule}
		if terms != nil {
			w.LateReviewRule, w.RevocationRule = terms.LateReviewRule, terms.RevocationRule
		}
		return w
	}
	if terms == nil {
		return nil
	}
	return &Window{
		End:            o.PaidAt.Add(time.Duration(terms.Days) * day),
		Rule:           terms.Rule,
		LateReviewRule: terms.LateReviewRule,
		RevocationRule: terms.RevocationRule,
	}
}

// promotionWindow returns the promotion's own window length (GEN-2), when
// the profile honours promotion terms and the promotion carries one.
func promotionWindow(p Profile, o domain.Order) (int, bool) {
	if p.PromotionRule == "" || o.Promotion == nil || o.Promotion.WindowDays == nil {
		return 0, false
	}
	return *o.Promotion.WindowDays, true
}

// promotionRefuses reports whether the order's promotion declares it
// non-refundable (GEN-2).
func promotionRefuses(p Profile, o domain.Order) bool {
	pr := o.Promotion
	return p.PromotionRule != "" && pr != nil && pr.Refundable != nil && !*pr.Refundable
}

// within reports whether t is in time for w (T-1: at or before End).
func (w *Window) within(t time.Time) bool {
	return !t.After(w.End)
}
