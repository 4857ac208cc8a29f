// Package errs is certflow's one error taxonomy. Every error that crosses a
// package boundary carries a Code; the HTTP edge maps codes to statuses in
// one method (Code.HTTPStatus), and the Temporal edge maps them to application-error types, so
// callers branch on codes with errors.Is / errors.As, never on text.
package errs

import (
	"errors"
	"fmt"
)

// Code classifies an error for callers. The string values are stable: they
// appear in API responses and as Temporal application-error types.
type Code string

// The codes. Keep this list short; add one only when a caller must branch
// on it.
const (
	// Invalid: the input is malformed or out of range.
	Invalid Code = "invalid"
	// NotFound: the named object does not exist.
	NotFound Code = "not_found"
	// Conflict: the request collides with the current state (a second
	// refund for the same order, an idempotency key reused with other data).
	Conflict Code = "conflict"
	// IllegalTransition: a state machine refused an event in its state.
	IllegalTransition Code = "illegal_transition"
	// NotRefundable: the rules refuse the refund; the error names the rules.
	NotRefundable Code = "not_refundable"
	// Unavailable: a dependency failed in a way worth retrying.
	Unavailable Code = "unavailable"
	// Internal: a bug or an unexpected failure; never shown to a client.
	Internal Code = "internal"
	// Unauthenticated: the caller did not prove who it is (no or an
	// unknown credential).
	Unauthenticated Code = "unauthenticated"
	// Forbidden: the caller is known but may not do this (wrong role, or
	// four-eyes, GW-4).
	Forbidden Code = "forbidden"
	// RateLimited: the caller sent too many requests; retry later.
	RateLimited Code = "rate_limited"
	// ResubmissionRejected: the CA refused an automatic resubmission for
	// missing data; the customer must fix it (SSL-6).
	ResubmissionRejected Code = "resubmission_rejected"
	// OriginalMethodFailed: a refund to the original payment method cannot
	// go through; no money moved (GEN-4: pay to the balance instead).
	OriginalMethodFailed Code = "original_method_failed"
	// Misconfigured: a dependency refuses our configuration (the CA
	// answering 401/403 to our credentials). Retrying cannot help until an
	// operator fixes it, so it is not retried; the refund waits visibly.
	Misconfigured Code = "misconfigured"
)

// Codes lists every code, in a fixed order.
var Codes = []Code{Invalid, NotFound, Conflict, IllegalTransition, NotRefundable, Unavailable, Internal,
	Unauthenticated, Forbidden, RateLimited, ResubmissionRejected, OriginalMethodFailed, Misconfigured}

// Known reports whether c is one of Codes.
func (c Code) Known() bool {
	for _, k := range Codes {
		if c == k {
			return true
		}
	}
	return false
}

// Error is a coded error. Message is safe to show to a client; Err, if set,
// is the internal cause and is not.
type Error struct {
	Code    Code
	Message string
	// Rules lists the rule IDs of RULES.md behind the error, if any.
	Rules []string
	Err   error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, &Error{Code: X}) match any error of code X.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == "" && e.Code != ""
}

// E builds a coded error with a formatted, client-safe message.
func E(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// R builds a coded error that names the rules behind it.
func R(code Code, rules []string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Rules: rules}
}

// Wrap builds a coded error around an internal cause.
func Wrap(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the code of the first coded error in err's chain, or
// Internal when there is none (an uncoded error is a bug until proven
// otherwise).
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// MessageOf returns the client-safe message of err: the coded error's
// Message, or a generic text for uncoded errors.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// RulesOf returns the rule IDs carried by err, if any.
func RulesOf(err error) []string {
	var e *Error
	if errors.As(err, &e) {
		return e.Rules
	}
	return nil
}
