package store_test

import (
	"context"
	"fmt"
	"github.com/certflow/certflow/errs/errstest"
	"testing"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
)

func TestOrderRoundTrip(t *testing.T) {
	refundable, window := false, 3
	issued := time.Date(2026, 3, 3, 9, 0, 0, 987654321, shanghai)
	revoked := time.Date(2026, 3, 5, 17, 30, 0, 0, time.FixedZone("PST", -8*3600))

	tests := map[string]func(t *testing.T) domain.Order{
		"SSL-8 three-year order keeps its certificates in year order": func(t *testing.T) domain.Order {
			o := sslOrder(t, "o-multi",
				domain.Certificate{ID: "c-year1", State: statemachine.Revoked, IssuedAt: &issued, RevokedAt: &revoked, DomainChanged: true, QuotaReturned: true},
				domain.Certificate{ID: "c-year2", State: statemachine.NotActivated},
				domain.Certificate{ID: "c-year3", State: statemachine.ValidationFailed, ResubmitRejected: "missing contact ID"})
			o.ValidityYears = 3
			return o
		},
		"M-1 amounts beyond float precision are exact": func(t *testing.T) domain.Order {
			o := sslOrder(t, "o-big")
			o.Price = dec(t, "99999999999999999.99")
			o.Payment.Cash = dec(t, "99999999999999999.98")
			o.Payment.Voucher = dec(t, "0.01")
			o.AlreadyRefunded = dec(t, "12345678901234567.89")
			return o
		},
		"M-1 JPY has no minor unit": func(t *testing.T) domain.Order {
			o := sslOrder(t, "o-jpy")
			o.Currency = "JPY"
			o.Price, o.Payment.Cash, o.Payment.Voucher = dec(t, "12000"), dec(t, "10000"), dec(t, "2000")
			return o
		},
		"GW-4 gateway with usage, promotion, gift card and points": func(t *testing.T) domain.Order {
			o := sslOrder(t, "o-gw")
			o.Product, o.Profile, o.ValidityYears, o.ValueAdded = domain.HTTPSGateway, "tencent", 0, ""
			o.Payment = domain.Payment{Cash: dec(t, "1.00"), Voucher: dec(t, "0.00"), GiftCard: dec(t, "0.60"), BenefitPoints: 150}
			o.Price = dec(t, "1.60")
			o.Promotion = &domain.Promotion{ID: "spring", Refundable: &refundable, WindowDays: &window}
			o.Usage = &domain.Usage{GRCQTotal: 300, GRCQConsumed: 60, DomainAdded: true}
			o.CombinedMultiDomain = true
			return o
		},
	}
	for name, build := range tests {
		t.Run(name, func(t *testing.T) {
			db, _ := openMem(t)
			want := build(t)
			put(t, db, want)
			got, err := db.GetOrder(context.Background(), want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := canonical(t, got), canonical(t, want); g != w {
				t.Fatalf("round trip changed the order:\ngot  %s\nwant %s", g, w)
			}
			if !got.PaidAt.Equal(want.PaidAt) || got.PaidAt.Location() != time.UTC {
				t.Fatalf("paid_at = %v, want the instant %v in UTC", got.PaidAt, want.PaidAt)
			}
			if !got.Price.Equal(want.Price) || got.Price.String() != want.Price.String() {
				t.Fatalf("price = %s, want %s", got.Price, want.Price)
			}
			for i, c := range got.Certificates {
				if c.IssuedAt != nil && !c.IssuedAt.Equal(*want.Certificates[i].IssuedAt) {
					t.Fatalf("certificate %s issued_at = %v, want %v", c.ID, c.IssuedAt, want.Certificates[i].IssuedAt)
				}
			}
		})
	}
}

func TestGetOrderNotFound(t *testing.T) {
	db, _ := openMem(t)
	_, err := db.GetOrder(context.Background(), "o-missing")
	errstest.Want(t, err, errs.NotFound, "order o-missing not found")
}

func TestPutOrderRefusesInvalidOrders(t *testing.T) {
	tests := map[string]struct {
		change func(t *testing.T, o *domain.Order)
		want   string
		rule   string
	}{
		"empty ID":                    {change: func(_ *testing.T, o *domain.Order) { o.ID = "" }, want: "order ID is empty"},
		"unknown product":             {change: func(_ *testing.T, o *domain.Order) { o.Product = "tea" }, want: `order o-1: unknown product "tea"`},
		"missing paid_at":             {change: func(_ *testing.T, o *domain.Order) { o.PaidAt = time.Time{} }, want: "order o-1: paid_at is missing"},
		"unknown currency":            {change: func(_ *testing.T, o *domain.Order) { o.Currency = "XYZ" }, want: `order o-1: unknown currency "XYZ"`},
		"negative cash":               {change: func(t *testing.T, o *domain.Order) { o.Payment.Cash = dec(t, "-1.00") }, want: `order o-1: cash: amount "-1.00" is negative`},
		"negative price":              {change: func(t *testing.T, o *domain.Order) { o.Price = dec(t, "-100") }, want: `order o-1: price: amount "-100.00" is negative`},
		"negative voucher":            {change: func(t *testing.T, o *domain.Order) { o.Payment.Voucher = dec(t, "-0.01") }, want: "order o-1: voucher: amount"},
		"negative points":             {change: func(_ *testing.T, o *domain.Order) { o.Payment.BenefitPoints = -5 }, want: "order o-1: benefit points -5 are negative"},
		"M-1 cents of a cent":         {change: func(t *testing.T, o *domain.Order) { o.Payment.Cash = dec(t, "80.005") }, want: "order o-1: cash: amount \"80.005\" has more than 2 decimal places for USD", rule: "M-1"},
		"M-3 refunded more than paid": {change: func(t *testing.T, o *domain.Order) { o.AlreadyRefunded = dec(t, "80.01") }, want: "order o-1: already refunded 80.01 USD exceeds the cash paid 80.00 USD", rule: "M-3"},
		"unknown value-added":         {change: func(_ *testing.T, o *domain.Order) { o.ValueAdded = "gold" }, want: `unknown value-added service "gold"`},
		"certificate without ID": {change: func(_ *testing.T, o *domain.Order) {
			o.Certificates = []domain.Certificate{cert("", statemachine.Issued)}
		}, want: "order o-1: certificate 0 has no ID"},
		"certificate listed twice": {change: func(_ *testing.T, o *domain.Order) {
			o.Certificates = []domain.Certificate{cert("c-1", statemachine.Issued), cert("c-1", statemachine.Revoked)}
		}, want: "order o-1: certificate c-1 is listed twice"},
		"unknown certificate state": {change: func(_ *testing.T, o *domain.Order) {
			o.Certificates = []domain.Certificate{cert("c-1", "lost")}
		}, want: `order o-1: certificate c-1: unknown state "lost"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db, _ := openMem(t)
			o := sslOrder(t, "o-1")
			tc.change(t, &o)
			err := db.PutOrder(context.Background(), o)
			errstest.Want(t, err, errs.Invalid, tc.want)
			if tc.rule != "" {
				if r := errs.RulesOf(err); len(r) != 1 || r[0] != tc.rule {
					t.Fatalf("rules = %v, want [%s]", r, tc.rule)
				}
			}
			if o.ID != "" {
				_, err := db.GetOrder(context.Background(), o.ID)
				errstest.Want(t, err, errs.NotFound)
			}
		})
	}
}

func TestPutOrderReplaces(t *testing.T) {
	ctx := context.Background()
	db, _ := openMem(t)
	put(t, db, sslOrder(t, "o-1", cert("c-1", statemachine.Issued), cert("c-2", statemachine.NotActivated), cert("c-3", statemachine.NotActivated)))
	if ok, err := db.ReturnQuota(ctx, "o-1", "c-1", "SSL-7", t0); err != nil || !ok {
		t.Fatalf("ReturnQuota = %v, %v", ok, err)
	}
	if err := db.SaveRefund(ctx, activities.RefundRecord{OrderID: "o-1", State: "releasing", UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}

	again := sslOrder(t, "o-1", cert("c-3", statemachine.PendingApplication), cert("c-1", statemachine.Revoked))
	again.Payment.Cash = dec(t, "70.00")
	put(t, db, again)

	got, err := db.GetOrder(ctx, "o-1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Payment.Cash.Equal(dec(t, "70")) {
		t.Errorf("cash = %s, want 70.00", got.Payment.Cash)
	}
	if len(got.Certificates) != 2 || got.Certificates[0].ID != "c-3" || got.Certificates[1].ID != "c-1" {
		t.Fatalf("certificates = %+v, want c-3 then c-1", got.Certificates)
	}
	if !got.Certificates[1].QuotaReturned || got.Certificates[1].State != statemachine.Revoked {
		t.Errorf("c-1 = %+v, want revoked with its quota still returned", got.Certificates[1])
	}
	if _, _, err := db.GetCertificate(ctx, "c-2"); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("c-2 still there after the order dropped it: %v", err)
	}
	if rec, err := db.GetRefund(ctx, "o-1"); err != nil || rec.State != "releasing" {
		t.Errorf("refund record = %+v, %v; want it kept", rec, err)
	}
	if ok, err := db.ReturnQuota(ctx, "o-1", "c-1", "SSL-7", t0); err != nil || ok {
		t.Errorf("ReturnQuota after replace = %v, %v; want false", ok, err)
	}
}

func TestPutOrderCertificateOfAnotherOrder(t *testing.T) {
	db, _ := openMem(t)
	put(t, db, sslOrder(t, "o-1", cert("c-1", statemachine.Issued)))
	err := db.PutOrder(context.Background(), sslOrder(t, "o-2", cert("c-1", statemachine.Issued)))
	errstest.Want(t, err, errs.Conflict, "certificate c-1 belongs to order o-1, not o-2")
	if _, err := db.GetOrder(context.Background(), "o-2"); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("o-2 was saved in part: %v", err)
	}
}

func TestSaveCertificate(t *testing.T) {
	ctx := context.Background()
	later := t0.Add(48 * time.Hour)
	tests := map[string]struct {
		orderID string
		cert    domain.Certificate
		code    errs.Code
		want    string
		// check runs on the order after a successful save.
		check func(t *testing.T, o domain.Order)
	}{
		"existing certificate keeps its position": {
			orderID: "o-1",
			cert:    domain.Certificate{ID: "c-1", State: statemachine.ValidatingRevocation, IssuedAt: at(t0)},
			check: func(t *testing.T, o domain.Order) {
				if c := o.Certificates[0]; c.ID != "c-1" || c.State != statemachine.ValidatingRevocation || !c.IssuedAt.Equal(t0) {
					t.Fatalf("first certificate = %+v", c)
				}
			},
		},
		"new certificate goes last": {
			orderID: "o-1",
			cert:    cert("c-9", statemachine.PendingApplication),
			check: func(t *testing.T, o domain.Order) {
				if len(o.Certificates) != 3 || o.Certificates[2].ID != "c-9" {
					t.Fatalf("certificates = %+v, want c-9 third", o.Certificates)
				}
			},
		},
		"a returned quota stays returned": {
			orderID: "o-1",
			cert:    cert("c-2", statemachine.Removed),
			check: func(t *testing.T, o domain.Order) {
				if c := o.Certificates[1]; c.State != statemachine.Removed || !c.QuotaReturned {
					t.Fatalf("c-2 = %+v, want removed with quota returned", c)
				}
			},
		},
		"unknown order":                {orderID: "o-9", cert: cert("c-1", statemachine.Issued), code: errs.NotFound, want: "order o-9 not found"},
		"certificate of another order": {orderID: "o-2", cert: cert("c-1", statemachine.Issued), code: errs.Conflict, want: "certificate c-1 belongs to order o-1, not o-2"},
		"unknown state":                {orderID: "o-1", cert: cert("c-1", "lost"), code: errs.Invalid, want: `certificate c-1: unknown state "lost"`},
		"empty certificate ID":         {orderID: "o-1", cert: cert("", statemachine.Issued), code: errs.Invalid, want: "certificate ID is empty"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db, _ := openMem(t)
			put(t, db, sslOrder(t, "o-1", cert("c-1", statemachine.Issued), cert("c-2", statemachine.PendingApplication)), sslOrder(t, "o-2"))
			if _, err := db.ReturnQuota(ctx, "o-1", "c-2", "SSL-6", t0); err != nil {
				t.Fatal(err)
			}
			err := db.SaveCertificate(ctx, tc.orderID, tc.cert, later)
			if tc.code != "" {
				errstest.Want(t, err, tc.code, tc.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o, err := db.GetOrder(ctx, "o-1")
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
			orderID, c, err := db.GetCertificate(ctx, tc.cert.ID)
			if err != nil || orderID != "o-1" || c.State != tc.cert.State {
				t.Fatalf("GetCertificate = %s, %+v, %v", orderID, c, err)
			}
		})
	}
}

func TestGetCertificateNotFound(t *testing.T) {
	db, _ := openMem(t)
	_, _, err := db.GetCertificate(context.Background(), "c-missing")
	errstest.Want(t, err, errs.NotFound, "certificate c-missing not found")
}

func TestReturnQuota(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		orderID, certID string
		// calls is how many times to return the quota; want what each reports.
		want  []bool
		code  errs.Code
		msg   string
		count int
	}{
		"SSL-7 once per certificate":              {orderID: "o-1", certID: "c-1", want: []bool{true, false, false}, count: 1},
		"quota returned before the order was put": {orderID: "o-3", certID: "c-given", want: []bool{false}, count: 1},
		"unknown certificate":                     {orderID: "o-1", certID: "c-9", code: errs.NotFound, msg: "certificate c-9 of order o-1 not found"},
		"certificate of another order":            {orderID: "o-2", certID: "c-1", code: errs.NotFound, msg: "certificate c-1 of order o-2 not found"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db, _ := openMem(t)
			given := cert("c-given", statemachine.Removed)
			given.QuotaReturned = true
			put(t, db, sslOrder(t, "o-1", cert("c-1", statemachine.Revoked)), sslOrder(t, "o-2"), sslOrder(t, "o-3", given))
			if tc.code != "" {
				_, err := db.ReturnQuota(ctx, tc.orderID, tc.certID, "SSL-7", t0)
				errstest.Want(t, err, tc.code, tc.msg)
				return
			}
			for i, want := range tc.want {
				got, err := db.ReturnQuota(ctx, tc.orderID, tc.certID, "SSL-7", t0.Add(time.Duration(i)*time.Hour))
				if err != nil || got != want {
					t.Fatalf("call %d: ReturnQuota = %v, %v; want %v", i+1, got, err, want)
				}
			}
			if n, err := db.QuotaReturned(ctx, tc.orderID); err != nil || n != tc.count {
				t.Fatalf("QuotaReturned = %d, %v; want %d", n, err, tc.count)
			}
		})
	}
}

func TestReturnQuotaConcurrentlyReturnsOnce(t *testing.T) {
	for kind, path := range kinds {
		t.Run(kind, func(t *testing.T) {
			db, _ := openAt(t, path(t))
			put(t, db, sslOrder(t, "o-1", cert("c-1", statemachine.Revoked)))
			const n = 8
			results := make(chan error, n)
			returned := make(chan bool, n)
			for range n {
				go func() {
					ok, err := db.ReturnQuota(context.Background(), "o-1", "c-1", "SSL-7", t0)
					returned <- ok
					results <- err
				}()
			}
			count := 0
			for range n {
				if err := <-results; err != nil {
					t.Error(err)
				}
				if <-returned {
					count++
				}
			}
			if count != 1 {
				t.Fatalf("%d calls returned the quota, want exactly 1", count)
			}
		})
	}
}

func TestQuotaReturnedUnknownOrder(t *testing.T) {
	db, _ := openMem(t)
	_, err := db.QuotaReturned(context.Background(), "o-9")
	errstest.Want(t, err, errs.NotFound, "order o-9 not found")
}

func TestListOrders(t *testing.T) {
	ctx := context.Background()
	db, _ := openMem(t)
	// o-1 .. o-6, paid an hour apart, o-6 newest; even ones are gateways.
	for i := 1; i <= 6; i++ {
		o := sslOrder(t, fmt.Sprintf("o-%d", i), cert(fmt.Sprintf("c-%d", i), statemachine.Issued))
		o.PaidAt = t0.Add(time.Duration(i) * time.Hour)
		if i%2 == 0 {
			o.Product, o.Certificates = domain.HTTPSGateway, nil
		}
		put(t, db, o)
	}
	// o-7 is paid at the same instant as o-6: ties go by ID.
	tie := sslOrder(t, "o-7")
	tie.PaidAt = t0.Add(6 * time.Hour)
	put(t, db, tie)
	for id, state := range map[string]string{"o-1": "refunded", "o-2": "refunded", "o-3": "releasing"} {
		rec := activities.RefundRecord{OrderID: id, State: state, UpdatedAt: t0}
		if id == "o-3" {
			rec.Due = &ports.RefundDue{Cash: "12.5", Destination: domain.OriginalMethod}
		}
		if err := db.SaveRefund(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}

	tests := map[string]struct {
		filter store.OrderFilter
		want   []string
	}{
		"all, newest first, ties by ID": {want: []string{"o-6", "o-7", "o-5", "o-4", "o-3", "o-2", "o-1"}},
		"by product":                    {filter: store.OrderFilter{Product: domain.HTTPSGateway}, want: []string{"o-6", "o-4", "o-2"}},
		"by refund state":               {filter: store.OrderFilter{RefundState: "refunded"}, want: []string{"o-2", "o-1"}},
		"without a refund":              {filter: store.OrderFilter{RefundState: store.NoRefund}, want: []string{"o-6", "o-7", "o-5", "o-4"}},
		"by product and refund state":   {filter: store.OrderFilter{Product: domain.SSLCertificate, RefundState: "refunded"}, want: []string{"o-1"}},
		"nothing matches":               {filter: store.OrderFilter{RefundState: "cancelled"}, want: []string{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			page, err := db.ListOrders(ctx, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]string, 0, len(page.Orders))
			for _, s := range page.Orders {
				got = append(got, s.Order.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || page.Next != "" {
				t.Fatalf("ListOrders = %v (next %q), want %v", got, page.Next, tc.want)
			}
		})
	}

	t.Run("pages cover every order once", func(t *testing.T) {
		var got []string
		f := store.OrderFilter{Limit: 3}
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatal("too many pages")
			}
			page, err := db.ListOrders(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range page.Orders {
				got = append(got, s.Order.ID)
			}
			if page.Next == "" {
				break
			}
			f.Cursor = page.Next
		}
		if want := "[o-6 o-7 o-5 o-4 o-3 o-2 o-1]"; fmt.Sprint(got) != want {
			t.Fatalf("pages = %v, want %v", got, want)
		}
	})

	t.Run("summaries carry certificates and refunds", func(t *testing.T) {
		page, err := db.ListOrders(ctx, store.OrderFilter{RefundState: "releasing"})
		if err != nil {
			t.Fatal(err)
		}
		s := page.Orders[0]
		if len(s.Order.Certificates) != 1 || s.Order.Certificates[0].ID != "c-3" || s.Refund == nil || s.Refund.State != "releasing" ||
			s.Refund.Due == nil || *s.Refund.Due != (ports.RefundDue{Cash: "12.50", Currency: "USD", Destination: domain.OriginalMethod}) {
			t.Fatalf("summary = %+v", s)
		}
	})

	bad := map[string]struct {
		filter store.OrderFilter
		want   string
	}{
		"negative limit":  {store.OrderFilter{Limit: -1}, "page size -1 is not between 1 and 500"},
		"limit too large": {store.OrderFilter{Limit: store.MaxPageSize + 1}, "page size 501 is not between 1 and 500"},
		"unknown product": {store.OrderFilter{Product: "tea"}, `unknown product "tea"`},
		"bad cursor":      {store.OrderFilter{Cursor: "!!"}, `page cursor "!!" is malformed`},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := db.ListOrders(ctx, tc.filter)
			errstest.Want(t, err, errs.Invalid, tc.want)
		})
	}
}
