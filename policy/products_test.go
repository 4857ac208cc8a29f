package policy

import (
	"testing"

	"github.com/certflow/certflow/domain"
)

// TestGateway covers GW-2, GW-3, GW-4 and M-2 with the seed example.
func TestGateway(t *testing.T) {
	p := profile(t, "aliyun-intl")
	tests := map[string]struct {
		price    string
		currency string
		usage    *domain.Usage
		req      domain.RefundRequest
		cash     string
		steps    []string
		reasons  []string
		approval bool
	}{
		"GW-2 unused: full refund, no step": {
			price: "1.60", cash: "1.60", steps: []string{"pay/GEN-4"}},
		"GW-2 usage recorded but no domain added: unused": {
			price: "1.60", usage: &domain.Usage{GRCQTotal: 300}, cash: "1.60", steps: []string{"pay/GEN-4"}},
		"GW-3 domain added, no GRCQ consumed: reset, then full refund": {
			price: "1.60", usage: &domain.Usage{GRCQTotal: 300, DomainAdded: true}, cash: "1.60",
			steps: []string{"reset_gateway/GW-3", "pay/GEN-4"}},
		"GW-3 reset is irreversible: unconfirmed request refused (SSL-9)": {
			price: "1.60", usage: &domain.Usage{GRCQTotal: 300, DomainAdded: true},
			req: domain.RefundRequest{Consent: true}, reasons: []string{RuleSSL9}},
		"GW-4 M-2 seed example: 1.60 USD, 60 of 300 GRCQ consumed -> 1.28 after approval": {
			price: "1.60", usage: &domain.Usage{GRCQTotal: 300, GRCQConsumed: 60, DomainAdded: true}, cash: "1.28",
			steps: []string{"await_approval/GW-4", "pay/GEN-4"}, approval: true},
		"M-2 rounds toward zero: 1.00 x 2/3 -> 0.66": {
			price: "1.00", usage: &domain.Usage{GRCQTotal: 3, GRCQConsumed: 1, DomainAdded: true}, cash: "0.66",
			steps: []string{"await_approval/GW-4", "pay/GEN-4"}, approval: true},
		"M-2 rounds toward zero in JPY: 1000 x 6/7 -> 857": {
			price: "1000", currency: "JPY", usage: &domain.Usage{GRCQTotal: 7, GRCQConsumed: 1, DomainAdded: true}, cash: "857",
			steps: []string{"await_approval/GW-4", "pay/GEN-4"}, approval: true},
		"GW-4 consumption counts as use even without domain_added": {
			price: "1.60", usage: &domain.Usage{GRCQTotal: 300, GRCQConsumed: 150}, cash: "0.80",
			steps: []string{"await_approval/GW-4", "pay/GEN-4"}, approval: true},
		"GW-4 everything consumed: nothing to refund": {
			price: "1.60", usage: &domain.Usage{GRCQTotal: 300, GRCQConsumed: 300, DomainAdded: true}, reasons: []string{RuleGW4}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := productOrder(t, domain.HTTPSGateway, tc.price, tc.usage)
			if tc.currency != "" {
				o.Currency = tc.currency
			}
			req := tc.req
			if req == (domain.RefundRequest{}) {
				req = plain()
			}
			d := evaluate(t, p, o, req, "2026-03-05T10:00:00+08:00")
			wantReasons(t, d, tc.reasons...)
			if tc.reasons != nil {
				return
			}
			wantSteps(t, d, tc.steps...)
			wantRefund(t, d, tc.cash, "0", 0, domain.OriginalMethod)
			if d.RequiresApproval != tc.approval {
				t.Fatalf("requires approval = %v, want %v", d.RequiresApproval, tc.approval)
			}
		})
	}
}

