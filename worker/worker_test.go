package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/workflows/refund"

	"github.com/shopspring/decimal"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap/zaptest"

	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/internal/app"
	"github.com/certflow/certflow/internal/obs"
	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/paysim"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
	"github.com/certflow/certflow/workflows"
)

func startDevServer(t *testing.T, ctx context.Context) *testsuite.DevServer {
	t.Helper()
	args := []string{}
	for _, sa := range workflows.SearchAttributeTypes {
		args = append(args, "--search-attribute", sa)
	}
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  testenv.TemporalBin(t),
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
	cfg, err := parseConfig(nil, env(map[string]string{
		"TEMPORAL_ADDRESS":           srv.FrontendHostPort(),
		"CERTFLOW_DB":                dbPath,
		"CERTFLOW_CA_URL":            ca.URL,
		"CERTFLOW_CA_TOKEN":          "ca-token",
		"CERTFLOW_PAY_URL":           paySrv.URL,
		"CERTFLOW_PAY_TOKEN":         "pay-token",
		"CERTFLOW_PAY_POLL_INTERVAL": "100ms",
		"CERTFLOW_METRICS_ADDR":      metricsAddr,
		"CERTFLOW_PPROF":             "true",
		"CERTFLOW_DIAL_TIMEOUT":      "30s",
		"CERTFLOW_STOP_TIMEOUT":      "5s",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	tracing := obs.TracingFrom(tp)
	m := NewMain(cfg, zaptest.NewLogger(t))
	m.Options = []app.Option{app.WithTracing(tracing)}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- m.Run(runCtx) }()

	// The refund is started as the gateway starts it: by a client with the
	// tracing interceptor, inside the HTTP request's span.
	tracingInterceptor, err := tracing.Interceptor()
	if err != nil {
		t.Fatal(err)
	}
	starter, err := client.Dial(client.Options{HostPort: srv.FrontendHostPort(), Namespace: "default",
		Interceptors: []interceptor.ClientInterceptor{tracingInterceptor}})
	if err != nil {
		t.Fatal(err)
	}
	defer starter.Close()
	reqCtx, request := tp.Tracer("test").Start(ctx, "POST /v1/orders/{id}/refund")
	run, err := starter.ExecuteWorkflow(reqCtx, client.StartWorkflowOptions{
		ID: refund.WorkflowID(order.ID), TaskQueue: workflows.TaskQueue,
	}, refund.WorkflowName, refund.Input{OrderID: order.ID, Request: domain.RefundRequest{
		OrderID: order.ID, RequestedAt: time.Now(), Consent: true, ConfirmIrreversible: true,
	}})
	if err != nil {
		t.Fatalf("starting the refund: %v", err)
	}
	request.End()
	var st refund.Status
	if err := run.Get(ctx, &st); err != nil {
		t.Fatalf("refund workflow: %v", err)
	}
	if st.Outcome != refund.OutcomeRefunded || st.Payout == nil || st.Payout.Cash != "100.00" {
		t.Fatalf("refund ended %s (%s) with payout %+v, want refunded 100.00", st.Outcome, st.Message, st.Payout)
	}
	rec, err := db.GetRefund(ctx, order.ID)
	if err != nil {
		t.Fatalf("store has no refund record: %v", err)
	}
	if rec.Outcome != string(refund.OutcomeRefunded) || rec.PaymentID != st.Payout.PaymentID {
		t.Errorf("store record %+v, want refunded with payment %s", rec, st.Payout.PaymentID)
	}
	if _, c, err := db.GetCertificate(ctx, "c-worker-1"); err != nil || c.State != statemachine.Removed {
		t.Errorf("certificate in the store: %+v, %v; want removed", c, err)
	}

	// The SDK's metrics reach the registry at the reporter's interval, not
	// at once: read /metrics until they are there (or a generous limit).
	wantMetrics := []string{"temporal_workflow_completed_total", "temporal_activity_execution_latency_seconds_bucket",
		`outcome="refunded",rule="none",task_queue="certflow"`}
	var body string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		body = get(t, "http://"+metricsAddr+"/metrics")
		missing := slices.IndexFunc(wantMetrics, func(w string) bool { return !strings.Contains(body, w) })
		if missing < 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range wantMetrics {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%.2000s", want, body)
		}
	}
	if got := get(t, "http://"+metricsAddr+"/readyz"); got != "ready\n" {
		t.Errorf("/readyz = %q", got)
	}
	// CERTFLOW_PPROF: the heap profile an engineer takes with go tool pprof.
	if got := get(t, "http://"+metricsAddr+"/debug/pprof/heap?debug=1"); !strings.Contains(got, "heap profile:") {
		t.Errorf("/debug/pprof/heap = %.200q, want a heap profile", got)
	}

	// One trace from the request through the workflow to the CA's HTTP
	// calls and the payment activity.
	trace := request.SpanContext().TraceID()
	var inTrace []string
	for _, sp := range spans.Ended() {
		if sp.SpanContext().TraceID() == trace {
			inTrace = append(inTrace, sp.Name())
		}
	}
	for _, want := range []string{"StartWorkflow:RefundWorkflow", "RunWorkflow:RefundWorkflow", "RunActivity:Pay", "HTTP POST"} {
		found := false
		for _, n := range inTrace {
			found = found || strings.HasPrefix(n, want)
		}
		if !found {
			t.Errorf("the request's trace has no %s span; it has %q", want, inTrace)
		}
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

// TestWorkerRefusesNamespaceWithoutSearchAttributes: a namespace without
// the workflows' search attributes stops the worker at start, naming them.
func TestWorkerRefusesNamespaceWithoutSearchAttributes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath: testenv.TemporalBin(t), LogLevel: "error", Stdout: io.Discard,
		ExtraArgs: []string{"--search-attribute", "OrderId=Keyword"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	cfg, err := parseConfig(nil, env(map[string]string{
		"TEMPORAL_ADDRESS": srv.FrontendHostPort(), "CERTFLOW_DB": filepath.Join(t.TempDir(), "c.db"),
		"CERTFLOW_METRICS_ADDR": freeAddr(t), "CERTFLOW_DIAL_TIMEOUT": "30s",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	err = NewMain(cfg, zaptest.NewLogger(t)).Run(ctx)
	if err == nil {
		t.Fatal("the worker started on a namespace without its search attributes")
	}
	for _, want := range []string{"RefundStatus=Keyword", "Escalated=Bool", "not registered on namespace default", "temporal operator search-attribute create"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "OrderId") {
		t.Errorf("error %q names a registered attribute", err)
	}
}
