package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errstest"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
	"github.com/certflow/certflow/store/postgres"
	"github.com/certflow/certflow/store/sqlite"
)

// newRequest is a refund request of orderID at at, as the gateway records
// it.
func newRequest(orderID, id string, at time.Time) ports.RefundRequest {
	return ports.RefundRequest{OrderID: orderID, ID: id, Input: json.RawMessage(`{"order_id":"` + orderID + `"}`),
		RequestedAt: at, By: domain.Actor{Subject: "console-1", Role: domain.RoleConsole}, IdempotencyKey: "k-" + id}
}

// orderEventTypes lists the outbox's event types of orderID, oldest first.
func orderEventTypes(t *testing.T, db *store.DB, orderID string) []ports.EventType {
	t.Helper()
	page, err := db.ListEvents(context.Background(), "", ports.MaxEventPage)
	if err != nil {
		t.Fatal(err)
	}
	var out []ports.EventType
	for _, e := range page.Events {
		if e.OrderID == orderID {
			out = append(out, e.Type)
		}
	}
	return out
}

// The intake transaction: a request is recorded with the read model's
// refund_requested record and its event, or joins the refund under way
// and writes nothing.
func TestRequestRefund(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		before     func(t *testing.T, db *store.DB, now time.Time)
		wantJoined bool
		wantID     string // the request the answer carries
		wantState  string // the record's state after
		wantEvents int    // refund.requested events in the outbox
	}{
		"no refund: recorded pending with its record": {
			before: func(*testing.T, *store.DB, time.Time) {}, wantID: "r-2", wantState: "refund_requested", wantEvents: 1,
		},
		"a pending request: joined, nothing written": {
			before: func(t *testing.T, db *store.DB, now time.Time) {
				if _, _, err := db.RequestRefund(ctx, newRequest("o-1", "r-1", now.Add(-time.Second))); err != nil {
					t.Fatal(err)
				}
			},
			wantJoined: true, wantID: "r-1", wantState: "refund_requested", wantEvents: 1,
		},
		"a running refund's record: recorded to join it, the record kept": {
			before: func(t *testing.T, db *store.DB, now time.Time) {
				if err := db.SaveRefund(ctx, ports.RefundRecord{OrderID: "o-1", State: string(statemachine.OrderReleasing), Outcome: "pending", UpdatedAt: now.Add(-time.Second)}); err != nil {
					t.Fatal(err)
				}
			},
			// The workflow's first record wrote the one event.
			wantID: "r-2", wantState: "releasing", wantEvents: 1,
		},
		"a started request whose refund was cancelled: a new request": {
			before: func(t *testing.T, db *store.DB, now time.Time) {
				if _, _, err := db.RequestRefund(ctx, newRequest("o-1", "r-1", now.Add(-time.Hour))); err != nil {
					t.Fatal(err)
				}
				if err := db.RefundRequestStarted(ctx, "o-1", "r-1", "run-1", now.Add(-time.Hour)); err != nil {
					t.Fatal(err)
				}
				if err := db.SaveRefund(ctx, ports.RefundRecord{OrderID: "o-1", State: string(statemachine.OrderCancelled), Outcome: "cancelled", UpdatedAt: now.Add(-time.Minute)}); err != nil {
					t.Fatal(err)
				}
			},
			wantID: "r-2", wantState: "refund_requested", wantEvents: 2,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db, clock := openMem(t)
			put(t, db, sslOrder(t, "o-1"))
			now := clock.Now()
			tc.before(t, db, now)
			in, joined, err := db.RequestRefund(ctx, newRequest("o-1", "r-2", now))
			if err != nil {
				t.Fatal(err)
			}
			if joined != tc.wantJoined {
				t.Fatalf("joined = %v, want %v", joined, tc.wantJoined)
			}
			switch {
			case tc.wantID == "" && in.Request != nil:
				t.Fatalf("request = %+v, want none", in.Request)
			case tc.wantID != "" && (in.Request == nil || in.Request.ID != tc.wantID || in.Request.State != ports.RequestPending):
				t.Fatalf("request = %+v, want %s pending", in.Request, tc.wantID)
			}
			if in.Record == nil || in.Record.State != tc.wantState {
				t.Fatalf("answered record = %+v, want state %s", in.Record, tc.wantState)
			}
			// What the answer said is what is stored.
			stored, err := db.RefundIntake(ctx, "o-1")
			if err != nil {
				t.Fatal(err)
			}
			if stored.Record == nil || stored.Record.State != tc.wantState {
				t.Fatalf("stored record = %+v, want state %s", stored.Record, tc.wantState)
			}
			if tc.wantID != "" {
				q := stored.Request
				if q == nil || q.ID != tc.wantID || q.State != ports.RequestPending || q.By.Subject != "console-1" ||
					q.IdempotencyKey != "k-"+tc.wantID || string(q.Input) != `{"order_id":"o-1"}` {
					t.Fatalf("stored request = %+v", q)
				}
				if !joined && (!q.RequestedAt.Equal(now) || q.RunID != "" || q.Attempts != 0) {
					t.Fatalf("new request = %+v, want at %s with no run and no attempt", q, now)
				}
				if tc.wantState == "refund_requested" && (!stored.Record.UpdatedAt.Equal(stored.Request.RequestedAt) || stored.Record.RequestedBy != "console-1") {
					t.Fatalf("record %+v is not the request's", stored.Record)
				}
			}
			n := 0
			for _, e := range orderEventTypes(t, db, "o-1") {
				if e == ports.EventRefundRequested {
					n++
				}
			}
			if n != tc.wantEvents {
				t.Fatalf("%d refund.requested events, want %d", n, tc.wantEvents)
			}
		})
	}
	t.Run("unknown order", func(t *testing.T) {
		db, clock := openMem(t)
		_, _, err := db.RequestRefund(ctx, newRequest("o-9", "r-1", clock.Now()))
		errstest.Want(t, err, errs.NotFound)
		if in, err := db.RefundIntake(ctx, "o-9"); err != nil || in.Record != nil || in.Request != nil {
			t.Fatalf("intake of an unknown order = %+v, %v", in, err)
		}
	})
}

