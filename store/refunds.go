package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
)

// The outcomes of a refund record (refund.Outcome: the store does not
// import the workflows).
const (
	outcomePending          = "pending"
	outcomeAwaitingApproval = "awaiting_approval"
	outcomeRefunded         = "refunded"
	outcomeRejected         = "rejected"
	outcomeCancelled        = "cancelled"
)

// refundOutcomes are the outcomes OrderFilter.Outcome accepts.
var refundOutcomes = []string{outcomePending, outcomeAwaitingApproval, outcomeRefunded, outcomeRejected, outcomeCancelled}

// SaveRefund records the refund of rec.OrderID as rec says (the refund
// workflow's projection for the console), replacing the previous record
// unless that one is newer. The order must exist (errs.NotFound).
// rec.Cash and rec.GiftCard, when set, must be amounts of the order's
// currency; an empty rec.Currency means the order's. rec.Due, when set,
// must be in the order's currency too (its empty Currency means the
// order's) and have cash. The events of what
// changed go to the outbox in the same transaction (saveRefund).
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
	case rec.BenefitPoints < 0:
		return errs.E(errs.Invalid, "refund of order %s: benefit points %d are negative", rec.OrderID, rec.BenefitPoints)
	}
	switch rec.Destination {
	case "", domain.OriginalMethod, domain.AccountBalance:
	default:
		return errs.E(errs.Invalid, "refund of order %s: unknown destination %q", rec.OrderID, rec.Destination)
	}
	if d := rec.Due; d != nil {
		switch {
		case d.Cash == "":
			return errs.E(errs.Invalid, "refund of order %s: the amount due has no cash", rec.OrderID)
		case d.BenefitPoints < 0:
			return errs.E(errs.Invalid, "refund of order %s: benefit points due %d are negative", rec.OrderID, d.BenefitPoints)
		}
		switch d.Destination {
		case "", domain.OriginalMethod, domain.AccountBalance:
		default:
			return errs.E(errs.Invalid, "refund of order %s: unknown destination %q of the amount due", rec.OrderID, d.Destination)
		}
	}
	for _, w := range rec.WaitingOn {
		if !w.Kind.Valid() {
			return errs.E(errs.Invalid, "refund of order %s: unknown waiting kind %q", rec.OrderID, w.Kind)
		}
	}
	return nil
}

