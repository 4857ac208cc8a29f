package statemachine

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/certflow/certflow/errs"
)

// wantCode fails t unless err is a coded error of code whose message
// contains every one of parts.
func wantCode(t *testing.T, err error, code errs.Code, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if !errors.Is(err, &errs.Error{Code: code}) {
		t.Fatalf("got %v (code %s), want code %s", err, errs.CodeOf(err), code)
	}
	msg := errs.MessageOf(err)
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("message %q does not contain %q", msg, p)
		}
	}
}

// wantPlan fails t unless got equals want, printing both step by step.
func wantPlan(t *testing.T, got, want []PlanStep) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("plan:\n got %s\nwant %s", planString(got), planString(want))
	}
}

func planString(plan []PlanStep) string {
	var b strings.Builder
	for _, s := range plan {
		b.WriteString("\n  " + s.Certificate + ": " + string(s.From) + " --" + string(s.Event) + " [" + string(s.Kind) + "]--> " + string(s.To))
	}
	return b.String()
}