// Leases: the accepting gateway's claim, the sweeper's, a dead gateway's
// lease running out, the backoff of a retry, and the end states.
func TestClaimRefundRequests(t *testing.T) {
	ctx := context.Background()
	const lease = 10 * time.Second
	type step struct {
		do   func(t *testing.T, db *store.DB, now time.Time) ([]string, error)
		want []string
	}
	sweep := func(owner string, after time.Duration) func(*testing.T, *store.DB, time.Time) ([]string, error) {
		return func(t *testing.T, db *store.DB, now time.Time) ([]string, error) {
			got, err := db.ClaimRefundRequests(ctx, ports.Claim{Owner: owner, Now: now.Add(after), Lease: lease}, 10)
			var ids []string
			for _, q := range got {
				if q.LeaseOwner != owner || !q.LeaseUntil.Equal(now.Add(after+lease)) {
					t.Fatalf("claimed %+v, want leased to %s until %s", q, owner, now.Add(after+lease))
				}
				ids = append(ids, q.OrderID)
			}
			return ids, err
		}
	}
	claimOne := func(owner string, after time.Duration, force bool) func(*testing.T, *store.DB, time.Time) ([]string, error) {
		return func(t *testing.T, db *store.DB, now time.Time) ([]string, error) {
			q, ok, err := db.ClaimRefundRequest(ctx, "o-1", ports.Claim{Owner: owner, Now: now.Add(after), Lease: lease}, force)
			if !ok {
				return nil, err
			}
			return []string{q.OrderID}, err
		}
	}
	tests := map[string][]step{
		"the accepting gateway claims its request, the sweeper then finds nothing": {
			{claimOne("gw-a", 0, false), []string{"o-1"}},
			{sweep("gw-b", 3*time.Second), nil},
		},
		"a dead gateway's lease runs out: the sweeper takes the request": {
			{claimOne("gw-a", 0, false), []string{"o-1"}},
			{sweep("gw-b", lease-time.Second), nil},
			{sweep("gw-b", lease), []string{"o-1"}},
		},
		"a request never claimed is the sweeper's once due": {
			{sweep("gw-b", -time.Second), nil},
			{sweep("gw-b", 0), []string{"o-1"}},
			{sweep("gw-c", time.Second), nil},
		},
		"another's live lease: only a forced claim takes it": {
			{claimOne("gw-a", 0, false), []string{"o-1"}},
			{claimOne("gw-b", time.Second, false), nil},
			{claimOne("gw-b", time.Second, true), []string{"o-1"}},
		},
		"a retry waits for its backoff": {
			{claimOne("gw-a", 0, false), []string{"o-1"}},
			{func(t *testing.T, db *store.DB, now time.Time) ([]string, error) {
				return nil, db.RetryRefundRequest(ctx, "o-1", "r-1", now.Add(5*time.Second), "Temporal is down", now)
			}, nil},
			{sweep("gw-b", 4*time.Second), nil},
			{sweep("gw-b", 5*time.Second), []string{"o-1"}},
		},
		"a started request is not claimed": {
			{func(t *testing.T, db *store.DB, now time.Time) ([]string, error) {
				return nil, db.RefundRequestStarted(ctx, "o-1", "r-1", "run-1", now)
			}, nil},
			{sweep("gw-b", time.Minute), nil},
			{claimOne("gw-b", time.Minute, true), nil},
		},
	}
	for name, steps := range tests {
		t.Run(name, func(t *testing.T) {
			db, clock := openMem(t)
			put(t, db, sslOrder(t, "o-1"))
			now := clock.Now()
			if _, _, err := db.RequestRefund(ctx, newRequest("o-1", "r-1", now)); err != nil {
				t.Fatal(err)
			}
			for i, s := range steps {
				got, err := s.do(t, db, now)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if len(got) != len(s.want) || (len(got) > 0 && got[0] != s.want[0]) {
					t.Fatalf("step %d claimed %v, want %v", i, got, s.want)
				}
			}
		})
	}
	t.Run("recorded leased to its gateway: its first attempt, no sweeper before the lease ends", func(t *testing.T) {
		db, clock := openMem(t)
		put(t, db, sslOrder(t, "o-1"))
		now := clock.Now()
		req := newRequest("o-1", "r-1", now)
		req.LeaseOwner, req.LeaseUntil = "gw-a", now.Add(lease)
		in, _, err := db.RequestRefund(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if q := in.Request; q.Attempts != 1 || q.LeaseOwner != "gw-a" || !q.LeaseUntil.Equal(now.Add(lease)) {
			t.Fatalf("answered request %+v, want leased to gw-a, one attempt", q)
		}
		if q, err := db.GetRefundRequest(ctx, "o-1"); err != nil || q.Attempts != 1 || q.LeaseOwner != "gw-a" || !q.LeaseUntil.Equal(now.Add(lease)) {
			t.Fatalf("stored request %+v, %v; want leased to gw-a, one attempt", q, err)
		}
		if got, err := db.ClaimRefundRequests(ctx, ports.Claim{Owner: "gw-b", Now: now.Add(lease - time.Second), Lease: lease}, 10); err != nil || len(got) != 0 {
			t.Fatalf("a sweep within the lease took %d, %v", len(got), err)
		}
		if got, err := db.ClaimRefundRequests(ctx, ports.Claim{Owner: "gw-b", Now: now.Add(lease), Lease: lease}, 10); err != nil || len(got) != 1 || got[0].Attempts != 2 {
			t.Fatalf("a sweep after the lease took %+v, %v; want the request, its second attempt", got, err)
		}
	})
	t.Run("attempts are counted", func(t *testing.T) {
		db, clock := openMem(t)
		put(t, db, sslOrder(t, "o-1"))
		now := clock.Now()
		if _, _, err := db.RequestRefund(ctx, newRequest("o-1", "r-1", now)); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			q, ok, err := db.ClaimRefundRequest(ctx, "o-1", ports.Claim{Owner: "gw-a", Now: now, Lease: lease}, false)
			if err != nil || !ok || q.Attempts != i {
				t.Fatalf("claim %d = %+v, %v, %v; want attempt %d", i, q, ok, err, i)
			}
		}
	})
}

