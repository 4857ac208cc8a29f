package errtemporal

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/errs"
)

// cross sends err through the failure converter, as an activity, workflow
// or update boundary does.
func cross(err error) error {
	fc := temporal.GetDefaultFailureConverter()
	return fc.FailureToError(fc.ErrorToFailure(err))
}

func TestCodeAndRulesCrossTheBoundary(t *testing.T) {
	tests := map[string]struct {
		err       error
		code      errs.Code
		rules     []string
		retryable bool
	}{
		"refusal with rules (CAN-1)": {New(errs.Conflict, []string{"CAN-1"}, "the refund can no longer be cancelled"), errs.Conflict, []string{"CAN-1"}, false},
		"four-eyes (GW-4)":           {New(errs.Forbidden, []string{"GW-4"}, "same operator"), errs.Forbidden, []string{"GW-4"}, false},
		"coded activity error (M-3)": {From(fmt.Errorf("paying: %w", errs.R(errs.Conflict, []string{"M-3"}, "exceeds what is left"))), errs.Conflict, []string{"M-3"}, false},
		"coded without rules":        {From(errs.E(errs.NotFound, "order o-1 not found")), errs.NotFound, nil, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := cross(tc.err)
			if CodeOf(got) != tc.code {
				t.Fatalf("code %q, want %q (%v)", CodeOf(got), tc.code, got)
			}
			c, ok := ToCoded(got)
			if !ok || c.Code != tc.code || !slices.Equal(c.Rules, tc.rules) {
				t.Fatalf("ToCoded = %+v, %v; want code %s rules %v", c, ok, tc.code, tc.rules)
			}
			var app *temporal.ApplicationError
			if !errors.As(got, &app) || app.NonRetryable() == tc.retryable {
				t.Fatalf("non-retryable = %v, want %v", app.NonRetryable(), !tc.retryable)
			}
		})
	}
}

func TestOutagesStayRetryable(t *testing.T) {
	for name, err := range map[string]error{
		"unavailable": errs.E(errs.Unavailable, "database busy"),
		"uncoded":     errors.New("connection reset"),
	} {
		t.Run(name, func(t *testing.T) {
			if got := From(err); got != err {
				t.Fatalf("From(%v) = %v, want it unchanged", err, got)
			}
		})
	}
	if From(nil) != nil {
		t.Fatal("From(nil) must be nil")
	}
	if _, ok := ToCoded(temporal.NewApplicationError("boom", "PanicError")); ok {
		t.Fatal("a type that is not a code must not convert")
	}
}

func TestNonRetryableCoversEveryFinalCode(t *testing.T) {
	got := NonRetryable()
	for _, retried := range []errs.Code{errs.Unavailable, errs.RateLimited, errs.Internal} {
		if slices.Contains(got, string(retried)) {
			t.Errorf("NonRetryable() = %v lists %s, which is retried", got, retried)
		}
	}
	if !slices.Contains(got, string(errs.ResubmissionRejected)) || !slices.Contains(got, string(errs.Misconfigured)) || len(got) != len(errs.Codes)-3 {
		t.Fatalf("NonRetryable() = %v", got)
	}
}
