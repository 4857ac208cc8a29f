package policy

import (
	"testing"

	"github.com/certflow/certflow/domain"
)

// TestWindow covers T-1 through Evaluate: a request at or before
// paid_at + N*24h is in time, one second later is late, for every window a
// profile or promotion can set.
func TestWindow(t *testing.T) {
	vas := func(v domain.ValueAdded) func(*domain.Order) { return func(o *domain.Order) { o.ValueAdded = v } }
	promo := func(pr domain.Promotion) func(*domain.Order) { return func(o *domain.Order) { o.Promotion = &pr } }
	tests := map[string]struct {
		profile string
		mod     func(*domain.Order)
		now     string
		wantEnd string
		rule    string // the window's rule
		refused bool
	}{
		"T-1 GEN-1 one second inside the 7 days":  {"aliyun-intl", nil, "2026-03-09T09:59:59+08:00", "2026-03-09T10:00:00+08:00", RuleGEN1, false},
		"T-1 GEN-1 exactly at paid_at + 7*24h":    {"aliyun-intl", nil, "2026-03-09T10:00:00+08:00", "2026-03-09T10:00:00+08:00", RuleGEN1, false},
		"T-1 GEN-1 one second past the 7 days":    {"aliyun-intl", nil, "2026-03-09T10:00:01+08:00", "2026-03-09T10:00:00+08:00", RuleGEN1, true},
		"T-1 GEN-1 counts instants, not dates":    {"aliyun-intl", nil, "2026-03-09T02:00:01Z", "2026-03-09T10:00:00+08:00", RuleGEN1, true},
		"GEN-1 request at the payment instant":    {"aliyun-intl", nil, paidAt, "2026-03-09T10:00:00+08:00", RuleGEN1, false},
		"VAS-1 7 days without VAS one second in":  {"aliyun-cn", vas(domain.VANone), "2026-03-09T09:59:59+08:00", "2026-03-09T10:00:00+08:00", RuleVAS1, false},
		"VAS-1 7 days without VAS exactly at":     {"aliyun-cn", vas(domain.VANone), "2026-03-09T10:00:00+08:00", "2026-03-09T10:00:00+08:00", RuleVAS1, false},
		"VAS-1 7 days without VAS one second out": {"aliyun-cn", vas(domain.VANone), "2026-03-09T10:00:01+08:00", "2026-03-09T10:00:00+08:00", RuleVAS1, true},
		"VAS-1 empty value_added counts as none":  {"aliyun-cn", vas(""), "2026-03-09T10:00:01+08:00", "2026-03-09T10:00:00+08:00", RuleVAS1, true},
		"VAS-1 30 days basic one second in":       {"aliyun-cn", vas(domain.VABasic), "2026-04-01T09:59:59+08:00", "2026-04-01T10:00:00+08:00", RuleVAS1, false},
		"VAS-1 30 days basic exactly at":          {"aliyun-cn", vas(domain.VABasic), "2026-04-01T10:00:00+08:00", "2026-04-01T10:00:00+08:00", RuleVAS1, false},
		"VAS-1 30 days basic one second out":      {"aliyun-cn", vas(domain.VABasic), "2026-04-01T10:00:01+08:00", "2026-04-01T10:00:00+08:00", RuleVAS1, true},
		"VAS-1 30 days advanced exactly at":       {"aliyun-cn", vas(domain.VAAdvanced), "2026-04-01T10:00:00+08:00", "2026-04-01T10:00:00+08:00", RuleVAS1, false},
		"VAS-1 30 days advanced one second out":   {"aliyun-cn", vas(domain.VAAdvanced), "2026-04-01T10:00:01+08:00", "2026-04-01T10:00:00+08:00", RuleVAS1, true},
		"VAS-1 value-added ignored in intl":       {"aliyun-intl", vas(domain.VABasic), "2026-03-09T10:00:01+08:00", "2026-03-09T10:00:00+08:00", RuleGEN1, true},
		"GEN-2 promo 3-day window one second in":  {"aliyun-intl", promo(domain.Promotion{ID: "p", WindowDays: intp(3)}), "2026-03-05T09:59:59+08:00", "2026-03-05T10:00:00+08:00", RuleGEN2, false},
		"GEN-2 promo 3-day window exactly at":     {"aliyun-intl", promo(domain.Promotion{ID: "p", WindowDays: intp(3)}), "2026-03-05T10:00:00+08:00", "2026-03-05T10:00:00+08:00", RuleGEN2, false},
		"GEN-2 promo 3-day window one second out": {"aliyun-intl", promo(domain.Promotion{ID: "p", WindowDays: intp(3)}), "2026-03-05T10:00:01+08:00", "2026-03-05T10:00:00+08:00", RuleGEN2, true},
		"GEN-2 promo 14-day window extends GEN-1": {"aliyun-intl", promo(domain.Promotion{ID: "p", WindowDays: intp(14)}), "2026-03-16T10:00:00+08:00", "2026-03-16T10:00:00+08:00", RuleGEN2, false},
		"GEN-2 promo window replaces VAS-1 too":   {"aliyun-cn", promo(domain.Promotion{ID: "p", WindowDays: intp(10)}), "2026-03-12T10:00:01+08:00", "2026-03-12T10:00:00+08:00", RuleGEN2, true},
		"GEN-2 promo without terms keeps GEN-1":   {"aliyun-intl", promo(domain.Promotion{ID: "p"}), "2026-03-09T10:00:01+08:00", "2026-03-09T10:00:00+08:00", RuleGEN1, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := sslOrder(t)
			if tc.mod != nil {
				tc.mod(&o)
			}
			d := evaluate(t, profile(t, tc.profile), o, confirmed(), tc.now)
			if d.Window == nil || !d.Window.End.Equal(at(t, tc.wantEnd)) || d.Window.Rule != tc.rule {
				t.Fatalf("window = %+v, want end %s rule %s", d.Window, tc.wantEnd, tc.rule)
			}
			if tc.refused {
				wantReasons(t, d, tc.rule)
				return
			}
			wantReasons(t, d)
			wantRefund(t, d, "100.00", "0", 0, domain.OriginalMethod)
		})
	}
}

