package policy

import (
	"testing"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/statemachine"
)

// TestJudgeRevocation covers SSL-2, SSL-7, VAS-2, VAS-3, VAS-4 and TC-1 on a
// completed revocation review, with every boundary one second inside,
// exactly at, and one second past. Orders are paid 2026-03-02 10:00 +08.
func TestJudgeRevocation(t *testing.T) {
	const issued = "2026-03-02T18:00:00+08:00" // +28 days: 2026-03-30T18:00
	type want struct {
		refund     bool
		refundRule string
		quota      bool
		quotaRule  string
	}
	tests := map[string]struct {
		profile       string
		vas           domain.ValueAdded
		promo         *domain.Promotion
		issuedAt      string
		domainChanged bool
		completed     string
		want          want
	}{
		"SSL-2 review completed one second inside the window": {
			profile: "aliyun-intl", issuedAt: issued, completed: "2026-03-09T09:59:59+08:00",
			want: want{true, RuleSSL2, true, RuleSSL7}},
		"SSL-2 review completed exactly at the window end": {
			profile: "aliyun-intl", issuedAt: issued, completed: "2026-03-09T10:00:00+08:00",
			want: want{true, RuleSSL2, true, RuleSSL7}},
		"SSL-2 review completed one second late: no refund": {
			profile: "aliyun-intl", issuedAt: issued, completed: "2026-03-09T10:00:01+08:00",
			want: want{false, RuleSSL2, true, RuleSSL7}},
		"SSL-2 SSL-7 story p06: approved 03-10, no refund, quota back": {
			profile: "aliyun-intl", issuedAt: issued, completed: "2026-03-10T11:00:00+08:00",
			want: want{false, RuleSSL2, true, RuleSSL7}},
		"SSL-7 revoked one second inside 28 days of issuance": {
			profile: "aliyun-intl", issuedAt: issued, completed: "2026-03-30T17:59:59+08:00",
			want: want{false, RuleSSL2, true, RuleSSL7}},
		"SSL-7 revoked exactly 28 days after issuance": {
			profile: "aliyun-intl", issuedAt: issued, completed: "2026-03-30T18:00:00+08:00",
			want: want{false, RuleSSL2, true, RuleSSL7}},
		"SSL-7 revoked one second past 28 days: quota kept": {
			profile: "aliyun-intl", issuedAt: issued, completed: "2026-03-30T18:00:01+08:00",
			want: want{false, RuleSSL2, false, RuleSSL7}},
		"SSL-7 domain changed: quota kept even in time": {
			profile: "aliyun-intl", issuedAt: issued, domainChanged: true, completed: "2026-03-04T10:00:00+08:00",
			want: want{true, RuleSSL2, false, RuleSSL7}},
		"SSL-7 no issuance time: quota not returned": {
			profile: "aliyun-intl", completed: "2026-03-04T10:00:00+08:00",
			want: want{true, RuleSSL2, false, RuleSSL7}},
		"GEN-2 promotion window moves the SSL-2 bound": {
			profile: "aliyun-intl", issuedAt: issued, promo: &domain.Promotion{ID: "p", WindowDays: intp(3)},
			completed: "2026-03-05T10:00:01+08:00", want: want{false, RuleSSL2, true, RuleSSL7}},
		"GEN-2 non-refundable promotion: no refund after revocation": {
			profile: "aliyun-intl", issuedAt: issued, promo: &domain.Promotion{ID: "p", Refundable: boolp(false)},
			completed: "2026-03-04T10:00:00+08:00", want: want{false, RuleGEN2, true, RuleSSL7}},
		"VAS-2 no VAS, completed exactly at 7 days: refund and quota": {
			profile: "aliyun-cn", issuedAt: issued, completed: "2026-03-09T10:00:00+08:00",
			want: want{true, RuleVAS2, true, RuleVAS2}},
		"VAS-3 no VAS, one second past 7 days: quota only": {
			profile: "aliyun-cn", issuedAt: issued, completed: "2026-03-09T10:00:01+08:00",
			want: want{false, RuleVAS3, true, RuleVAS3}},
		"VAS-3 story p17: approved day 14, quota only": {
			profile: "aliyun-cn", issuedAt: issued, completed: "2026-03-16T10:00:00+08:00",
			want: want{false, RuleVAS3, true, RuleVAS3}},
		"VAS-3 no VAS, one second inside 30 days: quota only": {
			profile: "aliyun-cn", issuedAt: issued, completed: "2026-04-01T09:59:59+08:00",
			want: want{false, RuleVAS3, true, RuleVAS3}},
		"VAS-3 no VAS, exactly 30 days: quota only": {
			profile: "aliyun-cn", issuedAt: issued, completed: "2026-04-01T10:00:00+08:00",
			want: want{false, RuleVAS3, true, RuleVAS3}},
		"VAS-3 no VAS, one second past 30 days: neither": {
			profile: "aliyun-cn", issuedAt: issued, completed: "2026-04-01T10:00:01+08:00",
			want: want{false, RuleVAS3, false, RuleVAS3}},
		"VAS-3 quota counts from payment, not issuance": {
			profile: "aliyun-cn", completed: "2026-03-20T10:00:00+08:00",
			want: want{false, RuleVAS3, true, RuleVAS3}},
		"VAS-2 with VAS, one second inside 30 days: refund and quota": {
			profile: "aliyun-cn", vas: domain.VABasic, issuedAt: issued, completed: "2026-04-01T09:59:59+08:00",
			want: want{true, RuleVAS2, true, RuleVAS2}},
		"VAS-2 with VAS, exactly 30 days: refund and quota": {
			profile: "aliyun-cn", vas: domain.VAAdvanced, issuedAt: issued, completed: "2026-04-01T10:00:00+08:00",
			want: want{true, RuleVAS2, true, RuleVAS2}},
		"VAS-4 with VAS, one second past 30 days: neither": {
			profile: "aliyun-cn", vas: domain.VABasic, issuedAt: issued, completed: "2026-04-01T10:00:01+08:00",
			want: want{false, RuleVAS4, false, RuleVAS4}},
		"TC-1 tencent: an issued certificate is never refunded, quota kept": {
			profile: "tencent", issuedAt: issued, completed: "2026-03-03T10:00:00+08:00",
			want: want{false, RuleTC1, false, RuleTC1}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := sslOrder(t)
			o.ValueAdded, o.Promotion = tc.vas, tc.promo
			c := domain.Certificate{ID: "c-1", State: statemachine.ValidatingRevocation, DomainChanged: tc.domainChanged}
			if tc.issuedAt != "" {
				c.IssuedAt = ptime(t, tc.issuedAt)
			}
			v := JudgeRevocation(profile(t, tc.profile), o, c, at(t, tc.completed))
			got := want{v.Refund, v.RefundRule, v.QuotaReturned, v.QuotaRule}
			if got != tc.want {
				t.Fatalf("verdict = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestCountComplete covers VAS-2 and VAS-5 through Evaluate.
func TestCountComplete(t *testing.T) {
	p := profile(t, "aliyun-cn")
	revoked := func(t *testing.T, quota bool) domain.Certificate {
		c := cert("c-1", statemachine.Revoked)
		c.IssuedAt, c.RevokedAt, c.QuotaReturned = ptime(t, "2026-03-02T12:00:00+08:00"), ptime(t, "2026-03-05T10:00:00+08:00"), quota
		return c
	}
	t.Run("VAS-5 revoked without quota returned: count incomplete", func(t *testing.T) {
		d := evaluate(t, p, sslOrder(t, revoked(t, false)), confirmed(), "2026-03-06T10:00:00+08:00")
		wantReasons(t, d, RuleVAS5)
	})
	t.Run("VAS-5 not an aliyun-intl rule", func(t *testing.T) {
		d := evaluate(t, profile(t, "aliyun-intl"), sslOrder(t, revoked(t, false)), confirmed(), "2026-03-06T10:00:00+08:00")
		wantReasons(t, d)
	})
	t.Run("VAS-2 revoked in the window, quota back: delete, then refund", func(t *testing.T) {
		d := evaluate(t, p, sslOrder(t, revoked(t, true)), confirmed(), "2026-03-06T10:00:00+08:00")
		wantReasons(t, d)
		wantSteps(t, d, "release_certificates/SSL-6", "pay/GEN-4")
		if d.Irreversible() {
			t.Fatal("deleting a revoked certificate is not irreversible")
		}
		wantRefund(t, d, "100.00", "0", 0, domain.OriginalMethod)
	})
	t.Run("VAS-1 VAS-5 story p17: revoked day 14, request day 15: window over", func(t *testing.T) {
		c := revoked(t, true)
		c.RevokedAt = ptime(t, "2026-03-16T10:00:00+08:00")
		d := evaluate(t, p, sslOrder(t, c), confirmed(), "2026-03-17T10:00:00+08:00")
		wantReasons(t, d, RuleVAS1)
	})
	t.Run("VAS-2 issued certificate: revoke first, pay after the review", func(t *testing.T) {
		o := sslOrder(t, issuedCert(t, "c-1", "2026-03-03T09:00:00+08:00"))
		o.ValueAdded = domain.VABasic
		d := evaluate(t, p, o, plain(), "2026-03-20T10:00:00+08:00")
		wantReasons(t, d)
		wantSteps(t, d, "release_certificates/SSL-6", "pay/GEN-4")
		wantDeadline(t, d, "2026-03-28T00:00:00+08:00")
		if d.Window.RevocationRule != RuleVAS2 || d.Window.LateReviewRule != RuleVAS4 {
			t.Fatalf("window = %+v", d.Window)
		}
	})
}
