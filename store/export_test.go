package store

import (
	"context"
	"database/sql"
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
