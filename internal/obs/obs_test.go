package obs

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics answered %d", rec.Code)
	}
	return rec.Body.String()
}

func TestSDKTimersAreHistograms(t *testing.T) {
	m := NewMetrics()
	m.SDK.Counter("certflow_test_requests").Inc(3)
	m.SDK.Timer("temporal_activity_execution_latency").Record(3 * time.Second)
	if err := m.Close(); err != nil { // flushes the scope to the registry
		t.Fatal(err)
	}
	body := scrape(t, m.Handler())
	for _, want := range []string{
		"certflow_test_requests_total 3",
		"# TYPE temporal_activity_execution_latency_seconds histogram",
		`temporal_activity_execution_latency_seconds_bucket{le="5"} 1`,
		`temporal_activity_execution_latency_seconds_bucket{le="2"} 0`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%.3000s", want, body)
		}
	}
	if strings.Contains(body, "temporal_activity_execution_latency_seconds{quantile=") {
		t.Error("the SDK timer is still a summary")
	}
}

func TestDomainMetrics(t *testing.T) {
	m := NewMetrics()
	RefundFinished(m.SDK, "rejected", []string{"SSL-6", "T-3", "SSL-6"})
	RefundFinished(m.SDK, "refunded", nil)
	RefundMilestone(m.SDK, StepEscalated)
	RefundMilestone(m.SDK, StepPayFailed)
	RefundMilestone(m.SDK, "paid")
	CAReviewWaited(m.SDK, "approved", 2*time.Hour)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, m.Handler())
	for _, want := range []string{
		`certflow_refunds_total{outcome="rejected",rule="SSL-6"} 1`,
		`certflow_refunds_total{outcome="rejected",rule="T-3"} 1`,
		`certflow_refunds_total{outcome="refunded",rule="none"} 1`,
		`certflow_refund_milestones_total{step="pay_failed"} 1`,
		"certflow_escalations_total 1",
		"certflow_payment_fallbacks_total 1",
		`certflow_ca_review_wait_seconds_bucket{result="approved",le="3600"} 0`,
		`certflow_ca_review_wait_seconds_bucket{result="approved",le="14400"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestHTTPMetricsLabelByRouteAndStatus(t *testing.T) {
	m := NewMetrics()
	hm, err := NewHTTPMetrics(m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	h := hm.Middleware(func(r *http.Request) string {
		if strings.HasPrefix(r.URL.Path, "/v1/orders/") {
			return "GET /v1/orders/{id}/refund"
		}
		return ""
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/orders/o-2/refund" {
			http.Error(w, "nope", http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	for _, p := range []string{"/v1/orders/o-1/refund", "/v1/orders/o-2/refund", "/v1/orders/o-3/refund", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	body := scrape(t, m.Handler())
	for _, want := range []string{
		`certflow_http_requests_total{method="GET",route="GET /v1/orders/{id}/refund",status="200"} 2`,
		`certflow_http_requests_total{method="GET",route="GET /v1/orders/{id}/refund",status="404"} 1`,
		`certflow_http_requests_total{method="GET",route="unmatched",status="200"} 1`,
		`certflow_http_request_duration_seconds_count{method="GET",route="GET /v1/orders/{id}/refund",status="200"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "o-1") {
		t.Error("a raw path leaked into a label")
	}
}

func TestLoggerLevels(t *testing.T) {
	if err := (LogConfig{Level: "loud"}).Validate(); err == nil || !strings.Contains(err.Error(), `"loud"`) {
		t.Errorf("bad level: %v", err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	z := zap.New(core)
	(LogConfig{}).SDKLogger(z).Debug("poll")
	(LogConfig{}).SDKLogger(z).Info("started")
	(LogConfig{SDKDebug: true}).SDKLogger(z).Debug("poll asked for")
	var got []string
	for _, e := range logs.AllUntimed() {
		got = append(got, e.Message)
	}
	if strings.Join(got, ",") != "started,poll asked for" {
		t.Errorf("SDK lines = %q, want the debug line only when asked", got)
	}

	core, logs = observer.New(zapcore.InfoLevel)
	sdk := (LogConfig{}).SDKLogger(zap.New(core)).With(zap.String("ActivityType", "Revoke"))
	sdk.Error("Activity error.", zap.Int("Attempt", 2))
	sdk.Error("Workflow panic")
	var levels []string
	for _, e := range logs.AllUntimed() {
		levels = append(levels, e.Level.String()+" "+e.Message)
	}
	if strings.Join(levels, ",") != "warn Activity error.,error Workflow panic" {
		t.Errorf("SDK lines = %q, want the activity attempt at warn, the rest unchanged", levels)
	}
	if f := logs.AllUntimed()[0].ContextMap(); f["ActivityType"] != "Revoke" || f["Attempt"] != int64(2) {
		t.Errorf("fields lost: %v", f)
	}
}

func TestTracingOffWithoutEndpoint(t *testing.T) {
	tr, err := NewTracing(context.Background(), "certflow-test", "")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() {
		t.Error("tracing on without an endpoint")
	}
	if _, err := tr.Interceptor(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewTracing(context.Background(), "certflow-test", "collector:4317"); err == nil {
		t.Error("an endpoint without a scheme was accepted")
	}
	on, err := NewTracing(context.Background(), "certflow-test", "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if !on.Enabled() {
		t.Error("tracing off with an endpoint")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := on.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Logf("shutdown without a collector: %v", err)
	}
}

// TestSDKStillLogsActivityErrorsAsExpected holds sdkActivityError to the
// SDK in go.mod: if an upgrade renames the line, this fails instead of the
// downgrade silently stopping.
func TestSDKStillLogsActivityErrorsAsExpected(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk").Output()
	if err != nil {
		t.Fatalf("locating the SDK: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal", "internal_task_handlers.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), `logFunc("`+sdkActivityError+`"`) {
		t.Errorf("the SDK no longer logs activity attempts as %q", sdkActivityError)
	}
}

func TestStatusWriterKeepsTheErrorBodysStart(t *testing.T) {
	rec := httptest.NewRecorder()
	sw := &StatusWriter{ResponseWriter: rec, KeepErrorBody: 4}
	sw.WriteHeader(http.StatusConflict)
	sw.WriteHeader(http.StatusOK) // the first status stays
	_, _ = sw.Write([]byte("abc"))
	_, _ = sw.Write([]byte("def"))
	_, _ = sw.Write([]byte("ghi"))
	if sw.Status != http.StatusConflict || sw.ErrorBody.String() != "abcdef" || rec.Body.String() != "abcdefghi" {
		t.Errorf("status %d, kept %q, sent %q", sw.Status, sw.ErrorBody.String(), rec.Body.String())
	}
	ok := &StatusWriter{ResponseWriter: httptest.NewRecorder(), KeepErrorBody: 4}
	_, _ = ok.Write([]byte("fine"))
	if ok.Status != http.StatusOK || ok.ErrorBody.Len() != 0 {
		t.Errorf("success: status %d, kept %q", ok.Status, ok.ErrorBody.String())
	}
}
