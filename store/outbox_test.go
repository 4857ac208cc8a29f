package store_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errstest"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/store"
)

const console = "console"

// refundEvent writes one refund event of order id (a record of a new
// refund, then each later write with another outcome or wait).
func refundEvent(t *testing.T, db *store.DB, id string, n int) {
	t.Helper()
	at := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute)
	rec := ports.RefundRecord{OrderID: id, State: "releasing", Outcome: "pending", UpdatedAt: at}
	if n > 0 {
		rec.WaitingOn = []domain.Wait{{Kind: domain.WaitCustomer, Since: at, Rule: fmt.Sprintf("R-%d", n)}}
	}
	if err := db.SaveRefund(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

func claim(t *testing.T, db *store.DB, owner string, limit int) []ports.Delivery {
	t.Helper()
	ds, err := db.ClaimDeliveries(context.Background(), owner, []string{console}, limit, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// claimed names each delivery as order/cursor.
func claimed(ds []ports.Delivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Event.OrderID+"/"+d.Event.Cursor)
	}
	return out
}

func outboxDB(t *testing.T) (*store.DB, *fakeClock) {
	t.Helper()
	db, clock := openMem(t)
	put(t, db, sslOrder(t, "o-1"), sslOrder(t, "o-2"))
	if err := db.SyncEndpoints(context.Background(), []ports.Endpoint{{Name: console, URL: "https://console.example/hook"}}); err != nil {
		t.Fatal(err)
	}
	return db, clock
}

// An order's second event is not leased before its first is delivered;
// other orders' events go meanwhile.
func TestClaimInOrderPerOrder(t *testing.T) {
	ctx := context.Background()
	db, _ := outboxDB(t)
	refundEvent(t, db, "o-1", 0) // cursor 1
	refundEvent(t, db, "o-1", 1) // 2
	refundEvent(t, db, "o-2", 0) // 3
	ds := claim(t, db, "a", 10)
	if got, want := claimed(ds), []string{"o-1/1", "o-2/3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("first claim = %v, want %v", got, want)
	}
	if ds[0].Attempt != 1 || ds[0].Endpoint != console || ds[0].Event.Type != ports.EventRefundRequested {
		t.Fatalf("delivery = %+v, want attempt 1 of refund.requested to %s", ds[0], console)
	}
	if got := claim(t, db, "b", 10); len(got) != 0 {
		t.Fatalf("claim under live leases = %v, want none", claimed(got))
	}
	if err := db.DeliverySucceeded(ctx, "a", ds[0]); err != nil {
		t.Fatal(err)
	}
	if got, want := claimed(claim(t, db, "b", 10)), []string{"o-1/2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("claim after the first was delivered = %v, want %v", got, want)
	}
}

func TestClaimRespectsLimitAndNewEndpointsStartNow(t *testing.T) {
	ctx := context.Background()
	db, _ := outboxDB(t)
	refundEvent(t, db, "o-1", 0)
	refundEvent(t, db, "o-2", 0)
	if err := db.SyncEndpoints(ctx, []ports.Endpoint{{Name: "late", URL: "https://late.example/hook"}}); err != nil {
		t.Fatal(err)
	}
	refundEvent(t, db, "o-2", 1)
	if got := claimed(claim(t, db, "a", 1)); !reflect.DeepEqual(got, []string{"o-1/1"}) {
		t.Fatalf("claim of 1 = %v, want the oldest", got)
	}
	ds, err := db.ClaimDeliveries(ctx, "a", []string{"late"}, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := claimed(ds); !reflect.DeepEqual(got, []string{"o-2/3"}) {
		t.Fatalf("a new endpoint's claim = %v, want only the event written after it was configured", got)
	}
	if ds, err := db.ClaimDeliveries(ctx, "a", []string{"unknown"}, 10, time.Minute); err != nil || len(ds) != 0 {
		t.Fatalf("claim for an unconfigured endpoint = %v (%v), want none", claimed(ds), err)
	}
}

// A failed delivery is due again at its retry time, its endpoint at the
// endpoint's; an unanswered lease ends and the delivery is leased again.
func TestClaimRetriesAndLeases(t *testing.T) {
	ctx := context.Background()
	db, clock := outboxDB(t)
	refundEvent(t, db, "o-1", 0)
	refundEvent(t, db, "o-2", 0)
	ds := claim(t, db, "a", 10)
	if len(ds) != 2 {
		t.Fatalf("claim = %v, want both orders' events", claimed(ds))
	}
	now := clock.Now()
	if err := db.DeliveryFailed(ctx, "a", ds[0], "500 Internal Server Error", now.Add(time.Minute), now.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	// ds[1] stays unanswered: its lease (1 minute) runs.
	if got := claim(t, db, "b", 10); len(got) != 0 {
		t.Fatalf("claim before the endpoint's retry time = %v, want none", claimed(got))
	}
	clock.Advance(30 * time.Second)
	if got := claim(t, db, "b", 10); len(got) != 0 {
		t.Fatalf("claim before the delivery's retry time and under a live lease = %v, want none", claimed(got))
	}
	clock.Advance(31 * time.Second)
	again := claim(t, db, "b", 10)
	if got := claimed(again); !reflect.DeepEqual(got, []string{"o-1/1", "o-2/2"}) {
		t.Fatalf("claim after the retry time and the lease = %v, want both again", got)
	}
	for _, d := range again {
		if d.Attempt != 2 {
			t.Fatalf("%s attempt = %d, want 2", d.Event.Cursor, d.Attempt)
		}
	}
	// The first owner's lease ended: its answer is refused.
	errstest.Want(t, db.DeliverySucceeded(ctx, "a", ds[1]), errs.Conflict)
	errstest.Want(t, db.DeliveryFailed(ctx, "a", ds[1], "late", time.Time{}, time.Time{}), errs.Conflict)
	for _, d := range again {
		if err := db.DeliverySucceeded(ctx, "b", d); err != nil {
			t.Fatal(err)
		}
	}
	// A repeated answer of a delivered event is harmless.
	if err := db.DeliverySucceeded(ctx, "b", again[0]); err != nil {
		t.Fatalf("a second success: %v", err)
	}
	st := statuses(t, db)[0]
	if st.Pending != 0 || st.Delivered != 2 || st.ConsecutiveFailures != 0 || !st.RetryAt.IsZero() || st.LastError != "500 Internal Server Error" ||
		!st.LastSuccessAt.Equal(clock.Now()) {
		t.Fatalf("status = %+v, want 2 delivered, failures reset", st)
	}
}

func statuses(t *testing.T, db *store.DB) []ports.EndpointStatus {
	t.Helper()
	st, err := db.EndpointStatuses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// An endpoint that answered 410 is disabled: nothing is leased to it
// until it is enabled again or configured with another URL.
func TestDisabledEndpoint(t *testing.T) {
	ctx := context.Background()
	db, _ := outboxDB(t)
	refundEvent(t, db, "o-1", 0)
	if err := db.DisableEndpoint(ctx, console, "410 Gone"); err != nil {
		t.Fatal(err)
	}
	refundEvent(t, db, "o-2", 0)
	if got := claim(t, db, "a", 10); len(got) != 0 {
		t.Fatalf("claim for a disabled endpoint = %v, want none", claimed(got))
	}
	st := statuses(t, db)
	want := ports.EndpointStatus{Name: console, URL: "https://console.example/hook", Disabled: "410 Gone", Pending: 2}
	if len(st) != 1 || !reflect.DeepEqual(st[0], want) {
		t.Fatalf("statuses = %+v, want %+v", st, want)
	}
	if err := db.EnableEndpoint(ctx, console); err != nil {
		t.Fatal(err)
	}
	if got := claimed(claim(t, db, "a", 10)); !reflect.DeepEqual(got, []string{"o-1/1", "o-2/2"}) {
		t.Fatalf("claim once enabled = %v, want the events queued meanwhile", got)
	}

	if err := db.DisableEndpoint(ctx, console, "410 Gone"); err != nil {
		t.Fatal(err)
	}
	if err := db.SyncEndpoints(ctx, []ports.Endpoint{{Name: console, URL: "https://console.example/hook"}}); err != nil {
		t.Fatal(err)
	}
	if st := statuses(t, db); st[0].Enabled {
		t.Fatal("configuring the same URL again enabled the endpoint")
	}
	if err := db.SyncEndpoints(ctx, []ports.Endpoint{{Name: console, URL: "https://console.example/v2/hook"}}); err != nil {
		t.Fatal(err)
	}
	if st := statuses(t, db); !st[0].Enabled || st[0].Disabled != "" || st[0].URL != "https://console.example/v2/hook" {
		t.Fatalf("status after a new URL = %+v, want enabled", st[0])
	}
	errstest.Want(t, db.DisableEndpoint(ctx, "nobody", "gone"), errs.NotFound)
	errstest.Want(t, db.EnableEndpoint(ctx, "nobody"), errs.NotFound)
	errstest.Want(t, db.SyncEndpoints(ctx, []ports.Endpoint{{Name: "", URL: "x"}}), errs.Invalid)
	errstest.Want(t, db.SyncEndpoints(ctx, []ports.Endpoint{{Name: "a", URL: "x"}, {Name: "a", URL: "y"}}), errs.Invalid)
}

// Many thousands of queued events go out in bounded batches, each order's
// in order.
func TestFanOutInBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ctx := context.Background()
	db, _ := openMem(t)
	const orders, perOrder = 300, 4
	for i := range orders {
		put(t, db, sslOrder(t, fmt.Sprintf("o-%d", i)))
	}
	if err := db.SyncEndpoints(ctx, []ports.Endpoint{{Name: console, URL: "https://console.example/hook"}}); err != nil {
		t.Fatal(err)
	}
	for n := range perOrder {
		for i := range orders {
			refundEvent(t, db, fmt.Sprintf("o-%d", i), n)
		}
	}
	last := map[string]int{}
	total := 0
	for round := 0; total < orders*perOrder; round++ {
		if round > 100 {
			t.Fatalf("delivered %d of %d events in 100 rounds", total, orders*perOrder)
		}
		ds := claim(t, db, "a", 250)
		for _, d := range ds {
			var seq int
			fmt.Sscan(d.Event.Cursor, &seq)
			if seq <= last[d.Event.OrderID] {
				t.Fatalf("order %s: event %d after %d", d.Event.OrderID, seq, last[d.Event.OrderID])
			}
			last[d.Event.OrderID] = seq
			if err := db.DeliverySucceeded(ctx, "a", d); err != nil {
				t.Fatal(err)
			}
		}
		total += len(ds)
	}
}

// Two handles on one database (two processes) claiming at once never
// lease one delivery twice, and between them deliver every event.
func TestClaimConcurrently(t *testing.T) {
	for kind, path := range kinds {
		if kind == "memory" {
			continue // each in-memory database is private
		}
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			dsn := path(t)
			a, _ := openAt(t, dsn)
			b, _ := openAt(t, dsn)
			const orders, perOrder = 20, 5
			for i := range orders {
				put(t, a, sslOrder(t, fmt.Sprintf("o-%d", i)))
			}
			if err := a.SyncEndpoints(ctx, []ports.Endpoint{{Name: console, URL: "https://console.example/hook"}}); err != nil {
				t.Fatal(err)
			}
			for n := range perOrder {
				for i := range orders {
					refundEvent(t, a, fmt.Sprintf("o-%d", i), n)
				}
			}
			var (
				mu   sync.Mutex
				seen = map[string]string{}
				wg   sync.WaitGroup
				errc = make(chan error, 2)
			)
			for owner, db := range map[string]*store.DB{"a": a, "b": b} {
				wg.Go(func() {
					for idle := 0; idle < 20; {
						ds, err := db.ClaimDeliveries(ctx, owner, []string{console}, 7, time.Hour)
						if errs.CodeOf(err) == errs.Unavailable {
							continue // a busy SQLite file: try again
						}
						if err != nil {
							errc <- err
							return
						}
						if len(ds) == 0 {
							idle++
							time.Sleep(5 * time.Millisecond)
							continue
						}
						idle = 0
						for _, d := range ds {
							mu.Lock()
							if other, dup := seen[d.Event.ID]; dup {
								mu.Unlock()
								errc <- fmt.Errorf("event %s leased to %s and to %s", d.Event.Cursor, other, owner)
								return
							}
							seen[d.Event.ID] = owner
							mu.Unlock()
							for {
								err := db.DeliverySucceeded(ctx, owner, d)
								if errs.CodeOf(err) == errs.Unavailable {
									continue
								}
								if err != nil {
									errc <- err
									return
								}
								break
							}
						}
					}
				})
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			if len(seen) != orders*perOrder {
				t.Fatalf("delivered %d events, want %d", len(seen), orders*perOrder)
			}
			counts := map[string]int{}
			for _, o := range seen {
				counts[o]++
			}
			t.Logf("deliveries per handle: %v", counts)
		})
	}
}
