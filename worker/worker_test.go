package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap/zaptest"

	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/paysim"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
	"github.com/certflow/certflow/workflows"
)

// temporalBin is the Temporal CLI the dev-server tests run: the one `make
// temporal` builds, or CERTFLOW_TEMPORAL_BIN.
func temporalBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("CERTFLOW_TEMPORAL_BIN")
	if bin == "" {
		bin = filepath.Join("..", "bin", "temporal")
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CERTFLOW_REQUIRE_E2E") != "" {
			t.Fatalf("no Temporal CLI at %s (run `make temporal` or set CERTFLOW_TEMPORAL_BIN): %v", bin, err)
		}
		t.Skipf("no Temporal CLI at %s (run `make temporal` or set CERTFLOW_TEMPORAL_BIN): %v", bin, err)
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func startDevServer(t *testing.T, ctx context.Context) *testsuite.DevServer {
	t.Helper()
	args := []string{}
	for _, sa := range workflows.SearchAttributeTypes {
		args = append(args, "--search-attribute", sa)
	}
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  temporalBin(t),
		ClientOptions: &client.Options{Namespace: "default", Logger: temporalx.NewZapLogger(zaptest.NewLogger(t))},
		LogLevel:      "error",
		Stdout:        io.Discard,
		ExtraArgs:     args,
	})
	if err != nil {
		t.Fatalf("starting the dev server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Logf("stopping the dev server: %v", err)
		}
	})
	return srv
}

// TestWorkerRunsRefund runs the assembled worker against a dev server, the
// SQLite store and casim: a pending application is withdrawn and removed
// at the CA, the cash goes back, and the store records the payout.
func TestWorkerRunsRefund(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := startDevServer(t, ctx)

	sim, err := casim.New(casim.Config{Token: "ca-token"})
	if err != nil {
		t.Fatal(err)
	}
	ca := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { ca.Close(); sim.Close() })

	dbPath := filepath.Join(t.TempDir(), "certflow.db")
	db, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	paid := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	order := domain.Order{
		ID: "o-worker-1", Product: domain.SSLCertificate, Profile: "aliyun-intl", PaidAt: paid,
		Currency: "USD", Price: decimal.RequireFromString("100.00"),
		Payment:       domain.Payment{Cash: decimal.RequireFromString("100.00")},
		ValidityYears: 1,
		Certificates:  []domain.Certificate{{ID: "c-worker-1", State: statemachine.PendingApplication}},
	}
	if err := db.PutOrder(ctx, order); err != nil {
		t.Fatal(err)
	}

	pay, err := paysim.New(ctx, paysim.Config{Token: "pay-token", DB: ":memory:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pay.Close() })
	paySrv := httptest.NewServer(pay.Handler())
	t.Cleanup(paySrv.Close)

	metricsAddr := freeAddr(t)
	m := NewMain(Config{
		Temporal:        temporalx.ClientConfig{Address: srv.FrontendHostPort(), Namespace: "default"},
		DB:              dbPath,
		CAURL:           ca.URL,
		CAToken:         "ca-token",
		PayURL:          paySrv.URL,
		PayToken:        "pay-token",
		PayPollInterval: 100 * time.Millisecond,
		MetricsAddr:     metricsAddr,
		DialTimeout:     30 * time.Second,
		StopTimeout:     5 * time.Second,
	}, zaptest.NewLogger(t))
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- m.Run(runCtx) }()

	run, err := srv.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.RefundWorkflowID(order.ID), TaskQueue: workflows.TaskQueue,
	}, workflows.RefundWorkflow, workflows.RefundInput{OrderID: order.ID, Request: domain.RefundRequest{
		OrderID: order.ID, RequestedAt: time.Now(), Consent: true, ConfirmIrreversible: true,
	}})
	if err != nil {
		t.Fatalf("starting the refund: %v", err)
	}
	var st workflows.RefundStatus
	if err := run.Get(ctx, &st); err != nil {
		t.Fatalf("refund workflow: %v", err)
	}
	if st.Outcome != workflows.OutcomeRefunded || st.Payout == nil || st.Payout.Cash != "100.00" {
		t.Fatalf("refund ended %s (%s) with payout %+v, want refunded 100.00", st.Outcome, st.Message, st.Payout)
	}
	rec, err := db.GetRefund(ctx, order.ID)
	if err != nil {
		t.Fatalf("store has no refund record: %v", err)
	}
	if rec.Outcome != string(workflows.OutcomeRefunded) || rec.PaymentID != st.Payout.PaymentID {
		t.Errorf("store record %+v, want refunded with payment %s", rec, st.Payout.PaymentID)
	}
	if _, c, err := db.GetCertificate(ctx, "c-worker-1"); err != nil || c.State != statemachine.Removed {
		t.Errorf("certificate in the store: %+v, %v; want removed", c, err)
	}

	body := get(t, "http://"+metricsAddr+"/metrics")
	if !strings.Contains(body, "temporal_workflow_completed_total") {
		t.Errorf("/metrics lacks temporal_workflow_completed_total:\n%.2000s", body)
	}

	// SIGINT/SIGTERM end the context main passes to Run.
	stop()
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run after a stop: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if _, err := http.Get("http://" + metricsAddr + "/metrics"); err == nil {
		t.Error("metrics still served after the worker stopped")
	}
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}
