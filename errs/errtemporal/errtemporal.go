// Package errtemporal carries certflow's coded errors (package errs) across
// Temporal's activity, workflow and update boundaries. The errs code is the
// application error's type, and the rule IDs travel in its details, so a
// refusal reaches the gateway with its code and its rules as data, never
// parsed out of message text.
//
// It is apart from errs so that the rule packages, which use errs, stay
// free of Temporal.
package errtemporal

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/errs"
)

// Details is the detail payload of an application error made here.
type Details struct {
	Rules []string `json:"rules,omitempty"`
}

// New is a non-retryable application error of code, naming rules: what
// workflow validators and handlers refuse with.
func New(code errs.Code, rules []string, format string, args ...any) error {
	return application(code, fmt.Sprintf(format, args...), rules, nil)
}

// From converts a coded error into the application error that crosses the
// boundary: its code as the type, its client-safe message, its rules in the
// details, and err itself as the cause (for the history, never a client).
// Unavailable, Internal and uncoded errors stay as they are, so Temporal
// retries them; an application error is returned unchanged.
func From(err error) error {
	if err == nil {
		return nil
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return err
	}
	var coded *errs.Error
	if !errors.As(err, &coded) || coded.Code == errs.Unavailable || coded.Code == errs.Internal {
		return err
	}
	return application(coded.Code, coded.Message, coded.Rules, err)
}

func application(code errs.Code, msg string, rules []string, cause error) error {
	return temporal.NewApplicationErrorWithOptions(msg, string(code), temporal.ApplicationErrorOptions{
		NonRetryable: true,
		Cause:        cause,
		Details:      []any{Details{Rules: rules}},
	})
}

// CodeOf is the errs code an application error in err's chain carries as
// its type, or "" when there is none or its type is not a code.
func CodeOf(err error) errs.Code {
	var app *temporal.ApplicationError
	if !errors.As(err, &app) {
		return ""
	}
	if c := errs.Code(app.Type()); c.Known() {
		return c
	}
	return ""
}

// ToCoded turns an application error of a known code in err's chain back
// into an *errs.Error with its message and rules (err as the cause). ok is
// false when err carries no such application error.
func ToCoded(err error) (coded *errs.Error, ok bool) {
	var app *temporal.ApplicationError
	if !errors.As(err, &app) {
		return nil, false
	}
	code := errs.Code(app.Type())
	if !code.Known() {
		return nil, false
	}
	out := &errs.Error{Code: code, Message: app.Message(), Err: err}
	var d Details
	if app.HasDetails() && app.Details(&d) == nil {
		out.Rules = d.Rules
	}
	return out, true
}

// Rules are the rule IDs an application error in err's chain carries.
func Rules(err error) []string {
	if c, ok := ToCoded(err); ok {
		return c.Rules
	}
	return errs.RulesOf(err)
}

// NonRetryable lists the codes an activity's retry policy must not retry:
// those that are not errs.Code.Retryable.
func NonRetryable() []string {
	var out []string
	for _, c := range errs.Codes {
		if !c.Retryable() {
			out = append(out, string(c))
		}
	}
	return out
}
