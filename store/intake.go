package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
)

// IntakeOrder registers or updates an order handed in by the console
// (PUT /v1/orders/{id}), in one write transaction with the checks that make
// it safe:
//
//   - while a refund of the order runs (its record is not final), or once
//     the ledger holds a pending or paid payout of it, the order is not
//     changed: errs.Conflict naming why;
//   - the certificates listed in owned keep the state, revocation time,
//     quota and resubmission flag the store has: their workflows own them,
//     and intake never overwrites what a workflow decided. So do, whatever
//     owned says, the certificates a workflow holds (HoldCertificate) and
//     those whose state a workflow ever wrote (SaveCertificate): a refund
//     may have released a certificate that never had a workflow of its own.
//
// created reports whether the order is new. o must have passed the intake
// validator; the store's own checks still apply (errs.Invalid).
func (db *DB) IntakeOrder(ctx context.Context, o domain.Order, owned []string) (created bool, err error) {
	row, err := newOrderRow(o)
	if err != nil {
		return false, err
	}
	keep := make(map[string]bool, len(owned))
	for _, id := range owned {
		keep[id] = true
	}
	err = db.write(ctx, "registering order", func(tx *Tx) error {
		// The order's row lock (PostgreSQL; SQLite's write lock does it
		// already) orders intake with the ledger's reservations: a payout
		// reserved before is seen here, one reserved after sees the new order.
		switch err := lockOrder(ctx, tx, o.ID); {
		case errs.CodeOf(err) == errs.NotFound:
			created = true
		case err != nil:
			return err
		default:
			if err := refundBlocksIntake(ctx, tx, o.ID); err != nil {
				return err
			}
		}
		return db.putOrderTx(ctx, tx, o, row, keep, true)
	})
	return created, err
}

// refundBlocksIntake refuses to change an order whose refund runs, or
// whose ledger holds a pending or paid payout (what M-3 checks a payout
// against must not move under it).
func refundBlocksIntake(ctx context.Context, tx *Tx, orderID string) error {
	var state, outcome string
	err := tx.QueryRowContext(ctx, "SELECT state, outcome FROM refunds WHERE order_id = ?", orderID).Scan(&state, &outcome)
	switch {
	case err == sql.ErrNoRows:
	case err != nil:
		return dbError(err, "reading refund of order %s", orderID)
	case !statemachine.IsOrderFinal(statemachine.OrderState(state)):
		return errs.E(errs.Conflict, "order %s cannot be changed while its refund runs (state %s)", orderID, state)
	}
	var paid, pending int
	if err := tx.QueryRowContext(ctx, `
		SELECT COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0)
		FROM payouts WHERE order_id = ?`,
		string(ports.PayoutPaid), string(ports.PayoutPending), orderID).Scan(&paid, &pending); err != nil {
		return dbError(err, "reading payouts of order %s", orderID)
	}
	switch {
	case paid > 0:
		return errs.E(errs.Conflict, "order %s cannot be changed: a refund of it was paid out", orderID)
	case pending > 0:
		return errs.E(errs.Conflict, "order %s cannot be changed: a refund of it is being paid out", orderID)
	}
	return nil
}

// RecordRefundRequested writes the record of a refund the gateway just
// started (state refund_requested, at the request's time, requested by
// by.Subject, with the request as the first entry of its audit), so lists
// and eligibility show it before the workflow's first step writes its
// own. It never overwrites the record of a running refund, nor a newer
// one: only a missing record, or an older final one (a previous refund),
// is replaced, and only then is the refund.requested event written, in
// the same transaction. The order must exist (errs.NotFound).
func (db *DB) RecordRefundRequested(ctx context.Context, orderID string, by domain.Actor, at time.Time) error {
	if at.IsZero() {
		return errs.E(errs.Invalid, "refund request of order %s: time is missing", orderID)
	}
	return db.write(ctx, "recording a refund request", func(tx *Tx) error {
		if err := lockOrder(ctx, tx, orderID); err != nil {
			return err
		}
		_, _, err := recordRequested(ctx, tx, orderID, by, at)
		return err
	})
}

// requestedRecord is the read model's record of a refund just requested.
func requestedRecord(orderID string, by domain.Actor, at time.Time) ports.RefundRecord {
	return normalRefund(ports.RefundRecord{
		OrderID: orderID, State: string(statemachine.OrderRefundRequested), Outcome: outcomePending,
		UpdatedAt: at, RequestedBy: by.Subject,
		Audit: []domain.AuditEntry{{Action: domain.AuditRefundRequested, At: at, Actor: by}},
	})
}

// recordRequested writes the refund_requested record in tx (the order's
// row locked) unless a running or newer refund's record is there, and its
// refund.requested event; wrote says whether it did.
func recordRequested(ctx context.Context, tx *Tx, orderID string, by domain.Actor, at time.Time) (rec ports.RefundRecord, wrote bool, err error) {
	rec = requestedRecord(orderID, by, at)
	cols, err := newRefundColumns(rec)
	if err != nil {
		return rec, false, err
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO refunds (order_id, state, outcome, reasons, updated_at, requested_by, waiting_on, audit)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (order_id) DO UPDATE SET
			state = excluded.state, outcome = excluded.outcome, reasons = excluded.reasons,
			cash = '', currency = '', payment_id = '', waiting = '', escalated = 0,
			updated_at = excluded.updated_at, requested_by = excluded.requested_by,
			waiting_on = excluded.waiting_on, waiting_kinds = '', escalation = NULL, audit = excluded.audit,
			message = '', gift_card = '', benefit_points = 0, destination = '',
			due_cash = NULL, due_gift_card = '', due_benefit_points = 0, due_currency = '',
			due_destination = '', steps = '[]'
		WHERE refunds.state IN (?, ?, ?) AND excluded.updated_at >= refunds.updated_at`,
		orderID, rec.State, rec.Outcome, cols.reasons, formatTime(rec.UpdatedAt), rec.RequestedBy,
		cols.waitingOn, cols.audit,
		string(statemachine.OrderRefunded), string(statemachine.OrderRejected), string(statemachine.OrderCancelled))
	if err != nil {
		return rec, false, dbError(err, "recording the refund request of order %s", orderID)
	}
	if n, err := res.RowsAffected(); err != nil {
		return rec, false, dbError(err, "recording the refund request of order %s", orderID)
	} else if n == 0 {
		return rec, false, nil // a running or newer refund is there: nothing changed
	}
	return rec, true, emitRefundEvents(tx, rec, []ports.EventType{ports.EventRefundRequested})
}
