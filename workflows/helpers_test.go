package workflows_test

import (
	"testing"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/policy"
)

func mustDecimal(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func mustRegistry(t *testing.T) *policy.Registry {
	t.Helper()
	reg, err := policy.LoadRegistry()
	if err != nil {
		t.Fatal(err)
	}
	return reg
}
