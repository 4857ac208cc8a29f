// Package store owns certflow's durable state in one SQLite database: the
// orders with their certificates, the quota-return ledger, the refund
// records the console shows, and the payment simulator's idempotency
// ledger. DB implements activities.Store and Payments implements
// activities.Payments.
//
// It guarantees that
//
//   - amounts are stored as decimal text at the currency's minor unit and
//     read back exactly; no amount is ever a float (M-1);
//   - times are stored as UTC instants: a time read back is Equal to the one
//     written, in time.UTC whatever its original zone;
//   - a certificate's quota is returned at most once (ReturnQuota);
//   - a payout moves money at most once per idempotency key, and the cash
//     paid out for an order never exceeds the cash paid minus what was
//     refunded before; both are checked and recorded in one serialised
//     transaction, across goroutines and processes (M-3, M-4);
//   - the schema is migrated on Open by ordered, embedded migrations, each
//     in its own transaction.
//
// Errors carry an errs code: NotFound, Conflict and Invalid for the
// caller's mistakes, Unavailable for a busy database or a cancelled
// context, Internal (wrapping the driver's error) for everything else.
// The package reads no clock of its own: Open takes one (WithNow).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/errs"
)

var _ activities.Store = (*DB)(nil)

// busyTimeout is how long a connection waits for another writer before a
// statement fails with SQLITE_BUSY (reported as errs.Unavailable).
const busyTimeout = 5 * time.Second

// DB is the certflow database. It is safe for concurrent use.
type DB struct {
	sql *sql.DB
	now func() time.Time
}

// Option configures Open.
type Option func(*DB)

// WithNow sets the clock the store stamps its own records with (migrations,
// order updates, payouts). The default is time.Now; tests and the simulator
// pass a fake.
func WithNow(now func() time.Time) Option {
	return func(db *DB) { db.now = now }
}

// Open opens the SQLite database at path, creating it if needed, and
// migrates it to the latest schema. path is a file name or ":memory:" for a
// private in-memory database (one connection, gone on Close). File databases
// use WAL journaling; every connection enforces foreign keys and waits up to
// 5s for a busy database, and every writing transaction begins IMMEDIATE, so
// writers are serialised by SQLite itself.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	if path == "" {
		return nil, errs.E(errs.Invalid, "database path is empty")
	}
	if strings.ContainsRune(path, '?') {
		return nil, errs.E(errs.Invalid, "database path %q must not contain '?'", path)
	}
	memory := path == ":memory:"
	sdb, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "opening database %s", path)
	}
	if memory {
		// Each connection to ":memory:" is its own database: keep exactly
		// one, forever.
		sdb.SetMaxOpenConns(1)
		sdb.SetMaxIdleConns(1)
		sdb.SetConnMaxLifetime(0)
		sdb.SetConnMaxIdleTime(0)
	}
	db := &DB{sql: sdb, now: time.Now}
	for _, o := range opts {
		o(db)
	}
	if err := db.init(ctx, memory); err != nil {
		_ = sdb.Close()
		return nil, err
	}
	return db, nil
}

// dsn is the driver's data source name for path: the per-connection
// settings ride on it, so every pooled connection has them.
func dsn(path string) string {
	// synchronous=FULL: a committed payout survives a power cut (M-4).
	return fmt.Sprintf("%s?_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_txlock=immediate",
		path, busyTimeout.Milliseconds())
}

func (db *DB) init(ctx context.Context, memory bool) error {
	if !memory {
		// WAL is a property of the file: set once, kept by every connection.
		var mode string
		if err := db.sql.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
			return dbError(err, "setting journal mode")
		}
		if !strings.EqualFold(mode, "wal") {
			return errs.E(errs.Internal, "journal mode is %q, not wal", mode)
		}
	}
	var fk int
	if err := db.sql.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return dbError(err, "checking foreign keys")
	}
	if fk != 1 {
		return errs.E(errs.Internal, "foreign keys are not enforced")
	}
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		return err
	}
	if _, err := migrate(ctx, db.sql, ms, db.now); err != nil {
		return err
	}
	return nil
}

// Close closes the database. An in-memory database is gone after it.
func (db *DB) Close() error {
	if err := db.sql.Close(); err != nil {
		return errs.Wrap(errs.Internal, err, "closing database")
	}
	return nil
}

// write runs fn in a writing transaction (BEGIN IMMEDIATE: it holds the
// database's write lock from the start, so what fn reads stays true until
// it commits). fn's error rolls the transaction back and is returned as is.
func (db *DB) write(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	return inTx(ctx, db.sql, nil, what, fn)
}

// read runs fn in a read-only transaction: one consistent snapshot that
// does not block writers.
func (db *DB) read(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	return inTx(ctx, db.sql, &sql.TxOptions{ReadOnly: true}, what, fn)
}

func inTx(ctx context.Context, sdb *sql.DB, opts *sql.TxOptions, what string, fn func(*sql.Tx) error) error {
	tx, err := sdb.BeginTx(ctx, opts)
	if err != nil {
		return dbError(err, "%s", what)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return dbError(err, "%s", what)
	}
	return nil
}

// dbError codes a driver error: a busy or locked database and a cancelled
// context are Unavailable (worth retrying), anything else Internal. An
// error that already carries a code is returned unchanged.
func dbError(err error, format string, args ...any) error {
	var coded *errs.Error
	if errors.As(err, &coded) {
		return err
	}
	code := errs.Internal
	var se *sqlite.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code = errs.Unavailable
	case errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED):
		code = errs.Unavailable
	}
	return errs.Wrap(code, err, format, args...)
}

// timeLayout is RFC 3339 with a fixed nine-digit fraction: written in UTC
// it is fixed-width, so stored times sort correctly as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func formatTimePtr(t *time.Time) sql.NullString {
	if t == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: formatTime(*t), Valid: true}
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errs.Wrap(errs.Internal, err, "stored time %q is malformed", s)
	}
	return t.UTC(), nil
}

func parseTimePtr(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
