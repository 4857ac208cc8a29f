package policy

import (
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/statemachine"
)

// paidAt is the payment instant of the test orders: Monday 2026-03-02
// 10:00 in Asia/Shanghai.
const paidAt = "2026-03-02T10:00:00+08:00"

func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("bad time %q: %v", s, err)
	}
	return v
}

func ptime(t testing.TB, s string) *time.Time {
	t.Helper()
	v := at(t, s)
	return &v
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func registry(t testing.TB) *Registry {
	t.Helper()
	r, err := LoadRegistry()
	if err != nil {
		t.Fatalf("LoadRegistry: %v", err)
	}
	return r
}

func profile(t testing.TB, name string) Profile {
	t.Helper()
	p, err := registry(t).Resolve(name, at(t, paidAt))
	if err != nil {
		t.Fatalf("Resolve(%s): %v", name, err)
	}
	return p
}

// weekends is the fixed test calendar: Monday to Friday in Asia/Shanghai,
// no holidays.
func weekends(t testing.TB) *calendar.Calendar {
	t.Helper()
	c, err := calendar.FromSpec(calendar.Spec{Name: "test-weekends", Version: "1", Timezone: "Asia/Shanghai"})
	if err != nil {
		t.Fatalf("FromSpec: %v", err)
	}
	return c
}

// sslOrder is a 1-year certificate paid 100.00 USD in cash at paidAt.
func sslOrder(t testing.TB, certs ...domain.Certificate) domain.Order {
	t.Helper()
	return domain.Order{
		ID: "o-1", Product: domain.SSLCertificate, PaidAt: at(t, paidAt), Currency: "USD",
		Price: dec("100.00"), Payment: domain.Payment{Cash: dec("100.00"), Voucher: dec("0"), GiftCard: dec("0")},
		ValidityYears: 1, ValueAdded: domain.VANone, Certificates: certs,
	}
}

// productOrder is an order of product pr paid price USD in cash.
func productOrder(t testing.TB, pr domain.Product, price string, u *domain.Usage) domain.Order {
	t.Helper()
	return domain.Order{
		ID: "o-1", Product: pr, PaidAt: at(t, paidAt), Currency: "USD",
		Price: dec(price), Payment: domain.Payment{Cash: dec(price)}, Usage: u,
	}
}

func cert(id string, s statemachine.CertState) domain.Certificate {
	return domain.Certificate{ID: id, State: s}
}

func issuedCert(t testing.TB, id, issued string) domain.Certificate {
	t.Helper()
	return domain.Certificate{ID: id, State: statemachine.Issued, IssuedAt: ptime(t, issued)}
}

// confirmed is a request with every confirmation given.
func confirmed() domain.RefundRequest {
	return domain.RefundRequest{OrderID: "o-1", Consent: true, ConfirmIrreversible: true, AcceptLateReviewRisk: true}
}

// plain is a request that consents and confirms irreversible steps, but
// does not accept the late-review risk.
func plain() domain.RefundRequest {
	r := confirmed()
	r.AcceptLateReviewRisk = false
	return r
}

func evaluate(t testing.TB, p Profile, o domain.Order, r domain.RefundRequest, now string) Decision {
	t.Helper()
	d, err := Evaluate(p, weekends(t), o, r, at(t, now))
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	return d
}

// wantReasons checks the refusal rule IDs exactly, in order; none means
// eligible.
func wantReasons(t testing.TB, d Decision, want ...string) {
	t.Helper()
	got := d.Reasons()
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("reasons = %v, want %v (refusals %+v)", got, want, d.Refusals)
	}
	if d.Eligible != (len(want) == 0) {
		t.Fatalf("eligible = %v with reasons %v", d.Eligible, got)
	}
	if d.Eligible && (d.Refund == nil || len(d.Steps) == 0 || d.Steps[len(d.Steps)-1].Kind != StepPay) {
		t.Fatalf("eligible decision without refund or final pay step: %+v", d)
	}
	if !d.Eligible && (d.Refund != nil || len(d.Steps) != 0) {
		t.Fatalf("refused decision carries a refund or steps: %+v", d)
	}
}

// wantRefund checks an eligible decision's breakdown.
func wantRefund(t testing.TB, d Decision, cash, gift string, points int64, dest domain.Destination) {
	t.Helper()
	if d.Refund == nil {
		t.Fatalf("no refund; refusals %+v", d.Refusals)
	}
	b := d.Refund
	if !b.Cash.Decimal().Equal(dec(cash)) || !b.GiftCard.Decimal().Equal(dec(gift)) ||
		b.BenefitPoints != points || b.Destination != dest {
		t.Fatalf("refund = cash %s gift %s points %d to %s, want %s %s %d to %s",
			b.Cash, b.GiftCard, b.BenefitPoints, b.Destination, cash, gift, points, dest)
	}
}

// wantSteps checks the kinds and rules of the steps, in order.
func wantSteps(t testing.TB, d Decision, want ...string) {
	t.Helper()
	var got []string
	for _, s := range d.Steps {
		got = append(got, string(s.Kind)+"/"+s.Rule)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("steps = %v, want %v", got, want)
	}
}

// planOf renders a release plan as certificate:event items.
func planOf(d Decision) []string {
	var out []string
	for _, s := range d.Steps {
		for _, ps := range s.Plan {
			out = append(out, ps.Certificate+":"+string(ps.Event))
		}
	}
	return out
}

func wantMissing(t testing.TB, d Decision, fields ...string) {
	t.Helper()
	var got []string
	for _, c := range d.MissingConfirmations {
		got = append(got, c.Field)
	}
	if !slices.Equal(got, fields) {
		t.Fatalf("missing confirmations = %v, want %v", got, fields)
	}
}

func usd(t testing.TB, s string) money.Amount {
	t.Helper()
	cur, err := money.LookupCurrency("USD")
	if err != nil {
		t.Fatal(err)
	}
	a, err := money.New(dec(s), cur)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func intp(n int) *int    { return &n }
func boolp(b bool) *bool { return &b }
