package money

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/certflow/certflow/errs/errstest"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/errs"
)

// cur returns the currency with the given code or fails the test.
func cur(t testing.TB, code string) Currency {
	t.Helper()
	c, err := LookupCurrency(code)
	if err != nil {
		t.Fatalf("LookupCurrency(%q): %v", code, err)
	}
	return c
}

// amt returns the amount s of currency code or fails the test.
func amt(t testing.TB, s, code string) Amount {
	t.Helper()
	a, err := New(decimal.RequireFromString(s), cur(t, code))
	if err != nil {
		t.Fatalf("New(%s %s): %v", s, code, err)
	}
	return a
}

func TestLookupCurrency(t *testing.T) {
	tests := map[string]struct {
		code   string
		want   Currency
		errMsg string
	}{
		"M-1 USD has two places":       {code: "USD", want: Currency{"USD", 2}},
		"M-1 CNY has two places":       {code: "CNY", want: Currency{"CNY", 2}},
		"M-1 JPY has no minor unit":    {code: "JPY", want: Currency{"JPY", 0}},
		"M-1 KRW has no minor unit":    {code: "KRW", want: Currency{"KRW", 0}},
		"M-1 VND has no minor unit":    {code: "VND", want: Currency{"VND", 0}},
		"M-1 CLP has no minor unit":    {code: "CLP", want: Currency{"CLP", 0}},
		"M-1 ISK has no minor unit":    {code: "ISK", want: Currency{"ISK", 0}},
		"M-1 KWD has three places":     {code: "KWD", want: Currency{"KWD", 3}},
		"M-1 BHD has three places":     {code: "BHD", want: Currency{"BHD", 3}},
		"M-1 TND has three places":     {code: "TND", want: Currency{"TND", 3}},
		"M-1 IDR has two places (ISO)": {code: "IDR", want: Currency{"IDR", 2}},
		"lower case is normalised":     {code: "eur", want: Currency{"EUR", 2}},
		"mixed case is normalised":     {code: "Jpy", want: Currency{"JPY", 0}},
		"unknown code":                 {code: "XYZ", errMsg: `unknown currency "XYZ"`},
		"empty code":                   {code: "", errMsg: `unknown currency ""`},
		"spaces are not trimmed":       {code: " USD", errMsg: `unknown currency " USD"`},
		"fund code is not a currency":  {code: "CLF", errMsg: `unknown currency "CLF"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := LookupCurrency(tc.code)
			if tc.errMsg != "" {
				errstest.Want(t, err, errs.Invalid, tc.errMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestMinorUnitTable(t *testing.T) {
	for code, places := range minorUnits {
		if len(code) != 3 || strings.ToUpper(code) != code {
			t.Errorf("code %q is not three upper-case letters", code)
		}
		if places < 0 || places > 3 {
			t.Errorf("%s has %d places", code, places)
		}
	}
	// The currencies the brief names must all be there.
	for _, code := range strings.Fields(`USD EUR GBP CNY HKD TWD SGD AUD CAD CHF
		NZD SEK NOK DKK INR IDR MYR THB PHP KRW JPY VND CLP ISK BHD KWD JOD OMR
		TND LYD IQD BRL MXN RUB TRY ZAR AED SAR PLN CZK HUF ILS EGP`) {
		if _, ok := minorUnits[code]; !ok {
			t.Errorf("%s missing", code)
		}
	}
}

func TestNew(t *testing.T) {
	tests := map[string]struct {
		value  string
		cur    Currency
		want   string
		errMsg string
	}{
		"M-1 trailing zero beyond the minor unit is fine": {value: "1.280", cur: Currency{"USD", 2}, want: "1.28"},
		"M-1 a digit beyond the minor unit is refused":    {value: "1.285", cur: Currency{"USD", 2}, errMsg: `amount "1.285" has more than 2 decimal places for USD`},
		"M-1 JPY has no minor unit":                       {value: "100", cur: Currency{"JPY", 0}, want: "100"},
		"M-1 JPY refuses a fraction":                      {value: "100.5", cur: Currency{"JPY", 0}, errMsg: `amount "100.5" has more than 0 decimal places for JPY`},
		"M-1 JPY accepts zero fraction":                   {value: "100.00", cur: Currency{"JPY", 0}, want: "100"},
		"M-1 KWD has three places":                        {value: "1.5", cur: Currency{"KWD", 3}, want: "1.500"},
		"zero":                                            {value: "0", cur: Currency{"USD", 2}, want: "0.00"},
		"negative":                                        {value: "-1.00", cur: Currency{"USD", 2}, errMsg: `amount "-1.00" is negative`},
		"negative with extra digits shows them":           {value: "-0.001", cur: Currency{"USD", 2}, errMsg: `amount "-0.001" is negative`},
		"unknown currency":                                {value: "1", cur: Currency{"XYZ", 2}, errMsg: `unknown currency "XYZ"`},
		"zero currency":                                   {value: "0", cur: Currency{}, errMsg: `unknown currency ""`},
		"currency with wrong places":                      {value: "1", cur: Currency{"USD", 3}, errMsg: "currency USD has 2 decimal places, not 3"},
		"lower-case code by hand is refused":              {value: "1", cur: Currency{"usd", 2}, errMsg: `unknown currency "usd"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := New(decimal.RequireFromString(tc.value), tc.cur)
			if tc.errMsg != "" {
				errstest.Want(t, err, errs.Invalid, tc.errMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want {
				t.Fatalf("String() = %q, want %q", got.String(), tc.want)
			}
			if !got.Decimal().Equal(decimal.RequireFromString(tc.want)) {
				t.Fatalf("Decimal() = %s, want %s", got.Decimal(), tc.want)
			}
			if got.Decimal().Exponent() != -tc.cur.Places {
				t.Fatalf("Decimal() exponent = %d, want %d", got.Decimal().Exponent(), -tc.cur.Places)
			}
			if got.Currency() != tc.cur {
				t.Fatalf("Currency() = %+v, want %+v", got.Currency(), tc.cur)
			}
		})
	}
}

func TestNewM1ErrorCarriesRule(t *testing.T) {
	_, err := New(decimal.RequireFromString("1.285"), Currency{"USD", 2})
	if got := errs.RulesOf(err); len(got) != 1 || got[0] != "M-1" {
		t.Fatalf("RulesOf = %v, want [M-1]", got)
	}
}

func TestZeroAndString(t *testing.T) {
	tests := map[string]struct {
		a    Amount
		want string
	}{
		"zero USD":        {a: Zero(Currency{"USD", 2}), want: "0.00"},
		"zero JPY":        {a: Zero(Currency{"JPY", 0}), want: "0"},
		"zero KWD":        {a: Zero(Currency{"KWD", 3}), want: "0.000"},
		"zero Amount{}":   {a: Amount{}, want: "0"},
		"80 USD":          {a: amt(t, "80", "USD"), want: "80.00"},
		"M-1 100 JPY":     {a: amt(t, "100", "JPY"), want: "100"},
		"large USD":       {a: amt(t, "123456789012345678901234.5", "USD"), want: "123456789012345678901234.50"},
		"sub-unit string": {a: amt(t, "0.01", "USD"), want: "0.01"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.a.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
			if got, want := tc.a.IsZero(), decimal.RequireFromString(tc.want).IsZero(); got != want {
				t.Fatalf("IsZero() = %v, want %v", got, want)
			}
		})
	}
}

