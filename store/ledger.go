package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/ports"
)

// The refund ledger (ports.Ledger). Every payout is reserved here before
// the payment provider hears of it, and settled here after the provider
// answers, so across goroutines, processes and hosts:
//
//   - a key is reserved at most once; the same key again returns the
//     payout recorded first, and the same key with other amounts, order or
//     destination is errs.Conflict (M-4);
//   - the cash of an order's pending and paid payouts never exceeds the
//     order's cash paid minus what was refunded before, nor their gift card
//     and benefit points what was paid with them (M-3, TC-6): a payout that
//     would is errs.Conflict and is not recorded.
//
// The check and the record are one serialised step: in SQLite the
// transaction holds the database's write lock, in PostgreSQL the order's
// row (SELECT … FOR UPDATE), so two reservations for one order run one
// after the other and the second sees the first.

// ReservePayout records req as pending after the M-3 / TC-6 check (see
// ports.Ledger). An unknown order is errs.NotFound; a malformed request or
// amounts in another currency than the order's are errs.Invalid.
func (db *DB) ReservePayout(ctx context.Context, req ports.PayoutRequest) (ports.Payout, bool, error) {
	if err := checkPayout(req); err != nil {
		return ports.Payout{}, false, err
	}
	var (
		out     ports.Payout
		created bool
	)
	err := db.write(ctx, "reserving payout", func(tx *Tx) error {
		// The order's row lock first: every reservation of the order,
		// whatever its key, waits here for the one before to commit.
		ord, err := loadPayoutOrder(ctx, tx, req.OrderID)
		if err != nil {
			return err
		}
		prev, found, err := getPayout(ctx, tx, req.IdempotencyKey)
		if err != nil {
			return err
		}
		if found {
			// M-4: the key names one payout, whatever became of it.
			if err := prev.sameAs(req); err != nil {
				return err
			}
			out, err = prev.payout()
			return err
		}
		if err := checkJudgement(ctx, tx, req); err != nil {
			return err
		}
		row, err := ord.payout(req)
		if err != nil {
			return err
		}
		if err := ord.checkLeft(ctx, tx, row); err != nil {
			return err
		}
		row.status = string(ports.PayoutPending)
		row.createdAt = formatTime(db.now())
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO payouts (idempotency_key, order_id, cash, gift_card, benefit_points, currency,
				destination, status, created_at, refund_run)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			row.key, row.orderID, row.cash.String(), row.giftCard.String(), row.points, row.cash.Currency().Code,
			string(row.destination), row.status, row.createdAt, req.RefundRun); err != nil {
			return dbError(err, "recording payout %s", req.IdempotencyKey)
		}
		created = true
		out, err = row.payout()
		return err
	})
	if err != nil {
		return ports.Payout{}, false, err
	}
	return out, created, nil
}

// checkJudgement refuses a new payout decided by a judgement of its refund
// run older than the run's latest (ports.Ledger.OpenJudgement). The
// caller holds the order's lock, which OpenJudgement takes too.
func checkJudgement(ctx context.Context, tx *Tx, req ports.PayoutRequest) error {
	if req.RefundRun == "" || req.Judgement == 0 {
		return nil
	}
	var latest int64
	err := tx.QueryRowContext(ctx, "SELECT number FROM refund_judgements WHERE order_id = ? AND refund_run = ?",
		req.OrderID, req.RefundRun).Scan(&latest)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return dbError(err, "reading the judgements of refund %s", req.RefundRun)
	}
	if latest != req.Judgement {
		return &errs.Error{Code: errs.Conflict, Rules: []string{"M-4"}, Message: fmt.Sprintf(
			"payout %s: refund %s of order %s was judged again (judgement %d, this payout was decided by %d); nothing paid",
			req.IdempotencyKey, req.RefundRun, req.OrderID, latest, req.Judgement)}
	}
	return nil
}

