// Package dialect describes what differs between the SQL databases the
// store runs on: the driver, the placeholders, the migrations, row locks,
// transaction options and which driver errors are worth retrying. The
// dialects themselves are store/sqlite and store/postgres; the store's
// queries are written once, in the SQL both accept, with ? placeholders.
package dialect

import (
	"context"
	"database/sql"
	"io/fs"
)

// Dialect is one database's particulars.
type Dialect struct {
	// Name is "sqlite" or "postgres".
	Name string
	// Migrations holds migrations/NNNN_name.sql, this dialect's schema
	// steps (each dialect has its own SQL, the same tables in spirit).
	Migrations fs.FS
	// MigrationsTable is the DDL of schema_migrations (version, name,
	// checksum, applied_at), run with IF NOT EXISTS.
	MigrationsTable string
	// LockMigrations, when set, is run first in every migration
	// transaction so that processes opening one database at once apply
	// each step once (SQLite's IMMEDIATE transactions need none).
	LockMigrations string
	// Rebind turns a query's ? and ?N placeholders into the driver's.
	Rebind func(query string) string
	// ForUpdate is appended to a SELECT in a writing transaction that
	// must hold the rows it read until commit ("" where the whole
	// database is locked by the transaction, as in SQLite).
	ForUpdate string
	// SkipLocked is appended to a SELECT in a writing transaction that
	// leases the rows it reads: rows another transaction holds are
	// skipped rather than waited for ("" in SQLite, where one writer
	// runs at a time).
	SkipLocked string
	// LockOutbox, when set, is run in a writing transaction just before
	// it inserts outbox events, and held until commit, so that event
	// sequence numbers are handed out in commit order: a reader paging
	// by sequence never skips an event committed late ("" in SQLite,
	// whose writers are serialised already).
	LockOutbox string
	// Read are the options of a read-only transaction: one consistent
	// snapshot across its statements.
	Read *sql.TxOptions
	// Unavailable reports whether a driver error is worth retrying (busy,
	// locked, serialisation failure, lost connection).
	Unavailable func(error) bool
	// Init checks and sets up a freshly opened database before migrating.
	Init func(ctx context.Context, db *sql.DB) error
}
