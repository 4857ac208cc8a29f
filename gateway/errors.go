package gateway

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/certflow/certflow/errs"
)

// statusOf is the one table from error codes to HTTP statuses. Invalid is
// 422 for a well-formed request the rules or the workflow refuse; a request
// the gateway cannot read at all is a requestError with its own status
// (400, 401, 413, 415).
var statusOf = map[errs.Code]int{
	errs.Invalid:           http.StatusUnprocessableEntity,
	errs.NotFound:          http.StatusNotFound,
	errs.Conflict:          http.StatusConflict,
	errs.IllegalTransition: http.StatusConflict,
	errs.NotRefundable:     http.StatusUnprocessableEntity,
	errs.Unavailable:       http.StatusServiceUnavailable,
	errs.Internal:          http.StatusInternalServerError,
	errs.Unauthenticated:   http.StatusUnauthorized,
	errs.Forbidden:         http.StatusForbidden,
	errs.RateLimited:       http.StatusTooManyRequests,
	// The CA refused a resubmission for missing data: the customer must
	// fix it (SSL-6).
	errs.ResubmissionRejected: http.StatusUnprocessableEntity,
	// certflow's own configuration is refused by a dependency: an outage
	// for the client, an alert for the operator.
	errs.Misconfigured: http.StatusServiceUnavailable,
}

// internalMessage is all a client learns of an internal error.
const internalMessage = "internal error"

// requestError is a problem with the request itself (syntax, size, media
// type, signature), answered with its own status. Its code stays one of
// errs: the status tells the kind of problem, the message names it.
type requestError struct {
	status int
	err    *errs.Error
}

func (e *requestError) Error() string { return e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// badRequest is a request the gateway cannot read: 400 invalid.
func badRequest(format string, args ...any) error {
	return &requestError{status: http.StatusBadRequest, err: errs.E(errs.Invalid, format, args...)}
}

// withStatus answers err (a coded error) with status instead of the
// table's.
func withStatus(status int, err error) error {
	e := &errs.Error{Code: errs.CodeOf(err), Message: errs.MessageOf(err), Rules: errs.RulesOf(err), Err: err}
	return &requestError{status: status, err: e}
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    errs.Code `json:"code"`
	Message string    `json:"message"`
	Rules   []string  `json:"rules,omitempty"`
}

// writeError answers err. Internal errors are logged with their cause and
// reach the client as "internal error" only; unavailable dependencies are
// logged as warnings.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, status := errs.CodeOf(err), 0
	var re *requestError
	if errors.As(err, &re) {
		status = re.status
	}
	if status == 0 {
		var ok bool
		if status, ok = statusOf[code]; !ok {
			code, status = errs.Internal, http.StatusInternalServerError
		}
	}
	detail := errorDetail{Code: code, Message: errs.MessageOf(err), Rules: errs.RulesOf(err)}
	fields := []zap.Field{zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", status), zap.Error(err)}
	switch {
	case code == errs.Internal:
		s.log.Error("request failed", fields...)
		detail = errorDetail{Code: errs.Internal, Message: internalMessage}
	case status >= 500:
		s.log.Warn("request failed", fields...)
	default:
		s.log.Debug("request refused", fields...)
	}
	writeJSON(w, status, errorBody{Error: detail})
}