// A start refused for good: the request fails with the refusal, and the
// read model's record, while still the request's own, shows the
// rejection; the workflow's own (newer) record is left alone.
func TestRefundRequestFailed(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		workflowRecord bool // the workflow wrote its own record meanwhile
		wantState      string
		wantReasons    []string
		wantRejected   int
	}{
		"the request's own record becomes rejected under the rule": {wantState: "rejected", wantReasons: []string{"M-3"}, wantRejected: 1},
		"a newer record is left alone":                             {workflowRecord: true, wantState: "refunded", wantReasons: []string{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db, clock := openMem(t)
			put(t, db, sslOrder(t, "o-1"))
			now := clock.Now()
			if _, _, err := db.RequestRefund(ctx, newRequest("o-1", "r-1", now)); err != nil {
				t.Fatal(err)
			}
			if tc.workflowRecord {
				if err := db.SaveRefund(ctx, ports.RefundRecord{OrderID: "o-1", State: "refunded", Outcome: "refunded", UpdatedAt: now.Add(time.Second)}); err != nil {
					t.Fatal(err)
				}
			}
			const msg = "the refund of order o-1 was paid; a refund is paid once per order"
			if err := db.RefundRequestFailed(ctx, "o-1", "r-1", string(errs.Conflict), "M-3", msg, now.Add(2*time.Second)); err != nil {
				t.Fatal(err)
			}
			in, err := db.RefundIntake(ctx, "o-1")
			if err != nil {
				t.Fatal(err)
			}
			q := in.Request
			if q.State != ports.RequestFailed || q.ErrorCode != string(errs.Conflict) || q.ErrorRule != "M-3" || q.ErrorMessage != msg {
				t.Fatalf("request = %+v, want failed with conflict M-3", q)
			}
			if rec := in.Record; rec.State != tc.wantState || len(rec.Reasons) != len(tc.wantReasons) || (len(rec.Reasons) > 0 && rec.Reasons[0] != tc.wantReasons[0]) {
				t.Fatalf("record = %+v, want %s %v", rec, tc.wantState, tc.wantReasons)
			}
			n := 0
			for _, e := range orderEventTypes(t, db, "o-1") {
				if e == ports.EventRefundRejected {
					n++
				}
			}
			if n != tc.wantRejected {
				t.Fatalf("%d refund.rejected events, want %d", n, tc.wantRejected)
			}
			// A failed request is not pending: a new request is recorded.
			_, joined, err := db.RequestRefund(ctx, newRequest("o-1", "r-2", now.Add(time.Minute)))
			if err != nil || joined {
				t.Fatalf("a request after the failed one: joined %v, %v; want recorded", joined, err)
			}
		})
	}
}

