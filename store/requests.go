package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
)

// Durable refund intake (issue 20): the gateway records a refund request
// here, with the read model's refund_requested record, and answers the
// console at once; its dispatcher starts the workflow afterwards, leasing
// the request so that gateways do not all start it at once. A request is
// pending until started (with its run ID) or failed (the start was
// refused for good: a refund paid meanwhile, M-3).

var _ ports.Requests = (*DB)(nil)

const requestCols = `q.order_id, q.request_id, q.input, q.requested_at, q.by_actor, q.idempotency_key, q.after_finished,
	q.state, q.run_id, q.error_code, q.error_rule, q.error_message, q.attempts, q.next_attempt_at,
	q.lease_owner, q.lease_until, q.last_error, q.updated_at`

// nullRequest scans requestCols of a LEFT JOIN, where a missing request
// is all NULL.
type nullRequest struct {
	orderID, requestID, input, requestedAt, by, key, state, runID  sql.NullString
	errCode, errRule, errMessage, nextAttemptAt, leaseOwner, lease sql.NullString
	lastError, updatedAt                                           sql.NullString
	afterFinished, attempts                                        sql.NullInt64
}

func (r *nullRequest) dest() []any {
	return []any{&r.orderID, &r.requestID, &r.input, &r.requestedAt, &r.by, &r.key, &r.afterFinished,
		&r.state, &r.runID, &r.errCode, &r.errRule, &r.errMessage, &r.attempts, &r.nextAttemptAt,
		&r.leaseOwner, &r.lease, &r.lastError, &r.updatedAt}
}

// request returns the scanned request, or nil when there was none.
func (r *nullRequest) request() (*ports.RefundRequest, error) {
	if !r.orderID.Valid {
		return nil, nil
	}
	q := ports.RefundRequest{
		OrderID: r.orderID.String, ID: r.requestID.String, Input: json.RawMessage(r.input.String),
		IdempotencyKey: r.key.String, AfterFinished: r.afterFinished.Int64 == 1,
		State: ports.RequestState(r.state.String), RunID: r.runID.String,
		ErrorCode: r.errCode.String, ErrorRule: r.errRule.String, ErrorMessage: r.errMessage.String,
		Attempts: int(r.attempts.Int64), LeaseOwner: r.leaseOwner.String, LastError: r.lastError.String,
	}
	if err := json.Unmarshal([]byte(r.by.String), &q.By); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "stored actor of the refund request of order %s is malformed", q.OrderID)
	}
	var err error
	if q.RequestedAt, err = parseTime(r.requestedAt.String); err != nil {
		return nil, err
	}
	if q.UpdatedAt, err = parseTime(r.updatedAt.String); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		text string
		to   *time.Time
	}{{r.nextAttemptAt.String, &q.NextAttemptAt}, {r.lease.String, &q.LeaseUntil}} {
		if f.text == "" {
			continue
		}
		if *f.to, err = parseTime(f.text); err != nil {
			return nil, err
		}
	}
	return &q, nil
}

