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

// Class is what a code tells whoever meets it to do: the one
// classification every boundary uses (HTTPStatus at the HTTP edge,
// Retryable for Temporal's activity retries, Designed for the worker's
// logs and metrics, Infrastructure for a workflow's "wait, don't refuse").
type Class string

// The classes.
const (
	// ClassInvalid: the input is wrong; fix it (Invalid).
	ClassInvalid Class = "invalid"
	// ClassNotFound: no such thing (NotFound).
	ClassNotFound Class = "not_found"
	// ClassConflict: not in the current state (Conflict, IllegalTransition).
	ClassConflict Class = "conflict"
	// ClassRefusal: a designed refusal, an answer the rules or an
	// authority give (NotRefundable, ResubmissionRejected,
	// OriginalMethodFailed, Unauthenticated, Forbidden).
	ClassRefusal Class = "refusal"
	// ClassInfrastructure: certflow itself is at fault, its code or its
	// configuration; an operator acts (Internal, Misconfigured).
	ClassInfrastructure Class = "infrastructure"
	// ClassRetryable: a dependency is out or busy; the same call may
	// succeed later (Unavailable, RateLimited).
	ClassRetryable Class = "retryable"
)

// Class classifies c; a code outside the taxonomy is infrastructure.
func (c Code) Class() Class {
	switch c {
	case Invalid:
		return ClassInvalid
	case NotFound:
		return ClassNotFound
	case Conflict, IllegalTransition:
		return ClassConflict
	case NotRefundable, ResubmissionRejected, OriginalMethodFailed, Unauthenticated, Forbidden:
		return ClassRefusal
	case Unavailable, RateLimited:
		return ClassRetryable
	}
	return ClassInfrastructure
}

// Retryable reports whether an activity failing with c is retried by
// Temporal: a retryable outage, and an internal error (a bug or a fault
// that may pass); never an answer, and not Misconfigured, which waits for
// an operator instead.
func (c Code) Retryable() bool {
	return c.Class() == ClassRetryable || c == Internal || !c.Known()
}

// Designed reports whether c is an outcome the business designed (a
// refusal): logged as a detour and marked benign, never an error.
func (c Code) Designed() bool { return c.Class() == ClassRefusal }

// Infrastructure reports whether a failure with c says nothing about the
// business (an outage, certflow's own fault, or a type outside the
// taxonomy such as a timeout): a workflow waits and retries rather than
// refusing a refund on it.
func (c Code) Infrastructure() bool {
	cl := c.Class()
	return cl == ClassRetryable || cl == ClassInfrastructure
}
