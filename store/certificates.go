package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
)

const certCols = `id, order_id, state, issued_at, domain_changed, revoked_at, quota_returned, resubmit_rejected`

// certColsC are certCols of the certificates aliased c.
var certColsC = "c." + strings.ReplaceAll(certCols, ", ", ", c.")

func scanCertificate(s scanner) (orderID string, c domain.Certificate, err error) {
	var n nullCert
	if err := s.Scan(n.dest()...); err != nil {
		return "", domain.Certificate{}, err
	}
	return n.certificate()
}

// nullCert scans certCols, all NULL where a LEFT JOIN found no
// certificate.
type nullCert struct {
	id, orderID, state, issuedAt, revokedAt, resubmitRejected sql.NullString
	domainChanged, quotaGiven                                 sql.NullInt64
}

func (n *nullCert) dest() []any {
	return []any{&n.id, &n.orderID, &n.state, &n.issuedAt, &n.domainChanged, &n.revokedAt, &n.quotaGiven, &n.resubmitRejected}
}

// certificate is the scanned certificate with its order's ID ("" and a
// zero certificate when there was none).
func (n *nullCert) certificate() (orderID string, c domain.Certificate, err error) {
	if !n.id.Valid {
		return "", domain.Certificate{}, nil
	}
	c = domain.Certificate{ID: n.id.String, State: statemachine.CertState(n.state.String),
		DomainChanged: n.domainChanged.Int64 != 0, QuotaReturned: n.quotaGiven.Int64 != 0, ResubmitRejected: n.resubmitRejected.String}
	if c.IssuedAt, err = parseTimePtr(n.issuedAt); err != nil {
		return "", domain.Certificate{}, err
	}
	if c.RevokedAt, err = parseTimePtr(n.revokedAt); err != nil {
		return "", domain.Certificate{}, err
	}
	return n.orderID.String, c, nil
}

// loadCertificates returns the certificates of the given orders, each
// order's in position order (SSL-8: first year first). Orders without
// certificates are absent.
func loadCertificates(ctx context.Context, tx *Tx, orderIDs []string) (map[string][]domain.Certificate, error) {
	out := make(map[string][]domain.Certificate, len(orderIDs))
	if len(orderIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(orderIDs))
	for i, id := range orderIDs {
		args[i] = id
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+certCols+" FROM certificates WHERE order_id IN ("+
		placeholders(len(orderIDs))+") ORDER BY order_id, position", args...)
	if err != nil {
		return nil, dbError(err, "reading certificates")
	}
	defer rows.Close()
	for rows.Next() {
		orderID, c, err := scanCertificate(rows)
		if err != nil {
			return nil, dbError(err, "reading certificates")
		}
		out[orderID] = append(out[orderID], c)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err, "reading certificates")
	}
	return out, nil
}

// GetCertificate returns a certificate and the ID of its order. An unknown
// certificate is errs.NotFound.
func (db *DB) GetCertificate(ctx context.Context, certID string) (string, domain.Certificate, error) {
	orderID, c, err := scanCertificate(db.queryRow(ctx, "SELECT "+certCols+" FROM certificates WHERE id = ?", certID))
	if err == sql.ErrNoRows {
		return "", domain.Certificate{}, errs.E(errs.NotFound, "certificate %s not found", certID)
	}
	if err != nil {
		return "", domain.Certificate{}, dbError(err, "reading certificate %s", certID)
	}
	return orderID, c, nil
}

// SaveCertificate records cert's state as of at (the certificate
// workflow's projection for the console). A certificate new to the order
// is appended after its last one. The order must exist (errs.NotFound),
// and a certificate of another order is errs.Conflict. A returned quota
// stays returned whatever cert.QuotaReturned says: only ReturnQuota and
// PutOrder set it. The certificate is marked workflow-written: intake
// keeps its state from now on (IntakeOrder).
func (db *DB) SaveCertificate(ctx context.Context, orderID string, cert domain.Certificate, at time.Time) error {
	if err := checkCertificateRecord(orderID, cert, at); err != nil {
		return err
	}
	return db.write(ctx, "saving certificate", func(tx *Tx) error { return saveCertificate(ctx, tx, orderID, cert, at) })
}

