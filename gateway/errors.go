package gateway

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/certflow/certflow/errs"
)


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
		// One mapping for every edge (errs.Code.HTTPStatus); a code the
		// taxonomy does not know is answered as internal.
		if !code.Known() {
			code = errs.Internal
		}
		status = code.HTTPStatus()
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
