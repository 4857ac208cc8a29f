// Package dialect describes what differs between the SQL databases the
// store runs on: the driver, the placeholders, the migration steps, row locks,
// transaction options and which driver errors are worth retrying. The
// dialects themselves are store/sqlite and store/postgres; the store's
// queries are written once, in the SQL both accept, with ? placeholders.
package dialect

import (
	"context"
	"database/sql"
	"io/fs"

	"github.com/pressly/goose/v3/database"
)

// Dialect is one database's particulars.
type Dialect struct {
	// Name is "sqlite" or "postgres".
	Name string
	// Goose is goose's name for the database (its version table's SQL).
	Goose database.Dialect
	// Migrations holds NNNNN_name.sql at its root: this dialect's folder of
	// store/migrations, numbered as the other dialect's.
	Migrations fs.FS
	// TableExists is a query with one ? (a table name) that returns 1
	// when the table exists in the database (schema) in use, else 0.
	TableExists string
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
	// Read are the options of a read-only transaction: one consistent
	// snapshot across its statements.
	Read *sql.TxOptions
	// Unavailable reports whether a driver error is worth retrying (busy,
	// locked, serialisation failure, lost connection).
	Unavailable func(error) bool
	// Init checks and sets up a freshly opened database before migrating.
	Init func(ctx context.Context, db *sql.DB) error
}
