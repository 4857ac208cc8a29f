package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/workflows"
)

// temporalServer is where a test's workflows run: a dev server of its own
// (the default), or, under CERTFLOW_TEMPORAL_ADDRESS (make
// test-real-temporal: the real server on PostgreSQL that
// scripts/with-temporal-server runs), a namespace of its own on that server,
// so tests running at once never share a task queue.
type temporalServer struct {
	client    client.Client
	address   string
	namespace string
	real      bool
}

// startTemporal gives the test its Temporal server, with certflow's search
// attributes registered. extraDevArgs are dev-server flags (dynamic config
// values); the real server has its configuration, so a test that needs them
// is not run there (make test-real-temporal's -run list leaves it out).
func startTemporal(t *testing.T, ctx context.Context, extraDevArgs ...string) *temporalServer {
	t.Helper()
	quiet := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if addr := testenv.TemporalAddress(); addr != "" {
		if len(extraDevArgs) > 0 {
			t.Fatalf("this test needs dev-server flags %v, which the real server at %s (CERTFLOW_TEMPORAL_ADDRESS) lacks", extraDevArgs, addr)
		}
		ns := realNamespace(t, ctx, addr)
		c, err := client.Dial(client.Options{HostPort: addr, Namespace: ns, Logger: quiet})
		if err != nil {
			t.Fatalf("real Temporal server %s: %v", addr, err)
		}
		t.Cleanup(c.Close)
		return &temporalServer{client: c, address: addr, namespace: ns, real: true}
	}
	extra := append([]string(nil), extraDevArgs...)
	for _, sa := range workflows.SearchAttributeTypes {
		extra = append(extra, "--search-attribute", sa)
	}
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{ExistingPath: testenv.TemporalBin(t), ExtraArgs: extra, LogLevel: "error",
		ClientOptions: &client.Options{Logger: quiet}, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatalf("dev server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return &temporalServer{client: srv.Client(), address: srv.FrontendHostPort(), namespace: "default"}
}

// realNamespace registers a namespace for the test on the server at addr
// with certflow's search attributes, and waits until the server serves it
// (its namespace cache and SQL visibility know it).
func realNamespace(t *testing.T, ctx context.Context, addr string) string {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
	ns := "e2e-" + strings.Trim(name, "-") + "-" + hex.EncodeToString(b)
	t.Logf("real Temporal server %s, namespace %s", addr, ns)
	nc, err := client.NewNamespaceClient(client.Options{HostPort: addr, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("real Temporal server %s: %v", addr, err)
	}
	defer nc.Close()
	if err := nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{Namespace: ns,
		WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)}); err != nil {
		t.Fatalf("registering namespace %s: %v", ns, err)
	}
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: ns, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(90 * time.Second)
	var last error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		last = func() error {
			if _, err := temporalx.EnsureSearchAttributes(ctx, c, ns, workflows.SearchAttributeTypes); err != nil {
				return err
			}
			if err := temporalx.CheckSearchAttributes(ctx, c, ns, workflows.SearchAttributeTypes); err != nil {
				return err
			}
			_, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns, Query: "OrderId = 'probe'"})
			return err
		}()
		if last == nil {
			return ns
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("namespace %s not served after 90s: %v", ns, last)
	return ""
}

// temporalCtl runs the real server's control command (kill, start).
func temporalCtl(t *testing.T, what string) {
	t.Helper()
	ctl := testenv.TemporalCtl()
	if ctl == "" {
		t.Fatalf("CERTFLOW_TEMPORAL_ADDRESS is set without CERTFLOW_TEMPORAL_CTL: this test kills and restarts the server; run it under scripts/with-temporal-server")
	}
	out, err := exec.Command(ctl, what).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", ctl, what, err, out)
	}
	t.Logf("%s %s: %s", ctl, what, strings.TrimSpace(string(out)))
}
