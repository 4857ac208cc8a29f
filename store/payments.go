package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/money"
)

var _ activities.Payments = (*Payments)(nil)

// Payout statuses in the ledger.
const (
	statusPaid   = "paid"
	statusFailed = "failed"
)

// Payments is a payment system simulator with a real idempotency ledger
// (the payouts table of the store's database). Each Refund is one
// serialised SQLite transaction that checks the ledger and records the
// payout, so across goroutines and processes:
//
//   - a key pays at most once; the same key again returns the first
//     receipt, and the same key with other amounts, order or destination
//     is errs.Conflict (M-4);
//   - the cash paid out for an order never exceeds the order's cash paid
//     minus what was refunded before, nor the gift card and benefit points
//     paid out what was paid with them (M-3, TC-6): a payout that would is
//     errs.Conflict and moves nothing.
//
// Refunds to the original method can be made to fail (FailOriginalMethod)
// to exercise GEN-4.
type Payments struct {
	db *DB

	mu         sync.Mutex
	failAll    bool
	failOrders map[string]bool
}

// NewPayments returns the payment simulator on db; receipts carry db's
// clock.
func NewPayments(db *DB) *Payments {
	return &Payments{db: db, failOrders: map[string]bool{}}
}

// FailOriginalMethod makes refunds to the original payment method of
// orderID fail (on) or go through again (off); an empty orderID switches
// it for every order. An order fails while either its own switch or the
// global one is on. A failing refund moves no money and returns an error
// for which IsOriginalMethodFailed is true; a refund of the same order to
// the account balance still goes through (GEN-4).
func (p *Payments) FailOriginalMethod(orderID string, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case orderID == "":
		p.failAll = on
	case on:
		p.failOrders[orderID] = true
	default:
		delete(p.failOrders, orderID)
	}
}

func (p *Payments) failing(orderID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failAll || p.failOrders[orderID]
}

// IsOriginalMethodFailed reports whether err says that a refund to the
// original payment method did not go through and moved no money (GEN-4):
// the caller pays to the account balance instead. The error wraps
// activities.ErrOriginalMethodFailed, so errors.Is with that sentinel is
// the same test; it is coded errs.Unavailable with rule GEN-4.
func IsOriginalMethodFailed(err error) bool {
	return errors.Is(err, activities.ErrOriginalMethodFailed)
}

func originalMethodFailed(orderID string) error {
	return &errs.Error{
		Code:    errs.Unavailable,
		Message: fmt.Sprintf("refund to the original payment method of order %s failed", orderID),
		Rules:   []string{"GEN-4"},
		Err:     activities.ErrOriginalMethodFailed,
	}
}

// PaymentID is the payment ID of the payout with the given idempotency
// key: the same key always yields the same ID, so a replay is recognisable
// in any log.
func PaymentID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "pay_" + hex.EncodeToString(sum[:8])
}

