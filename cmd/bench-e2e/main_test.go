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
	} {
		_, err := parse(append([]string{"bench-e2e"}, args...), none, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want one containing %q", args, err, want)
		}
	}
}
