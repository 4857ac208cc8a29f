package store

import (
	"context"
	"database/sql"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
)

// fanOutBatch bounds how many new outbox events one ClaimDeliveries call
// turns into deliveries per endpoint: the work (and the transaction) of
// a call stays small however many events queued while no dispatcher ran.
const fanOutBatch = 500

// maxErrorText bounds a stored delivery error (an endpoint's answer).
const maxErrorText = 1000

// SyncEndpoints makes the configured endpoints known (ports.Outbox): a
// new endpoint starts after the last event written so far; an endpoint
// whose URL changed is enabled again, its failures forgotten. Names must
// be unique and non-empty, URLs non-empty (errs.Invalid).
func (db *DB) SyncEndpoints(ctx context.Context, eps []ports.Endpoint) error {
	seen := map[string]bool{}
	for _, ep := range eps {
		switch {
		case ep.Name == "":
			return errs.E(errs.Invalid, "endpoint name is empty")
		case ep.URL == "":
			return errs.E(errs.Invalid, "endpoint %s: URL is empty", ep.Name)
		case seen[ep.Name]:
			return errs.E(errs.Invalid, "endpoint %s is listed twice", ep.Name)
		}
		seen[ep.Name] = true
	}
	if len(eps) == 0 {
		return nil
	}
	now := formatTime(db.now())
	return db.write(ctx, "configuring endpoints", func(tx *Tx) error {
		for _, ep := range eps {
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO endpoints (name, url, created_at, position)
				VALUES (?, ?, ?, (SELECT COALESCE(MAX(seq), 0) FROM events))
				ON CONFLICT (name) DO UPDATE SET
					url = excluded.url,
					enabled = CASE WHEN endpoints.url <> excluded.url THEN 1 ELSE endpoints.enabled END,
					disabled_reason = CASE WHEN endpoints.url <> excluded.url THEN '' ELSE endpoints.disabled_reason END,
					consecutive_failures = CASE WHEN endpoints.url <> excluded.url THEN 0 ELSE endpoints.consecutive_failures END,
					retry_at = CASE WHEN endpoints.url <> excluded.url THEN '' ELSE endpoints.retry_at END`,
				ep.Name, ep.URL, now); err != nil {
				return dbError(err, "configuring endpoint %s", ep.Name)
			}
		}
		return nil
	})
}

// ClaimDeliveries leases due deliveries to owner (ports.Outbox). It first
// fans the outbox's new events out to each named enabled endpoint, at most
// fanOutBatch per endpoint and call, then, in a second transaction, leases
// up to limit deliveries, oldest event first: for each endpoint and order
// only the oldest one not yet delivered, when its next attempt and its
// endpoint's retry time have come and no live lease holds it. On
// PostgreSQL the rows are read FOR UPDATE SKIP LOCKED and their lease is
// re-checked on the locked row, so two dispatchers never lease one
// delivery at once; SQLite's single writer serialises the claims.
func (db *DB) ClaimDeliveries(ctx context.Context, owner string, endpoints []string, limit int, lease time.Duration) ([]ports.Delivery, error) {
	switch {
	case owner == "":
		return nil, errs.E(errs.Invalid, "claiming deliveries needs an owner")
	case limit <= 0:
		return nil, errs.E(errs.Invalid, "claiming %d deliveries: the limit must be positive", limit)
	case lease <= 0:
		return nil, errs.E(errs.Invalid, "claiming deliveries for %v: the lease must be positive", lease)
	}
	names := slices.Clone(endpoints)
	slices.Sort(names) // endpoints are locked in name order: no deadlock between dispatchers
	names = slices.Compact(names)
	if len(names) == 0 {
		return []ports.Delivery{}, nil
	}
	if err := db.write(ctx, "fanning out events", func(tx *Tx) error {
		for _, name := range names {
			if err := fanOut(ctx, tx, name); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	now := db.now()
	until := now.Add(lease)
	var out []ports.Delivery
	err := db.write(ctx, "claiming deliveries", func(tx *Tx) error {
		out = nil
		due, err := dueEndpoints(ctx, tx, names, now)
		if err != nil || len(due) == 0 {
			return err
		}
		args := make([]any, 0, len(due)+3)
		for _, n := range due {
			args = append(args, n)
		}
		args = append(args, formatTime(now), formatTime(now), limit)
		rows, err := tx.QueryContext(ctx, `
			SELECT d.endpoint, d.seq FROM deliveries d
			WHERE d.delivered = 0 AND d.endpoint IN (`+placeholders(len(due))+`)
				AND d.next_attempt_at <= ? AND d.lease_until <= ?
				AND d.seq = (SELECT MIN(h.seq) FROM deliveries h
					WHERE h.endpoint = d.endpoint AND h.order_key = d.order_key AND h.delivered = 0)
			ORDER BY d.seq, d.endpoint LIMIT ?`+tx.db.d.SkipLocked, args...)
		if err != nil {
			return dbError(err, "claiming deliveries")
		}
		type key struct {
			endpoint string
			seq      int64
		}
		var keys []key
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.endpoint, &k.seq); err != nil {
				rows.Close()
				return dbError(err, "claiming deliveries")
			}
			keys = append(keys, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dbError(err, "claiming deliveries")
		}
		for _, k := range keys {
			var attempts int
			if err := tx.QueryRowContext(ctx, `UPDATE deliveries SET attempts = attempts + 1, lease_owner = ?, lease_until = ?
				WHERE endpoint = ? AND seq = ? RETURNING attempts`,
				owner, formatTime(until), k.endpoint, k.seq).Scan(&attempts); err != nil {
				return dbError(err, "leasing delivery of event %d to %s", k.seq, k.endpoint)
			}
			_, ev, err := scanEvent(tx.QueryRowContext(ctx, "SELECT "+eventCols+" FROM events WHERE seq = ?", k.seq))
			if err != nil {
				return dbError(err, "reading event %d", k.seq)
			}
			out = append(out, ports.Delivery{Endpoint: k.endpoint, Event: ev, Attempt: attempts, LeaseUntil: until.UTC()})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []ports.Delivery{}
	}
	return out, nil
}

// fanOut turns up to fanOutBatch events after the position of endpoint
// name (when it is known and enabled) into its deliveries, and advances
// the position past them. The endpoint's row lock serialises dispatchers
// fanning out the same endpoint.
func fanOut(ctx context.Context, tx *Tx, name string) error {
	var pos int64
	err := tx.QueryRowContext(ctx, "SELECT position FROM endpoints WHERE name = ? AND enabled = 1"+tx.forUpdate(), name).Scan(&pos)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return dbError(err, "reading endpoint %s", name)
	}
	var last sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(seq) FROM (SELECT seq FROM events WHERE seq > ? ORDER BY seq LIMIT ?) batch`,
		pos, fanOutBatch).Scan(&last); err != nil {
		return dbError(err, "reading events for endpoint %s", name)
	}
	if !last.Valid {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (endpoint, seq, order_key)
		SELECT ?, seq, order_id FROM events WHERE seq > ? AND seq <= ?
		ON CONFLICT (endpoint, seq) DO NOTHING`, name, pos, last.Int64); err != nil {
		return dbError(err, "queueing events for endpoint %s", name)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE endpoints SET position = ? WHERE name = ?", last.Int64, name); err != nil {
		return dbError(err, "advancing endpoint %s", name)
	}
	return nil
}

// dueEndpoints returns those of names that are known, enabled and not
// waiting for their retry time.
func dueEndpoints(ctx context.Context, tx *Tx, names []string, now time.Time) ([]string, error) {
	args := make([]any, 0, len(names)+1)
	for _, n := range names {
		args = append(args, n)
	}
	args = append(args, formatTime(now))
	rows, err := tx.QueryContext(ctx, "SELECT name FROM endpoints WHERE name IN ("+placeholders(len(names))+
		") AND enabled = 1 AND retry_at <= ? ORDER BY name", args...)
	if err != nil {
		return nil, dbError(err, "reading endpoints")
	}
	defer rows.Close()
	var due []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, dbError(err, "reading endpoints")
		}
		due = append(due, n)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err, "reading endpoints")
	}
	return due, nil
}

// DeliverySucceeded records that d's endpoint accepted it (ports.Outbox):
// the delivery is done, the order's next event becomes due, and the
// endpoint's consecutive failures and retry time are reset. The answer
// counts only from the lease's owner: from another owner (its lease was
// taken back and given to another dispatcher) it is errs.Conflict and
// changes nothing. A delivery already recorded as delivered is left as
// it is (no error), so an answer sent twice is harmless.
func (db *DB) DeliverySucceeded(ctx context.Context, owner string, d ports.Delivery) error {
	seq, err := deliverySeq(d)
	if err != nil {
		return err
	}
	now := formatTime(db.now())
	return db.write(ctx, "recording a delivery", func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET delivered = 1, delivered_at = ?, lease_owner = '', lease_until = ''
			WHERE endpoint = ? AND seq = ? AND lease_owner = ? AND delivered = 0`, now, d.Endpoint, seq, owner)
		if err != nil {
			return dbError(err, "recording delivery of event %d to %s", seq, d.Endpoint)
		}
		if done, err := leaseAnswered(ctx, tx, res, d.Endpoint, seq, owner); err != nil || !done {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE endpoints SET consecutive_failures = 0, retry_at = '',
			last_success_at = ?, last_attempt_at = ? WHERE name = ?`, now, now, d.Endpoint); err != nil {
			return dbError(err, "recording delivery to %s", d.Endpoint)
		}
		return nil
	})
}

// DeliveryFailed records a failed attempt of d (ports.Outbox): the lease
// ends, the delivery is due again at retryAt, and its endpoint counts one
// more consecutive failure and is not tried again before endpointRetryAt
// (a zero time: at once). As with DeliverySucceeded, an answer from an
// owner that no longer holds the lease is errs.Conflict and changes
// nothing, and a delivery already delivered is left as it is.
func (db *DB) DeliveryFailed(ctx context.Context, owner string, d ports.Delivery, reason string, retryAt, endpointRetryAt time.Time) error {
	seq, err := deliverySeq(d)
	if err != nil {
		return err
	}
	reason = truncate(reason, maxErrorText)
	now := formatTime(db.now())
	return db.write(ctx, "recording a failed delivery", func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET lease_owner = '', lease_until = '', next_attempt_at = ?, last_error = ?
			WHERE endpoint = ? AND seq = ? AND lease_owner = ? AND delivered = 0`,
			optTime(retryAt), reason, d.Endpoint, seq, owner)
		if err != nil {
			return dbError(err, "recording failed delivery of event %d to %s", seq, d.Endpoint)
		}
		if done, err := leaseAnswered(ctx, tx, res, d.Endpoint, seq, owner); err != nil || !done {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE endpoints SET consecutive_failures = consecutive_failures + 1,
			retry_at = ?, last_error = ?, last_attempt_at = ? WHERE name = ?`,
			optTime(endpointRetryAt), reason, now, d.Endpoint); err != nil {
			return dbError(err, "recording failed delivery to %s", d.Endpoint)
		}
		return nil
	})
}

// leaseAnswered reports whether the answer's update res changed the
// delivery. When it did not, it tells why: an unknown delivery is
// errs.NotFound, one leased to another owner (or to nobody) errs.Conflict,
// one delivered already no error.
func leaseAnswered(ctx context.Context, tx *Tx, res sql.Result, endpoint string, seq int64, owner string) (bool, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return false, dbError(err, "answering delivery of event %d to %s", seq, endpoint)
	}
	if n > 0 {
		return true, nil
	}
	var delivered int
	var holder string
	err = tx.QueryRowContext(ctx, "SELECT delivered, lease_owner FROM deliveries WHERE endpoint = ? AND seq = ?", endpoint, seq).Scan(&delivered, &holder)
	switch {
	case err == sql.ErrNoRows:
		return false, errs.E(errs.NotFound, "no delivery of event %d to endpoint %s", seq, endpoint)
	case err != nil:
		return false, dbError(err, "reading delivery of event %d to %s", seq, endpoint)
	case delivered == 1:
		return false, nil
	}
	return false, errs.E(errs.Conflict, "delivery of event %d to endpoint %s is not leased to %s (its lease ended)", seq, endpoint, owner)
}

func deliverySeq(d ports.Delivery) (int64, error) {
	if d.Endpoint == "" || d.Event.Cursor == "" {
		return 0, errs.E(errs.Invalid, "a delivery needs its endpoint and its event's cursor")
	}
	return parseEventCursor(d.Event.Cursor)
}

// optTime is t as stored, or the empty text (always due) for the zero time.
func optTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return formatTime(t)
}

func parseOptTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return parseTime(s)
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// DisableEndpoint stops all deliveries to endpoint name, saying why
// (ports.Outbox); its events keep queueing and go out once it is enabled
// again or configured with another URL. An unknown endpoint is
// errs.NotFound.
func (db *DB) DisableEndpoint(ctx context.Context, name, reason string) error {
	return db.updateEndpoint(ctx, name, "disabling", "UPDATE endpoints SET enabled = 0, disabled_reason = ? WHERE name = ?",
		truncate(reason, maxErrorText), name)
}

// EnableEndpoint enables endpoint name again, its failures forgotten
// (ports.Outbox). An unknown endpoint is errs.NotFound.
func (db *DB) EnableEndpoint(ctx context.Context, name string) error {
	return db.updateEndpoint(ctx, name, "enabling",
		"UPDATE endpoints SET enabled = 1, disabled_reason = '', consecutive_failures = 0, retry_at = '' WHERE name = ?", name)
}

func (db *DB) updateEndpoint(ctx context.Context, name, what, q string, args ...any) error {
	return db.write(ctx, what+" an endpoint", func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return dbError(err, "%s endpoint %s", what, name)
		}
		if n, err := res.RowsAffected(); err != nil {
			return dbError(err, "%s endpoint %s", what, name)
		} else if n == 0 {
			return errs.E(errs.NotFound, "endpoint %s not found", name)
		}
		return nil
	})
}

// EndpointStatuses lists every known endpoint's status, by name
// (ports.Outbox). Pending counts the endpoint's undelivered deliveries and
// the events not yet fanned out to it.
func (db *DB) EndpointStatuses(ctx context.Context) ([]ports.EndpointStatus, error) {
	out := []ports.EndpointStatus{}
	err := db.read(ctx, "reading endpoints", func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `
			SELECT e.name, e.url, e.enabled, e.disabled_reason, e.consecutive_failures, e.retry_at, e.last_error,
				e.last_success_at, e.last_attempt_at,
				(SELECT COUNT(*) FROM deliveries d WHERE d.endpoint = e.name AND d.delivered = 0)
					+ (SELECT COUNT(*) FROM events v WHERE v.seq > e.position),
				(SELECT COUNT(*) FROM deliveries d WHERE d.endpoint = e.name AND d.delivered = 1)
			FROM endpoints e ORDER BY e.name`)
		if err != nil {
			return dbError(err, "reading endpoints")
		}
		defer rows.Close()
		for rows.Next() {
			var (
				s                           ports.EndpointStatus
				enabled                     int
				retryAt, success, attempted string
			)
			if err := rows.Scan(&s.Name, &s.URL, &enabled, &s.Disabled, &s.ConsecutiveFailures, &retryAt, &s.LastError,
				&success, &attempted, &s.Pending, &s.Delivered); err != nil {
				return dbError(err, "reading endpoints")
			}
			s.Enabled = enabled == 1
			for _, t := range []struct {
				to   *time.Time
				text string
			}{{&s.RetryAt, retryAt}, {&s.LastSuccessAt, success}, {&s.LastAttemptAt, attempted}} {
				if *t.to, err = parseOptTime(t.text); err != nil {
					return err
				}
			}
			out = append(out, s)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

var _ ports.Outbox = (*DB)(nil)
