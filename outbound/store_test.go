package outbound

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/store"
)

// The dispatcher against the real store (SQLite): 30 orders' 90 events,
// each refused once with 500, all delivered in order per order.
func TestAgainstTheSQLiteStore(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ob, ok := any(db).(ports.Outbox)
	if !ok {
		// Only until the store's outbox (branch i15-store) is merged.
		t.Skip("store.DB does not implement ports.Outbox yet")
	}
	s, b := newSecret(t)
	var mu sync.Mutex
	fails := map[string]int{}
	rcv := newReceiver(t, []string{s}, func(id string, n int) (int, time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if fails[id] == 0 {
			fails[id]++
			return 500, 0
		}
		return 200, 0
	})
	cfg := testConfig(EndpointConfig{Name: "console", URL: rcv.srv.URL, Secrets: [][]byte{b}})
	if err := ob.SyncEndpoints(ctx, cfg.PortsEndpoints()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		o := domain.Order{ID: fmt.Sprintf("o-%d", i), Profile: "aliyun-intl", Product: domain.SSLCertificate, PaidAt: time.Now().Add(-time.Hour), Currency: "USD",
			Price: decimal.RequireFromString("100.00"), Payment: domain.Payment{Cash: decimal.RequireFromString("100.00"), Voucher: decimal.Zero, GiftCard: decimal.Zero},
			ValidityYears: 1, ValueAdded: domain.VANone, AlreadyRefunded: decimal.Zero}
		if err := db.PutOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for k := 0; k < 3; k++ {
		for i := 0; i < 30; i++ {
			at := time.Now().Add(time.Duration(k) * time.Minute)
			st := []string{"releasing", "committed", "refunded"}[k]
			rec := ports.RefundRecord{OrderID: fmt.Sprintf("o-%d", i), State: st, Outcome: "pending", UpdatedAt: at}
			if k > 0 {
				rec.WaitingOn = []domain.Wait{{Kind: domain.WaitCustomer, Since: at, Rule: fmt.Sprintf("R-%d", k)}}
			}
			if err := db.SaveRefund(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	page, err := ob.ListEvents(ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 90 {
		t.Fatalf("%d events in the outbox, want 90", len(page.Events))
	}
	start(t, ob, cfg, nil)
	waitFor(t, "all", func() bool {
		st, _ := ob.EndpointStatuses(ctx)
		return len(st) == 1 && st[0].Pending == 0
	})
	got, _, _ := rcv.snapshot()
	checkAllDelivered(t, page.Events, got)
}
