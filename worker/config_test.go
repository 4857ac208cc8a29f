package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// required is the environment every valid case starts from.
var required = map[string]string{
	"CERTFLOW_DB":        "/tmp/certflow.db",
	"CERTFLOW_CA_URL":    "http://127.0.0.1:8081",
	"CERTFLOW_CA_TOKEN":  "secret",
	"CERTFLOW_PAY_URL":   "http://127.0.0.1:8082",
	"CERTFLOW_PAY_TOKEN": "pay-secret",
}

func env(extra map[string]string, drop ...string) func(string) string {
	m := map[string]string{}
	for k, v := range required {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	for _, k := range drop {
		delete(m, k)
	}
	return func(k string) string { return m[k] }
}

func TestParseConfig(t *testing.T) {
	tests := map[string]struct {
		env   map[string]string
		args  []string
		check func(t *testing.T, c Config)
	}{
		"defaults": {
			check: func(t *testing.T, c Config) {
				if c.Temporal.Address != "localhost:7233" || c.Temporal.Namespace != "default" {
					t.Errorf("temporal = %s/%s, want localhost:7233/default", c.Temporal.Address, c.Temporal.Namespace)
				}
				if c.MetricsAddr != ":9090" || c.StopTimeout != 10*time.Second || c.DialTimeout != time.Minute {
					t.Errorf("metrics %q stop %s dial %s, want :9090 10s 1m", c.MetricsAddr, c.StopTimeout, c.DialTimeout)
				}
				if c.Temporal.TLS() || c.DevLog {
					t.Errorf("TLS %v dev log %v, want both off", c.Temporal.TLS(), c.DevLog)
				}
			},
		},
		"environment is read": {
			env: map[string]string{"TEMPORAL_ADDRESS": "temporal:7233", "TEMPORAL_NAMESPACE": "certflow",
				"CERTFLOW_METRICS_ADDR": "127.0.0.1:9191", "CERTFLOW_STOP_TIMEOUT": "30s", "CERTFLOW_DEV_LOG": "true",
				"CERTFLOW_CALENDAR_FILE": "cal.json", "CERTFLOW_PROFILE_DIR": "profiles"},
			check: func(t *testing.T, c Config) {
				if c.Temporal.Address != "temporal:7233" || c.Temporal.Namespace != "certflow" || c.MetricsAddr != "127.0.0.1:9191" {
					t.Errorf("got %s %s %s", c.Temporal.Address, c.Temporal.Namespace, c.MetricsAddr)
				}
				if c.StopTimeout != 30*time.Second || !c.DevLog || c.CalendarFile != "cal.json" || c.ProfileDir != "profiles" {
					t.Errorf("got stop %s dev %v calendar %q profiles %q", c.StopTimeout, c.DevLog, c.CalendarFile, c.ProfileDir)
				}
			},
		},
		"flags override the environment": {
			env:  map[string]string{"TEMPORAL_ADDRESS": "from-env:7233", "CERTFLOW_DB": "env.db", "CERTFLOW_STOP_TIMEOUT": "30s"},
			args: []string{"-temporal-address", "from-flag:7233", "-db", "flag.db", "-stop-timeout", "3s"},
			check: func(t *testing.T, c Config) {
				if c.Temporal.Address != "from-flag:7233" || c.DB != "flag.db" || c.StopTimeout != 3*time.Second {
					t.Errorf("got %s %s %s, want the flags' values", c.Temporal.Address, c.DB, c.StopTimeout)
				}
			},
		},
		"an empty flag overrides the environment": {
			env:  map[string]string{"CERTFLOW_METRICS_ADDR": ":9191"},
			args: []string{"-metrics-addr="},
			check: func(t *testing.T, c Config) {
				if c.MetricsAddr != "" {
					t.Errorf("metrics addr = %q, want disabled", c.MetricsAddr)
				}
			},
		},
		"API key implies TLS": {
			env: map[string]string{"TEMPORAL_API_KEY": "key"},
			check: func(t *testing.T, c Config) {
				if !c.Temporal.TLS() {
					t.Fatal("TLS is off with an API key")
				}
				opts, err := c.Temporal.Options(nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if opts.ConnectionOptions.TLS == nil || opts.Credentials == nil {
					t.Errorf("options TLS %v credentials %v, want both set", opts.ConnectionOptions.TLS, opts.Credentials)
				}
			},
		},
		"no TLS without TLS settings": {
			check: func(t *testing.T, c Config) {
				opts, err := c.Temporal.Options(nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if opts.ConnectionOptions.TLS != nil || opts.Credentials != nil {
					t.Error("plain local connection got TLS or credentials")
				}
			},
		},
		"postgres DSN and payment provider": {
			env: map[string]string{"CERTFLOW_DB": "postgres://certflow@db:5432/certflow", "CERTFLOW_PAY_POLL_INTERVAL": "250ms"},
			check: func(t *testing.T, c Config) {
				if c.DB != "postgres://certflow@db:5432/certflow" || c.PayURL != "http://127.0.0.1:8082" || c.PayToken != "pay-secret" || c.PayPollInterval != 250*time.Millisecond {
					t.Errorf("config = %+v", c)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := parseConfig(tc.args, env(tc.env), io.Discard)
			if err != nil {
				t.Fatalf("parseConfig: %v", err)
			}
			tc.check(t, c)
		})
	}
}

func TestParseConfigRefusesBadValues(t *testing.T) {
	tests := map[string]struct {
		env  map[string]string
		drop []string
		args []string
		// want is a substring the error must contain, naming the setting.
		want string
	}{
		"bad duration in the environment": {env: map[string]string{"CERTFLOW_STOP_TIMEOUT": "soon"}, want: "CERTFLOW_STOP_TIMEOUT"},
		"bad boolean in the environment":  {env: map[string]string{"CERTFLOW_DEV_LOG": "maybe"}, want: "CERTFLOW_DEV_LOG"},
		"zero stop timeout":               {args: []string{"-stop-timeout", "0s"}, want: "CERTFLOW_STOP_TIMEOUT must be positive"},
		"negative dial timeout":           {env: map[string]string{"CERTFLOW_DIAL_TIMEOUT": "-1s"}, want: "CERTFLOW_DIAL_TIMEOUT must be positive"},
		"address without port":            {env: map[string]string{"TEMPORAL_ADDRESS": "localhost"}, want: "not host:port"},
		"empty namespace":                 {args: []string{"-temporal-namespace="}, want: "namespace is empty"},
		"certificate without key":         {env: map[string]string{"TEMPORAL_TLS_CERT": "client.pem"}, want: "set both or neither"},
		"missing database":                {drop: []string{"CERTFLOW_DB"}, want: "CERTFLOW_DB"},
		"missing CA URL":                  {drop: []string{"CERTFLOW_CA_URL"}, want: "CERTFLOW_CA_URL"},
		"relative CA URL":                 {env: map[string]string{"CERTFLOW_CA_URL": "ca.local/api"}, want: "not an absolute http(s) URL"},
		"missing CA token":                {drop: []string{"CERTFLOW_CA_TOKEN"}, want: "CERTFLOW_CA_TOKEN"},
		"missing payment URL":             {drop: []string{"CERTFLOW_PAY_URL"}, want: "CERTFLOW_PAY_URL"},
		"relative payment URL":            {env: map[string]string{"CERTFLOW_PAY_URL": "pay.local"}, want: "CERTFLOW_PAY_URL \"pay.local\" is not an absolute http(s) URL"},
		"missing payment token":           {drop: []string{"CERTFLOW_PAY_TOKEN"}, want: "CERTFLOW_PAY_TOKEN"},
		"zero poll interval":              {env: map[string]string{"CERTFLOW_PAY_POLL_INTERVAL": "0s"}, want: "CERTFLOW_PAY_POLL_INTERVAL must be positive"},
		"metrics address without port":    {env: map[string]string{"CERTFLOW_METRICS_ADDR": "9090"}, want: "CERTFLOW_METRICS_ADDR"},
		"unknown flag":                    {args: []string{"-nope"}, want: "flag provided but not defined"},
		"stray argument":                  {args: []string{"extra"}, want: "unexpected arguments"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parseConfig(tc.args, env(tc.env, tc.drop...), io.Discard)
			if err == nil {
				t.Fatal("parseConfig accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestTLSFilesAreReadWhenBuildingOptions(t *testing.T) {
	c, err := parseConfig(nil, env(map[string]string{"TEMPORAL_TLS_CERT": "/nonexistent/c.pem", "TEMPORAL_TLS_KEY": "/nonexistent/k.pem"}), io.Discard)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if _, err := c.Temporal.Options(nil, nil); err == nil || !strings.Contains(err.Error(), "loading TLS client certificate") {
		t.Errorf("Options with missing files: error %v, want one about the certificate", err)
	}
}
