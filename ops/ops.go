// Package ops serves the operators' pages under /ops/: a login with an
// operator token (a static token or an OIDC token of the gateway's
// identity provider, pasted), a work queue with one tab per situation a refund can
// wait in, and an order page where an operator approves (GW-4) or cancels
// a refund. The pages are plain server-rendered HTML with no asset from
// outside, so they work offline; only the live tab counts need script.
//
// It guarantees that only the operator role gets a session; that every
// POST carries the session's CSRF token (checked in constant time) or
// changes nothing; that an approval or a cancel goes through the same
// workflow update, and so the same validator, as the console API's (four
// eyes are the workflow's rule, not this package's); and that a refusal is
// shown readably with its code and rules, never an internal error's text.
// Tokens are never logged nor stored: a session keeps the token's subject.
package ops

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/workflows/refund"
)

// Reader is what the pages read from the store. Its methods have the
// store's signatures; an unknown object is errs.NotFound.
type Reader interface {
	// ListOrders returns one page of orders with their refund records.
	ListOrders(ctx context.Context, f ports.OrderFilter) (ports.OrderPage, error)
	GetOrder(ctx context.Context, orderID string) (domain.Order, error)
	// GetRefund returns the order's refund record (errs.NotFound when
	// the order never had a refund).
	GetRefund(ctx context.Context, orderID string) (ports.RefundRecord, error)
	// ListEvents returns the outbox's events after the cursor, oldest
	// first (ports.Outbox.ListEvents).
	ListEvents(ctx context.Context, after string, limit int) (ports.EventPage, error)
}

// OrderEvents is what a Reader may also offer: an order's events, newest
// last, at most limit of them. Without it the order page finds them by
// reading the outbox from its start, at most Config.EventScan events.
type OrderEvents interface {
	OrderEvents(ctx context.Context, orderID string, limit int) ([]ports.Event, error)
}

// Actions is what the pages ask of the refund workflows. The signatures
// are those of gateway.Workflows, so the gateway's Temporal adapter
// serves it. A refusal is an errs-coded error (Forbidden with GW-4 for a
// requester approving their own refund, Conflict with CAN-1 for a refund
// no longer cancellable…); a non-empty updateID makes a repeated request
// return the first outcome.
type Actions interface {
	RefundStatus(ctx context.Context, orderID string) (refund.Status, error)
	ApproveRefund(ctx context.Context, orderID, updateID string, req refund.ApproveRequest) (refund.Status, error)
	CancelRefund(ctx context.Context, orderID, updateID string, req refund.CancelRequest) (refund.Status, error)
}

// Authenticator finds who a console API token belongs to: its subject and
// role (domain.RoleOperator or domain.RoleConsole). A refused token is an
// errs-coded error whose message says why, safe to show (Unauthenticated:
// unknown, expired, wrong issuer…; Forbidden: a valid identity without a
// certflow role; Unavailable: the identity provider cannot be reached).
// The gateway's Server.Authenticate is one: static tokens and OIDC JWTs
// alike. It must not log the token.
type Authenticator func(ctx context.Context, token string) (subject, role string, err error)

// Defaults of Config.
const (
	DefaultIdleTimeout    = 8 * time.Hour
	DefaultPageSize       = 100
	DefaultMaxScan        = 5000
	DefaultEventScan      = 10000
	DefaultFinishedWindow = 7 * 24 * time.Hour
	DefaultCountsEvery    = 5 * time.Second
)

