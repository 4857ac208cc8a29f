package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certflow/certflow/sim"
)

func TestSimulatePrintsResult(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"simulate", "-f", "../testdata/scenarios/p12-gateway-prorated.json", "-check"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Outcome string `json:"outcome"`
		Refund  struct {
			Cash string `json:"cash"`
		} `json:"refund"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	// GW-4 seed example: 1.60 × 240/300.
	if res.Outcome != "refunded" || res.Refund.Cash != "1.28" {
		t.Fatalf("result = %+v", res)
	}
}

func TestSimulateInvalidFilesFailWithOneLineNamingTheProblem(t *testing.T) {
	valid, err := os.ReadFile("../testdata/scenarios/p01-ssl-unused-cash-only.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		body string
		want string
	}{
		"not JSON":             {`{"name":`, "invalid scenario JSON"},
		"unknown profile":      {strings.Replace(string(valid), `"aliyun-intl"`, `"acme"`, 1), "profile"},
		"unknown product":      {strings.Replace(string(valid), `"ssl_certificate"`, `"toaster"`, 1), "order.product"},
		"unknown currency":     {strings.Replace(string(valid), `"USD"`, `"XYZ"`, 1), "order.currency"},
		"unknown event":        {strings.Replace(string(valid), `"refund.requested"`, `"refund.maybe"`, 1), "events[0].type"},
		"event before payment": {strings.Replace(string(valid), `"2026-03-04T09:00:00+08:00"`, `"2026-03-01T09:00:00+08:00"`, 1), "events[0].at"},
		// The intake validator, shared with PUT /v1/orders/{id}.
		"negative cash":    {strings.Replace(string(valid), `"cash": "80.00"`, `"cash": "-80.00"`, 1), "order.payment.cash"},
		"sub-cent cash":    {strings.Replace(string(valid), `"cash": "80.00"`, `"cash": "80.001"`, 1), "order.payment.cash"},
		"cash above price": {strings.Replace(string(valid), `"cash": "80.00"`, `"cash": "180.00"`, 1), "order.payment"},
		"99-year validity": {strings.Replace(string(valid), `"validity_years": 1`, `"validity_years": 99`, 1), "order.validity_years"},
		"1e400 price":      {strings.Replace(string(valid), `"price": "100.00"`, `"price": 1e400`, 1), "order.price"},
		"1,000 events":     {thousandEvents(t, valid), "events: 1000 events"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.json")
			if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			err := run(context.Background(), []string{"simulate", "-f", path}, &bytes.Buffer{})
			if err == nil {
				t.Fatal("want an error")
			}
			msg := oneLine(err.Error())
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q does not name %q", msg, tc.want)
			}
		})
	}
}

func TestSimulateNeedsAFile(t *testing.T) {
	if err := run(context.Background(), []string{"simulate"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "-f") {
		t.Fatalf("err = %v", err)
	}
	if err := run(context.Background(), []string{"simulate", "-f", "/does/not/exist.json"}, &bytes.Buffer{}); err == nil {
		t.Fatal("a missing file must fail")
	}
}

func TestConsoleCommandsReportGatewayErrors(t *testing.T) {
	t.Setenv(EnvToken, "tok-0123456789abcdef")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-0123456789abcdef" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthenticated","message":"no token"}}`))
			return
		}
		switch r.URL.Path {
		case "/v1/orders/o-1/refund/cancel":
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error":{"code":"conflict","message":"CAN-1: an irreversible step was taken","rules":["CAN-1"]}}`))
		case "/v1/orders/o-1/refund":
			_, _ = w.Write([]byte(`{"status":{"state":"refunded"}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"status", "-gateway", srv.URL, "-order", "o-1"}, &out); err != nil || !strings.Contains(out.String(), "refunded") {
		t.Fatalf("status: %v %q", err, out.String())
	}
	err := run(context.Background(), []string{"cancel", "-gateway", srv.URL, "-order", "o-1"}, &out)
	if err == nil || !strings.Contains(err.Error(), "CAN-1") || !strings.Contains(err.Error(), "409") {
		t.Fatalf("cancel error = %v, want the 409 with its rule", err)
	}
	if err := run(context.Background(), []string{"approve", "-gateway", srv.URL}, &out); err == nil || !strings.Contains(err.Error(), "-order") {
		t.Fatalf("approve without order: %v", err)
	}
}

// thousandEvents repeats the scenario's last event until the timeline has
// 1,000: a timeline the simulator cannot run, refused before it starts.
func thousandEvents(t *testing.T, valid []byte) string {
	t.Helper()
	var sc map[string]any
	if err := json.Unmarshal(valid, &sc); err != nil {
		t.Fatal(err)
	}
	evs := sc["events"].([]any)
	for len(evs) < 1000 {
		evs = append(evs, evs[len(evs)-1])
	}
	sc["events"] = evs
	b, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Ctrl-C stops simulate promptly, even while a run is under way.
func TestSimulateStopsOnInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	defer close(release)
	errc := make(chan error, 1)
	go func() {
		_, err := runInterruptibly(ctx, func() (sim.Result, error) { <-release; return sim.Result{}, nil })
		errc <- err
	}()
	cancel()
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err = %v, want interrupted", err)
	}
}

// The token comes from the environment, is sent as a bearer token, and is
// never printed.
func TestConsoleCommandsNeedATokenFromTheEnvironment(t *testing.T) {
	t.Setenv(EnvToken, "")
	err := run(context.Background(), []string{"status", "-gateway", "http://127.0.0.1:1", "-order", "o-1"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), EnvToken) {
		t.Fatalf("err = %v, want one naming %s", err, EnvToken)
	}
	t.Setenv(EnvToken, "secret-token-0123456789")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"error":{"code":"forbidden","message":"this call needs the operator role; demo-console has the console role"}}`))
	}))
	defer srv.Close()
	err = run(context.Background(), []string{"approve", "-gateway", srv.URL, "-order", "o-1"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), "secret-token") {
		t.Fatalf("approve with a console token: %v", err)
	}
	if err := run(context.Background(), []string{"approve", "-gateway", srv.URL, "-order", "o-1", "-actor", "ops"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "-actor") {
		t.Fatalf("-actor must be refused (the actor is the token's subject): %v", err)
	}
}

// import PUTs the order of a file, bare or inside a scenario.
func TestImport(t *testing.T) {
	t.Setenv(EnvToken, "tok-0123456789abcdef")
	var got struct {
		method, path string
		body         map[string]any
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path = r.Method, r.URL.Path
		_ = json.NewDecoder(r.Body).Decode(&got.body)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"created":true}`))
	}))
	defer srv.Close()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"import", "-gateway", srv.URL, "-f", "../testdata/scenarios/p01-ssl-unused-cash-only.json"}, &out); err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPut || !strings.HasPrefix(got.path, "/v1/orders/") || got.body["profile"] != "aliyun-intl" || got.body["id"] == nil {
		t.Fatalf("sent %s %s %v", got.method, got.path, got.body)
	}
	if err := run(context.Background(), []string{"import", "-gateway", srv.URL}, &out); err == nil || !strings.Contains(err.Error(), "-f") {
		t.Fatalf("import without -f: %v", err)
	}
}
