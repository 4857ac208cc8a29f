package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/ports"

	"github.com/certflow/certflow/store/postgres"
	"github.com/certflow/certflow/store/sqlite"
)

// QuotaReturnRule reads the rule the quota ledger recorded for certID's
// return ("" when none), for the tests of the package store_test.
func QuotaReturnRule(ctx context.Context, db *DB, certID string) (string, error) {
	var rule string
	err := db.queryRow(ctx, "SELECT rule FROM quota_returns WHERE cert_id = ?", certID).Scan(&rule)
	if err == sql.ErrNoRows {
		return "", nil
	}
	return rule, err
}

// Schema describes the database's schema by name, one line per table (its
// columns in order) and per index created by a migration (not those
// backing a primary key or UNIQUE constraint), sorted, leaving out the
// migration bookkeeping tables: the same text on SQLite and PostgreSQL
// when both have the same tables, columns and indexes.
func Schema(ctx context.Context, db *DB) (string, error) {
	var q string
	switch db.d.Name {
	case "sqlite":
		q = `SELECT 'table ' || t.name || ': ' || (SELECT group_concat(name, ', ') FROM (SELECT name FROM pragma_table_info(t.name) ORDER BY cid))
			FROM sqlite_schema t WHERE t.type = 'table' AND t.name NOT LIKE 'sqlite_%'
				AND t.name NOT IN ('schema_migrations', 'goose_db_version')
			UNION ALL
			SELECT 'index ' || name || ' on ' || tbl_name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL`
	default:
		q = `SELECT 'table ' || table_name || ': ' || string_agg(column_name::text, ', ' ORDER BY ordinal_position)
			FROM information_schema.columns WHERE table_schema = current_schema()
				AND table_name NOT IN ('schema_migrations', 'goose_db_version')
			GROUP BY table_name
			UNION ALL
			SELECT 'index ' || i.indexname || ' on ' || i.tablename FROM pg_indexes i
			WHERE i.schemaname = current_schema() AND NOT EXISTS (
				SELECT 1 FROM pg_constraint c WHERE c.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass)`
	}
	rows, err := db.sql.QueryContext(ctx, q)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return "", err
		}
		lines = append(lines, s)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n", nil
}

// SchemaVersion is the highest goose step applied to db.
func SchemaVersion(ctx context.Context, db *DB) (int64, error) { return db.schemaVersion(ctx) }

// MakeLegacy leaves the database at dsn as the runner before goose left it
// at its own version (SQLite 1-7, PostgreSQL 1-5): that runner's steps
// applied, listed in its schema_migrations, and no goose table. extra rows
// (version name) are added to schema_migrations as they are.
func MakeLegacy(ctx context.Context, dsn string, version int, extra ...string) error {
	d, driver, source := sqlite.Dialect(), sqlite.DriverName, strings.TrimPrefix(dsn, "sqlite:")
	if strings.HasPrefix(dsn, "postgres") {
		d, driver, source = postgres.Dialect(), postgres.DriverName, dsn
	}
	sdb, err := sql.Open(driver, source)
	if err != nil {
		return err
	}
	defer sdb.Close()
	if _, err := sdb.ExecContext(ctx, `CREATE TABLE schema_migrations (
		version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return err
	}
	files, err := fs.Glob(d.Migrations, "*.sql")
	if err != nil {
		return err
	}
	for _, step := range legacySteps[d.Name][:version] {
		for _, f := range files {
			v, _ := strconv.Atoi(f[:5])
			prev := 0
			if step.version > 1 {
				prev = int(legacySteps[d.Name][step.version-2].goose)
			}
			if v <= prev || v > int(step.goose) {
				continue
			}
			body, err := fs.ReadFile(d.Migrations, f)
			if err != nil {
				return err
			}
			if _, err := sdb.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
		}
		if _, err := sdb.ExecContext(ctx, d.Rebind("INSERT INTO schema_migrations VALUES (?, ?, 'sum', 'at')"), step.version, step.name); err != nil {
			return err
		}
	}
	for _, e := range extra {
		v, name, _ := strings.Cut(e, " ")
		if _, err := sdb.ExecContext(ctx, d.Rebind("INSERT INTO schema_migrations VALUES (?, ?, 'sum', 'at')"), v, name); err != nil {
			return err
		}
	}
	return nil
}

// MaxOpenConns is the bound of db's connection pool (0: none).
func MaxOpenConns(db *DB) int { return db.sql.Stats().MaxOpenConnections }

// HoldWriterTurn takes this process's writing turn on db's SQLite file, as
// a writing transaction does, until the returned func is called; false
// when db queues no writers (PostgreSQL, in memory).
func HoldWriterTurn(db *DB) (release func(), ok bool) {
	if db.commits == nil {
		return nil, false
	}
	held, free := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.write(context.Background(), "holding the writer's turn", func(*Tx) error {
			close(held)
			<-free
			return nil
		})
	}()
	<-held
	return func() {
		close(free)
		<-done
	}, true
}

// HoldOutbox writes one event of orderID in a transaction of its own, as
// every writing transaction writes its events (insertEvents), and leaves
// the transaction open until commit is called.
func HoldOutbox(ctx context.Context, db *DB, orderID string, at time.Time) (commit func() error, err error) {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	t := &Tx{tx: tx, db: db}
	t.emit(ports.Event{Type: ports.EventRefundRequested, OrderID: orderID, OccurredAt: at, Data: json.RawMessage(`{}`)})
	if err := db.insertEvents(ctx, t); err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return tx.Commit, nil
}
