// Package gateway is certflow's HTTP edge. It owns two faces: the console
// API under /v1 (order intake, refund eligibility, refunds, certificate
// actions, order lists) and the CA's signed review callbacks (POST
// /v1/ca/callbacks), plus /healthz and the OpenAPI document it serves from
// api/openapi.yaml.
//
// It guarantees that:
//   - every console call carries a known bearer token whose role allows it
//     (401, 403), or an OIDC JWT of the configured issuer (oidc.go),
//     within its rate limit (429 with Retry-After); the actor
//     of every action is the token's subject; secrets are kept hashed and
//     never logged or echoed; the callbacks are authenticated by their
//     signature only;
//   - every handler works on the request's context, with time and logger
//     injected (Config);
//   - a path ID is visible ASCII (400 otherwise), a path has no dot or
//     empty segments (400, never a redirect), and a request body is at
//     most Config.MaxBodyBytes of valid UTF-8, application/json, one
//     object, with no unknown fields, or it is refused with 400/413/415
//     and a message naming the problem;
//   - every error answers an RFC 9457 problem (application/problem+json,
//     Problem: type, title, status, detail, instance, and the extensions
//     code and rules) with a status from one mapping
//     (errs.Code.HTTPStatus), the rule IDs as data; an internal error's
//     text is logged, never sent;
//   - a refund request is judged before anything is recorded (422 with the
//     rule IDs), then recorded durably and answered 202 from the store; its
//     dispatcher (dispatch.go) starts the order's refund or joins the
//     running one (one workflow per order), and an update on a request
//     still pending starts it first; a paid refund or a final refusal
//     blocks a new one (409), a cancelled one does not;
//   - a refused certificate action leaves no workflow behind;
//   - a CA callback is acted on only after its Standard Webhooks signature
//     verified (package webhook), and is then signalled to the certificate's
//     workflow with the CA's event ID, so a redelivery is acknowledged again
//     and applied once by the workflow.
//
// The gateway decides nothing itself: eligibility and request-time
// refusals are the Judge's (policy.Evaluate), order validity the intake
// validator's, and cancel/approve/certificate actions are updates whose
// validators in the workflows accept or refuse them.
// It reaches Temporal and the store only through the Workflows and Orders
// interfaces it owns; Temporal adapts a client.Client to Workflows.
package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpapi"
	"github.com/certflow/certflow/webhook"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// Config wires a Server. Workflows, Orders, Judge, Validate, Tokens and
// WebhookSecrets are required.
type Config struct {
	Workflows Workflows
	Orders    Orders
	// Events serves GET /v1/events and the event-endpoint routes; nil
	// means Orders, when it offers Events too (the store's does), and
	// otherwise those routes answer 503.
	Events Events
	Judge  Judge
	// Validate checks an order handed in by PUT /v1/orders/{id}
	// (intake.Validator.Validate).
	Validate func(o domain.Order, now time.Time) error
	// Tokens authenticate console API calls (every /v1 route but the CA
	// callbacks, which their signature authenticates).
	Tokens *Tokens
	// OIDC, when set, also accepts the JWTs of an OpenID Connect issuer
	// (operators from an IdP; docs/console-api.md). Tokens may then be
	// empty.
	OIDC *OIDC
	// RateLimit applies per token, and per client address to calls
	// without a known token; zero means DefaultRateLimit.
	RateLimit RateLimit
	// CallbackRateLimit applies to the CA's callbacks per client address;
	// zero means DefaultCallbackRateLimit. A callback over it is 429 with
	// Retry-After, which the CA honours (casim does).
	CallbackRateLimit RateLimit
	// StatusTimeout bounds a status query to Temporal; zero means
	// DefaultStatusTimeout.
	StatusTimeout time.Duration
	// WebhookSecrets verify CA callbacks; several are accepted at once so a
	// secret can be rotated (webhook.ParseSecret reads the whsec_ form).
	WebhookSecrets [][]byte
	// WebhookTolerance bounds the callback timestamp's distance from Now;
	// zero means webhook.DefaultTolerance (5 minutes).
	WebhookTolerance time.Duration
	// MaxBodyBytes bounds request bodies; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Dispatch configures the dispatcher that starts the refund requests
	// the console API records (dispatch.go); its sweeper runs only under
	// Server.Intake().Run.
	Dispatch DispatchConfig
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives internal errors; nil means zap.NewNop().
	Logger *zap.Logger
}

// Server serves the gateway's routes. Build it with New.
type Server struct {
	wf      Workflows
	orders  Orders
	events  Events
	judge   Judge
	valid   func(domain.Order, time.Time) error
	tokens  *Tokens
	oidc    *OIDC
	limiter *limiter
	// callbacks limits the CA's callbacks per client address.
	callbacks *limiter
	verify    *webhook.Verifier
	maxBody   int64
	// http answers errors and reads bodies (package httpapi).
	http *httpapi.Responder
	// refunds and certificates serve the processes' routes.
	refunds      *refund.API
	certificates *certificate.API
	// intake starts the refund requests refunds records.
	intake *Dispatcher
	now    func() time.Time
	log    *zap.Logger
	mux    *http.ServeMux
}