// saveRefund writes rec unless the stored record is newer (updated_at),
// and then queues the events of the change, comparing the stored record
// with rec (refundEvents). A write that changes nothing queues none.
func saveRefund(ctx context.Context, tx *Tx, rec ports.RefundRecord) error {
	// The order's row lock serialises the refund's writers (PostgreSQL;
	// SQLite's write lock does it already), so the record read below is
	// the one this write replaces.
	var orderCurrency string
	err := tx.QueryRowContext(ctx, "SELECT currency FROM orders WHERE id = ?"+tx.forUpdate(), rec.OrderID).Scan(&orderCurrency)
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
	giftCard, err := refundAmount(rec.OrderID, "gift card", rec.GiftCard, orderCurrency)
	if err != nil {
		return err
	}
	due, err := refundDue(rec, orderCurrency)
	if err != nil {
		return err
	}
	rec = normalRefund(rec)
	rec.Cash, rec.Currency, rec.GiftCard, rec.Due = cash, currency, giftCard, due
	cols, err := newRefundColumns(rec)
	if err != nil {
		return err
	}
	prev, err := readRefund(ctx, tx, rec.OrderID, tx.forUpdate())
	if err != nil {
		return err
	}
	if prev != nil && prev.State == string(statemachine.OrderRefunded) && !isFinal(rec.State) && rec.RefundRun != "" {
		// The payout's activity writes a paid refund's last record itself
		// (refund.PaidRecord); if its answer was lost, the workflow goes
		// on as if unpaid (a wait on the payment side) until a retry finds
		// the payout made. A record of that detour must not take the
		// refund back from refunded (nor emit its events again): a refund
		// whose own payout is paid is refunded. A new request's refund
		// (another run) is not held back.
		paid, err := paidRun(ctx, tx, rec.OrderID, rec.RefundRun)
		if err != nil || paid {
			return err
		}
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO refunds (order_id, state, outcome, reasons, cash, currency, payment_id, updated_at,
			waiting, escalated, requested_by, waiting_on, waiting_kinds, escalation, audit, message,
			gift_card, benefit_points, destination,
			due_cash, due_gift_card, due_benefit_points, due_currency, due_destination, steps)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (order_id) DO UPDATE SET
			state = excluded.state, outcome = excluded.outcome, reasons = excluded.reasons,
			cash = excluded.cash, currency = excluded.currency, payment_id = excluded.payment_id,
			updated_at = excluded.updated_at, waiting = excluded.waiting, escalated = excluded.escalated,
			requested_by = excluded.requested_by, waiting_on = excluded.waiting_on,
			waiting_kinds = excluded.waiting_kinds, escalation = excluded.escalation, audit = excluded.audit,
			message = excluded.message, gift_card = excluded.gift_card,
			benefit_points = excluded.benefit_points, destination = excluded.destination,
			due_cash = excluded.due_cash, due_gift_card = excluded.due_gift_card,
			due_benefit_points = excluded.due_benefit_points, due_currency = excluded.due_currency,
			due_destination = excluded.due_destination, steps = excluded.steps
		WHERE excluded.updated_at >= refunds.updated_at`,
		rec.OrderID, rec.State, rec.Outcome, cols.reasons, rec.Cash, rec.Currency, rec.PaymentID,
		formatTime(rec.UpdatedAt), rec.Waiting, boolInt(rec.Escalated), rec.RequestedBy, cols.waitingOn,
		cols.waitingKinds, cols.escalation, cols.audit, rec.Message, rec.GiftCard, rec.BenefitPoints,
		string(rec.Destination), cols.dueCash, cols.due.GiftCard, cols.due.BenefitPoints, cols.due.Currency,
		string(cols.due.Destination), cols.steps)
	if err != nil {
		return dbError(err, "saving refund of order %s", rec.OrderID)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbError(err, "saving refund of order %s", rec.OrderID)
	} else if n == 0 {
		return nil // the stored record is newer: nothing changed
	}
	return emitRefundEvents(tx, rec, refundEvents(prev, rec))
}

// paidRun reports whether the refund run's payout of the order is paid.
func paidRun(ctx context.Context, tx *Tx, orderID, run string) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM payouts WHERE order_id = ? AND refund_run = ? AND status = ? LIMIT 1",
		orderID, run, string(ports.PayoutPaid)).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, dbError(err, "reading the payouts of order %s", orderID)
	}
	return true, nil
}

// refundEvents derives the events of replacing prev (nil when there was
// no record) by rec, in this order:
//
//   - refund.requested when rec starts a refund: there was no record, or
//     the previous refund had ended and rec has not;
//   - refund.approved when rec's audit has a refund_approved entry that
//     prev's had not;
//   - refund.escalated when Escalated turns true;
//   - refund.waiting_changed when what the refund waits on changed (kinds,
//     certificates, deadlines or rules; not the since times or the words);
//   - refund.paid, refund.rejected or refund.cancelled when the outcome
//     becomes refunded, rejected or cancelled.
//
// Writing the same record again derives none.
func refundEvents(prev *ports.RefundRecord, rec ports.RefundRecord) []ports.EventType {
	var types []ports.EventType
	if prev == nil || (isFinal(prev.State) && !isFinal(rec.State)) {
		types = append(types, ports.EventRefundRequested)
		prev = &ports.RefundRecord{} // the new refund starts from nothing
	}
	if slices.ContainsFunc(rec.Audit, func(a domain.AuditEntry) bool {
		return a.Action == domain.AuditRefundApproved && !slices.ContainsFunc(prev.Audit, func(p domain.AuditEntry) bool {
			return p.Action == a.Action && p.At.Equal(a.At) && p.Subject == a.Subject
		})
	}) {
		types = append(types, ports.EventRefundApproved)
	}
	if rec.Escalated && !prev.Escalated {
		types = append(types, ports.EventRefundEscalated)
	}
	if !slices.EqualFunc(prev.WaitingOn, rec.WaitingOn, sameWait) {
		types = append(types, ports.EventRefundWaitingChanged)
	}
	if prev.Outcome != rec.Outcome {
		switch rec.Outcome {
		case outcomeRefunded:
			types = append(types, ports.EventRefundPaid)
		case outcomeRejected:
			types = append(types, ports.EventRefundRejected)
		case outcomeCancelled:
			types = append(types, ports.EventRefundCancelled)
		}
	}
	return types
}

func isFinal(state string) bool { return statemachine.IsOrderFinal(statemachine.OrderState(state)) }

// sameWait reports whether two waits are the same thing waited on, with
// the same deadline under the same rule.
func sameWait(a, b domain.Wait) bool {
	sameDeadline := (a.Deadline == nil) == (b.Deadline == nil) && (a.Deadline == nil || a.Deadline.Equal(*b.Deadline))
	return a.Kind == b.Kind && a.Certificate == b.Certificate && a.Rule == b.Rule && sameDeadline
}

// emitRefundEvents queues events of the given types, each with the record
// after the change as its data.
func emitRefundEvents(tx *Tx, rec ports.RefundRecord, types []ports.EventType) error {
	if len(types) == 0 {
		return nil
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "encoding refund of order %s", rec.OrderID)
	}
	for _, t := range types {
		tx.emit(ports.Event{Type: t, OrderID: rec.OrderID, OccurredAt: rec.UpdatedAt, Data: data})
	}
	return nil
}

// normalRefund returns rec as the store reads it back: times in UTC, no
// nil lists.
func normalRefund(rec ports.RefundRecord) ports.RefundRecord {
	rec.UpdatedAt = rec.UpdatedAt.UTC()
	rec.Reasons = nonNil(rec.Reasons)
	waits := make([]domain.Wait, len(rec.WaitingOn))
	for i, w := range rec.WaitingOn {
		w.Since = w.Since.UTC()
		w.Deadline = utcPtr(w.Deadline)
		waits[i] = w
	}
	rec.WaitingOn = waits
	if e := rec.Escalation; e != nil {
		esc := *e
		esc.At, esc.Deadline = esc.At.UTC(), esc.Deadline.UTC()
		rec.Escalation = &esc
	}
	audit := make([]domain.AuditEntry, len(rec.Audit))
	for i, a := range rec.Audit {
		a.At = a.At.UTC()
		audit[i] = a
	}
	rec.Audit = audit
	var steps []domain.StepRecord
	for _, st := range rec.Steps {
		st.At = st.At.UTC()
		steps = append(steps, st)
	}
	rec.Steps = steps
	return rec
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// refundColumns are a record's JSON columns, encoded.
type refundColumns struct {
	reasons, waitingOn, waitingKinds, audit, steps string
	escalation                                     sql.NullString
	// dueCash is NULL when there is no amount due; due is then zero.
	dueCash sql.NullString
	due     ports.RefundDue
}

func newRefundColumns(rec ports.RefundRecord) (refundColumns, error) {
	var c refundColumns
	for _, f := range []struct {
		to *string
		v  any
	}{{&c.reasons, nonNil(rec.Reasons)}, {&c.waitingOn, nonNil(rec.WaitingOn)}, {&c.audit, nonNil(rec.Audit)},
		{&c.steps, nonNil(rec.Steps)}} {
		b, err := json.Marshal(f.v)
		if err != nil {
			return refundColumns{}, errs.Wrap(errs.Internal, err, "encoding refund of order %s", rec.OrderID)
		}
		*f.to = string(b)
	}
	var err error
	if c.escalation, err = jsonColumn(rec.Escalation); err != nil {
		return refundColumns{}, err
	}
	c.waitingKinds = waitingKinds(rec.WaitingOn)
	if d := rec.Due; d != nil {
		c.dueCash, c.due = sql.NullString{String: d.Cash, Valid: true}, *d
	}
	return c, nil
}

// waitingKinds is the searchable form of what a refund waits on: its
// kinds, each once, as ",kind,kind," (empty when it waits on nothing), so
// that LIKE '%,kind,%' finds a kind in SQL.
func waitingKinds(waits []domain.Wait) string {
	var kinds []string
	for _, w := range waits {
		if !slices.Contains(kinds, string(w.Kind)) {
			kinds = append(kinds, string(w.Kind))
		}
	}
	if len(kinds) == 0 {
		return ""
	}
	return "," + strings.Join(kinds, ",") + ","
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
	cash, err = refundAmount(rec.OrderID, "cash", rec.Cash, orderCurrency)
	if err != nil {
		return "", "", err
	}
	return cash, orderCurrency, nil
}

// refundDue checks rec's amount due against the order's currency and
// returns it with its amounts at the currency's minor unit (M-1) and the
// currency code; nil stays nil.
func refundDue(rec ports.RefundRecord, orderCurrency string) (*ports.RefundDue, error) {
	if rec.Due == nil {
		return nil, nil
	}
	d := *rec.Due
	if d.Currency != "" {
		cur, err := money.LookupCurrency(d.Currency)
		if err != nil {
			return nil, errs.E(errs.Invalid, "refund of order %s: amount due: %s", rec.OrderID, errs.MessageOf(err))
		}
		if cur.Code != orderCurrency {
			return nil, errs.E(errs.Invalid, "refund of order %s is due in %s, the order in %s", rec.OrderID, cur.Code, orderCurrency)
		}
	}
	var err error
	if d.Cash, err = refundAmount(rec.OrderID, "cash due", d.Cash, orderCurrency); err != nil {
		return nil, err
	}
	if d.GiftCard, err = refundAmount(rec.OrderID, "gift card due", d.GiftCard, orderCurrency); err != nil {
		return nil, err
	}
	d.Currency = orderCurrency
	return &d, nil
}

// refundAmount checks an amount of a refund (the field named) in the
// order's currency and returns it at the currency's minor unit (M-1). No
// amount stays empty.
func refundAmount(orderID, field, value, orderCurrency string) (string, error) {
	if value == "" {
		return "", nil
	}
	cur, err := money.LookupCurrency(orderCurrency)
	if err != nil {
		return "", errs.Wrap(errs.Internal, err, "order %s has a bad currency", orderID)
	}
	d, err := decimal.NewFromString(value)
	if err != nil {
		return "", errs.E(errs.Invalid, "refund of order %s: %s %q is not a decimal number", orderID, field, value)
	}
	a, err := money.New(d, cur)
	if err != nil {
		return "", &errs.Error{Code: errs.Invalid, Message: "refund of order " + orderID + ": " + field + ": " + errs.MessageOf(err), Rules: errs.RulesOf(err)}
	}
	return a.String(), nil
}

const refundCols = `r.order_id, r.state, r.outcome, r.reasons, r.cash, r.currency, r.payment_id, r.updated_at,
	r.waiting, r.escalated, r.requested_by, r.waiting_on, r.escalation, r.audit, r.message, r.gift_card,
	r.benefit_points, r.destination, r.due_cash, r.due_gift_card, r.due_benefit_points, r.due_currency,
	r.due_destination, r.steps`

// nullRefund scans refundCols of a LEFT JOIN, where a missing record is
// all NULL.
type nullRefund struct {
	orderID, state, outcome, reasons, cash, currency, paymentID, updatedAt sql.NullString
	waiting, requestedBy, waitingOn, escalation, audit, message, giftCard  sql.NullString
	destination, dueCash, dueGiftCard, dueCurrency, dueDestination, steps  sql.NullString
	escalated, benefitPoints, dueBenefitPoints                             sql.NullInt64
}

func (r *nullRefund) dest() []any {
	return []any{&r.orderID, &r.state, &r.outcome, &r.reasons, &r.cash, &r.currency, &r.paymentID, &r.updatedAt,
		&r.waiting, &r.escalated, &r.requestedBy, &r.waitingOn, &r.escalation, &r.audit, &r.message, &r.giftCard,
		&r.benefitPoints, &r.destination, &r.dueCash, &r.dueGiftCard, &r.dueBenefitPoints, &r.dueCurrency,
		&r.dueDestination, &r.steps}
}

// record returns the scanned refund record, or nil when there was none.
// Its lists are never nil.
func (r *nullRefund) record() (*ports.RefundRecord, error) {
	if !r.orderID.Valid {
		return nil, nil
	}
	rec := ports.RefundRecord{
		OrderID: r.orderID.String, State: r.state.String, Outcome: r.outcome.String,
		Cash: r.cash.String, Currency: r.currency.String, PaymentID: r.paymentID.String,
		Waiting: r.waiting.String, Escalated: r.escalated.Int64 == 1, RequestedBy: r.requestedBy.String,
		Message: r.message.String, GiftCard: r.giftCard.String, BenefitPoints: r.benefitPoints.Int64,
		Destination: domain.Destination(r.destination.String),
	}
	for _, f := range []struct {
		name string
		text sql.NullString
		to   any
	}{{"reasons", r.reasons, &rec.Reasons}, {"waiting_on", r.waitingOn, &rec.WaitingOn}, {"audit", r.audit, &rec.Audit},
		{"steps", r.steps, &rec.Steps}} {
		if err := json.Unmarshal([]byte(f.text.String), f.to); err != nil {
			return nil, errs.Wrap(errs.Internal, err, "stored %s of refund %s are malformed", f.name, rec.OrderID)
		}
	}
	rec.Reasons, rec.WaitingOn, rec.Audit = nonNil(rec.Reasons), nonNil(rec.WaitingOn), nonNil(rec.Audit)
	if len(rec.Steps) == 0 {
		rec.Steps = nil // a record without steps (the gateway's first, or older ones)
	}
	if r.escalation.Valid {
		rec.Escalation = new(domain.Escalation)
		if err := json.Unmarshal([]byte(r.escalation.String), rec.Escalation); err != nil {
			return nil, errs.Wrap(errs.Internal, err, "stored escalation of refund %s is malformed", rec.OrderID)
		}
	}
	if r.dueCash.Valid {
		rec.Due = &ports.RefundDue{Cash: r.dueCash.String, GiftCard: r.dueGiftCard.String,
			BenefitPoints: r.dueBenefitPoints.Int64, Currency: r.dueCurrency.String,
			Destination: domain.Destination(r.dueDestination.String)}
	}
	var err error
	if rec.UpdatedAt, err = parseTime(r.updatedAt.String); err != nil {
		return nil, err
	}
	return &rec, nil
}

// readRefund reads the refund record of an order in tx (nil when there is
// none); lock is "" or tx.forUpdate().
func readRefund(ctx context.Context, tx *Tx, orderID, lock string) (*ports.RefundRecord, error) {
	var r nullRefund
	err := tx.QueryRowContext(ctx, "SELECT "+refundCols+" FROM refunds r WHERE r.order_id = ?"+lock, orderID).Scan(r.dest()...)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, dbError(err, "reading refund of order %s", orderID)
	}
	return r.record()
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
