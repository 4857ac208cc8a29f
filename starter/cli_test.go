package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/certflow/certflow/internal/cli"
)

// commands are starter's subcommands.
var commands = []string{"import", "eligibility", "refund", "status", "orders", "approve", "cancel"}

// -h, --help and `help COMMAND` print the usage on stdout and exit 0, on
// the root and on every subcommand, with or without a token.
func TestHelpExitsZero(t *testing.T) {
	t.Setenv(EnvToken, "")
	cases := [][]string{{"-h"}, {"--help"}, {"help"}}
	for _, c := range commands {
		cases = append(cases, []string{c, "-h"}, []string{c, "--help"}, []string{"help", c},
			// help wins over a missing required flag
			[]string{"--gateway", "http://127.0.0.1:1", c, "-h"})
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), args, &out, &errOut)
			if status := cli.Status(err); status != cli.StatusOK {
				t.Fatalf("status %d (%v), want 0", status, err)
			}
			want := "Usage: starter"
			for _, a := range args {
				if slices.Contains(commands, a) {
					want += " " + a
				}
			}
			if !strings.Contains(out.String(), want) || errOut.Len() != 0 {
				t.Fatalf("stdout %q does not contain %q (stderr %q)", out.String(), want, errOut.String())
			}
		})
	}
}

// A usage error exits 2 with one message naming the flag, the command or
// the variable; the gateway is never called.
func TestUsageErrorsExitTwo(t *testing.T) {
	gw := newFakeGateway(t)
	t.Setenv(EnvGateway, gw.URL)
	t.Setenv(EnvToken, "tok-0123456789abcdef")
	cases := []struct {
		args []string
		want string
	}{
		{nil, "expected one of"},
		{[]string{"frobnicate"}, "frobnicate"},
		{[]string{"refund", "--order", "o-1", "--bogus"}, "--bogus"},
		{[]string{"refund", "-order", "o-1", "-bogus"}, "--bogus"},
		{[]string{"approve", "--order", "o-1", "-actor", "ops"}, "--actor"},
		{[]string{"status"}, "--order"},
		{[]string{"refund"}, "--order"},
		{[]string{"status", "--order"}, "--order"},
		{[]string{"import"}, "--file"},
		{[]string{"orders", "--limit", "abc"}, "--limit"},
		{[]string{"orders", "--limit", "0"}, "--limit"},
		{[]string{"orders", "--escalated=maybe"}, "--escalated"},
		{[]string{"refund", "--order", "o-1", "--consent=perhaps"}, "--consent"},
		{[]string{"status", "--order", "o-1", "extra"}, "extra"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var errOut bytes.Buffer
			err := run(context.Background(), tc.args, io.Discard, io.Discard)
			if status := cli.Report("starter", err, &errOut); status != cli.StatusUsage {
				t.Fatalf("status %d (%v), want 2", status, err)
			}
			msg := errOut.String()
			if !strings.Contains(msg, tc.want) || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "--help") {
				t.Fatalf("message %q does not name %q in one line with where the usage is", msg, tc.want)
			}
		})
	}
	if n := gw.count(); n != 0 {
		t.Fatalf("the gateway was called %d times", n)
	}
	// No token is a usage error too, naming the variable.
	t.Setenv(EnvToken, " ")
	err := run(context.Background(), []string{"status", "--order", "o-1"}, io.Discard, io.Discard)
	if cli.Status(err) != cli.StatusUsage || !strings.Contains(err.Error(), EnvToken) {
		t.Fatalf("no token: %v (status %d)", err, cli.Status(err))
	}
}

