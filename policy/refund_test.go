package policy

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/statemachine"
)

// TestRefundAmount covers GEN-3, GEN-4, M-2 and M-3: what is refunded and
// where it goes (aliyun-*).
func TestRefundAmount(t *testing.T) {
	p := profile(t, "aliyun-intl")
	tests := map[string]struct {
		cash, voucher, gift, already string
		cashOut                      string
		rules                        []string
		refused                      string
	}{
		"GEN-3 vouchers are not refunded (story p01)":  {cash: "80.00", voucher: "20.00", cashOut: "80.00", rules: []string{RuleGEN3, RuleGEN4}},
		"GEN-3 a gift card is not cash in aliyun":      {cash: "60.00", gift: "40.00", cashOut: "60.00", rules: []string{RuleGEN3, RuleGEN4}},
		"GEN-3 all paid by voucher: nothing to refund": {cash: "0", voucher: "100.00", refused: RuleGEN3},
		"GEN-4 full cash to the original method":       {cash: "100.00", cashOut: "100.00", rules: []string{RuleGEN3, RuleGEN4}},
		"M-3 capped at cash minus already refunded":    {cash: "100.00", already: "30.00", cashOut: "70.00", rules: []string{RuleGEN3, RuleM3, RuleGEN4}},
		"M-3 voucher part never offsets the cap":       {cash: "80.00", voucher: "20.00", already: "79.99", cashOut: "0.01", rules: []string{RuleGEN3, RuleM3, RuleGEN4}},
		"M-3 fully refunded already: nothing left":     {cash: "100.00", already: "100.00", refused: RuleM3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := sslOrder(t)
			o.Payment = domain.Payment{Cash: dec(tc.cash), Voucher: dec(or0(tc.voucher)), GiftCard: dec(or0(tc.gift))}
			o.AlreadyRefunded = dec(or0(tc.already))
			d := evaluate(t, p, o, plain(), "2026-03-03T10:00:00+08:00")
			if tc.refused != "" {
				wantReasons(t, d, tc.refused)
				return
			}
			wantReasons(t, d)
			wantRefund(t, d, tc.cashOut, "0", 0, domain.OriginalMethod)
			if !slices.Equal(d.Refund.Rules, tc.rules) {
				t.Fatalf("rules = %v, want %v", d.Refund.Rules, tc.rules)
			}
		})
	}
}