func checkCertificateRecord(orderID string, cert domain.Certificate, at time.Time) error {
	switch {
	case orderID == "":
		return errs.E(errs.Invalid, "order ID is empty")
	case cert.ID == "":
		return errs.E(errs.Invalid, "order %s: certificate ID is empty", orderID)
	case !statemachine.ValidCertState(cert.State):
		return errs.E(errs.Invalid, "certificate %s: unknown state %q", cert.ID, cert.State)
	case at.IsZero():
		return errs.E(errs.Invalid, "certificate %s: update time is missing", cert.ID)
	}
	return nil
}

func saveCertificate(ctx context.Context, tx *Tx, orderID string, cert domain.Certificate, at time.Time) error {
	// The order's row lock serialises the position of a new certificate
	// (PostgreSQL; SQLite's write lock does it already).
	if err := lockOrder(ctx, tx, orderID); err != nil {
		return err
	}
	var from string
	switch err := tx.QueryRowContext(ctx, "SELECT state FROM certificates WHERE id = ? AND order_id = ?"+tx.forUpdate(), cert.ID, orderID).Scan(&from); {
	case err == sql.ErrNoRows: // new to the order, or another order's (refused below)
	case err != nil:
		return dbError(err, "reading certificate %s", cert.ID)
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO certificates (id, order_id, position, state, issued_at, domain_changed,
			revoked_at, quota_returned, resubmit_rejected, updated_at, workflow_written)
		VALUES (?1, ?2, (SELECT COALESCE(MAX(position) + 1, 0) FROM certificates WHERE order_id = ?2),
			?3, ?4, ?5, ?6, ?7, ?8, ?9, 1)
		ON CONFLICT (id) DO UPDATE SET
			state = excluded.state, issued_at = excluded.issued_at,
			domain_changed = excluded.domain_changed, revoked_at = excluded.revoked_at,
			quota_returned = CASE WHEN certificates.quota_returned = 1 THEN 1 ELSE excluded.quota_returned END,
			resubmit_rejected = excluded.resubmit_rejected, updated_at = excluded.updated_at,
			workflow_written = 1,
			holder = CASE WHEN excluded.state = 'removed' THEN '' ELSE certificates.holder END
		WHERE certificates.order_id = excluded.order_id`,
		cert.ID, orderID, string(cert.State), formatTimePtr(cert.IssuedAt), boolInt(cert.DomainChanged),
		formatTimePtr(cert.RevokedAt), boolInt(cert.QuotaReturned), cert.ResubmitRejected, formatTime(at))
	if err != nil {
		return dbError(err, "saving certificate %s", cert.ID)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbError(err, "saving certificate %s", cert.ID)
	} else if n == 0 {
		return certOwnerConflict(ctx, tx, cert.ID, orderID)
	}
	if from != string(cert.State) {
		return emitCertificateChange(tx, ports.CertificateChange{CertificateID: cert.ID, OrderID: orderID, From: from, State: string(cert.State)}, at)
	}
	return nil
}

// emitCertificateChange queues the certificate.state_changed event of c,
// which happened at at.
func emitCertificateChange(tx *Tx, c ports.CertificateChange, at time.Time) error {
	data, err := json.Marshal(c)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "encoding the change of certificate %s", c.CertificateID)
	}
	tx.emit(ports.Event{Type: ports.EventCertificateStateChanged, OrderID: c.OrderID, CertificateID: c.CertificateID,
		OccurredAt: at.UTC(), Data: data})
	return nil
}

// certificateStates reads the state of each certificate of an order, in
// position order.
func certificateStates(ctx context.Context, tx *Tx, orderID string) (ids []string, states map[string]string, err error) {
	rows, err := tx.QueryContext(ctx, "SELECT id, state FROM certificates WHERE order_id = ? ORDER BY position", orderID)
	if err != nil {
		return nil, nil, dbError(err, "reading certificates of order %s", orderID)
	}
	defer rows.Close()
	states = map[string]string{}
	for rows.Next() {
		var id, state string
		if err := rows.Scan(&id, &state); err != nil {
			return nil, nil, dbError(err, "reading certificates of order %s", orderID)
		}
		ids = append(ids, id)
		states[id] = state
	}
	if err := rows.Err(); err != nil {
		return nil, nil, dbError(err, "reading certificates of order %s", orderID)
	}
	return ids, states, nil
}

// ReturnQuota gives the quota of certificate certID of order orderID back
// to the customer under rule (SSL-6, SSL-7, VAS-3), once: it reports true
// when this call returned it, false when it was returned before (by an
// earlier call, or already so when the order was put). An unknown order or
// a certificate not of that order is errs.NotFound.
func (db *DB) ReturnQuota(ctx context.Context, orderID, certID, rule string, at time.Time) (bool, error) {
	if err := checkQuotaReturn(orderID, certID, rule, at); err != nil {
		return false, err
	}
	returned := false
	err := db.write(ctx, "returning quota", func(tx *Tx) (err error) {
		returned, err = returnQuota(ctx, tx, orderID, certID, rule, at)
		return err
	})
	return returned, err
}

func checkQuotaReturn(orderID, certID, rule string, at time.Time) error {
	switch {
	case orderID == "" || certID == "":
		return errs.E(errs.Invalid, "returning quota needs an order and a certificate ID")
	case rule == "":
		return errs.E(errs.Invalid, "certificate %s: returning quota needs the rule behind it", certID)
	case at.IsZero():
		return errs.E(errs.Invalid, "certificate %s: quota return time is missing", certID)
	}
	return nil
}

func returnQuota(ctx context.Context, tx *Tx, orderID, certID, rule string, at time.Time) (bool, error) {
	var given int
	err := tx.QueryRowContext(ctx, "SELECT quota_returned FROM certificates WHERE id = ? AND order_id = ?"+tx.forUpdate(), certID, orderID).Scan(&given)
	if err == sql.ErrNoRows {
		return false, errs.E(errs.NotFound, "certificate %s of order %s not found", certID, orderID)
	}
	if err != nil {
		return false, dbError(err, "reading certificate %s", certID)
	}
	if given != 0 {
		return false, nil
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO quota_returns (cert_id, order_id, rule, at) VALUES (?, ?, ?, ?)
		ON CONFLICT (cert_id) DO NOTHING`, certID, orderID, rule, formatTime(at))
	if err != nil {
		return false, dbError(err, "returning quota of certificate %s", certID)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, dbError(err, "returning quota of certificate %s", certID)
	} else if n == 0 {
		return false, nil // the ledger has it already: not this call's return
	}
	if _, err := tx.ExecContext(ctx, "UPDATE certificates SET quota_returned = 1 WHERE id = ?", certID); err != nil {
		return false, dbError(err, "returning quota of certificate %s", certID)
	}
	return true, nil
}