// Refund pays req out once per idempotency key (see Payments). A refund to
// the original method while it is switched to fail is recorded as a failed
// attempt (it moves nothing and does not use the key up) and returns an
// error for which IsOriginalMethodFailed is true. An unknown order is
// errs.NotFound; a malformed request or amounts in another currency than
// the order's are errs.Invalid.
func (p *Payments) Refund(ctx context.Context, req activities.PayoutRequest) (activities.PayoutReceipt, error) {
	if err := checkPayout(req); err != nil {
		return activities.PayoutReceipt{}, err
	}
	var (
		rec    activities.PayoutReceipt
		failed bool
	)
	err := p.db.write(ctx, "paying out", func(tx *sql.Tx) error {
		prev, found, err := getPayout(ctx, tx, req.IdempotencyKey)
		if err != nil {
			return err
		}
		if found && prev.status == statusPaid {
			// M-4: a replay gets the first receipt and moves nothing.
			if err := prev.sameAs(req); err != nil {
				return err
			}
			rec, err = prev.receipt()
			return err
		}
		ord, err := loadPayoutOrder(ctx, tx, req.OrderID)
		if err != nil {
			return err
		}
		row, err := ord.payout(req)
		if err != nil {
			return err
		}
		if err := ord.checkLeft(ctx, tx, row); err != nil {
			return err
		}
		row.status = statusPaid
		if req.Destination == domain.OriginalMethod && p.failing(req.OrderID) {
			row.status = statusFailed // GEN-4: nothing moves; the caller pays to the balance
			failed = true
		}
		row.createdAt = formatTime(p.db.now())
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO payouts (idempotency_key, order_id, cash, gift_card, benefit_points, currency,
				destination, payment_id, status, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (idempotency_key) DO UPDATE SET
				order_id = excluded.order_id, cash = excluded.cash, gift_card = excluded.gift_card,
				benefit_points = excluded.benefit_points, currency = excluded.currency,
				destination = excluded.destination, status = excluded.status,
				created_at = excluded.created_at
			WHERE payouts.status = 'failed'`,
			row.key, row.orderID, row.cash.String(), row.giftCard.String(), row.points, row.cash.Currency().Code,
			string(row.destination), row.paymentID, row.status, row.createdAt); err != nil {
			return dbError(err, "recording payout %s", req.IdempotencyKey)
		}
		if failed {
			return nil
		}
		rec, err = row.receipt()
		return err
	})
	if err != nil {
		return activities.PayoutReceipt{}, err
	}
	if failed {
		return activities.PayoutReceipt{}, originalMethodFailed(req.OrderID)
	}
	return rec, nil
}

// Lookup returns the receipt of the payout made with key, if one was made
// (a failed attempt made none). It lets a caller whose Refund timed out
// find out whether the money moved (M-4).
func (p *Payments) Lookup(ctx context.Context, key string) (activities.PayoutReceipt, bool, error) {
	if key == "" {
		return activities.PayoutReceipt{}, false, errs.E(errs.Invalid, "idempotency key is empty")
	}
	var (
		rec   activities.PayoutReceipt
		found bool
	)
	err := p.db.read(ctx, "looking up payout", func(tx *sql.Tx) error {
		prev, ok, err := getPayout(ctx, tx, key)
		if err != nil || !ok || prev.status != statusPaid {
			return err
		}
		found = true
		rec, err = prev.receipt()
		return err
	})
	if err != nil {
		return activities.PayoutReceipt{}, false, err
	}
	return rec, found, nil
}

// checkPayout checks what can be checked of req without the database.
func checkPayout(req activities.PayoutRequest) error {
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
	createdAt         string
}

func getPayout(ctx context.Context, tx *sql.Tx, key string) (payoutRow, bool, error) {
	var (
		r                     payoutRow
		cash, gift, cur, dest string
	)
	err := tx.QueryRowContext(ctx, `SELECT idempotency_key, order_id, cash, gift_card, benefit_points, currency,
		destination, payment_id, status, created_at FROM payouts WHERE idempotency_key = ?`, key).
		Scan(&r.key, &r.orderID, &cash, &gift, &r.points, &cur, &dest, &r.paymentID, &r.status, &r.createdAt)
	if err == sql.ErrNoRows {
		return payoutRow{}, false, nil
	}
	if err != nil {
		return payoutRow{}, false, dbError(err, "reading payout %s", key)
	}
	r.destination = domain.Destination(dest)
	c, err := storedCurrency(cur)
	if err != nil {
		return payoutRow{}, false, err
	}
	if r.cash, err = storedAmount(cash, c); err != nil {
		return payoutRow{}, false, err
	}
	if r.giftCard, err = storedAmount(gift, c); err != nil {
		return payoutRow{}, false, err
	}
	return r, true, nil
}

// sameAs returns errs.Conflict unless req asks for exactly the payout r
// recorded (M-4: a key names one payout).
func (r payoutRow) sameAs(req activities.PayoutRequest) error {
	same := req.OrderID == r.orderID && req.Destination == r.destination && req.BenefitPoints == r.points &&
		sameAmount(req.Cash, r.cash) && sameAmount(req.GiftCard, r.giftCard)
	if same {
		return nil
	}
	return &errs.Error{
		Code: errs.Conflict,
		Message: fmt.Sprintf("idempotency key %s already paid %s; this request is %s", r.key,
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

func (r payoutRow) receipt() (activities.PayoutReceipt, error) {
	at, err := parseTime(r.createdAt)
	if err != nil {
		return activities.PayoutReceipt{}, err
	}
	return activities.PayoutReceipt{PaymentID: r.paymentID, IdempotencyKey: r.key, Destination: r.destination, At: at}, nil
}

// payoutOrder is what a payout is checked against: the order's payment.
type payoutOrder struct {
	id                       string
	cur                      money.Currency
	cash, giftCard, refunded money.Amount
	points                   int64
}

func loadPayoutOrder(ctx context.Context, tx *sql.Tx, orderID string) (payoutOrder, error) {
	var cur, cash, gift, refunded string
	o := payoutOrder{id: orderID}
	err := tx.QueryRowContext(ctx, "SELECT currency, cash, gift_card, benefit_points, already_refunded FROM orders WHERE id = ?", orderID).
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
func (o payoutOrder) payout(req activities.PayoutRequest) (payoutRow, error) {
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
		destination: req.Destination, paymentID: PaymentID(req.IdempotencyKey),
	}, nil
}

// checkLeft refuses a payout that, with what the ledger already paid out
// for the order, would return more than was paid: cash beyond the cash
// paid minus what was refunded before (M-3), gift card or benefit points
// beyond what was paid with them (TC-6). The caller holds the write lock,
// so the check and the payout are one serialised step.
func (o payoutOrder) checkLeft(ctx context.Context, tx *sql.Tx, row payoutRow) error {
	rows, err := tx.QueryContext(ctx, "SELECT cash, gift_card, benefit_points FROM payouts WHERE order_id = ? AND status = ?", o.id, statusPaid)
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
			Message: fmt.Sprintf("payout of %s %s cash for order %s exceeds what is left: cash paid %s, refunded before %s, paid out %s",
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
			Message: fmt.Sprintf("payout of %s %s gift card for order %s exceeds what is left: gift card paid %s, paid out %s",
				row.giftCard, o.cur.Code, o.id, o.giftCard, paidGift),
			Rules: []string{"TC-6"},
		}
	}
	if paidPoints+row.points > o.points {
		return &errs.Error{
			Code: errs.Conflict,
			Message: fmt.Sprintf("payout of %d benefit points for order %s exceeds what is left: %d paid, %d paid out",
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
