package intake

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errstest"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/statemachine"
)

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func validator(t *testing.T) Validator {
	t.Helper()
	reg, err := policy.LoadRegistry()
	if err != nil {
		t.Fatal(err)
	}
	return Validator{Registry: reg}
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// good is a valid 2-year SSL order: 100 USD, 80 cash and 20 voucher.
func good() domain.Order {
	paid := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	issued := paid.Add(time.Hour)
	return domain.Order{
		ID: "o-1", Product: domain.SSLCertificate, Profile: "aliyun-intl", PaidAt: paid, Currency: "USD",
		Price: d("100.00"), Payment: domain.Payment{Cash: d("80.00"), Voucher: d("20.00")}, ValidityYears: 2,
		Certificates: []domain.Certificate{
			{ID: "c-1", State: statemachine.Issued, IssuedAt: &issued},
			{ID: "c-2", State: statemachine.NotActivated},
		},
	}
}

func TestValidOrdersPass(t *testing.T) {
	v := validator(t)
	if err := v.Validate(good(), now); err != nil {
		t.Fatalf("good order: %v", err)
	}
	gw := good()
	gw.Product, gw.ValidityYears, gw.Certificates = domain.HTTPSGateway, 0, nil
	gw.Usage = &domain.Usage{GRCQTotal: 300, GRCQConsumed: 60}
	if err := v.Validate(gw, now); err != nil {
		t.Fatalf("gateway order: %v", err)
	}
}

// TestBadOrders: each bad order is refused naming its field.
func TestBadOrders(t *testing.T) {
	v := validator(t)
	future := now.Add(24 * time.Hour)
	before := good().PaidAt.Add(-time.Hour)
	tests := map[string]struct {
		edit  func(o *domain.Order)
		field string
	}{
		"no id":           {func(o *domain.Order) { o.ID = "" }, "order.id"},
		"id with slash":   {func(o *domain.Order) { o.ID = "a/b" }, "order.id"},
		"id non-ASCII":    {func(o *domain.Order) { o.ID = "订单" }, "order.id"},
		"unknown product": {func(o *domain.Order) { o.Product = "toaster" }, "order.product"},
		"unknown profile": {func(o *domain.Order) { o.Profile = "acme" }, "order.profile"},
		"no profile":      {func(o *domain.Order) { o.Profile = "" }, "order.profile"},
		"product not sold (tencent)": {func(o *domain.Order) {
			o.Profile, o.Product, o.ValidityYears, o.Certificates = "tencent", domain.PrivateCA, 0, nil
		}, "order.product"},
		"unknown currency":          {func(o *domain.Order) { o.Currency = "XXQ" }, "order.currency"},
		"currency in lower case":    {func(o *domain.Order) { o.Currency = "usd" }, "order.currency"},
		"zero paid_at":              {func(o *domain.Order) { o.PaidAt = time.Time{}; o.Certificates[0].IssuedAt = nil }, "order.paid_at"},
		"negative cash":             {func(o *domain.Order) { o.Payment.Cash, o.Payment.Voucher = d("-10.00"), d("110.00") }, "order.payment.cash"},
		"sub-cent price (M-1)":      {func(o *domain.Order) { o.Price, o.Payment.Cash = d("100.001"), d("80.001") }, "order.price"},
		"1e400":                     {func(o *domain.Order) { o.Price = d("1e400") }, "order.price"},
		"cash above price":          {func(o *domain.Order) { o.Payment.Cash = d("150.00") }, "order.payment"},
		"parts below price":         {func(o *domain.Order) { o.Payment.Voucher = d("0") }, "order.payment"},
		"negative benefit points":   {func(o *domain.Order) { o.Payment.BenefitPoints = -1 }, "order.payment.benefit_points"},
		"refunded above paid (M-3)": {func(o *domain.Order) { o.AlreadyRefunded = d("90.00") }, "order.already_refunded"},
		"99-year validity":          {func(o *domain.Order) { o.ValidityYears = 99 }, "order.validity_years"},
		"no validity":               {func(o *domain.Order) { o.ValidityYears, o.Certificates = 0, nil }, "order.validity_years"},
		"validity on a gateway":     {func(o *domain.Order) { o.Product, o.Certificates = domain.HTTPSGateway, nil }, "order.validity_years"},
		"certificates on a gateway": {func(o *domain.Order) { o.Product, o.ValidityYears = domain.HTTPSGateway, 0 }, "order.certificates"},
		"more certificates than years (SSL-8)": {func(o *domain.Order) {
			o.ValidityYears = 1
		}, "order.certificates"},
		"usage on ssl": {func(o *domain.Order) { o.Usage = &domain.Usage{APICalls: 1} }, "order.usage"},
		"consumed above total": {func(o *domain.Order) {
			o.Product, o.ValidityYears, o.Certificates = domain.HTTPSGateway, 0, nil
			o.Usage = &domain.Usage{GRCQTotal: 1, GRCQConsumed: 2}
		}, "order.usage.grcq_consumed"},
		"unknown cert state":     {func(o *domain.Order) { o.Certificates[0].State = "lost" }, "order.certificates[0].state"},
		"duplicate cert":         {func(o *domain.Order) { o.Certificates[1].ID = "c-1" }, "order.certificates[1].id"},
		"issued before paid":     {func(o *domain.Order) { o.Certificates[0].IssuedAt = &before }, "order.certificates[0].issued_at"},
		"paid in the future":     {func(o *domain.Order) { o.PaidAt = future; o.Certificates[0].IssuedAt = nil }, "order.paid_at"},
		"paid in 1970":           {func(o *domain.Order) { o.PaidAt = time.Unix(0, 0); o.Certificates[0].IssuedAt = nil }, "order.paid_at"},
		"revoked before issued":  {func(o *domain.Order) { r := before; o.Certificates[0].RevokedAt = &r }, "order.certificates[0].revoked_at"},
		"unknown value added":    {func(o *domain.Order) { o.ValueAdded = "gold" }, "order.value_added"},
		"promotion window 10000": {func(o *domain.Order) { n := 10000; o.Promotion = &domain.Promotion{ID: "p", WindowDays: &n} }, "order.promotion.window_days"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := good()
			tc.edit(&o)
			err := v.Validate(o, now)
			errstest.Want(t, err, errs.Invalid, tc.field+":")
			if !strings.HasPrefix(errs.MessageOf(err), tc.field+":") {
				t.Errorf("message %q does not start with the field %s", errs.MessageOf(err), tc.field)
			}
		})
	}
}

// TestScenarioOrdersPass: every order of the acceptance scenarios is an
// order the gateway accepts (the simulator uses the same validator).
func TestScenarioOrdersPass(t *testing.T) {
	v := validator(t)
	files, _ := filepath.Glob("../testdata/scenarios/*.json")
	shared, _ := filepath.Glob("../../shared/scenarios/*.json")
	files = append(files, shared...)
	if len(files) < 10 {
		t.Fatalf("found only %d scenario files", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var sc struct {
			Profile string       `json:"profile"`
			Order   domain.Order `json:"order"`
		}
		if err := json.Unmarshal(b, &sc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		sc.Order.Profile = sc.Profile
		if err := v.Validate(sc.Order, time.Time{}); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}