// Config builds a Handler. Reader, Actions and Authenticate are required.
type Config struct {
	Reader       Reader
	Actions      Actions
	Authenticate Authenticator
	// WebUI is the Temporal Web UI's base URL (e.g. http://localhost:8233)
	// and Namespace the namespace of the refund workflows: each row links
	// to its workflow there. No link when WebUI is empty.
	WebUI     string
	Namespace string
	// SecureCookie marks the session cookie Secure even on a plain-HTTP
	// request (behind a proxy that terminates TLS); it is Secure anyway
	// when the request came over TLS.
	SecureCookie bool
	// IdleTimeout ends a session not used for that long (default 8 h).
	IdleTimeout time.Duration
	// PageSize is the number of rows a tab shows per page (default 100).
	PageSize int
	// MaxScan bounds the orders read for one tab (default 5,000); a tab
	// with more shows its count as "5000+".
	MaxScan int
	// EventScan bounds the outbox events read to find an order's events
	// (default 10,000).
	EventScan int
	// FinishedWindow is how far back "recently finished" looks (default
	// 7 days).
	FinishedWindow time.Duration
	// CountsEvery is how often the queue's script refreshes the counts
	// (default 5 s).
	CountsEvery time.Duration
	// Now is the clock (default time.Now); Random the source of session
	// IDs, CSRF tokens and form keys (default crypto/rand).
	Now    func() time.Time
	Random io.Reader
	Logger *zap.Logger
}

// Handler serves the operator pages. Mount it on "/ops/".
type Handler struct {
	cfg      Config
	sessions *sessions
	logins   *loginLimiter
	pages    *pages
	mux      *http.ServeMux
	log      *zap.Logger
}

// New builds the Handler.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Reader == nil:
		return nil, errs.E(errs.Invalid, "ops: Config.Reader is required")
	case cfg.Actions == nil:
		return nil, errs.E(errs.Invalid, "ops: Config.Actions is required")
	case cfg.Authenticate == nil:
		return nil, errs.E(errs.Invalid, "ops: Config.Authenticate is required")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.MaxScan <= 0 {
		cfg.MaxScan = DefaultMaxScan
	}
	if cfg.EventScan <= 0 {
		cfg.EventScan = DefaultEventScan
	}
	if cfg.FinishedWindow <= 0 {
		cfg.FinishedWindow = DefaultFinishedWindow
	}
	if cfg.CountsEvery <= 0 {
		cfg.CountsEvery = DefaultCountsEvery
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Random == nil {
		cfg.Random = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	cfg.WebUI = strings.TrimRight(cfg.WebUI, "/")
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, sessions: newSessions(cfg.Now, cfg.Random, cfg.IdleTimeout), logins: newLoginLimiter(cfg.Now), pages: p, log: cfg.Logger}
	h.mux = http.NewServeMux()
	h.mux.Handle("GET /ops/static/", http.StripPrefix("/ops/", http.FileServerFS(staticFS)))
	h.mux.HandleFunc("GET /ops/login", h.loginPage)
	h.mux.HandleFunc("POST /ops/login", h.login)
	h.mux.HandleFunc("POST /ops/logout", h.withSession(h.logout))
	h.mux.HandleFunc("GET /ops/{$}", h.withSession(h.queue))
	h.mux.HandleFunc("GET /ops/counts", h.counts)
	h.mux.HandleFunc("GET /ops/orders/{id}", h.withSession(h.orderPage))
	h.mux.HandleFunc("POST /ops/orders/{id}/approve", h.withSession(h.approve))
	h.mux.HandleFunc("POST /ops/orders/{id}/cancel", h.withSession(h.cancel))
	return h, nil
}

// ServeHTTP serves the pages with headers that keep them to themselves:
// no outside source, no framing, no caching of what an operator saw.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer Chromium sends
	// "Origin: null" on the pages' own forms.
	hd.Set("Referrer-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, "/ops/static/") {
		hd.Set("Cache-Control", "no-store")
	}
	if r.Method == http.MethodPost && !sameOrigin(r) {
		h.refuse(w, r, http.StatusForbidden, "This form was not sent from these pages (its Origin is another site). Nothing was changed.")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// sameOrigin reports whether a POST's Origin header, when the browser
// sent one, names this host (SameSite=Strict and the CSRF token are the
// main guards; this one also covers the login form, which has no session).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	_, host, ok := strings.Cut(o, "://")
	return ok && strings.EqualFold(host, r.Host)
}
