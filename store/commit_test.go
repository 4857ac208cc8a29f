package store

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/store/sqlite"
)

// The writes queued while the writer is busy commit together, each in its
// savepoint: one that fails (or panics) is rolled back alone (its
// statements and its events), the others are kept, and one whose caller
// gave up before its turn is not run at all.
func TestGroupCommitRollsBackAFailedWriteAlone(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "certflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	insert := func(tx *Tx, id string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO events (id, type, order_id, occurred_at, data) VALUES (?, 'test', 'o-1', '2026-03-03T09:00:00Z', '{}')`, id)
		return err
	}
	release, ok := HoldWriterTurn(db)
	if !ok {
		t.Fatal("an SQLite file store queues no writers")
	}
	tests := map[string]struct {
		fn   func(*Tx) error
		want errs.Code
	}{
		"kept":            {fn: func(tx *Tx) error { return insert(tx, "evt_a") }},
		"kept too":        {fn: func(tx *Tx) error { return insert(tx, "evt_c") }},
		"refused":         {fn: func(tx *Tx) error { _ = insert(tx, "evt_b"); return errs.E(errs.Conflict, "no") }, want: errs.Conflict},
		"a statement err": {fn: func(tx *Tx) error { _ = insert(tx, "evt_d"); return insert(tx, "evt_d") }, want: errs.Internal},
		"a panic":         {fn: func(tx *Tx) error { _ = insert(tx, "evt_f"); panic("boom") }, want: errs.Internal},
	}
	got := make(map[string]chan error, len(tests))
	for name, tc := range tests {
		c := make(chan error, 1)
		got[name] = c
		go func() { c <- db.write(ctx, name, tc.fn) }()
	}
	gaveUp, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := db.write(gaveUp, "given up", func(tx *Tx) error { return insert(tx, "evt_e") }); errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("a write whose caller gave up: %v, want unavailable", err)
	}
	release()
	for name, tc := range tests {
		err := <-got[name]
		if (tc.want == "") != (err == nil) || err != nil && errs.CodeOf(err) != tc.want {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	var ids []string
	rows, err := db.sql.QueryContext(ctx, "SELECT id FROM events ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if want := []string{"evt_a", "evt_c"}; !slices.Equal(ids, want) {
		t.Fatalf("events = %v, want %v", ids, want)
	}
}

// Read transactions holding every reading connection at once, on a fresh
// store (nothing prepared yet), all finish: a transaction never waits for
// a second connection to prepare its statement on.
func TestReadTransactionsDoNotWaitToPrepare(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "certflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	errc := make(chan error, 4*sqlite.ReadConns)
	for range cap(errc) {
		go func() {
			errc <- db.read(ctx, "reading", func(tx *Tx) error {
				var n int
				time.Sleep(10 * time.Millisecond) // all hold their connection
				return tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM events WHERE seq > ?", 0).Scan(&n)
			})
		}()
	}
	for range cap(errc) {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}
