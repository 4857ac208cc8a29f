package workflows_test

import (
	"context"
	"testing"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/workflows"
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

// devServer starts a Temporal dev server (the CLI of testenv.TemporalBin)
// with certflow's search attributes and the extra arguments, stopped when
// the test ends, and returns its client.
func devServer(ctx context.Context, t *testing.T, extra ...string) client.Client {
	t.Helper()
	for _, sa := range workflows.SearchAttributeTypes {
		extra = append(extra, "--search-attribute", sa)
	}
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{ExistingPath: testenv.TemporalBin(t), ExtraArgs: extra, LogLevel: "error",
		ClientOptions: &client.Options{Logger: quietLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv.Client()
}
