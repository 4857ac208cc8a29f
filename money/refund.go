package money

import (
	"fmt"
	"math/big"
	"slices"

	"github.com/certflow/certflow/errs"
)

// Prorate returns paid × num / den, rounded toward zero at the currency's
// minor unit (M-2): the customer is never refunded more than is owed. For
// GW-4, num is the unconsumed quota and den the total quota: 1.60 USD ×
// (300 − 60) / 300 = 1.28 USD.
//
// The arithmetic is exact (integers of minor units), so no intermediate
// rounding can push a result up. It returns an errs.Invalid error when
// den <= 0, num < 0 or num > den: a share above the whole would refund
// more than was paid.
func Prorate(paid Amount, num, den int64) (Amount, error) {
	switch {
	case den <= 0:
		return Amount{}, errs.E(errs.Invalid, "prorating %d/%d: denominator is not positive", num, den)
	case num < 0:
		return Amount{}, errs.E(errs.Invalid, "prorating %d/%d: numerator is negative", num, den)
	case num > den:
		return Amount{}, errs.E(errs.Invalid, "prorating %d/%d: numerator exceeds denominator", num, den)
	}
	u := paid.units()
	u.Mul(u, big.NewInt(num))
	// Quo truncates toward zero; u is non-negative, so this is also floor.
	u.Quo(u, big.NewInt(den))
	return fromUnits(u, paid.cur), nil
}

// Split divides total into parts proportional to weights that add up to
// total exactly, to the minor unit. Each part is first truncated at the
// minor unit; the minor units left over go one each to the parts with the
// largest truncated remainders, ties to the earliest index, so the result
// depends on nothing but the arguments. Because total <= sum(weights), no
// part exceeds its weight; a zero weight gets a zero part.
//
// TC-6 uses it to return a refund in the proportions of cash and gift card
// paid. It returns an errs.Invalid error when weights is empty, any
// currency differs from total's, or total exceeds the sum of the weights
// (which includes all weights zero with a non-zero total).
func Split(total Amount, weights []Amount) ([]Amount, error) {
	if len(weights) == 0 {
		return nil, errs.E(errs.Invalid, "splitting %s %s over no weights", total, total.cur.Code)
	}
	sum := new(big.Int)
	ws := make([]*big.Int, len(weights))
	for i, w := range weights {
		if err := sameCurrency(total, w); err != nil {
			return nil, errs.E(errs.Invalid, "splitting over weight %d: %s", i, errs.MessageOf(err))
		}
		ws[i] = w.units()
		sum.Add(sum, ws[i])
	}
	t := total.units()
	if t.Cmp(sum) > 0 {
		if sum.Sign() == 0 {
			return nil, errs.E(errs.Invalid, "splitting %s %s over weights that are all zero", total, total.cur.Code)
		}
		return nil, errs.E(errs.Invalid, "splitting %s %s over weights that add up to only %s", total, total.cur.Code, fromUnits(sum, total.cur))
	}

	parts := make([]*big.Int, len(weights))
	rems := make([]*big.Int, len(weights))
	given := new(big.Int)
	for i, w := range ws {
		parts[i], rems[i] = new(big.Int), new(big.Int)
		if sum.Sign() == 0 {
			continue // total is zero too: every part is zero
		}
		parts[i].QuoRem(new(big.Int).Mul(t, w), sum, rems[i])
		given.Add(given, parts[i])
	}

	// The leftover is smaller than the number of non-zero remainders (the
	// remainders add up to leftover × sum, each below sum), so each of the
	// first `leftover` indices in this order has a remainder, and its part
	// was strictly below its weight before getting one more unit.
	leftover := new(big.Int).Sub(t, given).Int64()
	order := make([]int, len(weights))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return rems[j].Cmp(rems[i]) })
	one := big.NewInt(1)
	for _, i := range order[:leftover] {
		parts[i].Add(parts[i], one)
	}

	out := make([]Amount, len(weights))
	for i, p := range parts {
		out[i] = fromUnits(p, total.cur)
	}
	return out, nil
}

// CapRefund returns min(refund, cashPaid − already): a refund never exceeds
// the cash actually paid minus what was already refunded for the order
// (M-3). The result is never negative. It returns an errs.Invalid error
// when the currencies differ or already exceeds cashPaid (the order's books
// are inconsistent and no refund can be right).
//
// CapRefund is the arithmetic of M-3 only; the caller makes it one
// serialised step with the payment that follows.
func CapRefund(refund, cashPaid, already Amount) (Amount, error) {
	if err := sameCurrency(refund, cashPaid); err != nil {
		return Amount{}, err
	}
	if err := sameCurrency(refund, already); err != nil {
		return Amount{}, err
	}
	if already.value.Cmp(cashPaid.value) > 0 {
		return Amount{}, &errs.Error{
			Code:    errs.Invalid,
			Message: fmt.Sprintf("already refunded %s %s exceeds the cash paid %s %s", already, already.cur.Code, cashPaid, cashPaid.cur.Code),
			Rules:   []string{"M-3"},
		}
	}
	left := Amount{value: cashPaid.value.Sub(already.value), cur: cashPaid.cur}
	if refund.value.Cmp(left.value) <= 0 {
		return refund, nil
	}
	return left, nil
}
