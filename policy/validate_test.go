package policy

import (
	"github.com/certflow/certflow/errs/errstest"
	"testing"
	"time"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/statemachine"
)

// TestInvalidInput checks that malformed input is an errs.Invalid error
// whose message names the field, never a Decision.
func TestInvalidInput(t *testing.T) {
	const now = "2026-03-03T10:00:00+08:00"
	tests := map[string]struct {
		profile string
		mod     func(*domain.Order, *domain.RefundRequest)
		now     string
		want    string
	}{
		"unknown product": {mod: func(o *domain.Order, _ *domain.RefundRequest) { o.Product = "toaster" },
			want: `order.product: unknown product "toaster"`},
		"product the profile does not sell": {profile: "tencent", mod: func(o *domain.Order, _ *domain.RefundRequest) {
			o.Product, o.Certificates = domain.HTTPSGateway, nil
		}, want: `order.product: "https_gateway" is not sold under profile tencent@2024.1`},
		"unknown currency": {mod: func(o *domain.Order, _ *domain.RefundRequest) { o.Currency = "XYZ" },
			want: `order.currency: unknown currency "XYZ"`},
		"negative cash": {mod: func(o *domain.Order, _ *domain.RefundRequest) {
			o.Payment.Cash, o.Payment.Voucher = dec("-10.00"), dec("110.00")
		}, want: "order.payment.cash: negative amount -10"},
		"negative price": {mod: func(o *domain.Order, _ *domain.RefundRequest) { o.Price = dec("-1") },
			want: "order.price: negative amount -1"},
		"more digits than the currency has (M-1)": {mod: func(o *domain.Order, _ *domain.RefundRequest) {
			o.Price, o.Payment.Cash = dec("100.005"), dec("100.005")
		}, want: "order.price: 100.005 is not an amount of USD"},
		"payment parts do not add up to the price": {mod: func(o *domain.Order, _ *domain.RefundRequest) {
			o.Payment.Voucher = dec("1.00")
		}, want: "order.payment: cash + voucher + gift_card = 101, but price is 100"},
		"negative benefit points": {mod: func(o *domain.Order, _ *domain.RefundRequest) { o.Payment.BenefitPoints = -1 },
			want: "order.payment.benefit_points: negative"},
		"already refunded more than the cash paid": {mod: func(o *domain.Order, _ *domain.RefundRequest) {
			o.AlreadyRefunded = dec("100.01")
		}, want: "order.already_refunded: 100.01 exceeds the 100 paid in cash"},
		"certificates on a non-certificate product": {mod: func(o *domain.Order, _ *domain.RefundRequest) {
			o.Product = domain.PrivateCA
		}, want: "order.certificates: a private_ca order has no certificates"},
		"duplicate certificate IDs": {mod: func(o *domain.Order, _ *domain.RefundRequest) {
			o.Certificates = append(o.Certificates, cert("c-1", statemachine.NotActivated))
		}, want: `order.certificates[1].id: duplicate certificate "c-1"`},
		"certificate without an ID": {mod: func(o *domain.Order, _ *domain.RefundRequest) { o.Certificates[0].ID = "" },
			want: "order.certificates[0].id: missing"},
		"unknown certificate state": {mod: func(o *domain.Order, _ *domain.RefundRequest) { o.Certificates[0].State = "lost" },
			want: `order.certificates[0].state: unknown state "lost" of certificate "c-1"`},
		"missing paid_at": {mod: func(o *domain.Order, _ *domain.RefundRequest) { o.PaidAt = time.Time{} },
			want: "order.paid_at: missing"},
		"request one second before payment": {now: "2026-03-02T09:59:59+08:00",
			want: "request.requested_at: 2026-03-02T09:59:59+08:00 is before order.paid_at 2026-03-02T10:00:00+08:00"},
		"GRCQ consumed beyond the total": {mod: func(o *domain.Order, _ *domain.RefundRequest) {
			o.Product, o.Certificates, o.Usage = domain.HTTPSGateway, nil, &domain.Usage{GRCQTotal: 300, GRCQConsumed: 301}
		}, want: "order.usage.grcq_consumed: 301 exceeds grcq_total 300"},
		"GRCQ consumed without a total": {mod: func(o *domain.Order, _ *domain.RefundRequest) {
			o.Product, o.Certificates, o.Usage = domain.HTTPSGateway, nil, &domain.Usage{GRCQConsumed: 1}
		}, want: "order.usage.grcq_total: must be positive"},
		"negative API calls": {mod: func(o *domain.Order, _ *domain.RefundRequest) {
			o.Product, o.Certificates, o.Usage = domain.CertRepository, nil, &domain.Usage{APICalls: -1}
		}, want: "order.usage.api_calls: negative"},
		"unknown scope": {mod: func(_ *domain.Order, r *domain.RefundRequest) { r.Scope = "half" },
			want: `request.scope: unknown scope "half"`},
		"managed service scope on a gateway": {mod: func(o *domain.Order, r *domain.RefundRequest) {
			o.Product, o.Certificates, r.Scope = domain.HTTPSGateway, nil, domain.ScopeManagedService
		}, want: "request.scope"},
		"validity beyond 3 years": {mod: func(o *domain.Order, _ *domain.RefundRequest) { o.ValidityYears = 4 },
			want: "order.validity_years: must be 1, 2 or 3, got 4"},
		"unknown value-added level": {mod: func(o *domain.Order, _ *domain.RefundRequest) { o.ValueAdded = "gold" },
			want: `order.value_added: unknown level "gold"`},
		"negative promotion window": {mod: func(o *domain.Order, _ *domain.RefundRequest) {
			o.Promotion = &domain.Promotion{ID: "p", WindowDays: intp(-1)}
		}, want: "order.promotion.window_days: negative"},
		"request for another order": {mod: func(_ *domain.Order, r *domain.RefundRequest) { r.OrderID = "o-2" },
			want: `request.order_id: "o-2" is not order "o-1"`},
		"order sold under another profile": {mod: func(o *domain.Order, _ *domain.RefundRequest) { o.Profile = "tencent" },
			want: `order.profile: order sold under "tencent", evaluated with "aliyun-intl"`},
		"multi-year order out of order (SSL-8)": {mod: func(o *domain.Order, _ *domain.RefundRequest) {
			o.ValidityYears = 2
			o.Certificates = []domain.Certificate{cert("c-2", statemachine.NotActivated), cert("c-1", statemachine.PendingApplication)}
		}, want: "the first year is never Not Activated"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			name := tc.profile
			if name == "" {
				name = "aliyun-intl"
			}
			o, r := sslOrder(t, cert("c-1", statemachine.PendingApplication)), confirmed()
			if tc.mod != nil {
				tc.mod(&o, &r)
			}
			when := now
			if tc.now != "" {
				when = tc.now
			}
			d, err := Evaluate(profile(t, name), weekends(t), o, r, at(t, when))
			errstest.Want(t, err, errs.Invalid, tc.want)
			if d.Eligible || d.Refund != nil {
				t.Fatalf("an error came with a decision: %+v", d)
			}
		})
	}
	t.Run("profile not loaded", func(t *testing.T) {
		_, err := Evaluate(Profile{}, weekends(t), sslOrder(t), confirmed(), at(t, now))
		errstest.Want(t, err, errs.Invalid, "profile: not loaded")
	})
	t.Run("missing now", func(t *testing.T) {
		_, err := Evaluate(profile(t, "aliyun-intl"), weekends(t), sslOrder(t), confirmed(), time.Time{})
		errstest.Want(t, err, errs.Invalid, "now: missing")
	})
}
