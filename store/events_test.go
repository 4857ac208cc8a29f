package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
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
)

// allEvents returns the whole outbox, oldest first.
func allEvents(t *testing.T, db *store.DB) []ports.Event {
	t.Helper()
	page, err := db.ListEvents(context.Background(), "", ports.MaxEventPage)
	if err != nil {
		t.Fatal(err)
	}
	return page.Events
}

func eventTypes(evs []ports.Event) []ports.EventType {
	types := []ports.EventType{}
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	return types
}

// Each change writes its event once, in the change's transaction; writing
// the same record again writes none.
func TestRefundEvents(t *testing.T) {
	ctx := context.Background()
	t1 := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	t2, t3 := t1.Add(time.Hour), t1.Add(2*time.Hour)
	deadline := t1.Add(72 * time.Hour)
	operator := domain.Actor{Subject: "op-2", Role: domain.RoleOperator, IdempotencyKey: "k-2"}
	approved := []domain.AuditEntry{{Action: domain.AuditRefundApproved, At: t2, Actor: operator, Note: "ok"}}
	review := []domain.Wait{{Kind: domain.WaitCAReview, Certificate: "c-1", Since: t1, Deadline: &deadline, Rule: "T-3"}}
	rec := func(at time.Time, state, outcome string, change func(*ports.RefundRecord)) func(*store.DB) error {
		return func(db *store.DB) error {
			r := ports.RefundRecord{OrderID: "o-1", State: state, Outcome: outcome, UpdatedAt: at}
			if change != nil {
				change(&r)
			}
			return db.SaveRefund(ctx, r)
		}
	}
	requested := func(at time.Time) func(*store.DB) error {
		return func(db *store.DB) error {
			return db.RecordRefundRequested(ctx, "o-1", domain.Actor{Subject: "console-1", Role: domain.RoleConsole}, at)
		}
	}
	tests := map[string]struct {
		writes []func(*store.DB) error
		want   []ports.EventType
	}{
		"refund.requested by RecordRefundRequested, once": {
			writes: []func(*store.DB) error{requested(t1), requested(t1), requested(t2)},
			want:   []ports.EventType{ports.EventRefundRequested},
		},
		"RecordRefundRequested then the workflow's records: no second refund.requested": {
			writes: []func(*store.DB) error{requested(t1), rec(t2, "releasing", "pending", nil)},
			want:   []ports.EventType{ports.EventRefundRequested},
		},
		"refund.requested for a new record written by SaveRefund alone": {
			writes: []func(*store.DB) error{rec(t1, "releasing", "pending", nil), rec(t1, "releasing", "pending", nil)},
			want:   []ports.EventType{ports.EventRefundRequested},
		},
		"refund.approved when the approval enters the audit, once": {
			writes: []func(*store.DB) error{
				rec(t1, "awaiting_approval", "awaiting_approval", nil),
				rec(t2, "paying", "pending", func(r *ports.RefundRecord) { r.Audit = approved }),
				rec(t2, "paying", "pending", func(r *ports.RefundRecord) { r.Audit = approved }),
				rec(t3, "paying", "pending", func(r *ports.RefundRecord) { r.Audit = approved }),
			},
			want: []ports.EventType{ports.EventRefundRequested, ports.EventRefundApproved},
		},
		"refund.escalated when escalated turns true, once": {
			writes: []func(*store.DB) error{
				rec(t1, "releasing", "pending", nil),
				rec(t2, "releasing", "pending", func(r *ports.RefundRecord) { r.Escalated = true }),
				rec(t3, "releasing", "pending", func(r *ports.RefundRecord) { r.Escalated = true }),
			},
			want: []ports.EventType{ports.EventRefundRequested, ports.EventRefundEscalated},
		},
		"refund.waiting_changed when a wait or its deadline changes, not its words": {
			writes: []func(*store.DB) error{
				rec(t1, "releasing", "pending", nil),
				rec(t2, "releasing", "pending", func(r *ports.RefundRecord) { r.WaitingOn = review }),
				rec(t2, "releasing", "pending", func(r *ports.RefundRecord) {
					r.WaitingOn = []domain.Wait{review[0]}
					r.WaitingOn[0].Detail, r.WaitingOn[0].Since = "reworded", t2
				}),
				rec(t3, "releasing", "pending", func(r *ports.RefundRecord) {
					r.WaitingOn = []domain.Wait{review[0]}
					later := deadline.Add(time.Hour)
					r.WaitingOn[0].Deadline = &later
				}),
				rec(t3, "paying", "pending", nil),
			},
			want: []ports.EventType{ports.EventRefundRequested, ports.EventRefundWaitingChanged, ports.EventRefundWaitingChanged, ports.EventRefundWaitingChanged},
		},
		"refund.paid": {
			writes: []func(*store.DB) error{rec(t1, "paying", "pending", nil), rec(t2, "refunded", "refunded", nil), rec(t2, "refunded", "refunded", nil)},
			want:   []ports.EventType{ports.EventRefundRequested, ports.EventRefundPaid},
		},
		"refund.rejected": {
			writes: []func(*store.DB) error{rec(t1, "releasing", "pending", nil), rec(t2, "rejected", "rejected", nil)},
			want:   []ports.EventType{ports.EventRefundRequested, ports.EventRefundRejected},
		},
		"refund.cancelled": {
			writes: []func(*store.DB) error{requested(t1), rec(t2, "cancelled", "cancelled", nil)},
			want:   []ports.EventType{ports.EventRefundRequested, ports.EventRefundCancelled},
		},
		"one write's events in their fixed order": {
			writes: []func(*store.DB) error{
				rec(t1, "awaiting_approval", "awaiting_approval", nil),
				rec(t2, "refunded", "refunded", func(r *ports.RefundRecord) { r.Audit, r.Escalated, r.WaitingOn = approved, true, review }),
			},
			want: []ports.EventType{ports.EventRefundRequested, ports.EventRefundApproved, ports.EventRefundEscalated,
				ports.EventRefundWaitingChanged, ports.EventRefundPaid},
		},
		"the amount due alone changes no event": {
			writes: []func(*store.DB) error{
				rec(t1, "awaiting_approval", "awaiting_approval", nil),
				rec(t2, "awaiting_approval", "awaiting_approval", func(r *ports.RefundRecord) {
					r.Due = &ports.RefundDue{Cash: "80", Currency: "USD", Destination: domain.OriginalMethod}
				}),
				rec(t3, "awaiting_approval", "awaiting_approval", func(r *ports.RefundRecord) {
					r.Due = &ports.RefundDue{Cash: "70", GiftCard: "1", Currency: "USD", Destination: domain.AccountBalance}
				}),
				rec(t3, "awaiting_approval", "awaiting_approval", nil),
			},
			want: []ports.EventType{ports.EventRefundRequested},
		},
		"an older record is not written and writes no event": {
			writes: []func(*store.DB) error{rec(t2, "releasing", "pending", nil), rec(t1, "refunded", "refunded", nil)},
			want:   []ports.EventType{ports.EventRefundRequested},
		},
		"a second refund after a final one is requested again": {
			writes: []func(*store.DB) error{rec(t1, "rejected", "rejected", nil), rec(t2, "releasing", "pending", nil)},
			want:   []ports.EventType{ports.EventRefundRequested, ports.EventRefundRejected, ports.EventRefundRequested},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db, _ := openMem(t)
			put(t, db, sslOrder(t, "o-1", cert("c-1", statemachine.Issued)))
			for i, w := range tc.writes {
				if err := w(db); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
			}
			if got := eventTypes(allEvents(t, db)); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("events = %v, want %v", got, tc.want)
			}
		})
	}
}

