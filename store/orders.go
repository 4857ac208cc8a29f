package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

// PutOrder inserts o, or replaces the order with o's ID, together with its
// certificates: o.Certificates[i] is stored at position i (SSL-8: 0 is the
// first year), and certificates the order no longer lists are deleted. The
// order's refund record, quota returns and payouts are history and are
// kept; a certificate whose quota was returned stays returned.
//
// o is checked first; a malformed order is an errs.Invalid error naming the
// field. A certificate ID that belongs to another order is errs.Conflict:
// certificate IDs are the CA's and unique across orders.
func (db *DB) PutOrder(ctx context.Context, o domain.Order) error {
	row, err := newOrderRow(o)
	if err != nil {
		return err
	}
	return db.write(ctx, "saving order", func(tx *Tx) error { return db.putOrderTx(ctx, tx, o, row, nil, false) })
}

// putOrderTx writes o in tx. The certificates listed in keep keep their
// stored state, revocation time, quota and resubmission flag (their
// workflows own them); their other facts are updated. With intake, so do
// the certificates a workflow holds or ever wrote (certUpsertIntake).
func (db *DB) putOrderTx(ctx context.Context, tx *Tx, o domain.Order, row orderRow, keep map[string]bool, intake bool) error {
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO orders (id, profile, product, paid_at, currency, price, cash, voucher, gift_card,
			benefit_points, promotion, validity_years, value_added, combined_multi_domain, usage,
			already_refunded, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			profile = excluded.profile, product = excluded.product, paid_at = excluded.paid_at,
			currency = excluded.currency, price = excluded.price, cash = excluded.cash,
			voucher = excluded.voucher, gift_card = excluded.gift_card,
			benefit_points = excluded.benefit_points, promotion = excluded.promotion,
			validity_years = excluded.validity_years, value_added = excluded.value_added,
			combined_multi_domain = excluded.combined_multi_domain, usage = excluded.usage,
			already_refunded = excluded.already_refunded, updated_at = excluded.updated_at`,
		o.ID, o.Profile, string(o.Product), formatTime(o.PaidAt), row.currency, row.price, row.cash,
		row.voucher, row.giftCard, o.Payment.BenefitPoints, row.promotion, o.ValidityYears,
		string(o.ValueAdded), boolInt(o.CombinedMultiDomain), row.usage, row.alreadyRefunded,
		formatTime(db.now())); err != nil {
		return dbError(err, "saving order %s", o.ID)
	}

	listed := make([]any, 0, len(o.Certificates)+1)
	listed = append(listed, o.ID)
	for _, c := range o.Certificates {
		listed = append(listed, c.ID)
	}
	dropped := "WHERE order_id = ?"
	if len(o.Certificates) > 0 {
		dropped += " AND id NOT IN (" + placeholders(len(o.Certificates)) + ")"
	}
	var before map[string]string
	if intake {
		if err := droppedHeld(ctx, tx, o.ID, dropped, listed); err != nil {
			return err
		}
		var err error
		if _, before, err = certificateStates(ctx, tx, o.ID); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM certificates "+dropped, listed...); err != nil {
		return dbError(err, "replacing certificates of order %s", o.ID)
	}
	at := formatTime(db.now())
	for i, c := range o.Certificates {
		upsert := certUpsert
		switch {
		case keep[c.ID]:
			upsert = certUpsertKeepingState
		case intake:
			upsert = certUpsertIntake
		}
		res, err := tx.ExecContext(ctx, upsert,
			c.ID, o.ID, i, string(c.State), formatTimePtr(c.IssuedAt), boolInt(c.DomainChanged),
			formatTimePtr(c.RevokedAt), boolInt(c.QuotaReturned), c.ResubmitRejected, at)
		if err != nil {
			return dbError(err, "saving certificate %s", c.ID)
		}
		if n, err := res.RowsAffected(); err != nil {
			return dbError(err, "saving certificate %s", c.ID)
		} else if n == 0 {
			return certOwnerConflict(ctx, tx, c.ID, o.ID)
		}
	}
	if intake {
		return emitIntakeChanges(ctx, tx, o.ID, before, db.now())
	}
	return nil
}

// emitIntakeChanges queues a certificate.state_changed event for each
// certificate intake found in the order (before) and left in another
// state.
func emitIntakeChanges(ctx context.Context, tx *Tx, orderID string, before map[string]string, at time.Time) error {
	ids, after, err := certificateStates(ctx, tx, orderID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if from, ok := before[id]; ok && from != after[id] {
			if err := emitCertificateChange(tx, ports.CertificateChange{CertificateID: id, OrderID: orderID, From: from, State: after[id]}, at); err != nil {
				return err
			}
		}
	}
	return nil
}

const (
	certInsert = `
		INSERT INTO certificates (id, order_id, position, state, issued_at, domain_changed,
			revoked_at, quota_returned, resubmit_rejected, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	certUpsert = certInsert + `
		ON CONFLICT (id) DO UPDATE SET
			position = excluded.position, state = excluded.state, issued_at = excluded.issued_at,
			domain_changed = excluded.domain_changed, revoked_at = excluded.revoked_at,
			quota_returned = CASE WHEN certificates.quota_returned = 1 THEN 1 ELSE excluded.quota_returned END,
			resubmit_rejected = excluded.resubmit_rejected, updated_at = excluded.updated_at
		WHERE certificates.order_id = excluded.order_id`
	// certUpsertIntake is certUpsert for intake: a certificate held by a
	// workflow, or whose state a workflow ever wrote, keeps what the
	// workflow owns, as with certUpsertKeepingState. The condition is
	// judged on the row as the upsert locks it, so a hold taken while
	// intake runs is seen.
	certUpsertIntake = certInsert + `
		ON CONFLICT (id) DO UPDATE SET
			position = excluded.position,
			state = CASE WHEN ` + workflowOwned + ` THEN certificates.state ELSE excluded.state END,
			issued_at = CASE WHEN ` + workflowOwned + ` THEN COALESCE(certificates.issued_at, excluded.issued_at)
				ELSE excluded.issued_at END,
			domain_changed = excluded.domain_changed,
			revoked_at = CASE WHEN ` + workflowOwned + ` THEN certificates.revoked_at ELSE excluded.revoked_at END,
			quota_returned = CASE WHEN certificates.quota_returned = 1 OR ` + workflowOwned + ` THEN certificates.quota_returned
				ELSE excluded.quota_returned END,
			resubmit_rejected = CASE WHEN ` + workflowOwned + ` THEN certificates.resubmit_rejected
				ELSE excluded.resubmit_rejected END,
			updated_at = excluded.updated_at
		WHERE certificates.order_id = excluded.order_id`
	workflowOwned = `(certificates.holder <> '' OR certificates.workflow_written = 1)`
	// certUpsertKeepingState leaves what the certificate's workflow owns.
	certUpsertKeepingState = certInsert + `
		ON CONFLICT (id) DO UPDATE SET
			position = excluded.position, issued_at = COALESCE(certificates.issued_at, excluded.issued_at),
			domain_changed = excluded.domain_changed, updated_at = excluded.updated_at
		WHERE certificates.order_id = excluded.order_id`
)

// certOwnerConflict reports that certID belongs to an order other than
// orderID.
// droppedHeld refuses an intake that no longer lists a certificate a
// workflow holds (a refund releasing it, or its own workflow): deleting
// it would lose what that workflow is changing. The first such
// certificate is named, with its holder.
func droppedHeld(ctx context.Context, tx *Tx, orderID, where string, args []any) error {
	var id, holder string
	err := tx.QueryRowContext(ctx, "SELECT id, holder FROM certificates "+where+" AND holder <> '' ORDER BY position LIMIT 1", args...).Scan(&id, &holder)
	switch {
	case err == sql.ErrNoRows:
		return nil
	case err != nil:
		return dbError(err, "reading certificates of order %s", orderID)
	}
	return errs.E(errs.Conflict, "order %s: certificate %s is not listed, but %s holds it (a workflow is changing it); list it again, or send the order once the workflow has ended",
		orderID, id, holder)
}

func certOwnerConflict(ctx context.Context, tx *Tx, certID, orderID string) error {
	var owner string
	if err := tx.QueryRowContext(ctx, "SELECT order_id FROM certificates WHERE id = ?", certID).Scan(&owner); err != nil {
		return dbError(err, "reading certificate %s", certID)
	}
	return errs.E(errs.Conflict, "certificate %s belongs to order %s, not %s", certID, owner, orderID)
}

// orderRow is an order's columns that need converting, checked.
type orderRow struct {
	currency                                        string
	price, cash, voucher, giftCard, alreadyRefunded string
	promotion, usage                                sql.NullString
}

// newOrderRow checks o and converts its amounts to decimal text at the
// currency's minor unit (M-1).
func newOrderRow(o domain.Order) (orderRow, error) {
	if o.ID == "" {
		return orderRow{}, errs.E(errs.Invalid, "order ID is empty")
	}
	bad := func(format string, args ...any) error {
		return errs.E(errs.Invalid, "order %s: "+format, append([]any{o.ID}, args...)...)
	}
	if !o.Product.Valid() {
		return orderRow{}, bad("unknown product %q", o.Product)
	}
	if o.PaidAt.IsZero() {
		return orderRow{}, bad("paid_at is missing")
	}
	cur, err := money.LookupCurrency(o.Currency)
	if err != nil {
		return orderRow{}, bad("%s", errs.MessageOf(err))
	}
	amounts := []struct {
		field string
		value decimal.Decimal
	}{
		{"price", o.Price}, {"cash", o.Payment.Cash}, {"voucher", o.Payment.Voucher},
		{"gift card", o.Payment.GiftCard}, {"already refunded", o.AlreadyRefunded},
	}
	amts := make([]money.Amount, len(amounts))
	for i, a := range amounts {
		if amts[i], err = money.New(a.value, cur); err != nil {
			return orderRow{}, &errs.Error{Code: errs.Invalid, Message: "order " + o.ID + ": " + a.field + ": " + errs.MessageOf(err), Rules: errs.RulesOf(err)}
		}
	}
	// M-3: the books must allow what CapRefund and the payouts check later.
	if cash, refunded := amts[1], amts[4]; refunded.Cmp(cash) > 0 {
		return orderRow{}, &errs.Error{Code: errs.Invalid, Message: fmt.Sprintf("order %s: already refunded %s %s exceeds the cash paid %s %s", o.ID, refunded, cur.Code, cash, cur.Code), Rules: []string{"M-3"}}
	}
	if o.Payment.BenefitPoints < 0 {
		return orderRow{}, bad("benefit points %d are negative", o.Payment.BenefitPoints)
	}
	if o.ValidityYears < 0 {
		return orderRow{}, bad("validity years %d are negative", o.ValidityYears)
	}
	switch o.ValueAdded {
	case "", domain.VANone, domain.VABasic, domain.VAAdvanced:
	default:
		return orderRow{}, bad("unknown value-added service %q", o.ValueAdded)
	}
	if p := o.Promotion; p != nil && p.WindowDays != nil && *p.WindowDays < 0 {
		return orderRow{}, bad("promotion %s: window of %d days is negative", p.ID, *p.WindowDays)
	}
	if u := o.Usage; u != nil && (u.GRCQTotal < 0 || u.GRCQConsumed < 0 || u.APICalls < 0 || u.DeploymentTasks < 0) {
		return orderRow{}, bad("usage counts must not be negative")
	}
	seen := make(map[string]bool, len(o.Certificates))
	for i, c := range o.Certificates {
		if c.ID == "" {
			return orderRow{}, bad("certificate %d has no ID", i)
		}
		if seen[c.ID] {
			return orderRow{}, bad("certificate %s is listed twice", c.ID)
		}
		seen[c.ID] = true
		if !statemachine.ValidCertState(c.State) {
			return orderRow{}, bad("certificate %s: unknown state %q", c.ID, c.State)
		}
	}
	promotion, err := jsonColumn(o.Promotion)
	if err != nil {
		return orderRow{}, err
	}
	usage, err := jsonColumn(o.Usage)
	if err != nil {
		return orderRow{}, err
	}
	return orderRow{
		currency: cur.Code,
		price:    amts[0].String(), cash: amts[1].String(), voucher: amts[2].String(),
		giftCard: amts[3].String(), alreadyRefunded: amts[4].String(),
		promotion: promotion, usage: usage,
	}, nil
}

// jsonColumn encodes v as JSON, or NULL when v is a nil pointer.
func jsonColumn[T any](v *T) (sql.NullString, error) {
	if v == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return sql.NullString{}, errs.Wrap(errs.Internal, err, "encoding %T", v)
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

// GetOrder returns the order with its certificates, first year first, in
// one statement (one snapshot, and no transaction to open: the POST of a
// refund and the dispatcher's start each read it). An unknown order is
// errs.NotFound.
func (db *DB) GetOrder(ctx context.Context, orderID string) (domain.Order, error) {
	rows, err := db.query(ctx, "SELECT "+orderCols+", "+certColsC+`
		FROM orders o LEFT JOIN certificates c ON c.order_id = o.id
		WHERE o.id = ? ORDER BY c.position`, orderID)
	if err != nil {
		return domain.Order{}, dbError(err, "reading order %s", orderID)
	}
	defer rows.Close()
	var (
		o     domain.Order
		found bool
	)
	for rows.Next() {
		var c nullCert
		row, err := scanOrder(rows, c.dest()...)
		if err != nil {
			return domain.Order{}, dbError(err, "reading order %s", orderID)
		}
		if !found {
			o, found = row, true
		}
		_, cert, err := c.certificate()
		if err != nil {
			return domain.Order{}, err
		}
		if cert.ID != "" {
			o.Certificates = append(o.Certificates, cert)
		}
	}
	if err := rows.Err(); err != nil {
		return domain.Order{}, dbError(err, "reading order %s", orderID)
	}
	if !found {
		return domain.Order{}, errs.E(errs.NotFound, "order %s not found", orderID)
	}
	return o, nil
}

const orderCols = `o.id, o.profile, o.product, o.paid_at, o.currency, o.price, o.cash, o.voucher,
	o.gift_card, o.benefit_points, o.promotion, o.validity_years, o.value_added,
	o.combined_multi_domain, o.usage, o.already_refunded`

type scanner interface{ Scan(dest ...any) error }

// scanOrder reads orderCols (and extra destinations after them). It
// returns sql.ErrNoRows unwrapped.
func scanOrder(s scanner, extra ...any) (domain.Order, error) {
	var (
		o                                        domain.Order
		product, paidAt, valueAdded              string
		price, cash, voucher, giftCard, refunded string
		promotion, usage                         sql.NullString
		combined                                 int
	)
	dest := append([]any{&o.ID, &o.Profile, &product, &paidAt, &o.Currency, &price, &cash, &voucher,
		&giftCard, &o.Payment.BenefitPoints, &promotion, &o.ValidityYears, &valueAdded,
		&combined, &usage, &refunded}, extra...)
	if err := s.Scan(dest...); err != nil {
		return domain.Order{}, err
	}
	o.Product = domain.Product(product)
	o.ValueAdded = domain.ValueAdded(valueAdded)
	o.CombinedMultiDomain = combined != 0
	var err error
	if o.PaidAt, err = parseTime(paidAt); err != nil {
		return domain.Order{}, err
	}
	for _, d := range []struct {
		to   *decimal.Decimal
		text string
	}{{&o.Price, price}, {&o.Payment.Cash, cash}, {&o.Payment.Voucher, voucher}, {&o.Payment.GiftCard, giftCard}, {&o.AlreadyRefunded, refunded}} {
		if *d.to, err = parseDecimal(d.text); err != nil {
			return domain.Order{}, err
		}
	}
	if promotion.Valid {
		o.Promotion = new(domain.Promotion)
		if err := json.Unmarshal([]byte(promotion.String), o.Promotion); err != nil {
			return domain.Order{}, errs.Wrap(errs.Internal, err, "stored promotion of order %s is malformed", o.ID)
		}
	}
	if usage.Valid {
		o.Usage = new(domain.Usage)
		if err := json.Unmarshal([]byte(usage.String), o.Usage); err != nil {
			return domain.Order{}, errs.Wrap(errs.Internal, err, "stored usage of order %s is malformed", o.ID)
		}
	}
	return o, nil
}

func parseDecimal(s string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, errs.Wrap(errs.Internal, err, "stored amount %q is malformed", s)
	}
	return d, nil
}

// NoRefund, as OrderFilter.RefundState, selects the orders that have no
// refund record.
const NoRefund = ports.NoRefund

// Page sizes of ListOrders.
const (
	DefaultPageSize = ports.DefaultPageSize
	MaxPageSize     = ports.MaxPageSize
)

// OrderFilter selects orders for ListOrders (see ports.OrderFilter).
type OrderFilter = ports.OrderFilter

// OrderPage is one page of ListOrders.
type OrderPage = ports.OrderPage

// OrderSummary is an order with its refund record, if it has one.
type OrderSummary = ports.OrderSummary

// ListOrders returns the orders that match f, newest payment first (ties
// by order ID), with their certificates and refund records. Pages are
// keyset-paginated: an order added while paging shows up on a page or not
// at all, never twice. The filters combine (all must hold) and are applied
// in SQL; WaitingOn, Escalated and Outcome select orders with a refund
// record only. An unknown product, waiting kind or outcome is errs.Invalid,
// naming the allowed values.
func (db *DB) ListOrders(ctx context.Context, f OrderFilter) (OrderPage, error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = DefaultPageSize
	case limit < 0 || limit > MaxPageSize:
		return OrderPage{}, errs.E(errs.Invalid, "page size %d is not between 1 and %d", limit, MaxPageSize)
	}
	if f.Product != "" && !f.Product.Valid() {
		return OrderPage{}, errs.E(errs.Invalid, "unknown product %q", f.Product)
	}
	var (
		where []string
		args  []any
	)
	if f.Product != "" {
		where = append(where, "o.product = ?")
		args = append(args, string(f.Product))
	}
	switch f.RefundState {
	case "":
	case NoRefund:
		where = append(where, "r.order_id IS NULL")
	default:
		where = append(where, "r.state = ?")
		args = append(args, f.RefundState)
	}
	if f.WaitingOn != "" {
		if !f.WaitingOn.Valid() {
			return OrderPage{}, errs.E(errs.Invalid, "unknown waiting kind %q (want one of %s)", f.WaitingOn, joinKinds())
		}
		// The kinds are known words without LIKE's wildcards but "_",
		// which matches itself too.
		where = append(where, "r.waiting_kinds LIKE ?")
		args = append(args, "%,"+string(f.WaitingOn)+",%")
	}
	if f.Escalated != nil {
		where = append(where, "r.escalated = ?")
		args = append(args, boolInt(*f.Escalated))
	}
	if f.Outcome != "" {
		if !slices.Contains(refundOutcomes, f.Outcome) {
			return OrderPage{}, errs.E(errs.Invalid, "unknown outcome %q (want one of %s)", f.Outcome, strings.Join(refundOutcomes, ", "))
		}
		where = append(where, "r.outcome = ?")
		args = append(args, f.Outcome)
	}
	if f.Cursor != "" {
		paidAt, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return OrderPage{}, err
		}
		where = append(where, "(o.paid_at < ? OR (o.paid_at = ? AND o.id > ?))")
		args = append(args, paidAt, paidAt, id)
	}
	q := "SELECT " + orderCols + ", " + refundCols + " FROM orders o LEFT JOIN refunds r ON r.order_id = o.id"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY o.paid_at DESC, o.id LIMIT ?"
	args = append(args, limit+1)

	var page OrderPage
	err := db.read(ctx, "listing orders", func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return dbError(err, "listing orders")
		}
		defer rows.Close()
		var ids []string
		for rows.Next() {
			var r nullRefund
			o, err := scanOrder(rows, r.dest()...)
			if err != nil {
				return dbError(err, "listing orders")
			}
			rec, err := r.record()
			if err != nil {
				return err
			}
			page.Orders = append(page.Orders, OrderSummary{Order: o, Refund: rec})
			ids = append(ids, o.ID)
		}
		if err := rows.Err(); err != nil {
			return dbError(err, "listing orders")
		}
		if len(page.Orders) > limit {
			page.Orders = page.Orders[:limit]
			ids = ids[:limit]
			last := page.Orders[limit-1].Order
			page.Next = encodeCursor(formatTime(last.PaidAt), last.ID)
		}
		certs, err := loadCertificates(ctx, tx, ids)
		if err != nil {
			return err
		}
		for i := range page.Orders {
			page.Orders[i].Order.Certificates = certs[page.Orders[i].Order.ID]
		}
		return nil
	})
	if err != nil {
		return OrderPage{}, err
	}
	if page.Orders == nil {
		page.Orders = []OrderSummary{}
	}
	return page, nil
}

func joinKinds() string {
	kinds := make([]string, len(domain.WaitKinds))
	for i, k := range domain.WaitKinds {
		kinds[i] = string(k)
	}
	return strings.Join(kinds, ", ")
}

func encodeCursor(paidAt, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(paidAt + "|" + id))
}

func decodeCursor(c string) (paidAt, id string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", "", errs.E(errs.Invalid, "page cursor %q is malformed", c)
	}
	paidAt, id, ok := strings.Cut(string(b), "|")
	if !ok {
		return "", "", errs.E(errs.Invalid, "page cursor %q is malformed", c)
	}
	if _, err := parseTime(paidAt); err != nil {
		return "", "", errs.E(errs.Invalid, "page cursor %q is malformed", c)
	}
	return paidAt, id, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