// RequestRefund records req, pending, with the read model's
// refund_requested record and its refund.requested event in one
// transaction (the order's row locked). A pending request is joined
// (joined true) and nothing is written: one request, one start. A
// running refund's record (not final) is kept: req is recorded to join
// that refund when started (its start finds the run, or, if the record
// was stale, decides what follows the closed run). A request the store
// cannot start later (no input, no time) is errs.Invalid; an unknown
// order errs.NotFound.
//
// A request with a LeaseOwner is recorded leased to it until LeaseUntil,
// its first attempt counted: the gateway that records it starts it, and
// no sweeper takes it before the lease ends. Otherwise a sweeper may take
// it from NextAttemptAt (req's, or its RequestedAt when zero).
func (db *DB) RequestRefund(ctx context.Context, req ports.RefundRequest) (ports.RefundIntake, bool, error) {
	switch {
	case req.OrderID == "" || req.ID == "":
		return ports.RefundIntake{}, false, errs.E(errs.Invalid, "refund request: order or request ID is empty")
	case req.RequestedAt.IsZero():
		return ports.RefundIntake{}, false, errs.E(errs.Invalid, "refund request of order %s: time is missing", req.OrderID)
	case !json.Valid(req.Input):
		return ports.RefundIntake{}, false, errs.E(errs.Invalid, "refund request of order %s: its input is not JSON", req.OrderID)
	}
	by, err := json.Marshal(req.By)
	if err != nil {
		return ports.RefundIntake{}, false, errs.Wrap(errs.Internal, err, "encoding the actor of order %s", req.OrderID)
	}
	if req.NextAttemptAt.IsZero() {
		req.NextAttemptAt = req.RequestedAt
	}
	var (
		in     ports.RefundIntake
		joined bool
	)
	err = db.write(ctx, "recording a refund request", func(tx *Tx) error {
		stored := req
		stored.State, stored.RunID, stored.Attempts = ports.RequestPending, "", 0
		stored.ErrorCode, stored.ErrorRule, stored.ErrorMessage, stored.LastError = "", "", "", ""
		stored.RequestedAt, stored.NextAttemptAt = req.RequestedAt.UTC(), req.NextAttemptAt.UTC()
		leaseUntil := ""
		if req.LeaseOwner != "" {
			// The recording gateway's claim, in the same transaction: its
			// first attempt.
			stored.Attempts, stored.LeaseUntil = 1, req.LeaseUntil.UTC()
			leaseUntil = formatTime(req.LeaseUntil)
		} else {
			stored.LeaseUntil = time.Time{}
		}
		res, err := tx.ExecContext(ctx, requestInsert(tx),
			req.OrderID, req.ID, string(req.Input), formatTime(req.RequestedAt), string(by), req.IdempotencyKey,
			boolInt(req.AfterFinished), string(ports.RequestPending), stored.Attempts, formatTime(req.NextAttemptAt),
			req.LeaseOwner, leaseUntil)
		if err != nil {
			return dbError(err, "recording the refund request of order %s", req.OrderID)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return dbError(err, "recording the refund request of order %s", req.OrderID)
		}
		if n == 0 {
			// Nothing written: a pending request (joined), or no order.
			// The order's row and the request's are locked by now (if
			// they exist), so this later statement reads them as they
			// stand.
			if in, err = readIntake(ctx, tx, req.OrderID); err != nil {
				return err
			}
			if in.Request == nil || in.Request.State != ports.RequestPending {
				if err := lockOrder(ctx, tx, req.OrderID); err != nil {
					return err // errs.NotFound
				}
				// The order committed after the insert's snapshot was
				// taken (PostgreSQL): it was not there to lock then.
				return errs.E(errs.Unavailable, "order %s appeared while its refund was requested: try again", req.OrderID)
			}
			joined = true
			return nil
		}
		// A running refund's record stays (recordRequested does not
		// replace it): the request joins that refund when started.
		rec, wrote, err := recordRequested(ctx, tx, req.OrderID, req.By, req.RequestedAt)
		if err != nil {
			return err
		}
		if !wrote {
			// A running refund's record, or one newer than the request
			// (the gateway's clock behind the workflow's): the request
			// stands, the record is that one.
			cur, err := readRefund(ctx, tx, req.OrderID, "")
			if err != nil {
				return err
			}
			if cur == nil {
				return errs.E(errs.Internal, "the refund record of order %s was kept but is not there", req.OrderID)
			}
			rec = *cur
		}
		stored.UpdatedAt = stored.RequestedAt
		in = ports.RefundIntake{Record: &rec, Request: &stored}
		return nil
	})
	if err != nil {
		return ports.RefundIntake{}, false, err
	}
	return in, joined, nil
}