// Started keeps the first run ID; a replaced request's marks are ignored.
func TestRefundRequestStarted(t *testing.T) {
	ctx := context.Background()
	db, clock := openMem(t)
	put(t, db, sslOrder(t, "o-1"))
	now := clock.Now()
	if _, _, err := db.RequestRefund(ctx, newRequest("o-1", "r-1", now)); err != nil {
		t.Fatal(err)
	}
	for _, run := range []string{"run-1", "run-2"} {
		if err := db.RefundRequestStarted(ctx, "o-1", "r-1", run, now); err != nil {
			t.Fatal(err)
		}
	}
	// A stale mark for another request changes nothing.
	if err := db.RefundRequestFailed(ctx, "o-1", "r-0", string(errs.Conflict), "M-3", "x", now); err != nil {
		t.Fatal(err)
	}
	q, err := db.GetRefundRequest(ctx, "o-1")
	if err != nil {
		t.Fatal(err)
	}
	if q.State != ports.RequestStarted || q.RunID != "run-1" || q.LeaseOwner != "" {
		t.Fatalf("request = %+v, want started with run-1", q)
	}
	_, err = db.GetRefundRequest(ctx, "o-2")
	errstest.Want(t, err, errs.NotFound)
}

// The PostgreSQL pool is bounded and keeps its connections: database/sql's
// defaults (no bound, two idle) closed and reopened connections at every
// burst of status reads (docs/performance.md). SQLite keeps one
// connection in memory; a file keeps sqlite.ReadConns readers (its writer
// has connections of its own).
func TestConnectionPool(t *testing.T) {
	for kind, path := range kinds {
		t.Run(kind, func(t *testing.T) {
			db, _ := openAt(t, path(t))
			want := map[string]int{"postgres": postgres.DefaultMaxConns, "memory": 1, "file": sqlite.ReadConns}[kind]
			if got := store.MaxOpenConns(db); got != want {
				t.Fatalf("pool bound on %s = %d, want %d", kind, got, want)
			}
		})
	}
	if onPostgres() {
		db, err := store.Open(context.Background(), postgresDSN(t), store.WithMaxConns(5))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if got := store.MaxOpenConns(db); got != 5 {
			t.Fatalf("WithMaxConns(5): bound %d", got)
		}
	}
}