func TestStringIgnoresDecimalGlobals(t *testing.T) {
	// decimal.Decimal.String depends on package-level switches; ours must not.
	a := amt(t, "1e3", "USD")
	if got := a.String(); got != "1000.00" {
		t.Fatalf("String() = %q, want 1000.00", got)
	}
}

func TestAddSub(t *testing.T) {
	tests := map[string]struct {
		a, b    Amount
		sum     string
		diff    string
		addErr  string
		diffErr string
	}{
		"USD":                    {a: amt(t, "1.60", "USD"), b: amt(t, "0.32", "USD"), sum: "1.92", diff: "1.28"},
		"M-1 JPY":                {a: amt(t, "100", "JPY"), b: amt(t, "1", "JPY"), sum: "101", diff: "99"},
		"equal gives zero":       {a: amt(t, "5", "EUR"), b: amt(t, "5.00", "EUR"), sum: "10.00", diff: "0.00"},
		"negative result":        {a: amt(t, "1.00", "USD"), b: amt(t, "1.01", "USD"), sum: "2.01", diffErr: "subtracting 1.01 USD from 1.00 USD would be negative"},
		"currency mismatch":      {a: amt(t, "1", "USD"), b: amt(t, "1", "CNY"), addErr: `currency mismatch: "USD" and "CNY"`, diffErr: `currency mismatch: "USD" and "CNY"`},
		"zero Amount{} mismatch": {a: Amount{}, b: amt(t, "1", "USD"), addErr: `currency mismatch: "" and "USD"`, diffErr: `currency mismatch: "" and "USD"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := tc.a.Add(tc.b)
			if tc.addErr != "" {
				errstest.Want(t, err, errs.Invalid, tc.addErr)
			} else if err != nil {
				t.Fatal(err)
			} else if s.String() != tc.sum || s.Currency() != tc.a.Currency() {
				t.Fatalf("Add = %s %v, want %s %v", s, s.Currency(), tc.sum, tc.a.Currency())
			}
			d, err := tc.a.Sub(tc.b)
			if tc.diffErr != "" {
				errstest.Want(t, err, errs.Invalid, tc.diffErr)
			} else if err != nil {
				t.Fatal(err)
			} else if d.String() != tc.diff {
				t.Fatalf("Sub = %s, want %s", d, tc.diff)
			}
		})
	}
}

func TestCmpAndEqual(t *testing.T) {
	tests := map[string]struct {
		a, b  Amount
		cmp   int
		equal bool
	}{
		"less":                      {a: amt(t, "1.28", "USD"), b: amt(t, "1.60", "USD"), cmp: -1},
		"greater":                   {a: amt(t, "2", "USD"), b: amt(t, "1.99", "USD"), cmp: 1},
		"equal despite scale":       {a: amt(t, "1.5", "USD"), b: amt(t, "1.50", "USD"), cmp: 0, equal: true},
		"zero vs Zero":              {a: Zero(cur(t, "USD")), b: amt(t, "0", "USD"), cmp: 0, equal: true},
		"zero Amount{} vs Amount{}": {a: Amount{}, b: Amount{}, cmp: 0, equal: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.a.Cmp(tc.b); got != tc.cmp {
				t.Fatalf("Cmp = %d, want %d", got, tc.cmp)
			}
			if got := tc.a.Equal(tc.b); got != tc.equal {
				t.Fatalf("Equal = %v, want %v", got, tc.equal)
			}
		})
	}
}

func TestCmpPanicsOnCurrencyMismatch(t *testing.T) {
	a, b := amt(t, "1", "USD"), amt(t, "1", "EUR")
	if a.Equal(b) {
		t.Fatal("Equal across currencies = true")
	}
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("Cmp across currencies did not panic")
		}
		if msg, _ := r.(string); !strings.Contains(msg, `currency mismatch: "USD" and "EUR"`) {
			t.Fatalf("panic %v does not name the currencies", r)
		}
	}()
	a.Cmp(b)
}

func TestJSON(t *testing.T) {
	tests := map[string]struct {
		a    Amount
		want string
	}{
		"USD":           {a: amt(t, "80", "USD"), want: `{"value":"80.00","currency":"USD"}`},
		"M-1 JPY":       {a: amt(t, "100", "JPY"), want: `{"value":"100","currency":"JPY"}`},
		"KWD":           {a: amt(t, "0.5", "KWD"), want: `{"value":"0.500","currency":"KWD"}`},
		"zero USD":      {a: Zero(cur(t, "USD")), want: `{"value":"0.00","currency":"USD"}`},
		"zero Amount{}": {a: Amount{}, want: `{"value":"0","currency":""}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(tc.a)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Fatalf("Marshal = %s, want %s", b, tc.want)
			}
			var back Amount
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !back.Equal(tc.a) || back.String() != tc.a.String() {
				t.Fatalf("round trip gave %s %q, want %s %q", back, back.cur.Code, tc.a, tc.a.cur.Code)
			}
		})
	}
}

