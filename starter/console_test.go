package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestConsoleCommandsReportGatewayErrors(t *testing.T) {
	t.Setenv(EnvToken, "tok-0123456789abcdef")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-0123456789abcdef" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"type":"https://certflow.dev/problems/unauthenticated","title":"Unauthenticated","status":401,"detail":"no token","instance":"/v1/orders/o-1/refund","code":"unauthenticated","rules":[]}`))
			return
		}
		switch r.URL.Path {
		case "/v1/orders/o-1/refund/cancel":
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"type":"https://certflow.dev/problems/conflict","title":"Conflict with the current state","status":409,"detail":"CAN-1: an irreversible step was taken","instance":"/v1/orders/o-1/refund/cancel","code":"conflict","rules":["CAN-1"]}`))
		case "/v1/orders/o-1/refund":
			_, _ = w.Write([]byte(`{"status":{"state":"refunded"}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"status", "-gateway", srv.URL, "-order", "o-1"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "refunded") {
		t.Fatalf("status: %v %q", err, out.String())
	}
	err := run(context.Background(), []string{"cancel", "-gateway", srv.URL, "-order", "o-1"}, &out, io.Discard)
	if want := "POST /v1/orders/o-1/refund/cancel: 409 conflict: CAN-1: an irreversible step was taken [CAN-1]"; err == nil || err.Error() != want {
		t.Fatalf("cancel error = %v, want %q", err, want)
	}
	if err := run(context.Background(), []string{"approve", "-gateway", srv.URL}, &out, io.Discard); err == nil || !strings.Contains(err.Error(), "-order") {
		t.Fatalf("approve without order: %v", err)
	}
}

// The token comes from the environment, is sent as a bearer token, and is
// never printed.
func TestConsoleCommandsNeedATokenFromTheEnvironment(t *testing.T) {
	t.Setenv(EnvToken, "")
	err := run(context.Background(), []string{"status", "-gateway", "http://127.0.0.1:1", "-order", "o-1"}, &bytes.Buffer{}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), EnvToken) {
		t.Fatalf("err = %v, want one naming %s", err, EnvToken)
	}
	t.Setenv(EnvToken, "secret-token-0123456789")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"type":"https://certflow.dev/problems/forbidden","title":"Forbidden","status":403,"detail":"this call needs the operator role; demo-console has the console role","instance":"/v1/orders/o-1/refund/approve","code":"forbidden","rules":[]}`))
	}))
	defer srv.Close()
	err = run(context.Background(), []string{"approve", "-gateway", srv.URL, "-order", "o-1"}, &bytes.Buffer{}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), "secret-token") {
		t.Fatalf("approve with a console token: %v", err)
	}
	if err := run(context.Background(), []string{"approve", "-gateway", srv.URL, "-order", "o-1", "-actor", "ops"}, &bytes.Buffer{}, io.Discard); err == nil || !strings.Contains(err.Error(), "-actor") {
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
	if err := run(context.Background(), []string{"import", "-gateway", srv.URL, "-f", "../testdata/scenarios/p01-ssl-unused-cash-only.json"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPut || !strings.HasPrefix(got.path, "/v1/orders/") || got.body["profile"] != "aliyun-intl" || got.body["id"] == nil {
		t.Fatalf("sent %s %s %v", got.method, got.path, got.body)
	}
	if err := run(context.Background(), []string{"import", "-gateway", srv.URL}, &out, io.Discard); err == nil || !strings.Contains(err.Error(), "-f") {
		t.Fatalf("import without -f: %v", err)
	}
}