// Requests of one order at once: one is recorded, the others join it, and
// one refund.requested event is written. On PostgreSQL the requests first
// queue behind a transaction holding the order's row: each one's insert
// started (its snapshot taken) before the others were recorded, so a
// request that judged by that snapshot would replace the one recorded
// while it waited for the lock.
func TestRequestRefundConcurrently(t *testing.T) {
	for kind, path := range kinds {
		if kind == "memory" {
			continue // one connection: nothing runs at once
		}
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			dsn := path(t)
			db, clock := openAt(t, dsn)
			put(t, db, sslOrder(t, "o-1"))
			now := clock.Now()
			release := func() {}
			if kind == "postgres" {
				release = holdOrderRow(t, dsn, "o-1")
			}
			const n = 8
			type answer struct {
				in     ports.RefundIntake
				joined bool
				err    error
			}
			answers := make(chan answer, n)
			for i := range n {
				go func() {
					in, joined, err := db.RequestRefund(ctx, newRequest("o-1", fmt.Sprintf("r-%d", i), now))
					answers <- answer{in, joined, err}
				}()
			}
			if kind == "postgres" {
				waitForLockWaiters(t, dsn, "%INSERT INTO refund_requests%", n)
			}
			release()
			recorded := ""
			for range n {
				a := <-answers
				switch {
				case a.err != nil:
					t.Fatal(a.err)
				case a.in.Request == nil || a.in.Request.State != ports.RequestPending:
					t.Fatalf("answered request = %+v, want a pending one", a.in.Request)
				case !a.joined && recorded != "":
					t.Fatalf("%s and %s both recorded", recorded, a.in.Request.ID)
				case !a.joined:
					recorded = a.in.Request.ID
				}
			}
			stored, err := db.GetRefundRequest(ctx, "o-1")
			if err != nil {
				t.Fatal(err)
			}
			if recorded == "" || stored.ID != recorded {
				t.Fatalf("stored request %s, recorded %q", stored.ID, recorded)
			}
			if types := orderEventTypes(t, db, "o-1"); len(types) != 1 || types[0] != ports.EventRefundRequested {
				t.Fatalf("events = %v, want one refund.requested", types)
			}
		})
	}
}

