package refund_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/log"

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

var paidAt = time.Date(2026, 3, 2, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

func quietLogger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}