// Every subcommand sends its typed flags to the gateway as the console API
// expects: booleans as booleans, the page size as a number, unset filters
// not at all; one dash or two, and the gateway from the flag or the
// environment.
func TestSubcommandsAgainstTheGateway(t *testing.T) {
	gw := newFakeGateway(t)
	t.Setenv(EnvToken, "tok-0123456789abcdef")
	t.Setenv(EnvGateway, gw.URL)
	cases := []struct {
		name string
		args []string
		want request
	}{
		{"import", []string{"import", "-f", "../testdata/scenarios/p01-ssl-unused-cash-only.json"},
			request{Method: "PUT", Path: "/v1/orders/", Body: map[string]any{"profile": "aliyun-intl"}}},
		{"import long flag", []string{"import", "--file=../testdata/scenarios/p01-ssl-unused-cash-only.json"},
			request{Method: "PUT", Path: "/v1/orders/", Body: map[string]any{"profile": "aliyun-intl"}}},
		{"eligibility defaults", []string{"eligibility", "-order", "o-1"},
			request{Method: "GET", Path: "/v1/orders/o-1/refund-eligibility",
				Query: url.Values{"consent": {"false"}, "confirm_irreversible": {"false"}, "accept_late_review_risk": {"false"}}}},
		{"eligibility bools", []string{"eligibility", "--order", "o 1", "--consent", "-confirm-irreversible", "--accept-late-review-risk=true"},
			request{Method: "GET", Path: "/v1/orders/o 1/refund-eligibility",
				Query: url.Values{"consent": {"true"}, "confirm_irreversible": {"true"}, "accept_late_review_risk": {"true"}}}},
		{"refund", []string{"refund", "-order", "o-1", "-consent", "--confirm-irreversible=false"},
			request{Method: "POST", Path: "/v1/orders/o-1/refund",
				Body: map[string]any{"consent": true, "confirm_irreversible": false, "accept_late_review_risk": false}}},
		{"status", []string{"status", "--order=o-1"}, request{Method: "GET", Path: "/v1/orders/o-1/refund"}},
		{"approve", []string{"approve", "-order", "o-1", "-note", "checked"},
			request{Method: "POST", Path: "/v1/orders/o-1/refund/approve", Body: map[string]any{"note": "checked"}}},
		{"cancel", []string{"cancel", "--order", "o-1", "--reason", "customer asked"},
			request{Method: "POST", Path: "/v1/orders/o-1/refund/cancel", Body: map[string]any{"reason": "customer asked"}}},
		{"orders defaults", []string{"orders"},
			request{Method: "GET", Path: "/v1/orders", Query: url.Values{"limit": {"50"}}}},
		{"orders legacy -state", []string{"orders", "-state", "awaiting_approval", "-product", "ssl_certificate", "-limit", "5"},
			request{Method: "GET", Path: "/v1/orders",
				Query: url.Values{"refund_state": {"awaiting_approval"}, "product": {"ssl_certificate"}, "limit": {"5"}}}},
		{"orders every filter", []string{"orders", "--refund-state", "none", "--waiting-on", "ca_review", "--escalated",
			"--outcome", "pending", "--limit", "7", "--cursor", "c-2"},
			request{Method: "GET", Path: "/v1/orders", Query: url.Values{"refund_state": {"none"}, "waiting_on": {"ca_review"},
				"escalated": {"true"}, "outcome": {"pending"}, "limit": {"7"}, "cursor": {"c-2"}}}},
		{"orders not escalated", []string{"orders", "--escalated=false"},
			request{Method: "GET", Path: "/v1/orders", Query: url.Values{"escalated": {"false"}, "limit": {"50"}}}},
		{"gateway flag after the command", []string{"status", "--order", "o-1", "--gateway", gw.URL + "/"},
			request{Method: "GET", Path: "/v1/orders/o-1/refund"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), tc.args, &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			got := gw.last()
			if got.Method != tc.want.Method || !strings.HasPrefix(got.Path, tc.want.Path) ||
				(tc.want.Method != "PUT" && got.Path != tc.want.Path) {
				t.Fatalf("sent %s %s, want %s %s", got.Method, got.Path, tc.want.Method, tc.want.Path)
			}
			if tc.want.Query == nil {
				tc.want.Query = url.Values{}
			}
			if !reflect.DeepEqual(got.Query, tc.want.Query) {
				t.Fatalf("query %v, want %v", got.Query, tc.want.Query)
			}
			for k, v := range tc.want.Body {
				if !reflect.DeepEqual(got.Body[k], v) {
					t.Fatalf("body %v: %s = %v, want %v", got.Body, k, got.Body[k], v)
				}
			}
			if got.Auth != "Bearer tok-0123456789abcdef" {
				t.Fatalf("authorization %q", got.Auth)
			}
			if !json.Valid(out.Bytes()) {
				t.Fatalf("output is not the gateway's JSON: %q", out.String())
			}
		})
	}
}

// A failed operation (the gateway refuses, or cannot be reached) exits 1.
func TestFailedOperationsExitOne(t *testing.T) {
	t.Setenv(EnvToken, "tok-0123456789abcdef")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"type":"https://certflow.dev/problems/conflict","title":"Conflict with the current state","status":409,"detail":"CAN-1: an irreversible step was taken","instance":"/v1/orders/o-1/refund/cancel","code":"conflict","rules":["CAN-1"]}`))
	}))
	defer srv.Close()
	for _, args := range [][]string{
		{"cancel", "--gateway", srv.URL, "--order", "o-1"},
		{"status", "--gateway", "http://127.0.0.1:1", "--order", "o-1"},
		{"import", "--gateway", srv.URL, "-f", "/does/not/exist.json"},
	} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		var errOut bytes.Buffer
		if status := cli.Report("starter", err, &errOut); status != cli.StatusFailed {
			t.Fatalf("%v: status %d (%v), want 1", args, status, err)
		}
		if strings.Contains(errOut.String(), "--help") {
			t.Fatalf("%v: a failed operation is no usage error: %q", args, errOut.String())
		}
	}
}

// request is what the fake gateway received.
type request struct {
	Method, Path, Auth string
	Query              url.Values
	Body               map[string]any
}

type fakeGateway struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

// newFakeGateway answers every call 200 with a JSON object and records it.
func newFakeGateway(t *testing.T) *fakeGateway {
	g := &fakeGateway{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := request{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Query: r.URL.Query()}
		_ = json.NewDecoder(r.Body).Decode(&req.Body)
		g.mu.Lock()
		g.reqs = append(g.reqs, req)
		g.mu.Unlock()
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *fakeGateway) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.reqs)
}

func (g *fakeGateway) last() request {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.reqs) == 0 {
		return request{}
	}
	return g.reqs[len(g.reqs)-1]
}
