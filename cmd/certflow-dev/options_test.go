package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/outbound"
)

func TestParseOptions(t *testing.T) {
	o, err := parseOptions(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.fresh || o.temporalPort != 7233 || o.uiPort != 8233 || o.gatewayAddr != "127.0.0.1:8080" ||
		o.casimAddr != "127.0.0.1:8081" || o.metricsAddr != "127.0.0.1:9090" || o.reviewDelay != 5*time.Second {
		t.Errorf("defaults = %+v", o)
	}
	if o.topology != topologyDev || len(o.gatewayAddrs()) != 1 || len(o.metricsAddrs()) != 1 {
		t.Errorf("topology %q with gateways %v and workers %v, want dev with one of each", o.topology, o.gatewayAddrs(), o.metricsAddrs())
	}
	if !o.versioning || o.buildID == "" {
		t.Errorf("versioning %v build ID %q, want the worker versioned by default, with a build ID", o.versioning, o.buildID)
	}
	o, err = parseOptions([]string{"-fresh=false", "-temporal-port", "17233", "-gateway-addr", "127.0.0.1:18080", "-for", "1m"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.fresh || o.temporalPort != 17233 || o.gatewayAddr != "127.0.0.1:18080" || o.runFor != time.Minute {
		t.Errorf("flags not applied: %+v", o)
	}
}

func TestParseOptionsRefusesBadValues(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"port out of range":     {[]string{"-ui-port", "70000"}, "-ui-port 70000 is not a port"},
		"address without port":  {[]string{"-gateway-addr", "localhost"}, "-gateway-addr"},
		"port zero":             {[]string{"-metrics-addr", ":0"}, "fixed port"},
		"negative review delay": {[]string{"-review-delay", "-1s"}, "must not be negative"},
		"stray argument":        {[]string{"now"}, "unexpected arguments"},
		"empty build ID":        {[]string{"-build-id", ""}, "-build-id must not be empty"},
		"unknown topology":      {[]string{"-topology", "cluster"}, `-topology "cluster": want dev or production`},
		"production on the dev server": {[]string{"-topology", "production", "-db", "postgres://u@h/db"},
			"give -temporal-address and a postgres:// -db"},
		"production on SQLite": {[]string{"-topology", "production", "-temporal-address", "127.0.0.1:7233"},
			"give -temporal-address and a postgres:// -db"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parseOptions(tc.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// The production topology runs two workers and two gateways on the real
// server and PostgreSQL.
func TestParseOptionsProductionTopology(t *testing.T) {
	o, err := parseOptions([]string{"-topology", "production", "-temporal-address", "127.0.0.1:27233", "-db", "postgres://certflow@127.0.0.1:5432/postgres",
		"-gateway2-addr", "127.0.0.1:18084", "-metrics2-addr", "127.0.0.1:19091"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if gws := o.gatewayAddrs(); len(gws) != 2 || gws[0] != "127.0.0.1:8080" || gws[1] != "127.0.0.1:18084" {
		t.Errorf("gateways %v, want 127.0.0.1:8080 and 127.0.0.1:18084", gws)
	}
	if ws := o.metricsAddrs(); len(ws) != 2 || ws[1] != "127.0.0.1:19091" {
		t.Errorf("workers' metrics %v, want two, the second on 127.0.0.1:19091", ws)
	}
	if o.webUI() != "" {
		t.Errorf("Web UI %q on the real server, which has none", o.webUI())
	}
}

func TestLocalURL(t *testing.T) {
	tests := map[string]string{
		":8080":          "http://127.0.0.1:8080",
		"0.0.0.0:9090":   "http://127.0.0.1:9090",
		"127.0.0.1:8081": "http://127.0.0.1:8081",
		"[::]:8080":      "http://127.0.0.1:8080",
		"example.test:1": "http://example.test:1",
	}
	for addr, want := range tests {
		if got := localURL(addr); got != want {
			t.Errorf("localURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

// The demo configures its dispatcher through the settings a gateway reads,
// so they must pass the same checks.
func TestDemoEventSettingsAreValid(t *testing.T) {
	r := &runner{o: options{sinkAddr: "127.0.0.1:18083"}, eventSecret: make([]byte, 32)}
	s := r.eventSettings()
	cfg, err := outbound.ParseConfig(func(k string) string { return s[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Endpoints) != 1 || cfg.Endpoints[0].URL != "http://127.0.0.1:18083/events" || len(cfg.Endpoints[0].Secrets) != 1 {
		t.Errorf("demo endpoints %+v", cfg.Endpoints)
	}
}