// New checks cfg and builds a Server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Workflows == nil:
		return nil, errs.E(errs.Invalid, "gateway: Workflows is required")
	case cfg.Orders == nil:
		return nil, errs.E(errs.Invalid, "gateway: Orders is required")
	case cfg.Judge == nil:
		return nil, errs.E(errs.Invalid, "gateway: Judge is required")
	case cfg.Validate == nil:
		return nil, errs.E(errs.Invalid, "gateway: Validate is required")
	case cfg.Tokens.Len() == 0 && cfg.OIDC == nil:
		return nil, errs.E(errs.Invalid, "gateway: at least one console API token, or an OIDC issuer, is required")
	case len(cfg.WebhookSecrets) == 0:
		return nil, errs.E(errs.Invalid, "gateway: at least one webhook secret is required")
	}
	for i, sec := range cfg.WebhookSecrets {
		if len(sec) == 0 {
			return nil, errs.E(errs.Invalid, "gateway: webhook secret %d is empty", i)
		}
	}
	s := &Server{
		wf:      cfg.Workflows,
		orders:  cfg.Orders,
		events:  cfg.Events,
		judge:   cfg.Judge,
		valid:   cfg.Validate,
		tokens:  cfg.Tokens,
		oidc:    cfg.OIDC,
		maxBody: cfg.MaxBodyBytes,
		now:     cfg.Now,
		log:     cfg.Logger,
	}
	if ev, ok := cfg.Orders.(Events); ok && s.events == nil {
		s.events = ev
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.http = &httpapi.Responder{Log: s.log, MaxBody: s.maxBody}
	s.intake = newDispatcher(s.wf, s.orders, cfg.Dispatch, s.now, s.log)
	s.refunds = &refund.API{Temporal: s.wf, Store: s.orders, Intake: s.intake, Judge: s.judge, HTTP: s.http, Now: s.now, Log: s.log}
	s.certificates = &certificate.API{Temporal: s.wf, Store: pendingFirst{Orders: s.orders, intake: s.intake}, Holders: heldActions{wf: s.wf}, HTTP: s.http, Log: s.log}
	rl := cfg.RateLimit
	if rl.Rate <= 0 || rl.Burst <= 0 {
		rl = DefaultRateLimit
	}
	s.limiter = newLimiter(rl)
	crl := cfg.CallbackRateLimit
	if crl.Rate <= 0 || crl.Burst <= 0 {
		crl = DefaultCallbackRateLimit
	}
	s.callbacks = newLimiter(crl)
	s.verify = &webhook.Verifier{Secrets: cfg.WebhookSecrets, Tolerance: cfg.WebhookTolerance, Now: s.now}
	s.mux = http.NewServeMux()
	for _, rt := range s.routes() {
		s.mux.HandleFunc(rt.method+" "+rt.path, s.guard(rt))
	}
	return s, nil
}

// Intake is the dispatcher of the refund requests the console API
// records: run its sweeper (Run) beside the server, and Close it after
// the server stopped.
func (s *Server) Intake() *Dispatcher { return s.intake }

// Close stops the dispatcher (Dispatcher.Close): the starts in flight
// finish, the rest stay pending for a sweep.
func (s *Server) Close() { s.intake.Close() }

// route is one endpoint. The route list is the single source of the mux and
// of the test that holds openapi.yaml to it. role is the role a bearer
// token needs; "" is a route without a token (health, the OpenAPI
// document, and the CA callbacks, which their signature authenticates).
type route struct {
	method, path string
	role         Role
	handle       http.HandlerFunc
}

func (s *Server) routes() []route {
	refunds, certificates := &refund.API{}, &certificate.API{} // the route list of a nil Server (tests)
	if s != nil {
		refunds, certificates = s.refunds, s.certificates
	}
	return []route{
		{http.MethodGet, "/healthz", "", s.healthz},
		{http.MethodGet, "/openapi.yaml", "", s.openAPI},

		{http.MethodGet, "/v1/orders", RoleOperator, s.listOrders},
		{http.MethodGet, "/v1/orders/{id}", RoleConsole, s.getOrder},
		{http.MethodPut, "/v1/orders/{id}", RoleConsole, s.putOrder},
		{http.MethodGet, "/v1/orders/{id}/refund-eligibility", RoleConsole, refunds.Eligibility},
		{http.MethodPost, "/v1/orders/{id}/refund", RoleConsole, refunds.Start},
		{http.MethodGet, "/v1/orders/{id}/refund", RoleConsole, refunds.Status},
		{http.MethodPost, "/v1/orders/{id}/refund/cancel", RoleConsole, refunds.Cancel},
		{http.MethodPost, "/v1/orders/{id}/refund/approve", RoleOperator, refunds.Approve},

		{http.MethodGet, "/v1/certificates/{id}", RoleConsole, certificates.Status},
		{http.MethodPost, "/v1/certificates/{id}/actions/{action}", RoleConsole, certificates.Action},

		{http.MethodGet, "/v1/events", RoleConsole, s.listEvents},
		{http.MethodGet, "/v1/event-endpoints", RoleOperator, s.endpointStatuses},
		{http.MethodPost, "/v1/event-endpoints/{name}/enable", RoleOperator, s.enableEndpoint},

		{http.MethodPost, "/v1/ca/callbacks", "", s.caCallback},
	}
}

