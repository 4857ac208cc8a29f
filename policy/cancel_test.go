package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// TestCanCancel covers CAN-1 and CAN-2 (with TC-3).
func TestCanCancel(t *testing.T) {
	tests := map[string]struct {
		profile          string
		irreversibleDone bool
		ok               bool
		rules            []string
	}{
		"CAN-1 before the first irreversible step: allowed (story p22)": {"aliyun-intl", false, true, []string{RuleCAN1}},
		"CAN-1 after a revoke, reset or payment: refused (story p21)":   {"aliyun-intl", true, false, []string{RuleCAN1}},
		"CAN-1 aliyun-cn follows the same rule":                         {"aliyun-cn", true, false, []string{RuleCAN1}},
		"CAN-2 TC-3 tencent: never, even before any step":               {"tencent", false, false, []string{RuleCAN2, RuleTC3}},
		"CAN-2 TC-3 tencent: never after a step either":                 {"tencent", true, false, []string{RuleCAN2, RuleTC3}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ok, rules, msg := CanCancel(profile(t, tc.profile), tc.irreversibleDone)
			if ok != tc.ok || !slices.Equal(rules, tc.rules) || msg == "" {
				t.Fatalf("CanCancel = %v %v %q, want %v %v", ok, rules, msg, tc.ok, tc.rules)
			}
		})
	}
	if ok, _, _ := CanCancel(Profile{}, false); ok {
		t.Fatal("a profile without cancel terms allows cancelling")
	}
}

func TestFinalRefusal(t *testing.T) {
	tests := map[string]struct {
		rules []string
		final bool
		rule  string
	}{
		"late (GEN-1)":                       {[]string{"GEN-1"}, true, "GEN-1"},
		"review too late (SSL-2)":            {[]string{"SSL-2"}, true, "SSL-2"},
		"issued in tencent (TC-1)":           {[]string{"TC-1"}, true, "TC-1"},
		"combined (SSL-3)":                   {[]string{"SSL-3"}, true, "SSL-3"},
		"already refunded (M-3)":             {[]string{"M-3"}, true, "M-3"},
		"no consent (TC-5)":                  {[]string{"TC-5"}, false, ""},
		"no confirmation (SSL-9)":            {[]string{"SSL-9"}, false, ""},
		"CA rejected the revocation (SSL-6)": {[]string{"SSL-6"}, false, ""},
		"payment failed (M-4)":               {[]string{"M-4"}, false, ""},
		"technical failure":                  {nil, false, ""},
		"mixed: one final rule decides":      {[]string{"SSL-9", "VAS-4"}, true, "VAS-4"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if final, rule := FinalRefusal(tc.rules); final != tc.final || rule != tc.rule {
				t.Fatalf("FinalRefusal(%v) = %v, %q; want %v, %q", tc.rules, final, rule, tc.final, tc.rule)
			}
		})
	}
}

// M-3: once the ledger paid out for an order, the decision is a refusal
// citing M-3 with the amount, even if a remainder is left (GW-4 prorated).
func TestRefusePaidOut(t *testing.T) {
	d := Decision{Eligible: true, Refusals: []Refusal{}}
	if got := RefusePaidOut(d, decimal.Zero, "USD"); !got.Eligible {
		t.Fatal("nothing paid out: the decision must stand")
	}
	got := RefusePaidOut(d, decimal.RequireFromString("1.28"), "USD")
	if got.Eligible || len(got.Refusals) != 1 || got.Refusals[0].Rule != "M-3" || !strings.Contains(got.Refusals[0].Message, "1.28 USD") {
		t.Fatalf("paid out: %+v", got)
	}
	if again := RefusePaidOut(got, decimal.RequireFromString("1.28"), "USD"); len(again.Refusals) != 1 {
		t.Fatalf("M-3 cited twice: %+v", again.Refusals)
	}
}