// requestInsert records a request (the parameters as RequestRefund
// passes them) unless the order is unknown or its request is pending,
// locking the order's row first, in one statement: the lock, which
// serialises the order's writers, costs no round trip of its own.
//
// Whether the stored request is pending is decided by ON CONFLICT's
// WHERE, on the row as it stands once locked, not on a read of the
// statement's snapshot: on PostgreSQL (READ COMMITTED) a statement that
// waited for the order's lock still sees the data as it was before the
// wait, so a request recorded meanwhile by the lock's holder would be
// missed by a read, and replaced. A pending request is left as it is, with
// no rows affected.
func requestInsert(tx *Tx) string {
	return `WITH o AS (SELECT id FROM orders WHERE id = ?1` + tx.forUpdate() + `)
		INSERT INTO refund_requests (order_id, request_id, input, requested_at, by_actor, idempotency_key,
			after_finished, state, attempts, next_attempt_at, lease_owner, lease_until, updated_at)
		SELECT o.id, ?2, ?3, ?4, ?5, ?6, CAST(?7 AS INTEGER), ?8, CAST(?9 AS INTEGER), ?10, ?11, ?12, ?4 FROM o
		WHERE true
		ON CONFLICT (order_id) DO UPDATE SET
			request_id = excluded.request_id, input = excluded.input, requested_at = excluded.requested_at,
			by_actor = excluded.by_actor, idempotency_key = excluded.idempotency_key,
			after_finished = excluded.after_finished, state = excluded.state, run_id = '',
			error_code = '', error_rule = '', error_message = '', attempts = excluded.attempts,
			next_attempt_at = excluded.next_attempt_at, lease_owner = excluded.lease_owner,
			lease_until = excluded.lease_until, last_error = '', updated_at = excluded.updated_at
		WHERE refund_requests.state <> ?8`
}

// intakeQuery reads an order's record and request in one statement: each
// side is NULL when missing.
// Each side is looked up by its primary key (the parameter, not a
// derived column, so that PostgreSQL's "C"-collated keys use their index).
const intakeQuery = `SELECT ` + refundCols + `, ` + requestCols + `
	FROM (SELECT 1 AS one) k
	LEFT JOIN refunds r ON r.order_id = ?1
	LEFT JOIN refund_requests q ON q.order_id = ?1`

func scanIntake(row *sql.Row, orderID string) (ports.RefundIntake, error) {
	var (
		r nullRefund
		q nullRequest
	)
	if err := row.Scan(append(r.dest(), q.dest()...)...); err != nil {
		return ports.RefundIntake{}, dbError(err, "reading the refund of order %s", orderID)
	}
	rec, err := r.record()
	if err != nil {
		return ports.RefundIntake{}, err
	}
	req, err := q.request()
	if err != nil {
		return ports.RefundIntake{}, err
	}
	return ports.RefundIntake{Record: rec, Request: req}, nil
}

func readIntake(ctx context.Context, tx *Tx, orderID string) (ports.RefundIntake, error) {
	return scanIntake(tx.QueryRowContext(ctx, intakeQuery, orderID), orderID)
}

// RefundIntake reads the order's refund record and its latest request in
// one query (either nil when missing; an unknown order has neither).
func (db *DB) RefundIntake(ctx context.Context, orderID string) (ports.RefundIntake, error) {
	return scanIntake(db.queryRow(ctx, intakeQuery, orderID), orderID)
}

// OrderRefunds reads the order with its certificates, its refund record,
// its latest request and whether a payout of it was paid, in one
// statement (one row per certificate; the record and request repeat).
func (db *DB) OrderRefunds(ctx context.Context, orderID string) (ports.OrderRefunds, error) {
	rows, err := db.query(ctx, "SELECT "+orderCols+", "+certColsC+", "+refundCols+", "+requestCols+`,
			CASE WHEN EXISTS (SELECT 1 FROM payouts p WHERE p.order_id = o.id AND p.status = ?) THEN 1 ELSE 0 END
		FROM orders o LEFT JOIN certificates c ON c.order_id = o.id
		LEFT JOIN refunds r ON r.order_id = o.id
		LEFT JOIN refund_requests q ON q.order_id = o.id
		WHERE o.id = ? ORDER BY c.position`, string(ports.PayoutPaid), orderID)
	if err != nil {
		return ports.OrderRefunds{}, dbError(err, "reading order %s", orderID)
	}
	defer rows.Close()
	var (
		out   ports.OrderRefunds
		found bool
	)
	for rows.Next() {
		var (
			c    nullCert
			r    nullRefund
			q    nullRequest
			paid int64
		)
		dest := append(append(c.dest(), r.dest()...), q.dest()...)
		row, err := scanOrder(rows, append(dest, &paid)...)
		if err != nil {
			return ports.OrderRefunds{}, dbError(err, "reading order %s", orderID)
		}
		if !found {
			found, out.Order, out.PaidOut = true, row, paid == 1
			if out.Intake.Record, err = r.record(); err != nil {
				return ports.OrderRefunds{}, err
			}
			if out.Intake.Request, err = q.request(); err != nil {
				return ports.OrderRefunds{}, err
			}
		}
		_, cert, err := c.certificate()
		if err != nil {
			return ports.OrderRefunds{}, err
		}
		if cert.ID != "" {
			out.Order.Certificates = append(out.Order.Certificates, cert)
		}
	}
	if err := rows.Err(); err != nil {
		return ports.OrderRefunds{}, dbError(err, "reading order %s", orderID)
	}
	if !found {
		return ports.OrderRefunds{}, errs.E(errs.NotFound, "order %s not found", orderID)
	}
	return out, nil
}

