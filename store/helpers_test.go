package store_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
)

// shanghai is UTC+8 without needing the zone database.
var shanghai = time.FixedZone("CST", 8*3600)

// t0 is the payment instant of the test orders.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, shanghai)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// kinds of database the tests run against: SQLite in memory and in a
// file, or, in the child run of TestSuiteOnPostgres, a fresh schema of the
// PostgreSQL database.
var kinds = func() map[string]func(t *testing.T) string {
	if onPostgres() {
		return map[string]func(t *testing.T) string{"postgres": func(t *testing.T) string { return postgresDSN(t) }}
	}
	return map[string]func(t *testing.T) string{
		"memory": func(*testing.T) string { return ":memory:" },
		"file":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "certflow.db") },
	}
}()

func openAt(t testing.TB, path string) (*store.DB, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 3, 3, 9, 0, 0, 123456789, time.UTC)}
	db, err := store.Open(context.Background(), path, store.WithNow(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db, clock
}

// openMem opens a fresh, private database: SQLite in memory, or a new
// PostgreSQL schema in the PostgreSQL run.
func openMem(t testing.TB) (*store.DB, *fakeClock) {
	t.Helper()
	if onPostgres() {
		return openAt(t, postgresDSN(t))
	}
	return openAt(t, ":memory:")
}

func dec(t testing.TB, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func usd(t testing.TB, s string) money.Amount {
	t.Helper()
	return amount(t, s, "USD")
}

func amount(t testing.TB, s, code string) money.Amount {
	t.Helper()
	cur, err := money.LookupCurrency(code)
	if err != nil {
		t.Fatal(err)
	}
	a, err := money.New(dec(t, s), cur)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func at(t time.Time) *time.Time { return &t }

// sslOrder is a one-year SSL order of 100 USD, 80 paid in cash and 20 with
// a voucher.
func sslOrder(t testing.TB, id string, certs ...domain.Certificate) domain.Order {
	t.Helper()
	return domain.Order{
		ID: id, Profile: "aliyun-intl", Product: domain.SSLCertificate, PaidAt: t0, Currency: "USD",
		Price:         dec(t, "100.00"),
		Payment:       domain.Payment{Cash: dec(t, "80.00"), Voucher: dec(t, "20.00"), GiftCard: dec(t, "0")},
		ValidityYears: 1, ValueAdded: domain.VANone, AlreadyRefunded: dec(t, "0"),
		Certificates: certs,
	}
}

func cert(id string, state statemachine.CertState) domain.Certificate {
	return domain.Certificate{ID: id, State: state}
}

func put(t testing.TB, db *store.DB, orders ...domain.Order) {
	t.Helper()
	for _, o := range orders {
		if err := db.PutOrder(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

// canonical renders an order for comparison: times as UTC instants,
// decimals by value.
func canonical(t *testing.T, o domain.Order) string {
	t.Helper()
	o.PaidAt = o.PaidAt.UTC()
	certs := make([]domain.Certificate, len(o.Certificates))
	for i, c := range o.Certificates {
		if c.IssuedAt != nil {
			c.IssuedAt = at(c.IssuedAt.UTC())
		}
		if c.RevokedAt != nil {
			c.RevokedAt = at(c.RevokedAt.UTC())
		}
		certs[i] = c
	}
	if len(certs) == 0 {
		certs = nil
	}
	o.Certificates = certs
	b, err := json.MarshalIndent(o, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