// An event carries the state after the change: the record as GetRefund
// reads it, at its update time, under a stable unique ID.
func TestRefundEventData(t *testing.T) {
	ctx := context.Background()
	db, _ := openMem(t)
	put(t, db, sslOrder(t, "o-1"))
	at := time.Date(2026, 3, 4, 9, 0, 0, 7, shanghai)
	by := domain.Actor{Subject: "console-1", Role: domain.RoleConsole, IdempotencyKey: "idem-1"}
	if err := db.RecordRefundRequested(ctx, "o-1", by, at); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveRefund(ctx, ports.RefundRecord{OrderID: "o-1", State: "refunded", Outcome: "refunded", Cash: "80",
		PaymentID: "pay_1", UpdatedAt: at.Add(time.Hour), Due: &ports.RefundDue{Cash: "80", Destination: domain.OriginalMethod}, Audit: []domain.AuditEntry{{Action: domain.AuditRefundRequested, At: at, Actor: by}}}); err != nil {
		t.Fatal(err)
	}
	evs := allEvents(t, db)
	if len(evs) != 2 {
		t.Fatalf("events = %v, want requested and paid", eventTypes(evs))
	}
	req, paid := evs[0], evs[1]
	var first ports.RefundRecord
	if err := json.Unmarshal(req.Data, &first); err != nil {
		t.Fatal(err)
	}
	wantAudit := []domain.AuditEntry{{Action: domain.AuditRefundRequested, At: at.UTC(), Actor: by}}
	if first.State != "refund_requested" || first.RequestedBy != "console-1" || !reflect.DeepEqual(first.Audit, wantAudit) {
		t.Fatalf("refund.requested data = %+v, want the request by console-1 in its audit", first)
	}
	got, err := db.GetRefund(ctx, "o-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Due == nil || got.Due.Cash != "80.00" {
		t.Fatalf("record read back = %+v, want the amount due 80.00", got)
	}
	want, _ := json.Marshal(got)
	if string(paid.Data) != string(want) {
		t.Fatalf("refund.paid data\n %s\nwant the record as read\n %s", paid.Data, want)
	}
	if !paid.OccurredAt.Equal(at.Add(time.Hour)) || paid.OrderID != "o-1" || paid.CertificateID != "" {
		t.Fatalf("refund.paid = %+v, want order o-1 at %v", paid, at.Add(time.Hour))
	}
	if !strings.HasPrefix(req.ID, "evt_") || len(req.ID) != 4+32 || req.ID == paid.ID {
		t.Fatalf("event IDs %q and %q: want two distinct evt_ + 128-bit hex", req.ID, paid.ID)
	}
	if again := allEvents(t, db); again[1].ID != paid.ID || again[1].Cursor != paid.Cursor {
		t.Fatalf("a second read changed the event's ID or cursor: %+v, then %+v", paid, again[1])
	}
}

