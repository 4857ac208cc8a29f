package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/certflow/certflow/errs/errstest"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/store/sqlite"
)

// rawDB opens the SQLite database at path with the store's connection
// settings but no migration.
func rawDB(t *testing.T, path string) *DB {
	t.Helper()
	src, err := sqlite.DataSource(path)
	if err != nil {
		t.Fatal(err)
	}
	sdb, err := sql.Open(sqlite.DriverName, src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sdb.Close() })
	return &DB{sql: sdb, d: sqlite.Dialect(), now: time.Now, path: path}
}

func tableExists(t *testing.T, db *DB, name string) bool {
	t.Helper()
	var n int
	if err := db.sql.QueryRow("SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	const latest = 13
	step := func(name, body string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("-- +goose Up\n" + body)}
	}
	tests := map[string]func(t *testing.T, path string){
		"fresh database migrates to latest": func(t *testing.T, path string) {
			db, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if v, err := db.schemaVersion(ctx); err != nil || v != latest {
				t.Fatalf("schema version = %d, %v; want %d", v, err, latest)
			}
			for _, table := range []string{"orders", "certificates", "quota_returns", "refunds", "payouts", "events"} {
				if !tableExists(t, db, table) {
					t.Errorf("table %s missing", table)
				}
			}
		},
		"opening twice is a no-op": func(t *testing.T, path string) {
			db, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db, err = Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if n, err := db.migrate(ctx); err != nil || n != 0 {
				t.Fatalf("migrating again applied %d, %v; want 0", n, err)
			}
		},
		"database at version 1 migrates to latest": func(t *testing.T, path string) {
			sdb := rawDB(t, path)
			p, err := sdb.provider(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rs, err := p.UpTo(ctx, 1); err != nil || len(rs) != 1 {
				t.Fatalf("migrating to version 1 applied %d, %v", len(rs), err)
			}
			if tableExists(t, sdb, "payouts") {
				t.Fatal("payouts exists at version 1")
			}
			db, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if v, err := db.schemaVersion(ctx); err != nil || v != latest {
				t.Fatalf("schema version = %d, %v; want %d", v, err, latest)
			}
			if !tableExists(t, db, "payouts") {
				t.Fatal("payouts missing after migrating")
			}
		},
		"failing migration leaves the previous version": func(t *testing.T, path string) {
			sdb := rawDB(t, path)
			sdb.d.Migrations = fstest.MapFS{
				"00001_a.sql": step("a", "CREATE TABLE a (x INTEGER) STRICT;"),
				"00002_b.sql": step("b", "CREATE TABLE b (x INTEGER) STRICT;\nINSERT INTO nowhere VALUES (1);"),
			}
			n, err := sdb.migrate(ctx)
			errstest.Want(t, err, errs.Internal, "migrating the sqlite database: step 00002_b.sql")
			if v, _ := sdb.schemaVersion(ctx); v != 1 || n != 1 || !tableExists(t, sdb, "a") || tableExists(t, sdb, "b") {
				t.Fatalf("version %d; a exists %v, b exists %v; want 1, true, false", v, tableExists(t, sdb, "a"), tableExists(t, sdb, "b"))
			}
		},
		"newer database is refused": func(t *testing.T, path string) {
			sdb := rawDB(t, path)
			if _, err := sdb.migrate(ctx); err != nil {
				t.Fatal(err)
			}
			sdb.d.Migrations = fstest.MapFS{"00001_init.sql": step("init", "SELECT 1;")}
			_, err := sdb.migrate(ctx)
			errstest.Want(t, err, errs.Internal, "is newer than this build's 1")
		},
		"database with both version tables is refused": func(t *testing.T, path string) {
			sdb := rawDB(t, path)
			if _, err := sdb.migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := sdb.sql.ExecContext(ctx, "CREATE TABLE schema_migrations (version INTEGER)"); err != nil {
				t.Fatal(err)
			}
			_, err := sdb.migrate(ctx)
			errstest.Want(t, err, errs.Internal, "has both schema_migrations (the runner before goose) and goose_db_version (goose)")
		},
	}
	for name, test := range tests {
		t.Run(name, func(t *testing.T) {
			test(t, filepath.Join(t.TempDir(), "certflow.db"))
		})
	}
}

func TestOpenSettings(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		path    func(t *testing.T) string
		journal string
	}{
		"file":     {path: func(t *testing.T) string { return filepath.Join(t.TempDir(), "certflow.db") }, journal: "wal"},
		":memory:": {path: func(*testing.T) string { return ":memory:" }, journal: "memory"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db, err := Open(ctx, tc.path(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var journal string
			var fk, busy int
			if err := db.sql.QueryRow("PRAGMA journal_mode").Scan(&journal); err != nil {
				t.Fatal(err)
			}
			if err := db.sql.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil {
				t.Fatal(err)
			}
			if err := db.sql.QueryRow("PRAGMA busy_timeout").Scan(&busy); err != nil {
				t.Fatal(err)
			}
			if journal != tc.journal || fk != 1 || busy != int(sqlite.BusyTimeout.Milliseconds()) {
				t.Fatalf("journal_mode %s, foreign_keys %d, busy_timeout %d; want %s, 1, %d", journal, fk, busy, tc.journal, sqlite.BusyTimeout.Milliseconds())
			}
		})
	}
	t.Run("path with a query is refused", func(t *testing.T) {
		_, err := Open(ctx, "x.db?mode=ro")
		errstest.Want(t, err, errs.Invalid, "must not contain '?'")
	})
}

// Payouts recorded by the in-store payment simulator (schema version 2,
// here a database of the runner before goose, adopted on Open) survive
// step 00003 as settled ledger rows.
func TestMigrationKeepsVersion2Payouts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "certflow.db")
	if err := MakeLegacy(ctx, "sqlite:"+path, 2); err != nil {
		t.Fatal(err)
	}
	sdb := rawDB(t, path)
	at := "2026-03-03T09:00:00.000000000Z"
	for _, q := range []string{
		`INSERT INTO orders (id, product, paid_at, currency, price, cash, voucher, gift_card, benefit_points, already_refunded, updated_at)
			VALUES ('o-1', 'ssl_certificate', '` + at + `', 'USD', '100.00', '80.00', '20.00', '0.00', 0, '0.00', '` + at + `')`,
		`INSERT INTO payouts (idempotency_key, order_id, cash, gift_card, benefit_points, currency, destination, payment_id, status, created_at)
			VALUES ('refund/o-1/original_method', 'o-1', '80.00', '0.00', 0, 'USD', 'original_method', 'pay_a', 'failed', '` + at + `'),
			       ('refund/o-1/account_balance', 'o-1', '80.00', '0.00', 0, 'USD', 'account_balance', 'pay_b', 'paid', '` + at + `')`,
	} {
		if _, err := sdb.sql.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := sdb.sql.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ps, err := db.Payouts(ctx, "o-1")
	if err != nil || len(ps) != 2 {
		t.Fatalf("Payouts = %+v, %v", ps, err)
	}
	got := map[string]string{}
	for _, p := range ps {
		if p.SettledAt.IsZero() || !p.SettledAt.Equal(p.CreatedAt) {
			t.Errorf("%s settled at %s, want its creation time", p.Request.IdempotencyKey, p.SettledAt)
		}
		got[p.Request.IdempotencyKey] = string(p.Status) + " " + p.ProviderID
	}
	if got["refund/o-1/original_method"] != "failed pay_a" || got["refund/o-1/account_balance"] != "paid pay_b" {
		t.Fatalf("payouts after migrating = %v", got)
	}
	// What M-3 counts as refunded is the paid one, not the failed one.
	if paid, err := db.RefundedAmount(ctx, "o-1"); err != nil || !paid.Equal(decimal.RequireFromString("80")) {
		t.Fatalf("RefundedAmount after migrating = %s, %v; want 80", paid, err)
	}
	// M-3 still counts the paid one: nothing is left of the 80.00.
	if _, _, err := db.ReservePayout(ctx, ports.PayoutRequest{IdempotencyKey: "k", OrderID: "o-1", Cash: mustUSD(t, "0.01"), Destination: "account_balance"}); errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("another 0.01 = %v, want a conflict", err)
	}
}

func mustUSD(t *testing.T, s string) money.Amount {
	t.Helper()
	a, err := money.New(decimal.RequireFromString(s), money.Currency{Code: "USD", Places: 2})
	if err != nil {
		t.Fatal(err)
	}
	return a
}
