package store

import (
	"context"
	"database/sql"
	"slices"
	"strings"
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
