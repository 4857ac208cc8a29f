// Package postgres is the store's PostgreSQL dialect (pgx through
// database/sql): the schema migrations, the placeholders, and the errors
// worth retrying. Writers are serialised per order by row locks (SELECT …
// FOR UPDATE on the order's row) in READ COMMITTED transactions, so any
// number of processes on any number of hosts can share one database; reads
// run in READ ONLY REPEATABLE READ transactions, one snapshot each.
// Migrations hold a session-level advisory lock (goose's session locker,
// MigrationLocker), so processes opening one database at once apply each
// step once.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"hash/fnv"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/store/dialect"
	"github.com/certflow/certflow/store/migrations"
)

// DriverName is the database/sql driver this dialect uses.
const DriverName = "pgx"

// DefaultMaxConns bounds the connections a store keeps open to
// PostgreSQL, and keeps that many idle: database/sql's defaults (no bound,
// two idle) close a connection after nearly every burst and open a new
// one, a backend fork and its authentication, for the next; at 200
// concurrent status reads that churn, not the queries, made the tail
// (docs/performance.md).
const DefaultMaxConns = 32

// ConfigurePool sizes db's pool: maxConns open at most (DefaultMaxConns
// when not positive), as many kept idle, an idle one closed after five
// minutes.
func ConfigurePool(db *sql.DB, maxConns int) {
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
}

// migrationLock is the advisory lock key of schema migrations ("certflow"
// in ASCII, as a number), mixed with the schema's name by MigrationLockID.
const migrationLock = 0x63657274666c6f77

// Dialect returns the PostgreSQL dialect.
func Dialect() dialect.Dialect {
	return dialect.Dialect{
		Name:        "postgres",
		Goose:       database.DialectPostgres,
		Migrations:  migrations.Postgres(),
		TableExists: "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?",
		Rebind:      Rebind,
		ForUpdate:   " FOR UPDATE",
		SkipLocked:  " FOR UPDATE SKIP LOCKED",
		Read:        &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead},
		Unavailable: Unavailable,
		Init:        func(ctx context.Context, db *sql.DB) error { return nil },
	}
}

// MigrationLockID is the advisory lock key of the migrations of schema:
// processes migrating one schema exclude each other, and migrations of
// different schemas of one database (the tests' fresh schemas) do not
// wait for each other.
func MigrationLockID(schema string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(schema))
	return migrationLock ^ int64(h.Sum64()&0x7fffffffffffffff)
}

// MigrationLocker returns goose's session locker on MigrationLockID(schema):
// pg_try_advisory_lock tried every second for up to five minutes, released
// when the migrations end or the session does (a crashed process holds
// nothing).
func MigrationLocker(schema string) (lock.SessionLocker, error) {
	return lock.NewPostgresSessionLocker(
		lock.WithLockID(MigrationLockID(schema)),
		lock.WithLockTimeout(1, 300),
		lock.WithUnlockTimeout(1, 60),
	)
}

// DataSource checks a postgres:// or postgresql:// URL and returns it
// for the driver.
func DataSource(dsn string) (string, error) {
	if _, err := pgconn.ParseConfig(dsn); err != nil {
		// The parse error may quote the password: name the problem only.
		return "", errs.E(errs.Invalid, "PostgreSQL DSN is malformed (want postgres://user:password@host:port/database?sslmode=...)")
	}
	return dsn, nil
}

// Rebind turns ? placeholders into $1, $2, … in order, and ?N into $N,
// outside quoted text.
func Rebind(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
			b.WriteByte(c)
		case c == '\'' || c == '"':
			quote = c
			b.WriteByte(c)
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			b.WriteByte('$')
			if j > i+1 {
				b.WriteString(q[i+1 : j])
				i = j - 1
			} else {
				n++
				b.WriteString(strconv.Itoa(n))
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Unavailable reports whether err is worth retrying: a serialisation
// failure or deadlock (class 40), too many connections or too little
// resources (53), the server shutting down (57P01-57P03), a connection
// problem (08), a network error, or a connection that dropped mid-answer
// (an unexpected EOF, a bad connection: the fault run's "reading
// certificate holder: unexpected EOF" when PostgreSQL was killed).
func Unavailable(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "40"), strings.HasPrefix(pe.Code, "53"), strings.HasPrefix(pe.Code, "08"),
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03":
			return true
		}
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}
