// Package testenv finds what the dev-server tests need, in one place: the
// Temporal CLI that `make temporal` builds. It also decides, once for every
// package, whether its absence skips a test or fails it: under
// CERTFLOW_REQUIRE_E2E (set by `make test`, so by CI) a missing CLI fails.
package testenv

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
)

// TemporalBin returns the absolute path of the Temporal CLI:
// CERTFLOW_TEMPORAL_BIN, or bin/temporal at the module's root.
func TemporalBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("CERTFLOW_TEMPORAL_BIN")
	if bin == "" {
		bin = filepath.Join(moduleRoot(t), "bin", "temporal")
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CERTFLOW_REQUIRE_E2E") != "" {
			t.Fatalf("no Temporal CLI at %s and CERTFLOW_REQUIRE_E2E is set (run `make temporal`): %v", bin, err)
		}
		t.Skipf("no Temporal CLI at %s (run `make temporal` or set CERTFLOW_TEMPORAL_BIN): %v", bin, err)
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// moduleRoot is the nearest folder above the test's working directory
// that holds a go.mod.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}

// DeadlockDetectionTimeout replaces the SDK's one second in the workers that
// tests run in their own process. Under the race detector on a busy 2-core
// machine a workflow coroutine can wait longer than a second for a CPU; the
// SDK then reports a deadlock that is not one, and its dispatcher races after
// such a report (temporalio/sdk-go#1240), failing the test for the machine's
// load rather than for the code. Real blocking calls in workflow code are
// caught statically by `make workflowcheck`.
const DeadlockDetectionTimeout = 10 * time.Second

// WorkerOptions are the options of a worker run inside a test process.
func WorkerOptions() worker.Options {
	return worker.Options{DeadlockDetectionTimeout: DeadlockDetectionTimeout}
}

// TemporalAddress is the frontend (host:port) of an existing Temporal server
// the end-to-end suites run on instead of starting dev servers of their own:
// CERTFLOW_TEMPORAL_ADDRESS, which scripts/with-temporal-server sets for the
// real server (PostgreSQL persistence and visibility) of make
// test-real-temporal; empty for the dev server.
func TemporalAddress() string { return os.Getenv("CERTFLOW_TEMPORAL_ADDRESS") }

// TemporalCtl is the command that kills (`CTL kill`) and starts again
// (`CTL start`) the server of TemporalAddress on its databases and ports:
// CERTFLOW_TEMPORAL_CTL, set by scripts/with-temporal-server.
func TemporalCtl() string { return os.Getenv("CERTFLOW_TEMPORAL_CTL") }

// RealServerBin is the folder holding the real Temporal server of `make
// temporal-server` (temporal-server, temporal-sql-tool and the schema in
// temporal-schema): bin/ at the module's root. Its absence skips the test,
// or fails it under CERTFLOW_REQUIRE_E2E.
func RealServerBin(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(moduleRoot(t), "bin")
	for _, f := range []string{"temporal-server", "temporal-sql-tool", filepath.Join("temporal-schema", "postgresql", "v12")} {
		if _, err := os.Stat(filepath.Join(bin, f)); err != nil {
			if os.Getenv("CERTFLOW_REQUIRE_E2E") != "" {
				t.Fatalf("no %s in %s and CERTFLOW_REQUIRE_E2E is set (run `make temporal-server`): %v", f, bin, err)
			}
			t.Skipf("no %s in %s (run `make temporal-server`): %v", f, bin, err)
		}
	}
	return bin
}
