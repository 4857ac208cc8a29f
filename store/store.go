// Package store owns certflow's durable state in one SQL database, SQLite
// or PostgreSQL, chosen by the DSN given to Open: the orders with their
// certificates, the quota-return ledger, the refund records the console
// shows, and the refund ledger that guards every payout. DB implements
// ports.Database (and so activities.Store). The queries are written once;
// what differs per database (driver, placeholders, row locks, retryable
// errors) is the dialect's, in store/sqlite and store/postgres, and the
// schema steps are in store/migrations, one numbering for both.
//
// It guarantees that
//
//   - amounts are stored as decimal text at the currency's minor unit and
//     read back exactly; no amount is ever a float (M-1);
//   - times are stored as UTC instants: a time read back is Equal to the one
//     written, in time.UTC whatever its original zone;
//   - a certificate's quota is returned at most once (ReturnQuota);
//   - a certificate has at most one holder, its one writer, taken by a
//     single compare-and-set across goroutines and processes
//     (HoldCertificate);
//   - a payout is reserved at most once per idempotency key, and the cash
//     of the order's pending and paid payouts never exceeds the cash paid
//     minus what was refunded before; both are checked and recorded in one
//     serialised step, across goroutines, processes and (on PostgreSQL)
//     hosts (M-3, M-4);
//   - every change the console hears of (a refund requested, approved,
//     escalated, paid, rejected or cancelled, its waiting_on changed, a
//     certificate's state changed) writes its event to the outbox in the
//     change's own transaction, so an event exists exactly when its change
//     does; each endpoint gets the events of an order in order, leased to
//     one dispatcher at a time (Outbox);
//   - the schema is migrated on Open by goose (github.com/pressly/goose/v3)
//     from the embedded steps of store/migrations, numbered alike on both
//     databases, each step in its own transaction with its version row,
//     once across processes (PostgreSQL: goose's session advisory lock, one
//     per schema; SQLite: an exclusive lock on the companion file
//     PATH-migrate); a database newer than the build is refused, and one
//     migrated by the runner before goose (schema_migrations) is adopted,
//     or refused naming what to do when it lists a step this build does not
//     know.
//
// On an SQLite file a process's writing transactions are run by one
// goroutine, those queued at once committed together, each in its own
// savepoint (group commit, commit.go): a write returns once committed,
// and one that fails takes no other with it.
//
// Errors carry an errs code: NotFound, Conflict and Invalid for the
// caller's mistakes, Unavailable for a busy database, a lost connection or
// a cancelled context, Internal (wrapping the driver's error) for everything else.
// The package reads no clock of its own: Open takes one (WithNow).
package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/store/dialect"
	"github.com/certflow/certflow/store/postgres"
	"github.com/certflow/certflow/store/sqlite"
)

var _ ports.Database = (*DB)(nil)

// DB is the certflow database. It is safe for concurrent use.
type DB struct {
	sql *sql.DB
	d   dialect.Dialect
	now func() time.Time
	// path is the SQLite file (or sqlite.Memory); "" on PostgreSQL.
	path string
	// maxConns bounds PostgreSQL's pool (WithMaxConns).
	maxConns int
	// commits runs this process's writing transactions on an SQLite file
	// (nil on PostgreSQL and in memory) over a pool of its own, with group
	// commit (commit.go): SQLite has one writer, and its busy handler lets
	// waiting writers retry after growing sleeps, so under load some wait
	// seconds while others get in first. Queued here, a write waits its
	// turn in this process; other processes on the same file still meet
	// the busy handler.
	commits *committer
	// reads are the prepared statements of sql on an SQLite file (nil
	// elsewhere: pgx caches its own, and an in-memory database's one
	// connection would be taken by the transaction preparing them).
	reads *stmtCache
}

// Option configures Open.
type Option func(*DB)

// WithNow sets the clock the store stamps its own records with (migrations,
// order updates, payouts). The default is time.Now; tests and the simulator
// pass a fake.
func WithNow(now func() time.Time) Option {
	return func(db *DB) { db.now = now }
}

