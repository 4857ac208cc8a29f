// Package httpapi is the HTTP plumbing every certflow API shares: errors
// as RFC 9457 problems with one status mapping (errs.Code.HTTPStatus),
// strict JSON bodies and query strings, the Idempotency-Key, and who a
// request acts as (the gateway authenticates it, handlers read it). It
// holds no route and no process logic: the gateway mounts the processes'
// handlers (workflows/refund, workflows/certificate) and its own.
package httpapi

import (
	"context"
	"net/http"

	"go.uber.org/zap"

	"github.com/certflow/certflow/domain"
)

// Responder answers requests: errors as problems, logged by Log, and
// bodies of at most MaxBody bytes (zero: DefaultMaxBodyBytes).
type Responder struct {
	Log     *zap.Logger
	MaxBody int64
}

func (s *Responder) maxBody() int64 {
	if s.MaxBody > 0 {
		return s.MaxBody
	}
	return DefaultMaxBodyBytes
}

// Role is what a console API caller may do.
type Role string

// The roles. An operator may do everything the console may, plus approve
// refunds and list orders.
const (
	// RoleConsole is the console backend acting for customers: intake,
	// eligibility, refund, cancel, certificate actions, status.
	RoleConsole Role = "console"
	// RoleOperator is support staff.
	RoleOperator Role = "operator"
)

// Allows reports whether a principal of role r may call a route needing
// need.
func (r Role) Allows(need Role) bool {
	switch need {
	case RoleConsole:
		return r == RoleConsole || r == RoleOperator
	case RoleOperator:
		return r == RoleOperator
	}
	return false
}

// Principal is who a request acts as: a token's subject and role.
type Principal struct {
	Subject string `json:"subject"`
	Role    Role   `json:"role"`
}

type principalKey struct{}

// WithPrincipal is r acting as p (the gateway's authentication sets it).
func WithPrincipal(r *http.Request, p Principal) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
}

// PrincipalOf is the authenticated principal of a request (zero when none).
func PrincipalOf(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// ActorOf is who sent r, for the audit trail: the principal's subject and
// role, and the request's Idempotency-Key (never the token).
func ActorOf(r *http.Request) domain.Actor {
	p := PrincipalOf(r.Context())
	return domain.Actor{Subject: p.Subject, Role: string(p.Role), IdempotencyKey: r.Header.Get("Idempotency-Key")}
}

// UpdateID derives a Temporal update ID from an Idempotency-Key, scoped by
// the endpoint's path so one key cannot collide across actions. Empty
// without a key: the SDK then picks a fresh one.
func UpdateID(path, key string) string {
	if key == "" {
		return ""
	}
	return path + "#" + key
}

func (s *Responder) logger() *zap.Logger {
	if s.Log != nil {
		return s.Log
	}
	return zap.NewNop()
}
