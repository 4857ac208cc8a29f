package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"

	"github.com/certflow/certflow/errs"
)

// migration is one schema step: migrations/NNNN_name.sql.
type migration struct {
	version  int
	name     string
	sql      string
	checksum string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// loadMigrations reads migrations/*.sql from fsys. Versions must run 1, 2,
// 3, ... without gaps or duplicates, so that "version N" means one schema.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "reading migrations")
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, errs.E(errs.Internal, "migration file %q is not named NNNN_name.sql", e.Name())
		}
		version, _ := strconv.Atoi(m[1])
		body, err := fs.ReadFile(fsys, path.Join("migrations", e.Name()))
		if err != nil {
			return nil, errs.Wrap(errs.Internal, err, "reading migration %s", e.Name())
		}
		sum := sha256.Sum256(body)
		ms = append(ms, migration{version: version, name: m[2], sql: string(body), checksum: hex.EncodeToString(sum[:])})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, errs.E(errs.Internal, "migration versions must run 1, 2, 3, ...: found %04d_%s.sql at position %d", m.version, m.name, i+1)
		}
	}
	return ms, nil
}

// migrate applies the migrations the database lacks, each in its own
// transaction with its schema_migrations row, and returns how many it
// applied. A migration already applied must be unchanged (same checksum),
// and a database newer than ms is refused rather than used. Each step
// re-checks inside its transaction, which holds the dialect's migration
// lock, so processes opening one database at once apply every step once.
func (db *DB) migrate(ctx context.Context, ms []migration) (int, error) {
	err := db.migrationTx(ctx, "creating schema_migrations", func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, db.d.MigrationsTable); err != nil {
			return dbError(err, "creating schema_migrations")
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	latest, err := db.schemaVersion(ctx)
	if err != nil {
		return 0, err
	}
	if latest > len(ms) {
		return 0, errs.E(errs.Internal, "database schema version %d is newer than this build's %d", latest, len(ms))
	}
	applied := 0
	for _, m := range ms {
		did := false
		err := db.migrationTx(ctx, "applying migration", func(tx *Tx) error {
			var sum string
			switch err := tx.QueryRowContext(ctx, "SELECT checksum FROM schema_migrations WHERE version = ?", m.version).Scan(&sum); {
			case err == nil:
				if sum != m.checksum {
					return errs.E(errs.Internal, "migration %04d_%s.sql changed after it was applied", m.version, m.name)
				}
				return nil
			case err != sql.ErrNoRows:
				return dbError(err, "reading migration %d", m.version)
			}
			// Migration files hold no ? placeholders: run them as written.
			if _, err := tx.tx.ExecContext(ctx, m.sql); err != nil {
				return dbError(err, "applying migration %04d_%s.sql", m.version, m.name)
			}
			if _, err := tx.ExecContext(ctx,
				"INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
				m.version, m.name, m.checksum, formatTime(db.now())); err != nil {
				return dbError(err, "recording migration %d", m.version)
			}
			did = true
			return nil
		})
		if err != nil {
			return applied, err
		}
		if did {
			applied++
		}
	}
	return applied, nil
}

// migrationTx runs fn in a writing transaction holding the dialect's
// migration lock.
func (db *DB) migrationTx(ctx context.Context, what string, fn func(*Tx) error) error {
	return db.write(ctx, what, func(tx *Tx) error {
		if db.d.LockMigrations != "" {
			if _, err := tx.ExecContext(ctx, db.d.LockMigrations); err != nil {
				return dbError(err, "locking migrations")
			}
		}
		return fn(tx)
	})
}

// schemaVersion returns the highest migration applied.
func (db *DB) schemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := db.queryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, dbError(err, "reading schema version")
	}
	return v, nil
}
