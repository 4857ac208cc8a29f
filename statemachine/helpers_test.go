package statemachine

import (
	"slices"
	"strings"
	"testing"
)

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
