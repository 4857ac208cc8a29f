// Package money owns certflow's amounts of money and the refund arithmetic
// on them. It guarantees that
//
//   - amounts are exact decimals (shopspring/decimal), never floats, and
//     never carry more digits than their currency's ISO 4217 minor unit
//     (M-1);
//   - amounts are never negative: every constructor and operation that could
//     produce a negative amount returns an errs.Invalid error instead;
//   - a computed refund is rounded toward zero at the minor unit, so the
//     customer is never refunded more than is owed (M-2), and is capped at
//     the cash paid minus what was already refunded (M-3);
//   - every result is a pure function of the arguments: no clock, no
//     randomness, no map iteration reaching an output, so the package is
//     safe to call from Temporal workflow code.
package money

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/errs"
)

// Amount is a non-negative amount of one currency at its minor unit. Build
// one with New or Zero. The zero Amount{} has no currency and is zero; it
// marshals and round-trips through JSON, but arithmetic with an amount of
// a real currency is a currency mismatch.
//
// Compare amounts with Cmp or Equal, never with ==: the same value can have
// different internal representations.
type Amount struct {
	value decimal.Decimal
	cur   Currency
}

// New returns d in currency cur. It refuses a negative d, a d with non-zero
// digits beyond cur's minor unit ("1.280" USD is 1.28, "1.285" USD is
// refused; M-1), and a cur that is not exactly a currency of the ISO 4217
// table (use LookupCurrency). All refusals are errs.Invalid.
func New(d decimal.Decimal, cur Currency) (Amount, error) {
	if !cur.known() {
		if places, ok := minorUnits[cur.Code]; ok {
			return Amount{}, errs.E(errs.Invalid, "currency %s has %d decimal places, not %d", cur.Code, places, cur.Places)
		}
		return Amount{}, errs.E(errs.Invalid, "unknown currency %q", cur.Code)
	}
	if d.Sign() < 0 {
		return Amount{}, errs.E(errs.Invalid, "amount %q is negative", show(d, cur.Places))
	}
	if !d.Equal(d.Truncate(cur.Places)) {
		return Amount{}, &errs.Error{
			Code:    errs.Invalid,
			Message: fmt.Sprintf("amount %q has more than %d decimal places for %s", show(d, cur.Places), cur.Places, cur.Code),
			Rules:   []string{"M-1"},
		}
	}
	return Amount{value: d.Round(cur.Places), cur: cur}, nil
}

// Zero returns the zero amount of cur.
func Zero(cur Currency) Amount {
	return Amount{value: decimal.New(0, -cur.Places), cur: cur}
}

// Decimal returns the amount's value, with exactly the currency's minor
// unit as its number of decimal places.
func (a Amount) Decimal() decimal.Decimal { return a.value }

// Currency returns the amount's currency.
func (a Amount) Currency() Currency { return a.cur }

// String returns the value with exactly the currency's number of decimal
// places and no currency code: "80.00" for USD, "100" for JPY.
func (a Amount) String() string { return a.value.StringFixed(a.cur.Places) }

// IsZero reports whether the amount is zero.
func (a Amount) IsZero() bool { return a.value.IsZero() }

// Equal reports whether a and b are the same amount of the same currency.
// Unlike Cmp it never panics: amounts of different currencies are unequal.
func (a Amount) Equal(b Amount) bool {
	return a.cur == b.cur && a.value.Equal(b.value)
}

// Add returns a + b, or an errs.Invalid error when the currencies differ.
func (a Amount) Add(b Amount) (Amount, error) {
	if err := sameCurrency(a, b); err != nil {
		return Amount{}, err
	}
	return Amount{value: a.value.Add(b.value), cur: a.cur}, nil
}