// QuotaReturned counts the certificates of an order whose quota went back
// to the customer. An unknown order is errs.NotFound.
func (db *DB) QuotaReturned(ctx context.Context, orderID string) (int, error) {
	var n int
	err := db.read(ctx, "counting returned quota", func(tx *Tx) error {
		if err := orderExists(ctx, tx, orderID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM certificates WHERE order_id = ? AND quota_returned = 1", orderID).Scan(&n); err != nil {
			return dbError(err, "counting returned quota of order %s", orderID)
		}
		return nil
	})
	return n, err
}

// orderExists returns errs.NotFound when the order does not exist.
func orderExists(ctx context.Context, tx *Tx, orderID string) error {
	return findOrder(ctx, tx, orderID, "")
}

// lockOrder is orderExists in a writing transaction: it also holds the
// order's row until commit.
func lockOrder(ctx context.Context, tx *Tx, orderID string) error {
	return findOrder(ctx, tx, orderID, tx.forUpdate())
}

func findOrder(ctx context.Context, tx *Tx, orderID, lock string) error {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM orders WHERE id = ?"+lock, orderID).Scan(&one)
	if err == sql.ErrNoRows {
		return errs.E(errs.NotFound, "order %s not found", orderID)
	}
	if err != nil {
		return dbError(err, "reading order %s", orderID)
	}
	return nil
}