// GetRefundRequest returns the order's latest refund request
// (errs.NotFound when none was recorded).
func (db *DB) GetRefundRequest(ctx context.Context, orderID string) (ports.RefundRequest, error) {
	in, err := db.RefundIntake(ctx, orderID)
	if err != nil {
		return ports.RefundRequest{}, err
	}
	if in.Request == nil {
		return ports.RefundRequest{}, errs.E(errs.NotFound, "no refund request for order %s", orderID)
	}
	return *in.Request, nil
}

func checkClaim(c ports.Claim) error {
	if c.Owner == "" || c.Now.IsZero() || c.Lease <= 0 {
		return errs.E(errs.Invalid, "refund request claim: owner, time and lease are required")
	}
	return nil
}

// claim leases the request of orderID (read in tx, locked) to c.
func claim(ctx context.Context, tx *Tx, orderID string, c ports.Claim) (ports.RefundRequest, error) {
	if _, err := tx.ExecContext(ctx, `
		UPDATE refund_requests SET lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
		WHERE order_id = ?`,
		c.Owner, formatTime(c.Now.Add(c.Lease)), formatTime(c.Now), orderID); err != nil {
		return ports.RefundRequest{}, dbError(err, "claiming the refund request of order %s", orderID)
	}
	var q nullRequest
	if err := tx.QueryRowContext(ctx, "SELECT "+requestCols+" FROM refund_requests q WHERE q.order_id = ?", orderID).Scan(q.dest()...); err != nil {
		return ports.RefundRequest{}, dbError(err, "reading the refund request of order %s", orderID)
	}
	req, err := q.request()
	if err != nil {
		return ports.RefundRequest{}, err
	}
	return *req, nil
}

// ClaimRefundRequest leases the order's request to c.Owner when it is
// pending and no other dispatcher holds a live lease on it (force: even
// then, for a caller that must not wait: a second start is harmless),
// counting an attempt. ok is false when there is nothing to claim.
func (db *DB) ClaimRefundRequest(ctx context.Context, orderID string, c ports.Claim, force bool) (ports.RefundRequest, bool, error) {
	if err := checkClaim(c); err != nil {
		return ports.RefundRequest{}, false, err
	}
	var (
		req ports.RefundRequest
		ok  bool
	)
	err := db.write(ctx, "claiming a refund request", func(tx *Tx) error {
		var state, owner, until string
		err := tx.QueryRowContext(ctx, "SELECT state, lease_owner, lease_until FROM refund_requests WHERE order_id = ?"+tx.forUpdate(), orderID).
			Scan(&state, &owner, &until)
		switch {
		case err == sql.ErrNoRows:
			return nil
		case err != nil:
			return dbError(err, "reading the refund request of order %s", orderID)
		case state != string(ports.RequestPending):
			return nil
		case !force && owner != c.Owner && until > formatTime(c.Now):
			return nil // another dispatcher is starting it
		}
		req, err = claim(ctx, tx, orderID, c)
		ok = err == nil
		return err
	})
	return req, ok, err
}

