package policy

import (
	"slices"
	"testing"
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
