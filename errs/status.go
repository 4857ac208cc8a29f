package errs

// HTTPStatus is the one mapping from a code to the HTTP status an edge
// answers it with (the console API, the operator pages): a caller's
// mistake is 4xx, an outage 503, anything unknown 500. Invalid is 422, a
// well-formed request the rules or a workflow refuse; an edge answers a
// request it cannot read at all with its own 400/413/415. The numbers are
// written out so the rule packages that import errs need no net/http.
func (c Code) HTTPStatus() int {
	switch c {
	case Invalid, NotRefundable, OriginalMethodFailed:
		return 422 // Unprocessable Entity
	case ResubmissionRejected:
		// The CA refused a resubmission for missing data: the customer
		// must fix it (SSL-6).
		return 422
	case NotFound:
		return 404
	case Conflict, IllegalTransition:
		return 409
	case Unauthenticated:
		return 401
	case Forbidden:
		return 403
	case RateLimited:
		return 429
	case Unavailable:
		return 503
	case Misconfigured:
		// certflow's own configuration is refused by a dependency: an
		// outage for the client, an alert for the operator.
		return 503
	}
	return 500
}
