package policy

import (
	"fmt"

	"github.com/certflow/certflow/money"
)

// computeRefund works out the breakdown: TC-6 profiles return cash and gift
// card in the proportions paid, the others the cash only (GEN-3).
func computeRefund(e *evaluation) error {
	if e.p.Refund.GiftCard {
		return e.proportionalRefund()
	}
	return e.cashRefund()
}

// cashRefund: GEN-3 only the cash paid is refunded, never vouchers; GW-4
// prorates it, rounding toward zero (M-2); M-3 caps it at the cash paid
// minus what was already refunded; GEN-4 sends it to the original method.
func (e *evaluation) cashRefund() error {
	if e.pay.cash.IsZero() {
		e.refuse(e.p.Refund.CashOnlyRule, "nothing was paid in cash: amounts paid with vouchers or coupons are not refunded")
		return nil
	}
	var rules []string
	if multiYear(e.o) {
		rules = append(rules, RuleSSL4) // the managed service goes back with the certificate
	}
	rules = append(rules, e.p.Refund.CashOnlyRule)
	owed := e.pay.cash
	if e.share != nil {
		var err error
		if owed, err = money.Prorate(e.pay.cash, e.share.num, e.share.den); err != nil {
			return fmt.Errorf("prorating the refund of order %s: %w", e.o.ID, err)
		}
		rules = append(rules, RuleGW4, RuleM2)
		if owed.IsZero() {
			e.refuse(RuleGW4, "%d of %d GRCQ were consumed: the unconsumed share of %s rounds to nothing", e.share.den-e.share.num, e.share.den, e.pay.cash)
			return nil
		}
	}
	cash, capped, err := e.capped(owed, e.pay.cash)
	if err != nil || cash.IsZero() {
		return err
	}
	if capped {
		rules = append(rules, RuleM3)
	}
	e.refund = &Breakdown{
		Cash:        cash,
		GiftCard:    money.Zero(e.pay.cur),
		Destination: e.p.Refund.Destination,
		Rules:       append(rules, e.p.Refund.Rule),
	}
	return nil
}

// proportionalRefund: TC-2 discounts and vouchers are not refunded; TC-6
// the rest returns to the account, cash to the balance and gift card as
// gift card in the proportions paid, and benefit points to their package.
// M-3 caps the total at what was paid minus what was already refunded; the
// points went back with an earlier refund, if there was one.
func (e *evaluation) proportionalRefund() error {
	paidIn, err := e.pay.cash.Add(e.pay.giftCard)
	if err != nil {
		return fmt.Errorf("adding the payment of order %s: %w", e.o.ID, err)
	}
	points := int64(0)
	if e.p.Refund.BenefitPoints && e.pay.already.IsZero() {
		points = e.o.Payment.BenefitPoints
	}
	if paidIn.IsZero() && points == 0 {
		e.refuse(e.p.Refund.CashOnlyRule, "nothing was paid in cash, gift card or benefit points: discounts and vouchers are not refunded")
		return nil
	}
	total, capped, err := e.capped(paidIn, paidIn)
	if err != nil || (total.IsZero() && points == 0) {
		return err
	}
	parts := []money.Amount{money.Zero(e.pay.cur), money.Zero(e.pay.cur)}
	if !total.IsZero() {
		if parts, err = money.Split(total, []money.Amount{e.pay.cash, e.pay.giftCard}); err != nil {
			return fmt.Errorf("splitting the refund of order %s: %w", e.o.ID, err)
		}
	}
	rules := []string{e.p.Refund.CashOnlyRule}
	if capped {
		rules = append(rules, RuleM3)
	}
	e.refund = &Breakdown{
		Cash:          parts[0],
		GiftCard:      parts[1],
		BenefitPoints: points,
		Destination:   e.p.Refund.Destination,
		Rules:         append(rules, e.p.Refund.Rule),
	}
	return nil
}

// capped applies M-3 to owed: never more than paid minus what was already
// refunded for the order. It refuses under M-3 when nothing is left and
// reports whether the cap bound.
func (e *evaluation) capped(owed, paidIn money.Amount) (money.Amount, bool, error) {
	out, err := money.CapRefund(owed, paidIn, e.pay.already)
	if err != nil {
		return money.Amount{}, false, fmt.Errorf("capping the refund of order %s: %w", e.o.ID, err)
	}
	if out.IsZero() && !owed.IsZero() {
		e.refuse(RuleM3, "the %s paid was already refunded: nothing is left to refund", paidIn)
	}
	return out, out.Cmp(owed) < 0, nil
}
