// Package migrations holds the store's schema steps, applied by goose
// (github.com/pressly/goose/v3) when the store opens a database. Both
// databases share one numbering: sqlite/NNNNN_name.sql and
// postgres/NNNNN_name.sql are the same step, with the same version, name
// and order, each in its database's SQL, so that "version N" names one
// schema on either. A step one database does not need is a documented
// no-op (SELECT 1;) in that database's folder: PostgreSQL's 00001_init
// created the refund ledger SQLite reached through 00002_payouts and
// 00003_refund_ledger, so PostgreSQL's 00002 and 00003 do nothing.
//
// A step is never edited once released; a change is a new step in both
// folders. Every file starts with "-- +goose Up" and runs in one
// transaction with its version row; there are no down steps.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// SQLite returns SQLite's steps, NNNNN_name.sql at the root.
func SQLite() fs.FS { return sub("sqlite") }

// Postgres returns PostgreSQL's steps, NNNNN_name.sql at the root.
func Postgres() fs.FS { return sub("postgres") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // dir is one of the embedded folders
	}
	return f
}
