package sim

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
)

// The fake's holds answer as the store's do: the same calls on FakeStore
// and on store.DB (SQLite) return the same holders and error codes, and
// Holder reports what CertificateHolder does.
func TestFakeStoreHoldsLikeTheStore(t *testing.T) {
	ctx := context.Background()
	o := domain.Order{ID: "o-1", Profile: "aliyun-intl", Product: domain.SSLCertificate,
		PaidAt: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), Currency: "USD", Price: decimal.RequireFromString("100.00"),
		ValidityYears: 2, Payment: domain.Payment{Cash: decimal.RequireFromString("100.00")},
		Certificates: []domain.Certificate{{ID: "c-1", State: statemachine.Issued}, {ID: "c-2", State: statemachine.Issued}}}
	db, err := store.Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PutOrder(ctx, o); err != nil {
		t.Fatal(err)
	}
	fake := NewFakeStore(o)
	const refund, refund2, cert1 = "refund/o-1", "refund/o-2", "certificate/c-1"
	type call struct {
		op                 string // hold, release, holder
		cert, holder, from string
	}
	calls := []call{
		{"holder", "c-1", "", ""},
		{"hold", "c-1", refund, ""},
		{"hold", "c-1", refund, ""},
		{"hold", "c-1", refund2, ""},
		{"hold", "c-1", refund2, cert1},
		{"hold", "c-1", cert1, refund},
		{"holder", "c-1", "", ""},
		{"release", "c-1", refund, ""},
		{"holder", "c-1", "", ""},
		{"release", "c-1", cert1, ""},
		{"release", "c-1", cert1, ""},
		{"hold", "c-2", cert1, refund},
		{"hold", "c-9", refund, ""},
		{"release", "c-9", refund, ""},
		{"holder", "c-9", "", ""},
		{"hold", "", refund, ""},
		{"hold", "c-1", "", ""},
		{"release", "", refund, ""},
		{"release", "c-1", "", ""},
		{"holder", "c-2", "", ""},
	}
	do := func(s ports.Store, c call) string {
		var (
			got string
			err error
		)
		switch c.op {
		case "hold":
			got, err = s.HoldCertificate(ctx, c.cert, c.holder, c.from)
		case "release":
			err = s.ReleaseCertificate(ctx, c.cert, c.holder)
		case "holder":
			got, err = s.CertificateHolder(ctx, c.cert)
		}
		if err != nil {
			return "error " + string(errs.CodeOf(err))
		}
		return fmt.Sprintf("%q", got)
	}
	for i, c := range calls {
		want, got := do(db, c), do(fake, c)
		if got != want {
			t.Fatalf("call %d %+v: FakeStore answered %s, the store %s", i, c, got, want)
		}
		for _, id := range []string{"c-1", "c-2"} {
			h, err := db.CertificateHolder(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if fake.Holder(id) != h {
				t.Fatalf("after call %d %+v: Holder(%s) = %q, the store says %q", i, c, id, fake.Holder(id), h)
			}
		}
	}
	if fake.Holder("c-1") != "" || fake.Holder("c-2") != cert1 {
		t.Fatalf("final holders c-1 %q, c-2 %q; want free, %s", fake.Holder("c-1"), fake.Holder("c-2"), cert1)
	}
}