func TestCertificateEvents(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	validating := cert("c-1", statemachine.ValidatingRevocation)
	tests := map[string]struct {
		writes func(t *testing.T, db *store.DB)
		want   []ports.CertificateChange
	}{
		"SaveCertificate: a change, then the same state again": {
			writes: func(t *testing.T, db *store.DB) {
				for range 2 {
					if err := db.SaveCertificate(ctx, "o-1", validating, at); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: []ports.CertificateChange{{CertificateID: "c-1", OrderID: "o-1", From: "issued", State: "validating_revocation"}},
		},
		"SaveRecords": {
			writes: func(t *testing.T, db *store.DB) {
				if err := db.SaveRecords(ctx, ports.Records{OrderID: "o-1", Certificates: []ports.CertificateRecord{
					{Certificate: validating, At: at}, {Certificate: cert("c-2", statemachine.Issued), At: at}}}); err != nil {
					t.Fatal(err)
				}
			},
			want: []ports.CertificateChange{{CertificateID: "c-1", OrderID: "o-1", From: "issued", State: "validating_revocation"}},
		},
		"IntakeOrder changes a certificate no workflow wrote": {
			writes: func(t *testing.T, db *store.DB) {
				if _, err := db.IntakeOrder(ctx, sslOrder(t, "o-1", cert("c-1", statemachine.Revoked), cert("c-2", statemachine.Issued), cert("c-3", statemachine.Issued)), nil); err != nil {
					t.Fatal(err)
				}
			},
			want: []ports.CertificateChange{{CertificateID: "c-1", OrderID: "o-1", From: "issued", State: "revoked"}},
		},
		"IntakeOrder keeps a workflow's state: no event": {
			writes: func(t *testing.T, db *store.DB) {
				if err := db.SaveCertificate(ctx, "o-1", cert("c-2", statemachine.Issued), at); err != nil {
					t.Fatal(err)
				}
				if _, err := db.IntakeOrder(ctx, sslOrder(t, "o-1", cert("c-1", statemachine.Issued), cert("c-2", statemachine.Revoked)), nil); err != nil {
					t.Fatal(err)
				}
			},
			want: []ports.CertificateChange{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db, _ := openMem(t)
			put(t, db, sslOrder(t, "o-1", cert("c-1", statemachine.Issued), cert("c-2", statemachine.Issued)))
			tc.writes(t, db)
			got := []ports.CertificateChange{}
			for _, ev := range allEvents(t, db) {
				var c ports.CertificateChange
				if err := json.Unmarshal(ev.Data, &c); err != nil {
					t.Fatal(err)
				}
				if ev.Type != ports.EventCertificateStateChanged || ev.CertificateID != c.CertificateID || ev.OrderID != "o-1" {
					t.Fatalf("event %+v does not match its data %+v", ev, c)
				}
				got = append(got, c)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("certificate changes = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// An error in SaveRecords writes neither the changes nor their events.
func TestEventsRollBackWithTheirChange(t *testing.T) {
	ctx := context.Background()
	db, _ := openMem(t)
	put(t, db, sslOrder(t, "o-1", cert("c-1", statemachine.Issued)), sslOrder(t, "o-2", cert("c-2", statemachine.Issued)))
	at := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	err := db.SaveRecords(ctx, ports.Records{OrderID: "o-1",
		Certificates: []ports.CertificateRecord{{Certificate: cert("c-1", statemachine.Revoked), At: at}, {Certificate: cert("c-2", statemachine.Revoked), At: at}},
		Refund:       &ports.RefundRecord{OrderID: "o-1", State: "refunded", Outcome: "refunded", UpdatedAt: at}})
	errstest.Want(t, err, errs.Conflict)
	if evs := allEvents(t, db); len(evs) != 0 {
		t.Fatalf("events after a failed SaveRecords: %v", eventTypes(evs))
	}
	if _, c, _ := db.GetCertificate(ctx, "c-1"); c.State != statemachine.Issued {
		t.Fatalf("c-1 = %s after a failed SaveRecords", c.State)
	}
}

func TestListEventsPages(t *testing.T) {
	ctx := context.Background()
	db, _ := openMem(t)
	put(t, db, sslOrder(t, "o-1", cert("c-1", statemachine.Issued)))
	at := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	states := []statemachine.CertState{statemachine.ValidatingRevocation, statemachine.Revoked, statemachine.Issued, statemachine.Revoked, statemachine.Issued}
	for i, s := range states {
		if err := db.SaveCertificate(ctx, "o-1", cert("c-1", s), at.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	var seen []ports.Event
	after := ""
	for range 10 {
		page, err := db.ListEvents(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) == 0 {
			if page.Next != after {
				t.Fatalf("an empty page's next = %q, want the given %q", page.Next, after)
			}
			break
		}
		if page.Next != page.Events[len(page.Events)-1].Cursor {
			t.Fatalf("next = %q, want the last event's cursor", page.Next)
		}
		seen = append(seen, page.Events...)
		after = page.Next
	}
	if len(seen) != len(states) {
		t.Fatalf("paging saw %d events, want %d", len(seen), len(states))
	}
	for i, ev := range seen {
		var c ports.CertificateChange
		_ = json.Unmarshal(ev.Data, &c)
		if c.State != string(states[i]) || !ev.OccurredAt.Equal(at.Add(time.Duration(i)*time.Minute)) {
			t.Fatalf("event %d = %+v %+v, want state %s", i, ev, c, states[i])
		}
	}
	if page, err := db.ListEvents(ctx, "", 0); err != nil || len(page.Events) != len(states) {
		t.Fatalf("default page = %d events (%v), want %d", len(page.Events), err, len(states))
	}
	for name, bad := range map[string]struct {
		after string
		limit int
	}{
		"letters": {"abc", 1}, "negative": {"-1", 1}, "leading zero": {"01", 1}, "fraction": {"1.0", 1},
		"too many": {"", ports.MaxEventPage + 1}, "negative limit": {"", -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := db.ListEvents(ctx, bad.after, bad.limit)
			errstest.Want(t, err, errs.Invalid)
		})
	}
}

// On PostgreSQL events get their sequence numbers in commit order: an
// event is inserted with a provisional number and renumbered as its
// transaction commits (migration 00012), so a transaction that wrote its
// event first but commits last comes last, and a reader that paged past
// the events committed meanwhile still finds it. An open writer holds no
// lock: the others commit while it is open.
func TestOutboxSequenceInCommitOrder(t *testing.T) {
	if !onPostgres() {
		t.Skip("SQLite has one writer at a time")
	}
	ctx := context.Background()
	db, _ := openAt(t, postgresDSN(t))
	put(t, db, sslOrder(t, "o-1"), sslOrder(t, "o-2"))

	commit, err := store.HoldOutbox(ctx, db, "o-1", time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	end := func() (err error) {
		once.Do(func() { err = commit() })
		return err
	}
	t.Cleanup(func() { _ = end() }) // a failing test lets the writer go too
	// A second writer commits while the first is open: nothing waits.
	saveCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.SaveRefund(saveCtx, ports.RefundRecord{OrderID: "o-2", State: "releasing", Outcome: "pending",
		UpdatedAt: time.Date(2026, 3, 4, 9, 1, 0, 0, time.UTC)}); err != nil {
		t.Fatalf("a writer waited for another transaction's open event (or failed): %v", err)
	}
	seen := allEvents(t, db)
	if len(seen) != 1 || seen[0].OrderID != "o-2" {
		t.Fatalf("outbox while o-1's event is not committed = %+v, want o-2's alone", seen)
	}
	if err := end(); err != nil {
		t.Fatal(err)
	}
	// A reader that had paged to o-2's event finds o-1's after it.
	next, err := db.ListEvents(ctx, seen[0].Cursor, ports.MaxEventPage)
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Events) != 1 || next.Events[0].OrderID != "o-1" {
		t.Fatalf("events after o-2's (cursor %s) = %+v, want o-1's: it committed later", seen[0].Cursor, next.Events)
	}
	if evs := allEvents(t, db); len(evs) != 2 || evs[0].OrderID != "o-2" || evs[1].OrderID != "o-1" {
		t.Fatalf("outbox = %+v, want o-2's event, then o-1's (commit order)", evs)
	}
}

// The final number is drawn under the outbox's advisory lock, taken as
// the transaction commits and held until the commit is visible: while
// another holds it, a committing writer waits with no final number drawn
// and nothing visible, and its number comes after the lock.
func TestOutboxNumberDrawnUnderTheLockAtCommit(t *testing.T) {
	if !onPostgres() {
		t.Skip("SQLite has one writer at a time")
	}
	ctx := context.Background()
	dsn := postgresDSN(t)
	db, _ := openAt(t, dsn)
	put(t, db, sslOrder(t, "o-1"))
	raw, err := sql.Open(postgres.DriverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	holder, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	const outboxLock = 0x63666f7574626f78 // "cfoutbox", migration 00012
	if _, err := holder.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(outboxLock)); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() {
		once.Do(func() { _, _ = holder.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", int64(outboxLock)) })
	}
	t.Cleanup(release)
	lastSeq := func() int64 {
		t.Helper()
		var n sql.NullInt64
		if err := raw.QueryRowContext(ctx, "SELECT pg_sequence_last_value(pg_get_serial_sequence('events', 'seq')::regclass)").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n.Int64
	}

	saved := make(chan error, 1)
	go func() {
		saved <- db.SaveRefund(ctx, ports.RefundRecord{OrderID: "o-1", State: "releasing", Outcome: "pending",
			UpdatedAt: time.Date(2026, 3, 4, 9, 1, 0, 0, time.UTC)})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND lower(query) = 'commit'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-saved:
			t.Fatalf("a writer committed its event while the outbox lock was held (%v)", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the committing writer never waited for the outbox lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	before := lastSeq()
	if evs := allEvents(t, db); len(evs) != 0 {
		t.Fatalf("a reader sees %v while its commit waits", eventTypes(evs))
	}
	release()
	if err := <-saved; err != nil {
		t.Fatal(err)
	}
	evs := allEvents(t, db)
	if len(evs) != 1 || evs[0].Cursor != fmt.Sprint(before+1) {
		t.Fatalf("outbox = %+v, want o-1's event numbered %d, drawn once the lock was held", evs, before+1)
	}
}
