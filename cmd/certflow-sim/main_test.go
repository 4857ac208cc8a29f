package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certflow/certflow/internal/cli"
	"github.com/certflow/certflow/sim"
)

func TestSimulatePrintsResult(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"simulate", "-f", "../../testdata/scenarios/p12-gateway-prorated.json", "-check"}, &out, io.Discard)
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
	valid, err := os.ReadFile("../../testdata/scenarios/p01-ssl-unused-cash-only.json")
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
			err := run(context.Background(), []string{"simulate", "-f", path}, &bytes.Buffer{}, io.Discard)
			if err == nil {
				t.Fatal("want an error")
			}
			msg := strings.Join(strings.Fields(err.Error()), " ")
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q does not name %q", msg, tc.want)
			}
		})
	}
}

// A missing -f is a usage error (exit 2) naming the flag; a file that
// cannot be read is a failed run (exit 1); -h prints the usage (exit 0).
func TestSimulateExitStatuses(t *testing.T) {
	cases := []struct {
		args   []string
		status int
		want   string // in the error, or in the help printed
	}{
		{[]string{"simulate"}, cli.StatusUsage, "--file"},
		{[]string{"simulate", "-f"}, cli.StatusUsage, "--file"},
		{[]string{"simulate", "-f", "x.json", "--bogus"}, cli.StatusUsage, "--bogus"},
		{[]string{"simulate", "-f", "/does/not/exist.json"}, cli.StatusFailed, "exist.json"},
		{[]string{"-h"}, cli.StatusOK, "simulate"},
		{[]string{"simulate", "--help"}, cli.StatusOK, "--check"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tc.args, &out, io.Discard)
			if got := cli.Status(err); got != tc.status {
				t.Fatalf("status %d (err %v), want %d", got, err, tc.status)
			}
			text := out.String()
			if err != nil {
				text = err.Error()
			}
			if !strings.Contains(text, tc.want) {
				t.Fatalf("%q does not name %q", text, tc.want)
			}
		})
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