func TestJSONZeroAmountRoundTripsExactly(t *testing.T) {
	type holder struct {
		Cash     Amount `json:"cash"`
		GiftCard Amount `json:"gift_card"`
	}
	in := holder{Cash: amt(t, "1.28", "USD")}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out holder
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.GiftCard != (Amount{}) {
		t.Fatalf("zero gift card came back as %#v", out.GiftCard)
	}
	if !out.Cash.Equal(in.Cash) {
		t.Fatalf("cash came back as %s", out.Cash)
	}
}

func TestUnmarshalJSON(t *testing.T) {
	tests := map[string]struct {
		in     string
		want   string // "value currency"
		errMsg string
	}{
		"lower-case currency is normalised": {in: `{"value":"1.5","currency":"usd"}`, want: "1.50 USD"},
		"empty object is the zero Amount":   {in: `{}`, want: "0 "},
		"zero without currency":             {in: `{"value":"0.00","currency":""}`, want: "0 "},
		"M-1 too many places":               {in: `{"value":"1.285","currency":"USD"}`, errMsg: `amount "1.285" has more than 2 decimal places for USD`},
		"M-1 number instead of string":      {in: `{"value":1.28,"currency":"USD"}`, errMsg: "amount is not"},
		"negative":                          {in: `{"value":"-1.00","currency":"USD"}`, errMsg: `amount "-1.00" is negative`},
		"unknown currency":                  {in: `{"value":"1","currency":"XYZ"}`, errMsg: `unknown currency "XYZ"`},
		"value without currency":            {in: `{"value":"1.00","currency":""}`, errMsg: `amount "1.00" has no currency`},
		"currency without value":            {in: `{"currency":"USD"}`, errMsg: "amount in USD has no value"},
		"not a number":                      {in: `{"value":"abc","currency":"USD"}`, errMsg: `amount value "abc" is not a decimal number`},
		"not an object":                     {in: `"1.00"`, errMsg: "amount is not"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var a Amount
			err := json.Unmarshal([]byte(tc.in), &a)
			if tc.errMsg != "" {
				errstest.Want(t, err, errs.Invalid, tc.errMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := a.String() + " " + a.Currency().Code; got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUnmarshalJSONNullKeepsValue(t *testing.T) {
	a := amt(t, "2", "USD")
	if err := json.Unmarshal([]byte("null"), &a); err != nil {
		t.Fatal(err)
	}
	if a.String() != "2.00" {
		t.Fatalf("null changed the amount to %s", a)
	}
}
