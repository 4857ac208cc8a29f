package store

import (
	"context"
	"errors"
	"path"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/store/postgres"
	"github.com/certflow/certflow/store/sqlite"
)

// versionTable is goose's record of the applied steps.
const versionTable = goose.DefaultTablename

// legacyTable is the version table of the runner before goose.
const legacyTable = "schema_migrations"

// provider returns a goose provider of the dialect's embedded steps
// (store/migrations), holding the dialect's lock while it migrates: goose's
// session locker (a PostgreSQL advisory lock) or, for an SQLite file, an
// exclusive lock on a companion file (sqlite.MigrationLocker). Nothing is
// registered globally.
func (db *DB) provider(ctx context.Context) (*goose.Provider, error) {
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	switch db.d.Name {
	case "postgres":
		schema, err := db.schema(ctx)
		if err != nil {
			return nil, err
		}
		locker, err := postgres.MigrationLocker(schema)
		if err != nil {
			return nil, errs.Wrap(errs.Internal, err, "creating the migration lock")
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	case "sqlite":
		if l := sqlite.MigrationLocker(db.path); l != nil {
			opts = append(opts, goose.WithLocker(l))
		}
	}
	p, err := goose.NewProvider(db.d.Goose, db.sql, db.d.Migrations, opts...)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "reading the %s migrations", db.d.Name)
	}
	return p, nil
}

// migrate adopts a database of the runner before goose (adoptLegacy),
// then applies the steps the database lacks, each in its own transaction
// with its version row, once across processes, and returns how many it
// applied. A database newer than this build is refused rather than used.
func (db *DB) migrate(ctx context.Context) (int, error) {
	if err := db.adoptLegacy(ctx); err != nil {
		return 0, err
	}
	p, err := db.provider(ctx)
	if err != nil {
		return 0, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		var partial *goose.PartialError
		if errors.As(err, &partial) && partial.Failed != nil && partial.Failed.Source != nil {
			return len(partial.Applied), dbError(err, "migrating the %s database: step %s", db.d.Name, path.Base(partial.Failed.Source.Path))
		}
		return len(results), dbError(err, "migrating the %s database", db.d.Name)
	}
	// Up applies nothing to a database newer than this build's steps.
	current, latest, err := p.GetVersions(ctx)
	if err != nil {
		return len(results), dbError(err, "reading the schema version")
	}
	if current > latest {
		return 0, errs.E(errs.Internal, "database schema version %d is newer than this build's %d", current, latest)
	}
	return len(results), nil
}

// schemaVersion returns the highest step applied.
func (db *DB) schemaVersion(ctx context.Context) (int64, error) {
	p, err := db.provider(ctx)
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, dbError(err, "reading the schema version")
	}
	return v, nil
}

// schema is PostgreSQL's current schema, the one the store's tables are in.
func (db *DB) schema(ctx context.Context) (string, error) {
	var schema *string
	if err := db.sql.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return "", dbError(err, "reading the current schema")
	}
	if schema == nil {
		return "", errs.E(errs.Invalid, "the PostgreSQL search_path names no existing schema")
	}
	return *schema, nil
}

// legacyStep is a step of the runner before goose: its version and name
// in that runner's schema_migrations, and the goose version it became.
type legacyStep struct {
	version int
	name    string
	goose   int64
}

// legacySteps are each dialect's steps under the runner before goose,
// which numbered them per database. SQLite's kept their numbers;
// PostgreSQL's 0001_init was SQLite's 0001-0003 (so it is goose's 1 to 3,
// 2 and 3 being PostgreSQL's no-ops) and its later steps moved up by two.
var legacySteps = map[string][]legacyStep{
	"sqlite": {
		{1, "init", 1}, {2, "payouts", 2}, {3, "refund_ledger", 3}, {4, "refund_read_model", 4},
		{5, "certificate_holders", 5}, {6, "outbox", 6}, {7, "refund_due", 7},
	},
	"postgres": {
		{1, "init", 3}, {2, "refund_read_model", 4}, {3, "certificate_holders", 5}, {4, "outbox", 6}, {5, "refund_due", 7},
	},
}

// adoptLegacy hands a database migrated by the runner before goose to
// goose: when it has that runner's schema_migrations and no goose table,
// it records the goose versions its steps became (legacySteps) in goose's
// table and drops schema_migrations, in one transaction, so that goose
// applies only the steps the database lacks. Steps it does not know (other
// versions or names) are refused, naming what to do. The transaction holds
// the migration lock (SQLite: the database's write lock; PostgreSQL: the
// schema's advisory lock), so processes opening one database at once adopt
// it once.
func (db *DB) adoptLegacy(ctx context.Context) error {
	var lockID int64
	if db.d.Name == "postgres" {
		schema, err := db.schema(ctx)
		if err != nil {
			return err
		}
		lockID = postgres.MigrationLockID(schema)
	}
	return db.write(ctx, "adopting the schema_migrations of the runner before goose", func(tx *Tx) error {
		if db.d.Name == "postgres" {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", lockID); err != nil {
				return dbError(err, "locking migrations")
			}
		}
		exists := func(table string) (bool, error) {
			var n int
			if err := tx.QueryRowContext(ctx, db.d.TableExists, table).Scan(&n); err != nil {
				return false, dbError(err, "looking for table %s", table)
			}
			return n > 0, nil
		}
		legacy, err := exists(legacyTable)
		if err != nil || !legacy {
			return err
		}
		if adopted, err := exists(versionTable); err != nil {
			return err
		} else if adopted {
			return errs.E(errs.Internal, "the database has both %s (the runner before goose) and %s (goose): "+
				"drop %s if goose's record is right, or start from a fresh database", legacyTable, versionTable, legacyTable)
		}
		rows, err := tx.QueryContext(ctx, "SELECT version, name FROM "+legacyTable+" ORDER BY version")
		if err != nil {
			return dbError(err, "reading %s", legacyTable)
		}
		defer rows.Close()
		known := legacySteps[db.d.Name]
		var latest int64
		for i := 0; rows.Next(); i++ {
			var (
				version int
				name    string
			)
			if err := rows.Scan(&version, &name); err != nil {
				return dbError(err, "reading %s", legacyTable)
			}
			if i >= len(known) || known[i].version != version || known[i].name != name {
				return errs.E(errs.Internal, "the database's %s lists step %04d_%s, which this build does not know: "+
					"open it with the certflow build that migrated it, or start from a fresh database", legacyTable, version, name)
			}
			latest = known[i].goose
		}
		if err := rows.Err(); err != nil {
			return dbError(err, "reading %s", legacyTable)
		}
		rows.Close()
		store, err := database.NewStore(db.d.Goose, versionTable)
		if err != nil {
			return errs.Wrap(errs.Internal, err, "creating goose's store")
		}
		if err := store.CreateVersionTable(ctx, tx.tx); err != nil {
			return dbError(err, "creating %s", versionTable)
		}
		for v := int64(0); v <= latest; v++ {
			if err := store.Insert(ctx, tx.tx, database.InsertRequest{Version: v}); err != nil {
				return dbError(err, "recording version %d in %s", v, versionTable)
			}
		}
		if _, err := tx.ExecContext(ctx, "DROP TABLE "+legacyTable); err != nil {
			return dbError(err, "dropping %s", legacyTable)
		}
		return nil
	})
}