// guard runs a route's checks before its handler: the bearer token, rate
// limit and role (routes with a role), then the path's IDs.
func (s *Server) guard(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rt.role != "" {
			authed, err := s.authenticate(w, r, rt.role)
			if err != nil {
				s.http.Error(w, r, err)
				return
			}
			r = authed
		}
		for _, name := range []string{"id", "action", "name"} {
			if err := checkPathID(name, r.PathValue(name)); err != nil {
				s.http.Error(w, r, err)
				return
			}
		}
		rt.handle(w, r)
	}
}

// maxIDLen bounds an ID in a path.
const maxIDLen = 200

// checkPathID refuses an ID that no order, certificate or action can have:
// empty is fine (the route has no such value); otherwise 1 to maxIDLen
// visible ASCII characters. Non-ASCII, NUL, CR/LF and blanks are 400.
func checkPathID(name, v string) error {
	if v == "" {
		return nil
	}
	if len(v) > maxIDLen {
		return httpapi.BadRequest("path %s is longer than %d characters", name, maxIDLen)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c > '~' {
			return httpapi.BadRequest("path %s may hold only visible ASCII characters (byte 0x%02x at %d)", name, c, i)
		}
	}
	return nil
}

// uncleanPath reports a path with "." or ".." segments or empty segments,
// which the mux would redirect (307) instead of answering.
func uncleanPath(p string) bool {
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		if seg == "." || seg == ".." || (seg == "" && i > 0 && i < len(segs)-1) {
			return true
		}
	}
	return false
}

// Handler returns the gateway's http.Handler: the routes, with panics,
// unknown routes and wrong methods answered as problems.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.http.Error(w, r, errs.Wrap(errs.Internal, fmt.Errorf("panic: %v", v), "handler panicked"))
			}
		}()
		if uncleanPath(r.URL.Path) {
			s.http.Error(w, r, httpapi.BadRequest("the path has empty, \".\" or \"..\" segments"))
			return
		}
		if _, pattern := s.mux.Handler(r); pattern == "" {
			// The mux answers an unknown path (404) or a known path with
			// the wrong method (405, with Allow) in plain text; keep its
			// status and headers but answer with a problem.
			s.mux.ServeHTTP(&jsonStatusWriter{ResponseWriter: w, s: s, r: r}, r)
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// jsonStatusWriter replaces the body of the mux's own error answers with
// the problem shape (RFC 9457).
type jsonStatusWriter struct {
	http.ResponseWriter
	s       *Server
	r       *http.Request
	written bool
}

func (j *jsonStatusWriter) WriteHeader(status int) {
	if j.written {
		return
	}
	j.written = true
	h := j.ResponseWriter.Header()
	h.Del("Content-Length")
	h.Del("X-Content-Type-Options")
	code, msg := errs.Invalid, http.StatusText(status)
	switch {
	case status == http.StatusNotFound:
		code, msg = errs.NotFound, "no route "+j.r.Method+" "+httpapi.Clip(j.r.URL.Path)
	case status == http.StatusMethodNotAllowed:
		msg = "method " + j.r.Method + " is not allowed here; allowed: " + h.Get("Allow")
	case status >= 500:
		code, msg = errs.Internal, httpapi.InternalMessage
	}
	httpapi.WriteProblem(j.ResponseWriter, httpapi.NewProblem(j.r, status, code, msg, nil))
}

func (j *jsonStatusWriter) Write(b []byte) (int, error) {
	if !j.written {
		j.WriteHeader(http.StatusOK)
	}
	return len(b), nil // the mux's plain-text body is replaced
}

// healthz reports that the process serves requests. It checks no
// dependency: a Temporal outage shows as 503s on the routes that need it.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	httpapi.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// The HTTP plumbing's names, kept for the gateway's callers (package
// httpapi has them).
const (
	ProblemTypeBase           = httpapi.ProblemTypeBase
	ProblemContentType        = httpapi.ProblemContentType
	StatusClientClosedRequest = httpapi.StatusClientClosedRequest
	DefaultMaxBodyBytes       = httpapi.DefaultMaxBodyBytes
)

// Problem is the body of every error answer (httpapi.Problem).
type Problem = httpapi.Problem

// ProblemTitle is the title of code's problems (httpapi.ProblemTitle).
func ProblemTitle(code errs.Code) string { return httpapi.ProblemTitle(code) }
