// Package sqlite is the store's SQLite dialect (modernc.org/sqlite, no
// cgo): the connection settings, the lock around schema migrations and
// the errors worth retrying. A file database uses WAL journaling, every connection
// enforces foreign keys and waits up to BusyTimeout for a busy database,
// and every writing transaction begins IMMEDIATE, so writers are
// serialised by SQLite itself: the whole database is the lock. That needs
// all processes on one host; PostgreSQL (store/postgres) does not. A
// file's readers and its writer have pools of their own (Configure,
// ConfigureWriter).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/pressly/goose/v3/database"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/store/dialect"
	"github.com/certflow/certflow/store/migrations"
)

// DriverName is the database/sql driver this dialect uses.
const DriverName = "sqlite"

// BusyTimeout is how long a connection waits for another writer before a
// statement fails with SQLITE_BUSY (reported as errs.Unavailable).
const BusyTimeout = 5 * time.Second

// Memory is the path of a private in-memory database.
const Memory = ":memory:"

// Dialect returns the SQLite dialect.
func Dialect() dialect.Dialect {
	return dialect.Dialect{
		Name:        "sqlite",
		Goose:       database.DialectSQLite3,
		Migrations:  migrations.SQLite(),
		TableExists: "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?",
		Rebind:      func(q string) string { return q },
		Read:        &sql.TxOptions{ReadOnly: true},
		Unavailable: Unavailable,
		Init:        initDB,
	}
}

// DataSource checks path (a file name or Memory) and returns the driver's
// data source name: the per-connection settings ride on it, so every
// pooled connection has them.
func DataSource(path string) (string, error) {
	if path == "" {
		return "", errs.E(errs.Invalid, "database path is empty")
	}
	if strings.ContainsRune(path, '?') {
		return "", errs.E(errs.Invalid, "database path %q must not contain '?'", path)
	}
	// synchronous=FULL: a committed payout survives a power cut (M-4).
	return fmt.Sprintf("%s?_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_txlock=immediate",
		path, BusyTimeout.Milliseconds()), nil
}

// ReadConns bounds the reading connections of a file database, all
// kept open: database/sql's defaults keep two idle, so after every burst
// of reads the rest are closed and the next burst opens new ones, each
// opening the file and parsing the schema again. In WAL readers do not
// wait for the writer, nor for each other.
const ReadConns = 8

// Configure sets the pool up for path: each connection to Memory is its
// own database, so an in-memory database keeps exactly one, forever; a
// file's pool (its readers: the writer has a pool of its own,
// ConfigureWriter) keeps ReadConns.
func Configure(db *sql.DB, path string) {
	if path != Memory {
		db.SetMaxOpenConns(ReadConns)
		db.SetMaxIdleConns(ReadConns)
		db.SetConnMaxIdleTime(0)
		return
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
}

// ConfigureWriter sets up the pool of a file's one writer (the store's
// committer), kept open forever: one connection in its transaction, and a
// second on which a statement is prepared while the first is in it
// (database/sql prepares a statement on a free connection first).
func ConfigureWriter(db *sql.DB) {
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
}

func initDB(ctx context.Context, db *sql.DB) error {
	var file string
	if err := db.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
		return errs.Wrap(errs.Internal, err, "reading the database file name")
	}
	if file != "" {
		// WAL is a property of the file: set once, kept by every connection.
		mode, err := setWAL(ctx, db)
		if err != nil {
			return errs.Wrap(errs.Internal, err, "setting journal mode")
		}
		if !strings.EqualFold(mode, "wal") {
			return errs.E(errs.Internal, "journal mode is %q, not wal", mode)
		}
	}
	var fk int
	if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return errs.Wrap(errs.Internal, err, "checking foreign keys")
	}
	if fk != 1 {
		return errs.E(errs.Internal, "foreign keys are not enforced")
	}
	return nil
}

// setWAL sets the file's journal mode to WAL and returns the mode. The
// change takes the file's lock without SQLite's busy handler, so a process
// opening the same file at the same moment (another worker starting, a
// migration) can make it SQLITE_BUSY at once: it is tried again, for up to
// BusyTimeout, as the busy handler would.
func setWAL(ctx context.Context, db *sql.DB) (string, error) {
	deadline := time.Now().Add(BusyTimeout)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		if err == nil || !Unavailable(err) || time.Now().Add(wait).After(deadline) {
			return mode, err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Unavailable reports whether err is a busy or locked database.
func Unavailable(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED)
}
