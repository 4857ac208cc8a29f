package main

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/certflow/certflow/bench"
)

func TestParseReadsFlagsAndEnvironment(t *testing.T) {
	getenv := func(k string) string {
		return map[string]string{"BENCH_WORKER_ENV": "CERTFLOW_STICKY_CACHE_SIZE=500 CERTFLOW_MAX_ACTIVITIES=10", "CERTFLOW_CONSOLE_TOKEN": "tok"}[k]
	}
	o, err := parse([]string{"bench-e2e", "-mode", "waiting", "-waiting", "10000", "-concurrency", "20", "-out", ""}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Mode != bench.ModeWaiting || c.Waiting != 10000 || c.Concurrency != 20 || c.ConsoleToken != "tok" || o.out != "" {
		t.Errorf("config = %+v, out %q", c, o.out)
	}
	if !slices.Equal(c.WorkerEnv, []string{"CERTFLOW_STICKY_CACHE_SIZE=500", "CERTFLOW_MAX_ACTIVITIES=10"}) {
		t.Errorf("worker env = %q", c.WorkerEnv)
	}
}

func TestParseRefusesBadSettings(t *testing.T) {
	none := func(string) string { return "" }
	for want, args := range map[string][]string{
		"mode":              {"-mode", "fast"},
		"concurrency":       {"-concurrency", "0"},
		"not NAME=value":    {"-worker-env", "STICKY"},
		"unexpected":        {"extra"},
		"flag provided but": {"-nope"},
		`-api-clients "50,x": "x" is not a whole number`: {"-api-clients", "50,x"},
		`-api-clients "": empty list`:                    {"-api-clients", ""},
		"api-clients: 50 given twice":                    {"-mode", "api", "-api-clients", "50,50"},
		"inflight 0: must be at least 1":                 {"-mode", "api", "-inflight", "0"},
		"api-requests -1":                                {"-api-requests", "-1"},
	} {
		_, err := parse(append([]string{"bench-e2e"}, args...), none, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want one containing %q", args, err, want)
		}
	}
}

func TestParseReadsTheAPIFlags(t *testing.T) {
	o, err := parse([]string{"bench-e2e", "-mode", "api", "-inflight", "20", "-api-clients", "5, 10", "-api-requests", "30", "-api-background", "0"},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Mode != bench.ModeAPI || c.InFlight != 20 || !slices.Equal(c.APIClients, []int{5, 10}) || c.APIRequests != 30 || c.APIBackground != 0 {
		t.Errorf("config = %+v", c)
	}
	d, err := parse([]string{"bench-e2e"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if d.cfg.InFlight != 2000 || !slices.Equal(d.cfg.APIClients, []int{50, 200}) || d.cfg.APIRequests != 1000 {
		t.Errorf("defaults: inflight %d, clients %v, requests %d; want the issue's 2000 and 50,200, and 1000", d.cfg.InFlight, d.cfg.APIClients, d.cfg.APIRequests)
	}
	small, err := parse([]string{"bench-e2e", "-mode", "api", "-inflight", "20", "-api-clients", "5"}, func(string) string { return "" }, io.Discard)
	if err != nil || small.cfg.APIRequests != 25 {
		t.Errorf("-api-clients 5: %d requests, %v; want 25 (five per client)", small.cfg.APIRequests, err)
	}
}

// The baseline worker's flag is the harness's, not the user's: -h does
// not list it.
func TestHelpHidesTheBaselineWorkerFlag(t *testing.T) {
	var out strings.Builder
	_, err := parse([]string{"bench-e2e", "-h"}, func(string) string { return "" }, &out)
	if err == nil || !strings.Contains(out.String(), "-api-clients") {
		t.Fatalf("-h: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "baseline-worker") {
		t.Errorf("-h lists the hidden flag:\n%s", out.String())
	}
}

func TestCommandLineQuotesWhatAShellWould(t *testing.T) {
	got := commandLine([]string{"-mode", "api", "-out", "", "-worker-env", "A=1 B=2", "-x", "it's"})
	want := `bench-e2e -mode api -out '' -worker-env 'A=1 B=2' -x 'it'\''s'`
	if got != want {
		t.Errorf("commandLine = %s, want %s", got, want)
	}
}
