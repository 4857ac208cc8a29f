// Package paysim is a simulated payment provider for demos and tests: an
// HTTP service speaking the refund protocol of PROTOCOL.md (an
// Idempotency-Key header, a refund object with status pending, succeeded
// or failed, lookup by key), modelled on real refund APIs, with its own
// SQLite database. certflow's worker talks to it through
// activities/payclient exactly as it would to a real provider.
//
// It guarantees what a provider guarantees and nothing more:
//
//   - one refund per idempotency key: the same key with the same request
//     returns the refund created first (200), with another request 409;
//   - a refund is created pending and settles SettleDelay later, when it is
//     next read: succeeded, or failed when refunds to the original method
//     of its order are switched to fail at that moment (a failure after
//     acceptance, GEN-4). Settling on read keeps the state in the database
//     alone, so a restart loses nothing.
//
// It does not know what an order may still get back: the M-3 guard is
// certflow's own ledger's, before any call here.
package paysim

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	_ "modernc.org/sqlite" // the "sqlite" driver
)

// Refund statuses.
const (
	StatusPending   = "pending"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// Destinations a refund can go to.
const (
	OriginalMethod = "original_method"
	AccountBalance = "account_balance"
)

// MaxKeyLength bounds an Idempotency-Key.
const MaxKeyLength = 255

// Refund is the protocol's refund object.
type Refund struct {
	ID             string     `json:"id"`
	Object         string     `json:"object"`
	IdempotencyKey string     `json:"idempotency_key"`
	OrderID        string     `json:"order_id"`
	Amount         string     `json:"amount"`
	Currency       string     `json:"currency"`
	GiftCard       string     `json:"gift_card"`
	BenefitPoints  int64      `json:"benefit_points"`
	Destination    string     `json:"destination"`
	Status         string     `json:"status"`
	FailureReason  string     `json:"failure_reason,omitempty"`
	Created        time.Time  `json:"created"`
	Settled        *time.Time `json:"settled,omitempty"`
}

// RefundRequest is the body of POST /v1/refunds.
type RefundRequest struct {
	OrderID       string `json:"order_id"`
	Amount        string `json:"amount"`
	Currency      string `json:"currency"`
	GiftCard      string `json:"gift_card,omitempty"`
	BenefitPoints int64  `json:"benefit_points,omitempty"`
	Destination   string `json:"destination"`
}

// Config configures a Sim. Token and DB are required.
type Config struct {
	// Token is the bearer token every request but /healthz must carry.
	Token string
	// DB is the SQLite file of the simulator's refunds (":memory:" for a
	// private one).
	DB string
	// SettleDelay is how long a refund stays pending; 0 settles it at once.
	SettleDelay time.Duration
	// FailOriginalMethod lists orders whose refunds to the original method
	// fail; "*" fails every order.
	FailOriginalMethod []string
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *zap.Logger
}

// Sim is the payment provider simulator. It is safe for concurrent use.
type Sim struct {
	cfg Config
	db  *sql.DB
	now func() time.Time
	log *zap.Logger

	mu   sync.Mutex
	fail map[string]bool
}

// APIError is an error answer of the protocol.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

func apiErr(status int, code, format string, args ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

const schema = `CREATE TABLE IF NOT EXISTS refunds (
	id              TEXT    NOT NULL PRIMARY KEY,
	idempotency_key TEXT    NOT NULL UNIQUE,
	request_hash    TEXT    NOT NULL,
	order_id        TEXT    NOT NULL,
	amount          TEXT    NOT NULL,
	currency        TEXT    NOT NULL,
	gift_card       TEXT    NOT NULL,
	benefit_points  INTEGER NOT NULL,
	destination     TEXT    NOT NULL,
	status          TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
	failure_reason  TEXT    NOT NULL DEFAULT '',
	created         TEXT    NOT NULL,
	settle_at       TEXT    NOT NULL,
	settled         TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS refunds_by_order ON refunds (order_id, created);`

// New opens the simulator's database and returns the Sim.
func New(ctx context.Context, cfg Config) (*Sim, error) {
	switch {
	case cfg.Token == "":
		return nil, errors.New("paysim: the token is required")
	case cfg.DB == "":
		return nil, errors.New("paysim: the database path is required")
	case strings.ContainsRune(cfg.DB, '?'):
		return nil, fmt.Errorf("paysim: database path %q must not contain '?'", cfg.DB)
	case cfg.SettleDelay < 0:
		return nil, fmt.Errorf("paysim: settle delay %s is negative", cfg.SettleDelay)
	}
	db, err := sql.Open("sqlite", cfg.DB+"?_pragma=busy_timeout(5000)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("paysim: opening %s: %w", cfg.DB, err)
	}
	if cfg.DB == ":memory:" {
		db.SetMaxOpenConns(1)
		db.SetConnMaxIdleTime(0)
		db.SetConnMaxLifetime(0)
	} else if _, err := db.ExecContext(ctx, "PRAGMA journal_mode = WAL"); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("paysim: setting WAL on %s: %w", cfg.DB, err)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("paysim: creating the schema in %s: %w", cfg.DB, err)
	}
	s := &Sim{cfg: cfg, db: db, now: cfg.Now, log: cfg.Logger, fail: map[string]bool{}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	for _, id := range cfg.FailOriginalMethod {
		s.fail[id] = true
	}
	return s, nil
}

// Close closes the database.
func (s *Sim) Close() error { return s.db.Close() }

// FailOriginalMethod makes refunds to the original method of orderID ("*":
// every order) fail when they settle (on), or succeed again (off).
func (s *Sim) FailOriginalMethod(orderID string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.fail[orderID] = true
	} else {
		delete(s.fail, orderID)
	}
}

func (s *Sim) failing(orderID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fail[orderID] || s.fail["*"]
}

// RefundID is the refund ID of the refund created under key: the same key
// always yields the same ID, so a replay is recognisable in any log.
func RefundID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "pay_" + hex.EncodeToString(sum[:8])
}

