package store

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/ports"
)

// SaveRefund records the refund of rec.OrderID as rec says (the refund
// workflow's projection for the console), replacing the previous record.
// The order must exist (errs.NotFound). rec.Cash, when set, must be an
// amount of the order's currency; an empty rec.Currency means the order's.
func (db *DB) SaveRefund(ctx context.Context, rec ports.RefundRecord) error {
	if err := checkRefundRecord(rec); err != nil {
		return err
	}
	return db.write(ctx, "saving refund", func(tx *Tx) error { return saveRefund(ctx, tx, rec) })
}

func checkRefundRecord(rec ports.RefundRecord) error {
	switch {
	case rec.OrderID == "":
		return errs.E(errs.Invalid, "refund: order ID is empty")
	case rec.State == "":
		return errs.E(errs.Invalid, "refund of order %s: state is empty", rec.OrderID)
	case rec.UpdatedAt.IsZero():
		return errs.E(errs.Invalid, "refund of order %s: update time is missing", rec.OrderID)
	}
	return nil
}

func saveRefund(ctx context.Context, tx *Tx, rec ports.RefundRecord) error {
	reasons := rec.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	reasonsJSON, err := json.Marshal(reasons)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "encoding refund reasons")
	}
	var orderCurrency string
	err = tx.QueryRowContext(ctx, "SELECT currency FROM orders WHERE id = ?", rec.OrderID).Scan(&orderCurrency)
	if err == sql.ErrNoRows {
		return errs.E(errs.NotFound, "order %s not found", rec.OrderID)
	}
	if err != nil {
		return dbError(err, "reading order %s", rec.OrderID)
	}
	cash, currency, err := refundCash(rec, orderCurrency)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO refunds (order_id, state, outcome, reasons, cash, currency, payment_id, updated_at,
			waiting, escalated, requested_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (order_id) DO UPDATE SET
			state = excluded.state, outcome = excluded.outcome, reasons = excluded.reasons,
			cash = excluded.cash, currency = excluded.currency, payment_id = excluded.payment_id,
			updated_at = excluded.updated_at, waiting = excluded.waiting, escalated = excluded.escalated,
			requested_by = excluded.requested_by
		WHERE excluded.updated_at >= refunds.updated_at`,
		rec.OrderID, rec.State, rec.Outcome, string(reasonsJSON), cash, currency, rec.PaymentID,
		formatTime(rec.UpdatedAt), rec.Waiting, boolInt(rec.Escalated), rec.RequestedBy); err != nil {
		return dbError(err, "saving refund of order %s", rec.OrderID)
	}
	return nil
}

// refundCash checks rec's cash against the order's currency and returns it
// at the currency's minor unit (M-1), with the currency code. No cash stays
// empty.
func refundCash(rec ports.RefundRecord, orderCurrency string) (cash, currency string, err error) {
	if rec.Currency != "" {
		cur, err := money.LookupCurrency(rec.Currency)
		if err != nil {
			return "", "", errs.E(errs.Invalid, "refund of order %s: %s", rec.OrderID, errs.MessageOf(err))
		}
		if cur.Code != orderCurrency {
			return "", "", errs.E(errs.Invalid, "refund of order %s is in %s, the order in %s", rec.OrderID, cur.Code, orderCurrency)
		}
	}
	if rec.Cash == "" {
		return "", rec.Currency, nil
	}
	cur, err := money.LookupCurrency(orderCurrency)
	if err != nil {
		return "", "", errs.Wrap(errs.Internal, err, "order %s has a bad currency", rec.OrderID)
	}
	d, err := decimal.NewFromString(rec.Cash)
	if err != nil {
		return "", "", errs.E(errs.Invalid, "refund of order %s: cash %q is not a decimal number", rec.OrderID, rec.Cash)
	}
	a, err := money.New(d, cur)
	if err != nil {
		return "", "", &errs.Error{Code: errs.Invalid, Message: "refund of order " + rec.OrderID + ": cash: " + errs.MessageOf(err), Rules: errs.RulesOf(err)}
	}
	return a.String(), cur.Code, nil
}

const refundCols = `r.order_id, r.state, r.outcome, r.reasons, r.cash, r.currency, r.payment_id, r.updated_at,
	r.waiting, r.escalated, r.requested_by`

// nullRefund scans refundCols of a LEFT JOIN, where a missing record is
// all NULL.
type nullRefund struct {
	orderID, state, outcome, reasons, cash, currency, paymentID, updatedAt sql.NullString
	waiting, requestedBy                                                   sql.NullString
	escalated                                                              sql.NullInt64
}

func (r *nullRefund) dest() []any {
	return []any{&r.orderID, &r.state, &r.outcome, &r.reasons, &r.cash, &r.currency, &r.paymentID, &r.updatedAt,
		&r.waiting, &r.escalated, &r.requestedBy}
}

// record returns the scanned refund record, or nil when there was none.
func (r *nullRefund) record() (*ports.RefundRecord, error) {
	if !r.orderID.Valid {
		return nil, nil
	}
	rec := ports.RefundRecord{
		OrderID: r.orderID.String, State: r.state.String, Outcome: r.outcome.String,
		Cash: r.cash.String, Currency: r.currency.String, PaymentID: r.paymentID.String,
		Waiting: r.waiting.String, Escalated: r.escalated.Int64 == 1, RequestedBy: r.requestedBy.String,
	}
	if err := json.Unmarshal([]byte(r.reasons.String), &rec.Reasons); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "stored reasons of refund %s are malformed", rec.OrderID)
	}
	if rec.Reasons == nil {
		rec.Reasons = []string{}
	}
	var err error
	if rec.UpdatedAt, err = parseTime(r.updatedAt.String); err != nil {
		return nil, err
	}
	return &rec, nil
}

// GetRefund returns the refund record of an order. An order without one
// (or an unknown order) is errs.NotFound.
func (db *DB) GetRefund(ctx context.Context, orderID string) (ports.RefundRecord, error) {
	var r nullRefund
	err := db.queryRow(ctx, "SELECT "+refundCols+" FROM refunds r WHERE r.order_id = ?", orderID).Scan(r.dest()...)
	if err == sql.ErrNoRows {
		return ports.RefundRecord{}, errs.E(errs.NotFound, "no refund for order %s", orderID)
	}
	if err != nil {
		return ports.RefundRecord{}, dbError(err, "reading refund of order %s", orderID)
	}
	rec, err := r.record()
	if err != nil {
		return ports.RefundRecord{}, err
	}
	return *rec, nil
}
