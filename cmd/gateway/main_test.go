package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"github.com/certflow/certflow/internal/testenv"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/internal/app"
	"github.com/certflow/certflow/internal/obs"
	"github.com/certflow/certflow/outbound"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
	"github.com/certflow/certflow/webhook"
	"github.com/certflow/certflow/workflows"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// consoleToken is the console API token the tests' gateway accepts.
const consoleToken = "console-secret-0123456789"

var consoleAuth = http.Header{"Authorization": {"Bearer " + consoleToken}}

func environ(extra map[string]string, drop ...string) []string {
	m := map[string]string{
		"CERTFLOW_DB":              "/tmp/certflow.db",
		"CERTFLOW_WEBHOOK_SECRETS": "whsec_" + base64.StdEncoding.EncodeToString(secret),
		"TEMPORAL_CONFIG_FILE":     filepath.Join(os.TempDir(), "certflow-no-such-temporal.toml"),
		"CERTFLOW_TOKENS":          "test-console:console:" + consoleToken,
	}
	for k, v := range extra {
		m[k] = v
	}
	for _, k := range drop {
		delete(m, k)
	}
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

func TestParseConfig(t *testing.T) {
	c, err := parseConfig(nil, environ(map[string]string{
		"CERTFLOW_WEBHOOK_SECRETS": "whsec_" + base64.StdEncoding.EncodeToString(secret) + ", whsec_" + base64.StdEncoding.EncodeToString([]byte("older-secret-older-secret")),
		"TEMPORAL_NAMESPACE":       "certflow",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tokens == nil || c.Tokens.Len() != 1 {
		t.Errorf("tokens %v, want the one of CERTFLOW_TOKENS", c.Tokens)
	}
	if c.Addr != ":8080" || len(c.WebhookSecrets) != 2 || c.Temporal.Namespace() != "certflow" {
		t.Errorf("addr %q, %d secrets, namespace %q", c.Addr, len(c.WebhookSecrets), c.Temporal.Namespace())
	}
	if c.WriteTimeout != time.Minute || c.ReadHeaderTimeout != 5*time.Second || c.ShutdownTimeout != 20*time.Second || c.WebhookTolerance != 5*time.Minute {
		t.Errorf("timeouts %+v", c)
	}
	if c.Events.Enabled() || !c.Dispatch || c.Events.MaxInFlight != 16 || c.Events.Lease != time.Minute {
		t.Errorf("events %+v, dispatch %v: want defaults and no endpoint", c.Events, c.Dispatch)
	}
	evSecret := "whsec_" + base64.StdEncoding.EncodeToString(secret)
	c, err = parseConfig([]string{"-event-max-in-flight", "4"}, environ(map[string]string{
		"CERTFLOW_EVENT_ENDPOINTS": "console=https://console.example/hooks",
		"CERTFLOW_EVENT_SECRETS":   "console=" + evSecret,
		"CERTFLOW_EVENT_DISPATCH":  "false",
	}), io.Discard)
	if err != nil || !c.Events.Enabled() || c.Dispatch || c.Events.MaxInFlight != 4 || len(c.Events.Endpoints[0].Secrets) != 1 {
		t.Errorf("events: %+v, dispatch %v, %v", c.Events, c.Dispatch, err)
	}
	c, err = parseConfig([]string{"-addr", "127.0.0.1:9999", "-write-timeout", "2m"}, environ(nil), io.Discard)
	if err != nil || c.Addr != "127.0.0.1:9999" || c.WriteTimeout != 2*time.Minute {
		t.Errorf("flags: %+v %v", c, err)
	}
}

func TestParseConfigRefusesBadValues(t *testing.T) {
	tests := map[string]struct {
		env  map[string]string
		drop []string
		args []string
		want string
	}{
		"no webhook secret":        {drop: []string{"CERTFLOW_WEBHOOK_SECRETS"}, want: "CERTFLOW_WEBHOOK_SECRETS (-webhook-secrets) is required"},
		"webhook secret not whsec": {env: map[string]string{"CERTFLOW_WEBHOOK_SECRETS": "whsec_!!notbase64"}, want: "CERTFLOW_WEBHOOK_SECRETS: secret 1 is not whsec_<base64>"},
		"no database":              {drop: []string{"CERTFLOW_DB"}, want: "CERTFLOW_DB"},
		"no console API token":     {drop: []string{"CERTFLOW_TOKENS"}, want: "CERTFLOW_TOKENS"},
		"token file missing":       {env: map[string]string{"CERTFLOW_TOKENS_FILE": "/nonexistent/tokens"}, want: "CERTFLOW_TOKENS_FILE: cannot open /nonexistent/tokens"},
		"short token secret":       {env: map[string]string{"CERTFLOW_TOKENS": "c:console:short"}, want: "at least 16"},
		"address without port":     {args: []string{"-addr", "8080"}, want: "CERTFLOW_GATEWAY_ADDR"},
		"zero write timeout":       {env: map[string]string{"CERTFLOW_WRITE_TIMEOUT": "0s"}, want: "CERTFLOW_WRITE_TIMEOUT"},
		"bad shutdown timeout":     {env: map[string]string{"CERTFLOW_SHUTDOWN_TIMEOUT": "soon"}, want: `CERTFLOW_SHUTDOWN_TIMEOUT="soon" (from the environment) is not a duration`},
		"bad Temporal address":     {env: map[string]string{"TEMPORAL_ADDRESS": "temporal"}, want: "TEMPORAL_ADDRESS"},
		"event endpoint not a URL": {env: map[string]string{"CERTFLOW_EVENT_ENDPOINTS": "console=console.example"}, want: "CERTFLOW_EVENT_ENDPOINTS"},
		"event endpoint no secret": {env: map[string]string{"CERTFLOW_EVENT_ENDPOINTS": "console=https://console.example/hooks"}, want: "CERTFLOW_EVENT_SECRETS"},
		"event secret short": {env: map[string]string{"CERTFLOW_EVENT_ENDPOINTS": "console=https://console.example/hooks",
			"CERTFLOW_EVENT_SECRETS": "console=whsec_" + base64.StdEncoding.EncodeToString([]byte("!!notbase64"))}, want: "CERTFLOW_EVENT_SECRETS"},
		"event lease below timeout": {env: map[string]string{"CERTFLOW_EVENT_LEASE": "5s"}, want: "CERTFLOW_EVENT_TIMEOUT"},
		"event dispatch not a bool": {env: map[string]string{"CERTFLOW_EVENT_DISPATCH": "sometimes"}, want: "CERTFLOW_EVENT_DISPATCH"},
		"no token nor OIDC issuer":  {drop: []string{"CERTFLOW_TOKENS"}, want: "(or CERTFLOW_OIDC_ISSUER, for identities from an OIDC provider)"},
		"OIDC issuer without audience": {env: map[string]string{"CERTFLOW_OIDC_ISSUER": "https://idp.example/realms/certflow"},
			want: "CERTFLOW_OIDC_AUDIENCE is required with CERTFLOW_OIDC_ISSUER"},
		"OIDC audience without issuer": {env: map[string]string{"CERTFLOW_OIDC_AUDIENCE": "certflow"}, want: "CERTFLOW_OIDC_AUDIENCE is set but CERTFLOW_OIDC_ISSUER is not"},
		"OIDC issuer plain http": {env: map[string]string{"CERTFLOW_OIDC_ISSUER": "http://idp.example", "CERTFLOW_OIDC_AUDIENCE": "certflow"},
			want: "CERTFLOW_OIDC_ISSUER \"http://idp.example\" must be https"},
		"OIDC role map to an unknown role": {args: []string{"-oidc-issuer", "https://idp.example", "-oidc-audience", "certflow", "-oidc-role-map", "admins=admin"},
			want: `CERTFLOW_OIDC_ROLE_MAP: "admins" maps to "admin", not operator or console`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parseConfig(tc.args, environ(tc.env, tc.drop...), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "!!notbase64") {
				t.Errorf("error %q repeats a secret", err)
			}
		})
	}
}

// OIDC settings: off by default; with an issuer and an audience, static
// tokens become optional; the roles claim and role map have defaults.
func TestParseConfigOIDC(t *testing.T) {
	c, err := parseConfig(nil, environ(nil), io.Discard)
	if err != nil || c.OIDC != nil {
		t.Fatalf("default: OIDC %v, %v; want off", c.OIDC, err)
	}
	c, err = parseConfig([]string{"-oidc-audience", "certflow-api"}, environ(map[string]string{
		"CERTFLOW_OIDC_ISSUER":      "https://idp.example/realms/certflow",
		"CERTFLOW_OIDC_ROLES_CLAIM": "realm_access.roles",
	}, "CERTFLOW_TOKENS"), io.Discard)
	if err != nil || c.OIDC == nil || c.Tokens.Len() != 0 {
		t.Fatalf("OIDC only: %v, tokens %d, %v", c.OIDC, c.Tokens.Len(), err)
	}
	want := `issuer https://idp.example/realms/certflow, audience certflow-api, roles claim "realm_access.roles" (certflow-operator→operator)`
	if got := c.OIDC.String(); got != want {
		t.Errorf("OIDC %s, want %s", got, want)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestGatewayServes runs the gateway program on a dev server and a store:
// health and readiness, the API judged by the shared policies, a CA
// callback accepted and one refused and both counted, the request metrics
// by route; readiness drops when Temporal goes; SIGTERM's context stops it.
func TestGatewayServes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var saArgs []string
	for _, sa := range workflows.SearchAttributeTypes {
		saArgs = append(saArgs, "--search-attribute", sa)
	}
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath: testenv.TemporalBin(t), LogLevel: "error", Stdout: io.Discard, ExtraArgs: saArgs,
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = srv.Stop()
		}
	}()
	dbPath := filepath.Join(t.TempDir(), "certflow.db")
	db, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	order := domain.Order{
		ID: "o-gw-1", Product: domain.SSLCertificate, Profile: "aliyun-intl", PaidAt: time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second),
		Currency: "USD", Price: decimal.RequireFromString("100.00"), Payment: domain.Payment{Cash: decimal.RequireFromString("100.00")},
		ValidityYears: 1, Certificates: []domain.Certificate{{ID: "c-gw-1", State: statemachine.PendingApplication}},
	}
	if err := db.PutOrder(ctx, order); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	addr := freeAddr(t)
	cfg, err := parseConfig(nil, environ(map[string]string{
		"TEMPORAL_ADDRESS": srv.FrontendHostPort(), "CERTFLOW_DB": dbPath, "CERTFLOW_GATEWAY_ADDR": addr,
		"CERTFLOW_DIAL_TIMEOUT": "30s", "CERTFLOW_SHUTDOWN_TIMEOUT": "5s",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	spans := tracetest.NewSpanRecorder()
	m := NewMain(cfg, zaptest.NewLogger(t))
	m.Options = []app.Option{app.WithTracing(obs.TracingFrom(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))))}
	ran := make(chan error, 1)
	go func() { ran <- m.Run(runCtx) }()
	base := "http://" + addr
	waitFor(t, base+"/healthz")

	if code, body := call(t, "GET", base+"/readyz", nil, nil); code != 200 {
		t.Errorf("/readyz = %d %s", code, body)
	}
	if code, body := call(t, "GET", base+"/v1/orders/o-gw-1/refund-eligibility", consoleAuth, nil); code != 200 || !strings.Contains(body, `"eligible":true`) {
		t.Errorf("eligibility = %d %s", code, body)
	}
	if code, _ := call(t, "GET", base+"/v1/orders/o-gw-1/refund-eligibility", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("eligibility without a token = %d, want 401", code)
	}
	call(t, "GET", base+"/v1/orders/o-missing/refund-eligibility", consoleAuth, nil)
	// A refund request's span, named by route, is the parent of the
	// Temporal client's StartWorkflow span: the trace reaches the workflow.
	if code, body := call(t, "POST", base+"/v1/orders/o-gw-1/refund", consoleAuth, []byte(`{"consent":true}`)); code != http.StatusAccepted {
		t.Errorf("refund request = %d %s", code, body)
	}
	// The 202 answers once the request is recorded; the dispatcher starts
	// the workflow right after, in the request's trace.
	var httpSpan, startSpan sdktrace.ReadOnlySpan
	for end := time.Now().Add(10 * time.Second); (httpSpan == nil || startSpan == nil) && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		for _, sp := range spans.Ended() {
			switch sp.Name() {
			case "POST /v1/orders/{id}/refund":
				httpSpan = sp
			case "StartWorkflow:RefundWorkflow":
				startSpan = sp
			}
		}
	}
	if httpSpan == nil || startSpan == nil {
		t.Errorf("spans: request %v, start %v; want both", httpSpan != nil, startSpan != nil)
	} else if startSpan.Parent().SpanID() != httpSpan.SpanContext().SpanID() {
		t.Error("StartWorkflow is not a child of the request's span")
	}
	event := []byte(`{"event_id":"ev-1","certificate":"c-gw-1","type":"validation_passed","occurred_at":"` + time.Now().UTC().Format(time.RFC3339) + `"}`)
	if code, body := call(t, "POST", base+"/v1/ca/callbacks", webhook.Headers(secret, "msg-1", time.Now(), event), event); code != 200 {
		t.Errorf("signed callback = %d %s", code, body)
	}
	if code, _ := call(t, "POST", base+"/v1/ca/callbacks", webhook.Headers([]byte("wrong-secret-wrong-secret-wrong!"), "msg-2", time.Now(), event), event); code != 401 {
		t.Errorf("badly signed callback = %d, want 401", code)
	}
	time.Sleep(1500 * time.Millisecond) // the SDK handler's scope reports every second
	_, metrics := call(t, "GET", base+"/metrics", nil, nil)
	for _, want := range []string{
		`certflow_http_requests_total{method="GET",route="GET /v1/orders/{id}/refund-eligibility",status="200"} 1`,
		`certflow_http_requests_total{method="GET",route="GET /v1/orders/{id}/refund-eligibility",status="404"} 1`,
		`certflow_http_request_duration_seconds_bucket{method="POST",route="POST /v1/ca/callbacks",status="401"`,
		`certflow_ca_callbacks_total{reason="ok",result="accepted"} 1`,
		`certflow_ca_callbacks_total{reason="unauthenticated",result="refused"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if code, _ := call(t, "GET", base+"/readyz", nil, nil); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz without Temporal = %d, want 503", code)
	}
	if code, _ := call(t, "GET", base+"/healthz", nil, nil); code != 200 {
		t.Errorf("/healthz without Temporal = %d, want 200 (the process is alive)", code)
	}
	stop()
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run after a stop: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still serving after the stop")
	}
}

func waitFor(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never answered 200", url)
}

func call(t *testing.T, method, url string, h http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The dispatcher stays off, saying why once at INFO, without endpoints or
// with CERTFLOW_EVENT_DISPATCH=false; neither needs the store.
func TestEventDispatcherOff(t *testing.T) {
	withEndpoint := outbound.Config{Endpoints: []outbound.EndpointConfig{{Name: "console", URL: "https://console.example/hooks", Secrets: [][]byte{secret}}}}
	tests := map[string]struct {
		events   outbound.Config
		dispatch bool
		want     string
	}{
		"no endpoints":    {outbound.Config{}, true, "no endpoints configured"},
		"dispatch is off": {withEndpoint, false, "CERTFLOW_EVENT_DISPATCH=false"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			m := NewMain(Config{Events: tc.events, Dispatch: tc.dispatch}, zap.New(core))
			if err := m.startEvents(context.Background()); err != nil {
				t.Fatal(err)
			}
			if m.stopEvents != nil {
				t.Error("a dispatcher was started")
			}
			if l := logs.FilterMessageSnippet(tc.want).All(); len(l) != 1 || logs.Len() != 1 {
				t.Errorf("logs %v, want one line saying %q", logs.All(), tc.want)
			}
		})
	}
}
