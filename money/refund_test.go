package money

import (
	"github.com/certflow/certflow/errs/errstest"
	"math/big"
	"testing"

	"github.com/certflow/certflow/errs"
)

func TestProrate(t *testing.T) {
	tests := map[string]struct {
		paid     Amount
		num, den int64
		want     string
		errMsg   string
	}{
		"GW-4 seed example 1.6 USD 300 GRCQ 60 consumed": {paid: amt(t, "1.60", "USD"), num: 300 - 60, den: 300, want: "1.28"},
		"M-2 rounds toward zero":                         {paid: amt(t, "1.00", "USD"), num: 2, den: 3, want: "0.66"},
		"M-2 rounds toward zero just below a unit":       {paid: amt(t, "0.99", "USD"), num: 99, den: 100, want: "0.98"},
		"M-2 never rounds up half a unit":                {paid: amt(t, "0.01", "USD"), num: 1, den: 2, want: "0.00"},
		"M-2 exact result is kept":                       {paid: amt(t, "3.00", "CNY"), num: 1, den: 3, want: "1.00"},
		"M-1 JPY has no minor unit":                      {paid: amt(t, "1000", "JPY"), num: 2, den: 3, want: "666"},
		"M-1 KWD has three places":                       {paid: amt(t, "1.000", "KWD"), num: 2, den: 3, want: "0.666"},
		"M-2 huge share stays exact":                     {paid: amt(t, "99999999999999999.99", "USD"), num: 9223372036854775806, den: 9223372036854775807, want: "99999999999999999.97"},
		"nothing used is the whole":                      {paid: amt(t, "1.60", "USD"), num: 300, den: 300, want: "1.60"},
		"all used is zero":                               {paid: amt(t, "1.60", "USD"), num: 0, den: 300, want: "0.00"},
		"zero paid":                                      {paid: Zero(cur(t, "USD")), num: 1, den: 2, want: "0.00"},
		"zero denominator":                               {paid: amt(t, "1", "USD"), num: 0, den: 0, errMsg: "prorating 0/0: denominator is not positive"},
		"negative denominator":                           {paid: amt(t, "1", "USD"), num: -1, den: -2, errMsg: "prorating -1/-2: denominator is not positive"},
		"negative numerator":                             {paid: amt(t, "1", "USD"), num: -1, den: 2, errMsg: "prorating -1/2: numerator is negative"},
		"GW-4 consumed more than the total":              {paid: amt(t, "1", "USD"), num: 301, den: 300, errMsg: "prorating 301/300: numerator exceeds denominator"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Prorate(tc.paid, tc.num, tc.den)
			if tc.errMsg != "" {
				errstest.Want(t, err, errs.Invalid, tc.errMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want || got.Currency() != tc.paid.Currency() {
				t.Fatalf("Prorate = %s %v, want %s %v", got, got.Currency(), tc.want, tc.paid.Currency())
			}
		})
	}
}

func TestSplit(t *testing.T) {
	usd := func(ss ...string) []Amount {
		out := make([]Amount, len(ss))
		for i, s := range ss {
			out[i] = amt(t, s, "USD")
		}
		return out
	}
	tests := map[string]struct {
		total   Amount
		weights []Amount
		want    []string
		errMsg  string
	}{
		"TC-6 cash and gift card in proportion":       {total: amt(t, "60", "USD"), weights: usd("80", "40"), want: []string{"40.00", "20.00"}},
		"TC-6 whole payment returns each part":        {total: amt(t, "120", "USD"), weights: usd("80", "40"), want: []string{"80.00", "40.00"}},
		"M-2 leftover unit to the largest remainder":  {total: amt(t, "1.00", "USD"), weights: usd("1", "2"), want: []string{"0.33", "0.67"}},
		"M-2 leftover ties go to the earliest index":  {total: amt(t, "0.02", "USD"), weights: usd("1", "1", "1"), want: []string{"0.01", "0.01", "0.00"}},
		"M-2 single leftover tie to index zero":       {total: amt(t, "0.01", "USD"), weights: usd("5", "5"), want: []string{"0.01", "0.00"}},
		"M-2 remainder order beats index order":       {total: amt(t, "0.03", "USD"), weights: usd("0.03", "0.01"), want: []string{"0.02", "0.01"}},
		"M-1 JPY has no minor unit":                   {total: amt(t, "10", "JPY"), weights: []Amount{amt(t, "10", "JPY"), amt(t, "10", "JPY"), amt(t, "10", "JPY")}, want: []string{"4", "3", "3"}},
		"zero weight gets nothing":                    {total: amt(t, "0.05", "USD"), weights: usd("0", "0.05"), want: []string{"0.00", "0.05"}},
		"no part exceeds its weight at the edge":      {total: amt(t, "0.02", "USD"), weights: usd("0.01", "0.01", "0.00"), want: []string{"0.01", "0.01", "0.00"}},
		"zero total over zero weights":                {total: Zero(cur(t, "USD")), weights: usd("0", "0"), want: []string{"0.00", "0.00"}},
		"zero total":                                  {total: Zero(cur(t, "USD")), weights: usd("3", "4"), want: []string{"0.00", "0.00"}},
		"single weight":                               {total: amt(t, "0.07", "USD"), weights: usd("1"), want: []string{"0.07"}},
		"no weights":                                  {total: amt(t, "1", "USD"), errMsg: "splitting 1.00 USD over no weights"},
		"all weights zero with a non-zero total":      {total: amt(t, "1", "USD"), weights: usd("0", "0"), errMsg: "splitting 1.00 USD over weights that are all zero"},
		"total above the sum of the weights":          {total: amt(t, "1.61", "USD"), weights: usd("1.00", "0.60"), errMsg: "splitting 1.61 USD over weights that add up to only 1.60"},
		"weight in another currency":                  {total: amt(t, "1", "USD"), weights: []Amount{amt(t, "1", "USD"), amt(t, "1", "CNY")}, errMsg: `splitting over weight 1: currency mismatch: "USD" and "CNY"`},
		"TC-6 GW-4 prorated refund over two payments": {total: amt(t, "1.28", "USD"), weights: usd("1.00", "0.60"), want: []string{"0.80", "0.48"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Split(tc.total, tc.weights)
			if tc.errMsg != "" {
				errstest.Want(t, err, errs.Invalid, tc.errMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d parts, want %d", len(got), len(tc.want))
			}
			sum := Zero(tc.total.Currency())
			for i, p := range got {
				if p.String() != tc.want[i] || p.Currency() != tc.total.Currency() {
					t.Errorf("part %d = %s %v, want %s %v", i, p, p.Currency(), tc.want[i], tc.total.Currency())
				}
				if sum, err = sum.Add(p); err != nil {
					t.Fatal(err)
				}
			}
			if !sum.Equal(tc.total) {
				t.Fatalf("parts add up to %s, want %s", sum, tc.total)
			}
		})
	}
}

func TestSplitDoesNotModifyWeights(t *testing.T) {
	w := []Amount{amt(t, "1.00", "USD"), amt(t, "2.00", "USD")}
	if _, err := Split(amt(t, "1.00", "USD"), w); err != nil {
		t.Fatal(err)
	}
	if w[0].String() != "1.00" || w[1].String() != "2.00" {
		t.Fatalf("weights changed to %s, %s", w[0], w[1])
	}
}

func TestCapRefund(t *testing.T) {
	tests := map[string]struct {
		refund, cash, already Amount
		want                  string
		errMsg                string
		rule                  string
	}{
		"M-3 refund below what is left is kept":        {refund: amt(t, "1.28", "USD"), cash: amt(t, "1.60", "USD"), already: Zero(cur(t, "USD")), want: "1.28"},
		"M-3 refund capped at cash paid":               {refund: amt(t, "2.00", "USD"), cash: amt(t, "1.60", "USD"), already: Zero(cur(t, "USD")), want: "1.60"},
		"M-3 refund capped at cash minus refunded":     {refund: amt(t, "1.28", "USD"), cash: amt(t, "1.60", "USD"), already: amt(t, "1.00", "USD"), want: "0.60"},
		"M-3 fully refunded order gets zero":           {refund: amt(t, "1.28", "USD"), cash: amt(t, "1.60", "USD"), already: amt(t, "1.60", "USD"), want: "0.00"},
		"M-3 exactly what is left":                     {refund: amt(t, "0.60", "USD"), cash: amt(t, "1.60", "USD"), already: amt(t, "1.00", "USD"), want: "0.60"},
		"M-1 M-3 JPY has no minor unit":                {refund: amt(t, "500", "JPY"), cash: amt(t, "1000", "JPY"), already: amt(t, "700", "JPY"), want: "300"},
		"M-3 already refunded more than paid":          {refund: amt(t, "1", "USD"), cash: amt(t, "1.60", "USD"), already: amt(t, "1.61", "USD"), errMsg: "already refunded 1.61 USD exceeds the cash paid 1.60 USD", rule: "M-3"},
		"M-3 refund in another currency":               {refund: amt(t, "1", "CNY"), cash: amt(t, "1.60", "USD"), already: Zero(cur(t, "USD")), errMsg: `currency mismatch: "CNY" and "USD"`},
		"M-3 already refunded in another currency":     {refund: amt(t, "1", "USD"), cash: amt(t, "1.60", "USD"), already: Zero(cur(t, "EUR")), errMsg: `currency mismatch: "USD" and "EUR"`},
		"M-3 zero Amount{} already is a misuse":        {refund: amt(t, "1", "USD"), cash: amt(t, "1.60", "USD"), already: Amount{}, errMsg: `currency mismatch: "USD" and ""`},
		"M-3 zero refund stays zero":                   {refund: Zero(cur(t, "USD")), cash: amt(t, "1.60", "USD"), already: Zero(cur(t, "USD")), want: "0.00"},
		"M-3 nothing paid in cash refunds no cash":     {refund: amt(t, "5", "USD"), cash: Zero(cur(t, "USD")), already: Zero(cur(t, "USD")), want: "0.00"},
		"M-3 three-place currency capped exactly":      {refund: amt(t, "1.001", "KWD"), cash: amt(t, "1.000", "KWD"), already: amt(t, "0.001", "KWD"), want: "0.999"},
		"M-3 result is never negative at the boundary": {refund: amt(t, "0.01", "USD"), cash: amt(t, "0.01", "USD"), already: amt(t, "0.01", "USD"), want: "0.00"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := CapRefund(tc.refund, tc.cash, tc.already)
			if tc.errMsg != "" {
				errstest.Want(t, err, errs.Invalid, tc.errMsg)
				if tc.rule != "" {
					if r := errs.RulesOf(err); len(r) != 1 || r[0] != tc.rule {
						t.Fatalf("RulesOf = %v, want [%s]", r, tc.rule)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want || got.Currency() != tc.cash.Currency() {
				t.Fatalf("CapRefund = %s %v, want %s %v", got, got.Currency(), tc.want, tc.cash.Currency())
			}
		})
	}
}

// FuzzRefund checks the refund arithmetic end to end for any payment: cash
// and gift card as non-negative minor-unit counts, and any usage num/den.
// The prorated refund of the whole payment is never negative, never above
// what was paid, and exactly floor(paid × num / den) (M-2); its split over
// (cash, gift card) adds up exactly with each part at most its weight
// (TC-6), so the cash part never exceeds the cash paid (M-3); and capping it
// leaves it unchanged.
func FuzzRefund(f *testing.F) {
	f.Add(uint64(160), uint64(0), int64(240), int64(300), uint8(0)) // GW-4 seed example
	f.Add(uint64(8000), uint64(4000), int64(2), int64(3), uint8(1)) // cash and gift card
	f.Add(uint64(1), uint64(1), int64(1), int64(2), uint8(2))       // one unit each, half used
	f.Add(uint64(0), uint64(0), int64(0), int64(1), uint8(3))       // nothing paid
	f.Add(uint64(1<<63), uint64(1<<63), int64(1<<62), int64(1<<63-1), uint8(4))
	f.Add(uint64(5), uint64(7), int64(8), int64(7), uint8(0))  // num > den
	f.Add(uint64(5), uint64(7), int64(-1), int64(7), uint8(0)) // num < 0
	f.Add(uint64(5), uint64(7), int64(0), int64(0), uint8(0))  // den == 0

	currencies := []Currency{{"USD", 2}, {"JPY", 0}, {"KWD", 3}, {"CNY", 2}, {"VND", 0}}
	f.Fuzz(func(t *testing.T, cashUnits, giftUnits uint64, num, den int64, ci uint8) {
		c := currencies[int(ci)%len(currencies)]
		cash := fromUnits(new(big.Int).SetUint64(cashUnits), c)
		gift := fromUnits(new(big.Int).SetUint64(giftUnits), c)
		paid, err := cash.Add(gift)
		if err != nil {
			t.Fatal(err)
		}

		refund, err := Prorate(paid, num, den)
		if den <= 0 || num < 0 || num > den {
			if errs.CodeOf(err) != errs.Invalid {
				t.Fatalf("Prorate(%s, %d, %d) = %v, want an invalid error", paid, num, den, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Prorate(%s, %d, %d): %v", paid, num, den, err)
		}
		if refund.Currency() != c {
			t.Fatalf("refund currency %v, want %v", refund.Currency(), c)
		}
		if refund.Decimal().Sign() < 0 {
			t.Fatalf("refund %s is negative", refund)
		}
		if refund.Cmp(paid) > 0 {
			t.Fatalf("refund %s exceeds paid %s", refund, paid)
		}
		// M-2: refund×den <= paid×num < (refund+1 unit)×den.
		r, p := refund.units(), paid.units()
		lhs := new(big.Int).Mul(r, big.NewInt(den))
		owed := new(big.Int).Mul(p, big.NewInt(num))
		if lhs.Cmp(owed) > 0 {
			t.Fatalf("refund %s is more than %s × %d/%d", refund, paid, num, den)
		}
		if lhs.Add(lhs, big.NewInt(den)).Cmp(owed) <= 0 {
			t.Fatalf("refund %s is a whole minor unit short of %s × %d/%d", refund, paid, num, den)
		}

		cashOnly, err := Prorate(cash, num, den)
		if err != nil {
			t.Fatal(err)
		}
		if cashOnly.Cmp(cash) > 0 {
			t.Fatalf("prorated cash %s exceeds cash paid %s", cashOnly, cash)
		}

		parts, err := Split(refund, []Amount{cash, gift})
		if err != nil {
			t.Fatalf("Split(%s, [%s %s]): %v", refund, cash, gift, err)
		}
		sum, err := parts[0].Add(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		if !sum.Equal(refund) {
			t.Fatalf("parts %s + %s = %s, want %s", parts[0], parts[1], sum, refund)
		}
		if parts[0].Cmp(cash) > 0 || parts[1].Cmp(gift) > 0 {
			t.Fatalf("parts %s, %s exceed weights %s, %s", parts[0], parts[1], cash, gift)
		}

		capped, err := CapRefund(parts[0], cash, Zero(c))
		if err != nil {
			t.Fatal(err)
		}
		if !capped.Equal(parts[0]) {
			t.Fatalf("capping cash part %s at cash %s changed it to %s", parts[0], cash, capped)
		}
	})
}

func BenchmarkProrateSplit(b *testing.B) {
	cash := amt(b, "1234.56", "USD")
	gift := amt(b, "789.01", "USD")
	paid, err := cash.Add(gift)
	if err != nil {
		b.Fatal(err)
	}
	weights := []Amount{cash, gift}
	b.ReportAllocs()
	for b.Loop() {
		refund, err := Prorate(paid, 240, 300)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Split(refund, weights); err != nil {
			b.Fatal(err)
		}
	}
}