// holdOrderRow locks order id's row in a transaction of its own on the
// PostgreSQL database at dsn, until release (or the test's end).
func holdOrderRow(t *testing.T, dsn, id string) (release func()) {
	t.Helper()
	raw, err := sql.Open(postgres.DriverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var one int
	if err := tx.QueryRow("SELECT 1 FROM orders WHERE id = $1 FOR UPDATE", id).Scan(&one); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_ = tx.Commit()
			_ = raw.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// waitForLockWaiters waits until n statements like pattern wait for a lock
// on the PostgreSQL database at dsn.
func waitForLockWaiters(t *testing.T, dsn, pattern string, n int) {
	t.Helper()
	raw, err := sql.Open(postgres.DriverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := raw.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE $1`, pattern).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d statements like %s wait for a lock, want %d", waiting, pattern, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// OrderRefunds reads in one statement what GetOrder, RefundIntake and
// the ledger say: the order with its certificates in order (not repeated
// by the joins), its record and request, and whether a payout was paid
// (a reserved one, not yet paid, does not count).
func TestOrderRefunds(t *testing.T) {
	ctx := context.Background()
	db, clock := openMem(t)
	put(t, db, sslOrder(t, "o-1", cert("c-1", statemachine.Issued), cert("c-2", statemachine.Issued)), sslOrder(t, "o-2"))
	check := func(t *testing.T, orderID string, wantRequest string, wantPaid bool) ports.OrderRefunds {
		t.Helper()
		got, err := db.OrderRefunds(ctx, orderID)
		if err != nil {
			t.Fatal(err)
		}
		o, err := db.GetOrder(ctx, orderID)
		if err != nil {
			t.Fatal(err)
		}
		in, err := db.RefundIntake(ctx, orderID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Order.ID != o.ID || !got.Order.Price.Equal(o.Price) || len(got.Order.Certificates) != len(o.Certificates) {
			t.Fatalf("order = %+v, want %+v", got.Order, o)
		}
		for i, c := range o.Certificates {
			if got.Order.Certificates[i].ID != c.ID || got.Order.Certificates[i].State != c.State {
				t.Fatalf("certificate %d = %+v, want %+v", i, got.Order.Certificates[i], c)
			}
		}
		switch {
		case wantRequest == "" && (got.Intake.Request != nil || got.Intake.Record != nil || in.Request != nil):
			t.Fatalf("intake = %+v, want none", got.Intake)
		case wantRequest != "" && (got.Intake.Request == nil || got.Intake.Request.ID != wantRequest || got.Intake.Record == nil ||
			got.Intake.Record.State != in.Record.State || !got.Intake.Request.RequestedAt.Equal(in.Request.RequestedAt)):
			t.Fatalf("intake = %+v, want request %s as RefundIntake reads it (%+v)", got.Intake, wantRequest, in)
		}
		if got.PaidOut != wantPaid {
			t.Fatalf("paid out = %v, want %v", got.PaidOut, wantPaid)
		}
		return got
	}
	check(t, "o-1", "", false)
	check(t, "o-2", "", false) // no certificates
	if _, _, err := db.RequestRefund(ctx, newRequest("o-1", "r-1", clock.Now())); err != nil {
		t.Fatal(err)
	}
	check(t, "o-1", "r-1", false)
	reserve(t, db, payout(t, "refund/o-1", "50.00"))
	check(t, "o-1", "r-1", false)
	settle(t, db, "refund/o-1", ports.Settlement{Status: ports.PayoutPaid, ProviderID: "re_1"})
	check(t, "o-1", "r-1", true)
	check(t, "o-2", "", false)
	_, err := db.OrderRefunds(ctx, "o-9")
	errstest.Want(t, err, errs.NotFound)
}