// ClaimRefundRequests leases up to limit pending requests whose next
// attempt is due and which no dispatcher holds, oldest first (on
// PostgreSQL, rows another claim holds are skipped).
func (db *DB) ClaimRefundRequests(ctx context.Context, c ports.Claim, limit int) ([]ports.RefundRequest, error) {
	if err := checkClaim(c); err != nil {
		return nil, err
	}
	now := formatTime(c.Now)
	// A look first, outside a write: most sweeps find nothing, and take
	// no write lock then.
	var n int
	if err := db.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM refund_requests
		WHERE state = ? AND next_attempt_at <= ? AND lease_until <= ? LIMIT 1) due`,
		string(ports.RequestPending), now, now).Scan(&n); err != nil {
		return nil, dbError(err, "looking for pending refund requests")
	}
	if n == 0 {
		return nil, nil
	}
	var out []ports.RefundRequest
	err := db.write(ctx, "claiming refund requests", func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT order_id FROM refund_requests
			WHERE state = ? AND next_attempt_at <= ? AND lease_until <= ?
			ORDER BY next_attempt_at, order_id LIMIT ?`+tx.db.d.SkipLocked,
			string(ports.RequestPending), now, now, limit)
		if err != nil {
			return dbError(err, "looking for pending refund requests")
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				_ = rows.Close()
				return dbError(err, "looking for pending refund requests")
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return dbError(err, "looking for pending refund requests")
		}
		for _, id := range ids {
			req, err := claim(ctx, tx, id, c)
			if err != nil {
				return err
			}
			out = append(out, req)
		}
		return nil
	})
	return out, err
}

// RefundRequestStarted marks the request started with its run ID and lets
// go of its lease. A request that is no longer requestID (a newer one
// replaced it) is left alone; a started one keeps its first run ID unless
// it had none.
func (db *DB) RefundRequestStarted(ctx context.Context, orderID, requestID, runID string, at time.Time) error {
	return db.exec(ctx, "marking the refund request of order "+orderID+" started", `
		UPDATE refund_requests SET state = ?, run_id = CASE WHEN run_id = '' THEN ? ELSE run_id END,
			lease_owner = '', lease_until = '', last_error = '', updated_at = ?
		WHERE order_id = ? AND request_id = ? AND state IN (?, ?)`,
		string(ports.RequestStarted), runID, formatTime(at), orderID, requestID,
		string(ports.RequestPending), string(ports.RequestStarted))
}

// RetryRefundRequest lets go of the lease of a pending request and sets
// when it is tried again (a sweeper takes it then), with the error of the
// attempt that failed.
func (db *DB) RetryRefundRequest(ctx context.Context, orderID, requestID string, next time.Time, lastErr string, at time.Time) error {
	return db.exec(ctx, "rescheduling the refund request of order "+orderID, `
		UPDATE refund_requests SET next_attempt_at = ?, lease_owner = '', lease_until = '', last_error = ?, updated_at = ?
		WHERE order_id = ? AND request_id = ? AND state = ?`,
		formatTime(next), lastErr, formatTime(at), orderID, requestID, string(ports.RequestPending))
}

// RefundRequestFailed marks a pending request failed with the refusal
// (its errs code, rule and message). While the read model's record is
// still the one the request wrote (refund_requested at its time), it
// becomes rejected under the rule, with the message, in the same
// transaction with its refund.rejected event: the console sees the refusal
// where it looks, and a new request is not taken for a join.
func (db *DB) RefundRequestFailed(ctx context.Context, orderID, requestID, code, rule, message string, at time.Time) error {
	return db.write(ctx, "marking a refund request failed", func(tx *Tx) error {
		if err := lockOrder(ctx, tx, orderID); err != nil {
			return err
		}
		in, err := readIntake(ctx, tx, orderID)
		if err != nil {
			return err
		}
		q := in.Request
		if q == nil || q.ID != requestID || q.State != ports.RequestPending {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE refund_requests SET state = ?, error_code = ?, error_rule = ?, error_message = ?,
				lease_owner = '', lease_until = '', updated_at = ?
			WHERE order_id = ? AND request_id = ?`,
			string(ports.RequestFailed), code, rule, message, formatTime(at), orderID, requestID); err != nil {
			return dbError(err, "marking the refund request of order %s failed", orderID)
		}
		rec := in.Record
		if rec == nil || rec.State != string(statemachine.OrderRefundRequested) || !rec.UpdatedAt.Equal(q.RequestedAt) {
			return nil // the workflow's own record (or a newer one) is there
		}
		rejected := *rec
		rejected.State, rejected.Outcome, rejected.Message = string(statemachine.OrderRejected), outcomeRejected, message
		rejected.Reasons = nil
		if rule != "" {
			rejected.Reasons = []string{rule}
		}
		if at.After(rejected.UpdatedAt) {
			rejected.UpdatedAt = at
		}
		return saveRefund(ctx, tx, rejected)
	})
}

// dbErrorIf codes err when there is one.
func dbErrorIf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return dbError(err, format, args...)
}