// OpenJudgement draws the refund run's next judgement number and reads
// its own payout (see ports.Ledger), under the order's lock.
func (db *DB) OpenJudgement(ctx context.Context, orderID, refundRun string) (ports.RunJudgement, error) {
	if refundRun == "" {
		return ports.RunJudgement{}, errs.E(errs.Invalid, "opening a judgement of order %s: the refund run is empty", orderID)
	}
	var out ports.RunJudgement
	err := db.write(ctx, "opening judgement", func(tx *Tx) error {
		// The order's lock, the one ReservePayout takes, in the statement
		// that draws the number (no round trip of its own): a reservation
		// is either before this (and read below, by a later statement,
		// which on PostgreSQL sees what committed while it waited) or
		// after (and checked against the number). No row: no such order.
		err := tx.QueryRowContext(ctx, `WITH o AS (SELECT id FROM orders WHERE id = ?1`+tx.forUpdate()+`)
			INSERT INTO refund_judgements (order_id, refund_run, number)
			SELECT o.id, ?2, 1 FROM o WHERE true
			ON CONFLICT (order_id, refund_run) DO UPDATE SET number = refund_judgements.number + 1
			RETURNING number`, orderID, refundRun).Scan(&out.Number)
		if err == sql.ErrNoRows {
			return errs.E(errs.NotFound, "order %s not found", orderID)
		}
		if err != nil {
			return dbError(err, "drawing a judgement of refund %s", refundRun)
		}
		// Paid before pending; one of each at most per destination.
		r, err := scanPayout(tx.QueryRowContext(ctx, "SELECT "+payoutCols+` FROM payouts
			WHERE order_id = ? AND refund_run = ? AND status <> ?
			ORDER BY CASE status WHEN ? THEN 0 ELSE 1 END, created_at, idempotency_key LIMIT 1`,
			orderID, refundRun, string(ports.PayoutFailed), string(ports.PayoutPaid)))
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return dbError(err, "reading the payouts of refund %s", refundRun)
		}
		p, err := r.payout()
		if err != nil {
			return err
		}
		p.Request.RefundRun = refundRun
		out.Payout = &p
		return nil
	})
	if err != nil {
		return ports.RunJudgement{}, err
	}
	return out, nil
}