// Sub returns a − b, or an errs.Invalid error when the currencies differ or
// b is larger than a (amounts are never negative).
func (a Amount) Sub(b Amount) (Amount, error) {
	if err := sameCurrency(a, b); err != nil {
		return Amount{}, err
	}
	if a.value.Cmp(b.value) < 0 {
		return Amount{}, errs.E(errs.Invalid, "subtracting %s %s from %s %s would be negative", b, b.cur.Code, a, a.cur.Code)
	}
	return Amount{value: a.value.Sub(b.value), cur: a.cur}, nil
}

// Cmp returns -1, 0 or +1 as a is less than, equal to or greater than b.
//
// Cmp panics when the currencies differ: comparing amounts of different
// currencies is a programming error, not a runtime condition. Code that
// cannot rule it out checks a.Currency() == b.Currency() first, or uses
// Equal, Sub or CapRefund, which return errors instead.
func (a Amount) Cmp(b Amount) int {
	if err := sameCurrency(a, b); err != nil {
		panic("money: Cmp: " + errs.MessageOf(err))
	}
	return a.value.Cmp(b.value)
}

// sameCurrency returns an errs.Invalid error naming both currencies when a
// and b differ in currency.
func sameCurrency(a, b Amount) error {
	if a.cur != b.cur {
		return errs.E(errs.Invalid, "currency mismatch: %q and %q", a.cur.Code, b.cur.Code)
	}
	return nil
}

// jsonAmount is the wire form of an Amount. The value is a string so that
// no JSON decoder turns it into a float on the way (M-1).
type jsonAmount struct {
	Value    *string `json:"value"`
	Currency string  `json:"currency"`
}

// MarshalJSON encodes the amount as {"value":"80.00","currency":"USD"}, the
// value with exactly the currency's decimal places. The zero Amount{}
// encodes as {"value":"0","currency":""}.
func (a Amount) MarshalJSON() ([]byte, error) {
	v := a.String()
	return json.Marshal(jsonAmount{Value: &v, Currency: a.cur.Code})
}

// UnmarshalJSON decodes the form MarshalJSON writes. The value must be a
// JSON string; it is checked as New checks it, and the currency code as
// LookupCurrency does. A zero value with an empty currency (or {}) decodes
// to the zero Amount{}; JSON null leaves the amount unchanged.
func (a *Amount) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return nil
	}
	var j jsonAmount
	if err := json.Unmarshal(data, &j); err != nil {
		return errs.Wrap(errs.Invalid, err, "amount is not {\"value\":\"...\",\"currency\":\"...\"}")
	}
	d := decimal.Zero
	if j.Value != nil {
		var err error
		if d, err = decimal.NewFromString(*j.Value); err != nil {
			return errs.Wrap(errs.Invalid, err, "amount value %q is not a decimal number", *j.Value)
		}
	}
	if j.Currency == "" {
		if !d.IsZero() {
			return errs.E(errs.Invalid, "amount %q has no currency", *j.Value)
		}
		*a = Amount{}
		return nil
	}
	if j.Value == nil {
		return errs.E(errs.Invalid, "amount in %s has no value", j.Currency)
	}
	cur, err := LookupCurrency(j.Currency)
	if err != nil {
		return err
	}
	got, err := New(d, cur)
	if err != nil {
		return err
	}
	*a = got
	return nil
}

// units returns a as an integer count of its currency's minor units. It is
// exact because an Amount never has digits beyond the minor unit.
func (a Amount) units() *big.Int {
	return a.value.Shift(a.cur.Places).BigInt()
}

// fromUnits returns u minor units of cur. u must not be negative.
func fromUnits(u *big.Int, cur Currency) Amount {
	return Amount{value: decimal.NewFromBigInt(u, -cur.Places), cur: cur}
}

// show formats d for an error message: with places decimals when that is
// exact, with all its digits otherwise, and never in scientific notation.
func show(d decimal.Decimal, places int32) string {
	if exp := d.Exponent(); exp < -places {
		return d.StringFixed(-exp)
	}
	return d.StringFixed(places)
}
