package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/certflow/certflow/errs"
)

// InternalMessage is all a client learns of an internal error.
const InternalMessage = "internal error"

// requestError is a problem with the request itself (syntax, size, media
// type, signature), answered with its own status. Its code stays one of
// errs: the status tells the kind of problem, the message names it.
type requestError struct {
	status int
	err    *errs.Error
}

func (e *requestError) Error() string { return e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// BadRequest is a request the gateway cannot read: 400 invalid.
func BadRequest(format string, args ...any) error {
	return &requestError{status: http.StatusBadRequest, err: errs.E(errs.Invalid, format, args...)}
}

// WithStatus answers err (a coded error) with status instead of the
// table's.
func WithStatus(status int, err error) error {
	e := &errs.Error{Code: errs.CodeOf(err), Message: errs.MessageOf(err), Rules: errs.RulesOf(err), Err: err}
	return &requestError{status: status, err: e}
}

// ProblemTypeBase is the start of every problem's type URI: the type of
// an error with code c is ProblemTypeBase + c, such as
// "https://certflow.dev/problems/not_refundable". The URI names the
// code, stable as the code is; it identifies, and a client compares it
// (or the code) and never needs to fetch it.
const ProblemTypeBase = "https://certflow.dev/problems/"

// ProblemContentType is the media type of every error answer (RFC 9457).
const ProblemContentType = "application/problem+json"

// Problem is the body of every error answer: an RFC 9457 problem detail
// with certflow's code and rule IDs as extensions.
type Problem struct {
	// Type is ProblemTypeBase + Code.
	Type string `json:"type"`
	// Title is the code's fixed short phrase (ProblemTitle).
	Title string `json:"title"`
	// Status is the HTTP status of the answer.
	Status int `json:"status"`
	// Detail is the error's message, safe to show; an internal error's is
	// always "internal error".
	Detail string `json:"detail"`
	// Instance is the request's path.
	Instance string `json:"instance"`
	// Code is the error code (errs.Code).
	Code errs.Code `json:"code"`
	// Rules are the RULES.md rule IDs behind the error; never null.
	Rules []string `json:"rules"`
}

// problemTitles is the fixed title of each code.
var problemTitles = map[errs.Code]string{
	errs.Invalid:              "Invalid request",
	errs.NotFound:             "Not found",
	errs.Conflict:             "Conflict with the current state",
	errs.IllegalTransition:    "Illegal state transition",
	errs.NotRefundable:        "Not refundable",
	errs.Unavailable:          "Service unavailable",
	errs.Internal:             "Internal error",
	errs.Unauthenticated:      "Unauthenticated",
	errs.Forbidden:            "Forbidden",
	errs.RateLimited:          "Too many requests",
	errs.ResubmissionRejected: "Resubmission rejected",
	errs.OriginalMethodFailed: "Original payment method failed",
	errs.Misconfigured:        "Service misconfigured",
}

// ProblemTitle is the title of code's problems; a code outside the
// taxonomy has internal's.
func ProblemTitle(code errs.Code) string {
	if t, ok := problemTitles[code]; ok {
		return t
	}
	return problemTitles[errs.Internal]
}

// MaxInstanceLen bounds the echoed path of a problem's instance.
const MaxInstanceLen = 512

// NewProblem is the problem of an answer with status and code, message
// and rules, to the request r.
func NewProblem(r *http.Request, status int, code errs.Code, message string, rules []string) Problem {
	if rules == nil {
		rules = []string{}
	}
	return Problem{Type: ProblemTypeBase + string(code), Title: ProblemTitle(code), Status: status,
		Detail: message, Instance: instance(r), Code: code, Rules: rules}
}

// instance is r's path as a URI reference (escaped), cut to
// MaxInstanceLen bytes without splitting an escape.
func instance(r *http.Request) string {
	p := r.URL.EscapedPath()
	if len(p) <= MaxInstanceLen {
		return p
	}
	p = p[:MaxInstanceLen]
	if i := strings.LastIndexByte(p, '%'); i >= len(p)-2 {
		p = p[:i]
	}
	return p
}

// WriteProblem writes p as an application/problem+json answer.
func WriteProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(p) // the client went away; nothing left to tell it
}

// StatusClientClosedRequest is what the logs and metrics show for a
// request whose client went away before its answer (nginx's 499).
const StatusClientClosedRequest = 499

// Error answers err as a problem (RFC 9457). Internal errors are
// logged with their cause and reach the client as "internal error" only;
// unavailable dependencies are logged as warnings. Headers set before
// (Retry-After, WWW-Authenticate, Allow) are kept.
func (s *Responder) Error(w http.ResponseWriter, r *http.Request, err error) {
	code, status := errs.CodeOf(err), 0
	var re *requestError
	if errors.As(err, &re) {
		status = re.status
	}
	if status == 0 {
		// One mapping for every edge (errs.Code.HTTPStatus); a code the
		// taxonomy does not know is answered as internal.
		if !code.Known() {
			code = errs.Internal
		}
		status = code.HTTPStatus()
	}
	message, rules := errs.MessageOf(err), errs.RulesOf(err)
	if r.Context().Err() != nil && status >= 500 {
		// The client went away (its own timeout, a closed connection):
		// nobody reads the answer, and it is not a failure of this
		// service. Logged as such, counted with nginx's 499.
		s.logger().Info("request abandoned by the client", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
		w.WriteHeader(StatusClientClosedRequest)
		return
	}
	fields := []zap.Field{zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", status), zap.Error(err)}
	switch {
	case code == errs.Internal:
		s.logger().Error("request failed", fields...)
		message, rules = InternalMessage, nil
	case status >= 500:
		s.logger().Warn("request failed", fields...)
	default:
		s.logger().Debug("request refused", fields...)
	}
	WriteProblem(w, NewProblem(r, status, code, message, rules))
}