// TestGeneralRulesApplyToEveryProduct covers SSL-1, GW-1, PCA-1 and the
// GEN-1..4 clause of UNU-1..4: the same window refuses every product, and
// the same cash-only, original-method refund pays every product.
func TestGeneralRulesApplyToEveryProduct(t *testing.T) {
	p := profile(t, "aliyun-intl")
	tests := map[string]domain.Product{
		"SSL-1 GEN-1..4 apply to SSL certificates":    domain.SSLCertificate,
		"GW-1 GEN-1..4 apply to the gateway":          domain.HTTPSGateway,
		"PCA-1 GEN-1..4 apply to the private CA":      domain.PrivateCA,
		"UNU-1 GEN-1..4 apply to message notice":      domain.MessageNotification,
		"UNU-2 GEN-1..4 apply to domain monitoring":   domain.DomainMonitoring,
		"UNU-3 GEN-1..4 apply to the cert repository": domain.CertRepository,
		"UNU-4 GEN-1..4 apply to cloud deployment":    domain.CloudDeployment,
	}
	for name, pr := range tests {
		t.Run(name, func(t *testing.T) {
			o := productOrder(t, pr, "50.00", nil)
			o.Payment = domain.Payment{Cash: dec("30.00"), Voucher: dec("20.00"), GiftCard: dec("0")}
			wantReasons(t, evaluate(t, p, o, plain(), "2026-03-09T10:00:01+08:00"), RuleGEN1)
			d := evaluate(t, p, o, plain(), "2026-03-09T10:00:00+08:00")
			wantReasons(t, d)
			wantRefund(t, d, "30.00", "0", 0, domain.OriginalMethod) // GEN-3, GEN-4
			wantSteps(t, d, "pay/GEN-4")
		})
	}
}

// TestPromotion covers GEN-2's other term: a promotion may declare the
// order non-refundable.
func TestPromotion(t *testing.T) {
	tests := map[string]struct {
		profile string
		promo   domain.Promotion
		want    []string
	}{
		"GEN-2 non-refundable promotion refused":    {"aliyun-intl", domain.Promotion{ID: "618", Refundable: boolp(false)}, []string{RuleGEN2}},
		"GEN-2 non-refundable promotion in cn":      {"aliyun-cn", domain.Promotion{ID: "618", Refundable: boolp(false)}, []string{RuleGEN2}},
		"GEN-2 refundable promotion is refunded":    {"aliyun-intl", domain.Promotion{ID: "618", Refundable: boolp(true)}, nil},
		"GEN-2 promotion terms unknown to tencent":  {"tencent", domain.Promotion{ID: "618", Refundable: boolp(false)}, nil},
		"GEN-2 non-refundable beats its own window": {"aliyun-intl", domain.Promotion{ID: "618", Refundable: boolp(false), WindowDays: intp(30)}, []string{RuleGEN2}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := sslOrder(t)
			o.Promotion = &tc.promo
			d := evaluate(t, profile(t, tc.profile), o, confirmed(), "2026-03-03T10:00:00+08:00")
			wantReasons(t, d, tc.want...)
		})
	}
}