// WithMaxConns bounds the connections a PostgreSQL store keeps open (and
// idle); zero is postgres.DefaultMaxConns, a negative n leaves
// database/sql's own defaults (unbounded, two idle: for comparison only).
// SQLite ignores it.
func WithMaxConns(n int) Option {
	return func(db *DB) { db.maxConns = n }
}

// Open opens the database named by dsn, creating an SQLite file if needed,
// and migrates it to the latest schema of its dialect:
//
//   - "sqlite:PATH" (or a bare PATH) is an SQLite file; "sqlite::memory:"
//     (or ":memory:") a private in-memory database, gone on Close;
//   - "postgres://…" or "postgresql://…" is a PostgreSQL database (the
//     pgx URL form, e.g. postgres://certflow:secret@db:5432/certflow?sslmode=require).
//
// See store/sqlite and store/postgres for how each serialises writers.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	var (
		d      dialect.Dialect
		driver string
		source string
		err    error
		path   string
	)
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		d, driver = postgres.Dialect(), postgres.DriverName
		source, err = postgres.DataSource(dsn)
	case strings.Contains(dsn, "://"):
		scheme, _, _ := strings.Cut(dsn, "://")
		return nil, errs.E(errs.Invalid, "database DSN scheme %q is not supported (want sqlite:PATH or postgres://…)", scheme)
	default:
		path = strings.TrimPrefix(dsn, "sqlite:")
		d, driver = sqlite.Dialect(), sqlite.DriverName
		source, err = sqlite.DataSource(path)
	}
	if err != nil {
		return nil, err
	}
	sdb, err := sql.Open(driver, source)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "opening %s database", d.Name)
	}
	db := &DB{sql: sdb, d: d, now: time.Now, path: path}
	for _, o := range opts {
		o(db)
	}
	if d.Name == "sqlite" {
		sqlite.Configure(sdb, path)
	} else if db.maxConns >= 0 {
		postgres.ConfigurePool(sdb, db.maxConns)
	}
	if d.Name == "sqlite" && path != sqlite.Memory {
		// The writer's connections are its own: a write never waits for
		// a pooled connection behind readers, and its statements stay
		// prepared on them.
		wdb, err := sql.Open(driver, source)
		if err != nil {
			_ = sdb.Close()
			return nil, errs.Wrap(errs.Internal, err, "opening %s database", d.Name)
		}
		sqlite.ConfigureWriter(wdb)
		db.commits, db.reads = newCommitter(db, wdb), newStmtCache(sdb)
	}
	if err := db.init(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// Dialect names the database the store runs on: "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.d.Name }

func (db *DB) init(ctx context.Context) error {
	if err := db.d.Init(ctx, db.sql); err != nil {
		return dbError(err, "preparing the %s database", db.d.Name)
	}
	if _, err := db.migrate(ctx); err != nil {
		return err
	}
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return dbError(err, "pinging the database")
	}
	return nil
}

// Close closes the database. An in-memory database is gone after it.
func (db *DB) Close() error {
	var werr error
	if db.commits != nil {
		db.commits.close()
		werr = db.commits.pool.Close()
		db.reads.close()
	}
	if err := cmp.Or(db.sql.Close(), werr); err != nil {
		return errs.Wrap(errs.Internal, err, "closing database")
	}
	return nil
}

// Tx is a transaction whose queries are written with ? placeholders, in
// the SQL both dialects accept; it rebinds them for the driver.
type Tx struct {
	tx *sql.Tx
	db *DB
	// stmts, when set, prepares the statements once (stmtCache).
	stmts *stmtCache
	// detached: the statements run to their end whatever their context
	// (a group commit's: see committer.commit).
	detached bool
	// events are the outbox events of the transaction's changes, in the
	// order they happened; inTx writes them just before commit.
	events []ports.Event
}

// emit queues an outbox event of a change made in t: it is written with
// the change, in the same transaction, or not at all.
func (t *Tx) emit(ev ports.Event) { t.events = append(t.events, ev) }