// check validates req and returns it in canonical form.
func (req RefundRequest) check() (RefundRequest, error) {
	bad := func(format string, args ...any) error { return apiErr(400, "invalid_request", format, args...) }
	if req.OrderID == "" {
		return req, bad("order_id is required")
	}
	if len(req.Currency) != 3 || strings.ToUpper(req.Currency) != req.Currency {
		return req, bad("currency %q is not an ISO 4217 code", req.Currency)
	}
	amt := func(field, v string) (string, error) {
		if v == "" {
			v = "0"
		}
		d, err := decimal.NewFromString(v)
		if err != nil || d.IsNegative() {
			return "", bad("%s %q is not a non-negative decimal amount", field, v)
		}
		return v, nil
	}
	var err error
	if req.Amount, err = amt("amount", req.Amount); err != nil {
		return req, err
	}
	if req.GiftCard, err = amt("gift_card", req.GiftCard); err != nil {
		return req, err
	}
	if req.BenefitPoints < 0 {
		return req, bad("benefit_points %d is negative", req.BenefitPoints)
	}
	if req.Destination != OriginalMethod && req.Destination != AccountBalance {
		return req, bad("destination %q is not original_method or account_balance", req.Destination)
	}
	return req, nil
}

// hash identifies the request whatever the amounts' notation ("80.00" and
// "80" are the same refund).
func (req RefundRequest) hash() string {
	for _, a := range []*string{&req.Amount, &req.GiftCard} {
		*a = decimal.RequireFromString(*a).String()
	}
	b, _ := json.Marshal(req)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// Create creates the refund of req under key, or returns the one created
// first under key (created false). The same key with another request is a
// 409 idempotency_key_reused.
func (s *Sim) Create(ctx context.Context, key string, req RefundRequest) (Refund, bool, error) {
	if key == "" || len(key) > MaxKeyLength {
		return Refund{}, false, apiErr(400, "invalid_request", "the Idempotency-Key header is required (1 to %d characters)", MaxKeyLength)
	}
	req, err := req.check()
	if err != nil {
		return Refund{}, false, err
	}
	var (
		out     Refund
		created bool
	)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var hash string
		switch err := tx.QueryRowContext(ctx, "SELECT request_hash FROM refunds WHERE idempotency_key = ?", key).Scan(&hash); {
		case err == nil:
			if hash != req.hash() {
				return apiErr(409, "idempotency_key_reused", "idempotency key %s was used for another refund request", key)
			}
			out, err = s.load(ctx, tx, "idempotency_key = ?", key)
			return err
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `INSERT INTO refunds (id, idempotency_key, request_hash, order_id, amount, currency,
			gift_card, benefit_points, destination, status, created, settle_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
			RefundID(key), key, req.hash(), req.OrderID, req.Amount, req.Currency, req.GiftCard, req.BenefitPoints,
			req.Destination, fmtTime(now), fmtTime(now.Add(s.cfg.SettleDelay))); err != nil {
			return err
		}
		created = true
		out, err = s.load(ctx, tx, "idempotency_key = ?", key)
		return err
	})
	if err != nil {
		return Refund{}, false, err
	}
	if created {
		s.log.Info("refund created", zap.String("refund", out.ID), zap.String("key", key), zap.String("order", out.OrderID),
			zap.String("amount", out.Amount+" "+out.Currency), zap.String("destination", out.Destination), zap.String("status", out.Status))
	}
	return out, created, nil
}

// Get returns the refund with the given ID, or, with byKey, the one
// created under that idempotency key (404 not_found).
func (s *Sim) Get(ctx context.Context, idOrKey string, byKey bool) (Refund, error) {
	where := "id = ?"
	if byKey {
		where = "idempotency_key = ?"
	}
	var out Refund
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = s.load(ctx, tx, where, idOrKey)
		return err
	})
	return out, err
}

// List returns an order's refunds, oldest first.
func (s *Sim) List(ctx context.Context, orderID string) ([]Refund, error) {
	out := []Refund{}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT id FROM refunds WHERE order_id = ? ORDER BY created, id", orderID)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			r, err := s.load(ctx, tx, "id = ?", id)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

func (s *Sim) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// load reads one refund, settling it first when it is due.
func (s *Sim) load(ctx context.Context, tx *sql.Tx, where string, arg string) (Refund, error) {
	var (
		r                 Refund
		created, settleAt string
		settled           sql.NullString
	)
	err := tx.QueryRowContext(ctx, `SELECT id, idempotency_key, order_id, amount, currency, gift_card, benefit_points,
		destination, status, failure_reason, created, settle_at, settled FROM refunds WHERE `+where, arg).
		Scan(&r.ID, &r.IdempotencyKey, &r.OrderID, &r.Amount, &r.Currency, &r.GiftCard, &r.BenefitPoints,
			&r.Destination, &r.Status, &r.FailureReason, &created, &settleAt, &settled)
	if errors.Is(err, sql.ErrNoRows) {
		return Refund{}, apiErr(404, "not_found", "no refund %s", arg)
	}
	if err != nil {
		return Refund{}, err
	}
	r.Object = "refund"
	if r.Created, err = time.Parse(time.RFC3339Nano, created); err != nil {
		return Refund{}, err
	}
	if settled.Valid {
		t, err := time.Parse(time.RFC3339Nano, settled.String)
		if err != nil {
			return Refund{}, err
		}
		r.Settled = &t
	}
	due, err := time.Parse(time.RFC3339Nano, settleAt)
	if err != nil {
		return Refund{}, err
	}
	if now := s.now(); r.Status == StatusPending && !now.Before(due) {
		r.Status = StatusSucceeded
		if r.Destination == OriginalMethod && s.failing(r.OrderID) {
			r.Status, r.FailureReason = StatusFailed, "the original payment method cannot take the refund back (card closed)"
		}
		if _, err := tx.ExecContext(ctx, "UPDATE refunds SET status = ?, failure_reason = ?, settled = ? WHERE id = ? AND status = 'pending'",
			r.Status, r.FailureReason, fmtTime(now), r.ID); err != nil {
			return Refund{}, err
		}
		t := now.UTC()
		r.Settled = &t
		s.log.Info("refund settled", zap.String("refund", r.ID), zap.String("order", r.OrderID), zap.String("status", r.Status))
	}
	return r, nil
}
