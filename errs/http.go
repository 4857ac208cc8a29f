package errs

import "net/http"

// httpStatus is the one table from error codes to HTTP statuses, for the
// console API (gateway) and the operator pages (ops). Invalid is 422 for
// a well-formed request the rules or the workflow refuse; a request a
// server cannot read at all answers its own status (400, 401, 413, 415).
var httpStatus = map[Code]int{
	Invalid:           http.StatusUnprocessableEntity,
	NotFound:          http.StatusNotFound,
	Conflict:          http.StatusConflict,
	IllegalTransition: http.StatusConflict,
	NotRefundable:     http.StatusUnprocessableEntity,
	Unavailable:       http.StatusServiceUnavailable,
	Internal:          http.StatusInternalServerError,
	Unauthenticated:   http.StatusUnauthorized,
	Forbidden:         http.StatusForbidden,
	RateLimited:       http.StatusTooManyRequests,
	// The CA refused a resubmission for missing data: the customer must
	// fix it (SSL-6).
	ResubmissionRejected: http.StatusUnprocessableEntity,
	// The payment provider refused the original payment method: a
	// designed refusal, not an outage.
	OriginalMethodFailed: http.StatusUnprocessableEntity,
	// certflow's own configuration is refused by a dependency: an outage
	// for the client, an alert for the operator.
	Misconfigured: http.StatusServiceUnavailable,
}

// HTTPStatus is the HTTP status that answers code c; known is false (and
// the status 500) for a code that is not one of Codes.
func HTTPStatus(c Code) (status int, known bool) {
	s, ok := httpStatus[c]
	if !ok {
		return http.StatusInternalServerError, false
	}
	return s, true
}