// ExecContext runs a statement.
func (t *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx, q = t.ctx(ctx), t.db.d.Rebind(q)
	if s := t.stmt(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

// QueryContext runs a query.
func (t *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx, q = t.ctx(ctx), t.db.d.Rebind(q)
	if s := t.stmt(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, q, args...)
}

// QueryRowContext runs a query expected to return at most one row.
func (t *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	ctx, q = t.ctx(ctx), t.db.d.Rebind(q)
	if s := t.stmt(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

func (t *Tx) ctx(ctx context.Context) context.Context {
	if t.detached {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// stmt is q prepared in t, or nil when t prepares nothing or q is not
// prepared yet (stmtCache.cached): then q runs as it is.
func (t *Tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if t.stmts == nil {
		return nil
	}
	s := t.stmts.cached(q)
	if s == nil {
		return nil
	}
	return t.tx.StmtContext(ctx, s)
}

// forUpdate is the dialect's row-lock suffix: a SELECT in a writing
// transaction that ends with it holds the rows until commit.
func (t *Tx) forUpdate() string { return t.db.d.ForUpdate }

// queryRow runs a single-row query outside a transaction.
func (db *DB) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	q = db.d.Rebind(q)
	if s := db.prepared(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return db.sql.QueryRowContext(ctx, q, args...)
}

// query runs a query outside a transaction: one statement, one snapshot.
func (db *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q = db.d.Rebind(q)
	if s := db.prepared(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return db.sql.QueryContext(ctx, q, args...)
}

// prepared is q prepared on the readers' pool, or nil when none are kept
// or the preparing failed (running q as it is reports the error).
func (db *DB) prepared(ctx context.Context, q string) *sql.Stmt {
	if db.reads == nil {
		return nil
	}
	s, err := db.reads.get(ctx, q)
	if err != nil {
		return nil
	}
	return s
}

// exec runs one writing statement, a transaction on its own: on
// PostgreSQL without a BEGIN and a COMMIT around it (two round trips
// fewer), on SQLite as a write (an SQLite file's goes to the committer).
func (db *DB) exec(ctx context.Context, what string, q string, args ...any) error {
	if db.d.Name != "postgres" {
		return db.write(ctx, what, func(tx *Tx) error {
			_, err := tx.ExecContext(ctx, q, args...)
			return dbErrorIf(err, "%s", what)
		})
	}
	_, err := db.sql.ExecContext(ctx, db.d.Rebind(q), args...)
	return dbErrorIf(err, "%s", what)
}

// write runs fn in a writing transaction: in SQLite BEGIN IMMEDIATE (it
// holds the database's write lock from the start), in PostgreSQL READ
// COMMITTED with row locks taken by the queries that need them. fn's error
// rolls the transaction back and is returned as is.
func (db *DB) write(ctx context.Context, what string, fn func(*Tx) error) error {
	return db.inTx(ctx, nil, what, fn)
}

// read runs fn in a read-only transaction: one consistent snapshot that
// does not block writers.
func (db *DB) read(ctx context.Context, what string, fn func(*Tx) error) error {
	return db.inTx(ctx, db.d.Read, what, fn)
}

func (db *DB) inTx(ctx context.Context, opts *sql.TxOptions, what string, fn func(*Tx) error) error {
	if opts == nil && db.commits != nil {
		return db.commits.write(ctx, what, fn)
	}
	tx, err := db.sql.BeginTx(ctx, opts)
	if err != nil {
		return dbError(err, "%s", what)
	}
	t := &Tx{tx: tx, db: db, stmts: db.reads}
	err = fn(t)
	if err == nil && len(t.events) > 0 {
		err = db.insertEvents(ctx, t)
	}
	if err != nil {
		_ = tx.Rollback()
		return dbError(err, "%s", what)
	}
	if err := tx.Commit(); err != nil {
		return dbError(err, "%s", what)
	}
	return nil
}

// dbError codes a driver error of either dialect: a busy or locked
// database, a serialisation failure, a lost connection and a cancelled
// context are Unavailable (worth retrying), anything else Internal. An
// error that already carries a code is returned unchanged.
func dbError(err error, format string, args ...any) error {
	var coded *errs.Error
	if errors.As(err, &coded) {
		return err
	}
	code := errs.Internal
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, sql.ErrConnDone),
		sqlite.Unavailable(err), postgres.Unavailable(err):
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