func or0(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// TestGEN4FallbackToBalance covers GEN-4's fallback (story p10).
func TestGEN4FallbackToBalance(t *testing.T) {
	d := evaluate(t, profile(t, "aliyun-intl"), sslOrder(t), plain(), "2026-03-03T10:00:00+08:00")
	fb := d.Refund.FallbackToBalance()
	if fb.Destination != domain.AccountBalance || !fb.Cash.Equal(d.Refund.Cash) || !slices.Contains(fb.Rules, RuleGEN4) {
		t.Fatalf("fallback = %+v", fb)
	}
	if d.Refund.Destination != domain.OriginalMethod {
		t.Fatal("FallbackToBalance changed the original breakdown")
	}
	fb.Rules[0] = "X"
	if d.Refund.Rules[0] == "X" {
		t.Fatal("FallbackToBalance shares its Rules with the original")
	}
	if again := fb.FallbackToBalance(); len(again.Rules) != len(fb.Rules) {
		t.Fatalf("GEN-4 cited twice: %v", again.Rules)
	}
}

// TestTencent covers TC-1, TC-2, TC-4, TC-5 and TC-6.
func TestTencent(t *testing.T) {
	p := profile(t, "tencent")
	order := func(t *testing.T, certs ...domain.Certificate) domain.Order {
		o := sslOrder(t, certs...)
		o.Currency, o.Price = "CNY", dec("120.00")
		o.Payment = domain.Payment{Cash: dec("70.00"), Voucher: dec("20.00"), GiftCard: dec("30.00"), BenefitPoints: 5}
		return o
	}
	const now = "2026-03-05T10:00:00+08:00"
	t.Run("TC-4 pending submission: cancel the application, then refund", func(t *testing.T) {
		d := evaluate(t, p, order(t, cert("c-1", statemachine.PendingSubmission)), domain.RefundRequest{Consent: true}, now)
		wantReasons(t, d)
		wantSteps(t, d, "release_certificates/TC-4", "pay/TC-6")
		if got := planOf(d); !slices.Equal(got, []string{"c-1:cancel"}) || d.Irreversible() {
			t.Fatalf("plan = %v, irreversible %v", got, d.Irreversible())
		}
	})
	t.Run("TC-6 TC-2 story p18: cash 70 and gift card 30 to the account, points back", func(t *testing.T) {
		d := evaluate(t, p, order(t, cert("c-1", statemachine.PendingSubmission)), plain(), now)
		wantReasons(t, d)
		wantRefund(t, d, "70.00", "30.00", 5, domain.AccountBalance)
		if !slices.Equal(d.Refund.Rules, []string{RuleTC2, RuleTC6}) {
			t.Fatalf("rules = %v", d.Refund.Rules)
		}
		if d.Window != nil {
			t.Fatalf("tencent has no window, got %+v", d.Window)
		}
	})
	t.Run("TC-6 M-3 partial refund split in the proportions paid", func(t *testing.T) {
		o := order(t)
		o.AlreadyRefunded = dec("0.01") // 99.99 left of 100.00: 69.993 / 29.997
		d := evaluate(t, p, o, plain(), now)
		wantRefund(t, d, "69.99", "30.00", 0, domain.AccountBalance)
	})
	t.Run("TC-2 only vouchers paid: nothing to refund", func(t *testing.T) {
		o := order(t)
		o.Payment = domain.Payment{Voucher: dec("120.00")}
		wantReasons(t, evaluate(t, p, o, plain(), now), RuleTC2)
	})
	t.Run("TC-1 pending, failed and validating applications refund without a step", func(t *testing.T) {
		d := evaluate(t, p, order(t, cert("c-1", statemachine.ValidationFailed)), plain(), now)
		wantReasons(t, d)
		wantSteps(t, d, "pay/TC-6")
	})
	for name, st := range map[string]statemachine.CertState{
		"TC-1 issued certificate refused (story p19)": statemachine.Issued,
		"TC-1 certificate under revocation refused":   statemachine.ValidatingRevocation,
		"TC-1 revoked certificate refused":            statemachine.Revoked,
	} {
		t.Run(name, func(t *testing.T) {
			wantReasons(t, evaluate(t, p, order(t, cert("c-1", st)), confirmed(), now), RuleTC1)
		})
	}
	t.Run("TC-5 no consent: refused, consent missing (story p20)", func(t *testing.T) {
		r := plain()
		r.Consent = false
		d := evaluate(t, p, order(t, cert("c-1", statemachine.ValidationFailed)), r, now)
		wantReasons(t, d, RuleTC5)
		wantMissing(t, d, FieldConsent)
	})
	t.Run("TC-5 consent is not asked by aliyun", func(t *testing.T) {
		wantReasons(t, evaluate(t, profile(t, "aliyun-intl"), sslOrder(t), domain.RefundRequest{}, now))
	})
	t.Run("TC-1 no window: a request months later is still judged on state", func(t *testing.T) {
		wantReasons(t, evaluate(t, p, order(t), plain(), "2026-09-05T10:00:00+08:00"))
	})
}

// TestRefusalsCollected checks that every refusal that applies is listed,
// in the fixed order of the checks, each once in Reasons.
func TestRefusalsCollected(t *testing.T) {
	o := sslOrder(t, issuedCert(t, "c-1", "2026-03-02T12:00:00+08:00"))
	o.Promotion = &domain.Promotion{ID: "p", Refundable: boolp(false)}
	o.CombinedMultiDomain = true
	o.ValidityYears = 2
	r := domain.RefundRequest{Scope: domain.ScopeManagedService}
	d := evaluate(t, profile(t, "aliyun-intl"), o, r, "2026-03-10T10:00:00+08:00")
	wantReasons(t, d, RuleGEN2, RuleGEN1, RuleSSL4, RuleSSL3, RuleSSL9)
	if len(d.Refusals) != 6 {
		t.Fatalf("refusals = %+v, want SSL-9 twice", d.Refusals)
	}
	wantMissing(t, d, FieldConfirmIrreversible, FieldAcceptLateReviewRisk)
}

// TestDeterministic checks that a decision is a pure function of its
// inputs, down to its JSON.
func TestDeterministic(t *testing.T) {
	p := profile(t, "aliyun-intl")
	o := sslOrder(t, issuedCert(t, "c-1", "2026-03-02T12:00:00+08:00"), cert("c-2", statemachine.NotActivated), cert("c-3", statemachine.NotActivated))
	o.ValidityYears = 3
	first, _ := json.Marshal(evaluate(t, p, o, confirmed(), "2026-03-03T10:00:00+08:00"))
	for range 20 {
		again, _ := json.Marshal(evaluate(t, p, o, confirmed(), "2026-03-03T10:00:00+08:00"))
		if string(again) != string(first) {
			t.Fatalf("decisions differ:\n%s\n%s", first, again)
		}
	}
}