// TestPrivateCA covers PCA-2 and PCA-3.
func TestPrivateCA(t *testing.T) {
	p := profile(t, "aliyun-intl")
	paid := func(t *testing.T, u *domain.Usage) domain.Order {
		o := productOrder(t, domain.PrivateCA, "500.00", u)
		o.Payment = domain.Payment{Cash: dec("450.00"), Voucher: dec("50.00")}
		return o
	}
	t.Run("PCA-2 unused: refund, no step", func(t *testing.T) {
		d := evaluate(t, p, paid(t, &domain.Usage{}), plain(), "2026-03-06T10:00:00+08:00")
		wantReasons(t, d)
		wantSteps(t, d, "pay/GEN-4")
		wantRefund(t, d, "450.00", "0", 0, domain.OriginalMethod)
	})
	t.Run("PCA-3 CA enabled: irreversible reset, then refund (story p14)", func(t *testing.T) {
		d := evaluate(t, p, paid(t, &domain.Usage{CAEnabled: true}), plain(), "2026-03-06T10:00:00+08:00")
		wantReasons(t, d)
		wantSteps(t, d, "reset_private_ca/PCA-3", "pay/GEN-4")
		if !d.Steps[0].Irreversible || !d.Irreversible() {
			t.Fatal("the reset deletes all CA data: irreversible")
		}
		wantRefund(t, d, "450.00", "0", 0, domain.OriginalMethod)
	})
	t.Run("PCA-3 reset not confirmed: refused with SSL-9", func(t *testing.T) {
		r := plain()
		r.ConfirmIrreversible = false
		d := evaluate(t, p, paid(t, &domain.Usage{CAEnabled: true}), r, "2026-03-06T10:00:00+08:00")
		wantReasons(t, d, RuleSSL9)
		wantMissing(t, d, FieldConfirmIrreversible)
	})
	t.Run("PCA-3 reset only within 7 days of purchase", func(t *testing.T) {
		d := evaluate(t, p, paid(t, &domain.Usage{CAEnabled: true}), plain(), "2026-03-09T10:00:01+08:00")
		wantReasons(t, d, RuleGEN1)
	})
}

// TestUnusedServices covers UNU-1..UNU-4: refundable only while unused.
func TestUnusedServices(t *testing.T) {
	p := profile(t, "aliyun-intl")
	tests := map[string]struct {
		product domain.Product
		usage   *domain.Usage
		refused string
	}{
		"UNU-1 notification configured: refused":       {domain.MessageNotification, &domain.Usage{NotificationsConfigured: true}, RuleUNU1},
		"UNU-1 no notification configured: refunded":   {domain.MessageNotification, &domain.Usage{}, ""},
		"UNU-2 monitoring configured: refused":         {domain.DomainMonitoring, &domain.Usage{MonitoringConfigured: true}, RuleUNU2},
		"UNU-2 no usage recorded: refunded":            {domain.DomainMonitoring, nil, ""},
		"UNU-3 one API call consumed: refused":         {domain.CertRepository, &domain.Usage{APICalls: 1}, RuleUNU3},
		"UNU-3 no API call: refunded":                  {domain.CertRepository, &domain.Usage{APICalls: 0}, ""},
		"UNU-4 one deployment task created: refused":   {domain.CloudDeployment, &domain.Usage{DeploymentTasks: 1}, RuleUNU4},
		"UNU-4 no deployment task: refunded":           {domain.CloudDeployment, &domain.Usage{}, ""},
		"UNU-4 another product's usage does not count": {domain.CloudDeployment, &domain.Usage{APICalls: 5, NotificationsConfigured: true}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := evaluate(t, p, productOrder(t, tc.product, "10.00", tc.usage), plain(), "2026-03-03T10:00:00+08:00")
			if tc.refused != "" {
				wantReasons(t, d, tc.refused)
				return
			}
			wantReasons(t, d)
			wantSteps(t, d, "pay/GEN-4")
			wantRefund(t, d, "10.00", "0", 0, domain.OriginalMethod)
		})
	}
}
