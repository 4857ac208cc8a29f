package paysim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/certflow/certflow/paysim"
)

func newSim(t *testing.T, path string, now *time.Time) *paysim.Sim {
	t.Helper()
	s, err := paysim.New(context.Background(), paysim.Config{Token: "tok", DB: path, SettleDelay: time.Second, Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func post(t *testing.T, url, key, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/refunds", bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer tok")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

const body = `{"order_id":"o-1","amount":"80.00","currency":"USD","destination":"original_method"}`

func TestProtocol(t *testing.T) {
	now := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	s := newSim(t, ":memory:", &now)
	defer s.Close()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	tests := []struct {
		name, key, body string
		status          int
		field, want     string
	}{
		{"first request creates", "k1", body, 201, "status", "pending"},
		{"same key and request replays", "k1", body, 200, "id", paysim.RefundID("k1")},
		{"same key, other request", "k1", `{"order_id":"o-1","amount":"79.99","currency":"USD","destination":"original_method"}`, 409, "", ""},
		{"no key", "", body, 400, "", ""},
		{"unknown field", "k2", `{"order_id":"o-1","amount":"1","currency":"USD","destination":"original_method","tip":1}`, 400, "", ""},
		{"negative amount", "k3", `{"order_id":"o-1","amount":"-1","currency":"USD","destination":"original_method"}`, 400, "", ""},
		{"bad currency", "k4", `{"order_id":"o-1","amount":"1","currency":"usd","destination":"original_method"}`, 400, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out := post(t, srv.URL, tc.key, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, out)
			}
			if tc.field != "" && out[tc.field] != tc.want {
				t.Fatalf("%s = %v, want %s", tc.field, out[tc.field], tc.want)
			}
		})
	}
	t.Run("no token", func(t *testing.T) {
		resp, err := http.Post(srv.URL+"/v1/refunds", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	})
}

// A refund settles when due, and a restarted simulator keeps its refunds
// and keys: the state is the database's alone.
func TestSettleAndRestart(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "paysim.db")
	s := newSim(t, path, &now)
	r, created, err := s.Create(ctx, "k1", paysim.RefundRequest{OrderID: "o-1", Amount: "80.00", Currency: "USD", Destination: paysim.OriginalMethod})
	if err != nil || !created || r.Status != paysim.StatusPending {
		t.Fatalf("create = %+v, %v, %v", r, created, err)
	}
	s.FailOriginalMethod("o-2", true)
	if _, _, err := s.Create(ctx, "k2", paysim.RefundRequest{OrderID: "o-2", Amount: "1", Currency: "USD", Destination: paysim.OriginalMethod}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, "k3", paysim.RefundRequest{OrderID: "o-2", Amount: "1", Currency: "USD", Destination: paysim.AccountBalance}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	now = now.Add(time.Second)
	s = newSim(t, path, &now)
	defer s.Close()
	s.FailOriginalMethod("o-2", true)
	want := map[string]string{"k1": paysim.StatusSucceeded, "k2": paysim.StatusFailed, "k3": paysim.StatusSucceeded}
	for key, status := range want {
		got, err := s.Get(ctx, key, true)
		if err != nil || got.Status != status || got.Settled == nil {
			t.Fatalf("%s after the restart = %+v, %v; want %s", key, got, err, status)
		}
	}
	again, created, err := s.Create(ctx, "k1", paysim.RefundRequest{OrderID: "o-1", Amount: "80.00", Currency: "USD", Destination: paysim.OriginalMethod})
	if err != nil || created || again.ID != r.ID || again.Status != paysim.StatusSucceeded {
		t.Fatalf("replay after the restart = %+v, %v, %v", again, created, err)
	}
	refs, err := s.List(ctx, "o-2")
	if err != nil || len(refs) != 2 {
		t.Fatalf("List(o-2) = %+v, %v", refs, err)
	}
}

func TestLookupsAndControls(t *testing.T) {
	now := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	s := newSim(t, ":memory:", &now)
	defer s.Close()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, out := call(http.MethodPut, "/admin/orders/o-1/fail-original-method", `{"fail":true}`); code != 200 || out["fail"] != true {
		t.Fatalf("switch: %d %v", code, out)
	}
	if code, _ := call(http.MethodPut, "/admin/orders/o-1/fail-original-method", `{}`); code != 400 {
		t.Fatalf("switch without fail: %d, want 400", code)
	}
	if code, _ := post(t, srv.URL, "k1", body); code != 201 {
		t.Fatalf("create: %d", code)
	}
	now = now.Add(time.Second)
	code, out := call(http.MethodGet, "/v1/refunds/"+paysim.RefundID("k1"), "")
	if code != 200 || out["status"] != paysim.StatusFailed || out["failure_reason"] == "" {
		t.Fatalf("GET by id: %d %v, want failed with a reason (the switch was on when it settled)", code, out)
	}
	if code, _ := call(http.MethodGet, "/v1/refunds/pay_nope", ""); code != 404 {
		t.Fatalf("unknown id: %d, want 404", code)
	}
	if code, _ := call(http.MethodGet, "/v1/refunds?idempotency_key=nope", ""); code != 404 {
		t.Fatalf("unknown key: %d, want 404", code)
	}
	if code, _ := call(http.MethodGet, "/v1/refunds", ""); code != 400 {
		t.Fatalf("lookup without a key: %d, want 400", code)
	}
	code, out = call(http.MethodGet, "/admin/refunds?order_id=o-1", "")
	if refs, _ := out["refunds"].([]any); code != 200 || len(refs) != 1 {
		t.Fatalf("list: %d %v", code, out)
	}
}