// SettlePayout records the provider's final answer on a pending payout
// (see ports.Ledger).
func (db *DB) SettlePayout(ctx context.Context, key string, s ports.Settlement) (ports.Payout, error) {
	switch {
	case key == "":
		return ports.Payout{}, errs.E(errs.Invalid, "settling a payout: idempotency key is empty")
	case s.Status == ports.PayoutPaid && s.ProviderID == "":
		return ports.Payout{}, errs.E(errs.Invalid, "payout %s: paid without the provider's refund ID", key)
	case s.Status != ports.PayoutPaid && s.Status != ports.PayoutFailed:
		return ports.Payout{}, errs.E(errs.Invalid, "payout %s: cannot settle as %q (want paid or failed)", key, s.Status)
	}
	var out ports.Payout
	err := db.write(ctx, "settling payout", func(tx *Tx) error {
		var orderID string
		err := tx.QueryRowContext(ctx, "SELECT order_id FROM payouts WHERE idempotency_key = ?", key).Scan(&orderID)
		if err == sql.ErrNoRows {
			return errs.E(errs.NotFound, "payout %s not found", key)
		}
		if err != nil {
			return dbError(err, "reading payout %s", key)
		}
		// Same lock order as ReservePayout: the order's row, then the payout.
		if err := lockOrder(ctx, tx, orderID); err != nil {
			return err
		}
		prev, _, err := getPayout(ctx, tx, key)
		if err != nil {
			return err
		}
		if prev.status != string(ports.PayoutPending) {
			if prev.status != string(s.Status) || (s.Status == ports.PayoutPaid && prev.paymentID != s.ProviderID) {
				return errs.E(errs.Conflict, "payout %s is already %s, cannot settle it %s", key, prev.status, s.Status)
			}
			out, err = prev.payout()
			return err
		}
		var paymentID sql.NullString
		if s.Status == ports.PayoutPaid {
			paymentID = sql.NullString{String: s.ProviderID, Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE payouts SET status = ?, payment_id = ?, reason = ?, settled_at = ?
			WHERE idempotency_key = ?`, string(s.Status), paymentID, s.Reason, formatTime(db.now()), key); err != nil {
			return dbError(err, "settling payout %s", key)
		}
		row, _, err := getPayout(ctx, tx, key)
		if err != nil {
			return err
		}
		out, err = row.payout()
		return err
	})
	if err != nil {
		return ports.Payout{}, err
	}
	return out, nil
}

// GetPayout returns the payout recorded under key (errs.NotFound).
func (db *DB) GetPayout(ctx context.Context, key string) (ports.Payout, error) {
	if key == "" {
		return ports.Payout{}, errs.E(errs.Invalid, "idempotency key is empty")
	}
	var out ports.Payout
	err := db.read(ctx, "reading payout", func(tx *Tx) error {
		row, found, err := getPayout(ctx, tx, key)
		if err != nil {
			return err
		}
		if !found {
			return errs.E(errs.NotFound, "payout %s not found", key)
		}
		out, err = row.payout()
		return err
	})
	return out, err
}

// Payouts lists an order's ledger rows, oldest first (ties by key). An
// unknown order is errs.NotFound.
func (db *DB) Payouts(ctx context.Context, orderID string) ([]ports.Payout, error) {
	var out []ports.Payout
	err := db.read(ctx, "listing payouts", func(tx *Tx) error {
		if err := orderExists(ctx, tx, orderID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+payoutCols+" FROM payouts WHERE order_id = ? ORDER BY created_at, idempotency_key", orderID)
		if err != nil {
			return dbError(err, "listing payouts of order %s", orderID)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanPayout(rows)
			if err != nil {
				return err
			}
			p, err := r.payout()
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		if err := rows.Err(); err != nil {
			return dbError(err, "listing payouts of order %s", orderID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RefundedAmount is what the ledger paid out for the order: the cash and
// gift card of its paid payouts, in the order's currency (see
// ports.Ledger). Pending and failed payouts are not counted: a pending one
// belongs to a refund still running, which the ledger itself guards (M-3).
// An unknown order is errs.NotFound.
func (db *DB) RefundedAmount(ctx context.Context, orderID string) (decimal.Decimal, error) {
	return db.refunded(ctx, orderID, "")
}

// RefundedByOthers is RefundedAmount without the payouts refundRun
// reserved (ports.Ledger); an empty refundRun counts them all.
func (db *DB) RefundedByOthers(ctx context.Context, orderID, refundRun string) (decimal.Decimal, error) {
	return db.refunded(ctx, orderID, refundRun)
}

// refunded sums the order's paid payouts but those exceptRun reserved
// (none when it is empty).
func (db *DB) refunded(ctx context.Context, orderID, exceptRun string) (decimal.Decimal, error) {
	// One statement: the order's currency and its payouts in one snapshot,
	// no transaction to open.
	rows, err := db.query(ctx, `SELECT o.currency, p.cash, p.gift_card FROM orders o
		LEFT JOIN payouts p ON p.order_id = o.id AND p.status = ? AND (? = '' OR p.refund_run <> ?)
		WHERE o.id = ?`, string(ports.PayoutPaid), exceptRun, exceptRun, orderID)
	if err != nil {
		return decimal.Decimal{}, dbError(err, "reading payouts of order %s", orderID)
	}
	defer rows.Close()
	var (
		total decimal.Decimal
		found bool
	)
	for rows.Next() {
		var (
			code       string
			cash, gift sql.NullString
		)
		if err := rows.Scan(&code, &cash, &gift); err != nil {
			return decimal.Decimal{}, dbError(err, "reading payouts of order %s", orderID)
		}
		found = true
		cur, err := storedCurrency(code)
		if err != nil {
			return decimal.Decimal{}, err
		}
		if !cash.Valid {
			continue // no payout
		}
		for _, text := range []string{cash.String, gift.String} {
			a, err := storedAmount(text, cur)
			if err != nil {
				return decimal.Decimal{}, err
			}
			total = total.Add(a.Decimal())
		}
	}
	if err := rows.Err(); err != nil {
		return decimal.Decimal{}, dbError(err, "reading payouts of order %s", orderID)
	}
	if !found {
		return decimal.Decimal{}, errs.E(errs.NotFound, "order %s not found", orderID)
	}
	return total, nil
}

// checkPayout checks what can be checked of req without the database.
func checkPayout(req ports.PayoutRequest) error {
	switch {
	case req.IdempotencyKey == "":
		return errs.E(errs.Invalid, "payout: idempotency key is empty")
	case req.OrderID == "":
		return errs.E(errs.Invalid, "payout %s: order ID is empty", req.IdempotencyKey)
	case req.Destination != domain.OriginalMethod && req.Destination != domain.AccountBalance:
		return errs.E(errs.Invalid, "payout %s: unknown destination %q", req.IdempotencyKey, req.Destination)
	case req.BenefitPoints < 0:
		return errs.E(errs.Invalid, "payout %s: benefit points %d are negative", req.IdempotencyKey, req.BenefitPoints)
	}
	c, g := req.Cash.Currency(), req.GiftCard.Currency()
	if c != (money.Currency{}) && g != (money.Currency{}) && c != g {
		return errs.E(errs.Invalid, "payout %s: cash in %s and gift card in %s", req.IdempotencyKey, c.Code, g.Code)
	}
	return nil
}

// payoutRow is a ledger row.
type payoutRow struct {
	key, orderID      string
	cash, giftCard    money.Amount
	points            int64
	destination       domain.Destination
	paymentID, status string
	reason            string
	createdAt         string
	settledAt         sql.NullString
}

const payoutCols = `idempotency_key, order_id, cash, gift_card, benefit_points, currency,
	destination, payment_id, status, reason, created_at, settled_at`

func scanPayout(s scanner) (payoutRow, error) {
	var (
		r                     payoutRow
		cash, gift, cur, dest string
		paymentID             sql.NullString
	)
	if err := s.Scan(&r.key, &r.orderID, &cash, &gift, &r.points, &cur, &dest, &paymentID, &r.status, &r.reason, &r.createdAt, &r.settledAt); err != nil {
		return payoutRow{}, err
	}
	r.paymentID = paymentID.String
	r.destination = domain.Destination(dest)
	c, err := storedCurrency(cur)
	if err != nil {
		return payoutRow{}, err
	}
	if r.cash, err = storedAmount(cash, c); err != nil {
		return payoutRow{}, err
	}
	if r.giftCard, err = storedAmount(gift, c); err != nil {
		return payoutRow{}, err
	}
	return r, nil
}

func getPayout(ctx context.Context, tx *Tx, key string) (payoutRow, bool, error) {
	r, err := scanPayout(tx.QueryRowContext(ctx, "SELECT "+payoutCols+" FROM payouts WHERE idempotency_key = ?", key))
	if err == sql.ErrNoRows {
		return payoutRow{}, false, nil
	}
	if err != nil {
		return payoutRow{}, false, dbError(err, "reading payout %s", key)
	}
	return r, true, nil
}

// sameAs returns errs.Conflict unless req asks for exactly the payout r
// recorded (M-4: a key names one payout).
func (r payoutRow) sameAs(req ports.PayoutRequest) error {
	same := req.OrderID == r.orderID && req.Destination == r.destination && req.BenefitPoints == r.points &&
		sameAmount(req.Cash, r.cash) && sameAmount(req.GiftCard, r.giftCard)
	if same {
		return nil
	}
	return &errs.Error{
		Code: errs.Conflict,
		Message: fmt.Sprintf("idempotency key %s already names a payout of %s; this request is %s", r.key,
			describePayout(r.orderID, r.cash, r.giftCard, r.points, r.destination),
			describePayout(req.OrderID, req.Cash, req.GiftCard, req.BenefitPoints, req.Destination)),
		Rules: []string{"M-4"},
	}
}

// sameAmount compares a requested amount with a recorded one; a request
// may leave a zero amount without currency (Amount{}).
func sameAmount(req, rec money.Amount) bool {
	if req.Currency() == (money.Currency{}) {
		return req.IsZero() && rec.IsZero()
	}
	return req.Equal(rec)
}

func describePayout(orderID string, cash, gift money.Amount, points int64, dest domain.Destination) string {
	return fmt.Sprintf("order %s cash %s %s, gift card %s %s, %d benefit points to %s",
		orderID, cash, cash.Currency().Code, gift, gift.Currency().Code, points, dest)
}

func (r payoutRow) payout() (ports.Payout, error) {
	at, err := parseTime(r.createdAt)
	if err != nil {
		return ports.Payout{}, err
	}
	settled, err := parseTimePtr(r.settledAt)
	if err != nil {
		return ports.Payout{}, err
	}
	p := ports.Payout{
		Request: ports.PayoutRequest{IdempotencyKey: r.key, OrderID: r.orderID, Cash: r.cash, GiftCard: r.giftCard,
			BenefitPoints: r.points, Destination: r.destination},
		Status: ports.PayoutStatus(r.status), ProviderID: r.paymentID, Reason: r.reason, CreatedAt: at,
	}
	if settled != nil {
		p.SettledAt = *settled
	}
	return p, nil
}

// payoutOrder is what a payout is checked against: the order's payment.
type payoutOrder struct {
	id                       string
	cur                      money.Currency
	cash, giftCard, refunded money.Amount
	points                   int64
}

// loadPayoutOrder reads the order's payment and, in a dialect with row
// locks, locks the order's row until commit.
func loadPayoutOrder(ctx context.Context, tx *Tx, orderID string) (payoutOrder, error) {
	var cur, cash, gift, refunded string
	o := payoutOrder{id: orderID}
	err := tx.QueryRowContext(ctx, "SELECT currency, cash, gift_card, benefit_points, already_refunded FROM orders WHERE id = ?"+tx.forUpdate(), orderID).
		Scan(&cur, &cash, &gift, &o.points, &refunded)
	if err == sql.ErrNoRows {
		return payoutOrder{}, errs.E(errs.NotFound, "order %s not found", orderID)
	}
	if err != nil {
		return payoutOrder{}, dbError(err, "reading order %s", orderID)
	}
	if o.cur, err = storedCurrency(cur); err != nil {
		return payoutOrder{}, err
	}
	for _, a := range []struct {
		to   *money.Amount
		text string
	}{{&o.cash, cash}, {&o.giftCard, gift}, {&o.refunded, refunded}} {
		if *a.to, err = storedAmount(a.text, o.cur); err != nil {
			return payoutOrder{}, err
		}
	}
	return o, nil
}

// payout returns the ledger row for req, its amounts in the order's
// currency.
func (o payoutOrder) payout(req ports.PayoutRequest) (payoutRow, error) {
	in := func(what string, a money.Amount) (money.Amount, error) {
		switch a.Currency() {
		case money.Currency{}:
			return money.Zero(o.cur), nil // Amount{} is zero
		case o.cur:
			return a, nil
		}
		return money.Amount{}, errs.E(errs.Invalid, "payout %s: %s is in %s, order %s was paid in %s",
			req.IdempotencyKey, what, a.Currency().Code, o.id, o.cur.Code)
	}
	cash, err := in("cash", req.Cash)
	if err != nil {
		return payoutRow{}, err
	}
	gift, err := in("gift card", req.GiftCard)
	if err != nil {
		return payoutRow{}, err
	}
	return payoutRow{
		key: req.IdempotencyKey, orderID: req.OrderID, cash: cash, giftCard: gift, points: req.BenefitPoints,
		destination: req.Destination,
	}, nil
}

// checkLeft refuses a payout that, with what the ledger already paid out
// for the order, would return more than was paid: cash beyond the cash
// paid minus what was refunded before (M-3), gift card or benefit points
// beyond what was paid with them (TC-6). Pending payouts count: their money
// may be moving. The caller holds the order's lock (loadPayoutOrder), so
// the check and the payout are one serialised step.
func (o payoutOrder) checkLeft(ctx context.Context, tx *Tx, row payoutRow) error {
	rows, err := tx.QueryContext(ctx, "SELECT cash, gift_card, benefit_points FROM payouts WHERE order_id = ? AND status IN (?, ?)",
		o.id, string(ports.PayoutPending), string(ports.PayoutPaid))
	if err != nil {
		return dbError(err, "reading payouts of order %s", o.id)
	}
	defer rows.Close()
	paidCash, paidGift, paidPoints := money.Zero(o.cur), money.Zero(o.cur), int64(0)
	for rows.Next() {
		var cash, gift string
		var points int64
		if err := rows.Scan(&cash, &gift, &points); err != nil {
			return dbError(err, "reading payouts of order %s", o.id)
		}
		c, err := storedAmount(cash, o.cur)
		if err != nil {
			return err
		}
		g, err := storedAmount(gift, o.cur)
		if err != nil {
			return err
		}
		if paidCash, err = paidCash.Add(c); err != nil {
			return err
		}
		if paidGift, err = paidGift.Add(g); err != nil {
			return err
		}
		paidPoints += points
	}
	if err := rows.Err(); err != nil {
		return dbError(err, "reading payouts of order %s", o.id)
	}

	used, err := o.refunded.Add(paidCash)
	if err != nil {
		return err
	}
	capped, err := money.CapRefund(row.cash, o.cash, used)
	if err != nil || !capped.Equal(row.cash) {
		return &errs.Error{
			Code: errs.Conflict,
			Message: fmt.Sprintf("payout of %s %s cash for order %s exceeds what is left: cash paid %s, refunded before %s, paid out or pending %s",
				row.cash, o.cur.Code, o.id, o.cash, o.refunded, paidCash),
			Rules: []string{"M-3"},
		}
	}
	gift, err := paidGift.Add(row.giftCard)
	if err != nil {
		return err
	}
	if gift.Cmp(o.giftCard) > 0 {
		return &errs.Error{
			Code: errs.Conflict,
			Message: fmt.Sprintf("payout of %s %s gift card for order %s exceeds what is left: gift card paid %s, paid out or pending %s",
				row.giftCard, o.cur.Code, o.id, o.giftCard, paidGift),
			Rules: []string{"TC-6"},
		}
	}
	if paidPoints+row.points > o.points {
		return &errs.Error{
			Code: errs.Conflict,
			Message: fmt.Sprintf("payout of %d benefit points for order %s exceeds what is left: %d paid, %d paid out or pending",
				row.points, o.id, o.points, paidPoints),
			Rules: []string{"TC-6"},
		}
	}
	return nil
}

func storedCurrency(code string) (money.Currency, error) {
	c, err := money.LookupCurrency(code)
	if err != nil {
		return money.Currency{}, errs.Wrap(errs.Internal, err, "stored currency %q is unknown", code)
	}
	return c, nil
}

func storedAmount(text string, cur money.Currency) (money.Amount, error) {
	d, err := parseDecimal(text)
	if err != nil {
		return money.Amount{}, err
	}
	a, err := money.New(d, cur)
	if err != nil {
		return money.Amount{}, errs.Wrap(errs.Internal, err, "stored amount %s %s is malformed", text, cur.Code)
	}
	return a, nil
}
