package main

import (
	"io"
	"os"
	"path/filepath"
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

func env(extra map[string]string, drop ...string) []string {
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
	// No Temporal configuration file of the machine's user leaks in.
	if _, ok := m["TEMPORAL_CONFIG_FILE"]; !ok {
		m["TEMPORAL_CONFIG_FILE"] = filepath.Join(os.TempDir(), "certflow-no-such-temporal.toml")
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

func TestParseConfig(t *testing.T) {
	tests := map[string]struct {
		env   map[string]string
		args  []string
		check func(t *testing.T, c Config)
	}{
		"defaults": {
			check: func(t *testing.T, c Config) {
				if c.Temporal.Address() != "localhost:7233" || c.Temporal.Namespace() != "default" {
					t.Errorf("temporal = %s/%s, want localhost:7233/default", c.Temporal.Address(), c.Temporal.Namespace())
				}
				if c.MetricsAddr != ":9090" || c.StopTimeout != 10*time.Second || c.DialTimeout != time.Minute {
					t.Errorf("metrics %q stop %s dial %s, want :9090 10s 1m", c.MetricsAddr, c.StopTimeout, c.DialTimeout)
				}
				if c.ReviewPoll != time.Hour || c.Payments.PollInterval != time.Second {
					t.Errorf("review poll %s payment poll %s, want 1h 1s", c.ReviewPoll, c.Payments.PollInterval)
				}
				if c.Temporal.TLS() || c.Log.Dev || c.Log.SDKDebug || c.Log.Level != "info" || c.OTLPEndpoint != "" {
					t.Errorf("TLS %v log %+v otlp %q, want TLS, dev log, SDK debug and tracing off, level info", c.Temporal.TLS(), c.Log, c.OTLPEndpoint)
				}
			},
		},
		"environment is read": {
			env: map[string]string{"TEMPORAL_ADDRESS": "temporal:7233", "TEMPORAL_NAMESPACE": "certflow",
				"CERTFLOW_METRICS_ADDR": "127.0.0.1:9191", "CERTFLOW_STOP_TIMEOUT": "30s", "CERTFLOW_DEV_LOG": "true",
				"CERTFLOW_CALENDAR_FILE": "cal.json", "CERTFLOW_PROFILE_DIR": "profiles"},
			check: func(t *testing.T, c Config) {
				if c.Temporal.Address() != "temporal:7233" || c.Temporal.Namespace() != "certflow" || c.MetricsAddr != "127.0.0.1:9191" {
					t.Errorf("got %s %s %s", c.Temporal.Address(), c.Temporal.Namespace(), c.MetricsAddr)
				}
				if c.StopTimeout != 30*time.Second || !c.Log.Dev || c.CalendarFile != "cal.json" || c.ProfileDir != "profiles" {
					t.Errorf("got stop %s dev %v calendar %q profiles %q", c.StopTimeout, c.Log.Dev, c.CalendarFile, c.ProfileDir)
				}
			},
		},
		"worker versioning": {
			env:  map[string]string{"CERTFLOW_VERSIONING": "true", "CERTFLOW_BUILD_ID": "1.4.0"},
			args: []string{"-deployment-name", "certflow-eu"},
			check: func(t *testing.T, c Config) {
				if o := c.Versioning.DeploymentOptions(); !o.UseVersioning || o.Version.DeploymentName != "certflow-eu" || o.Version.BuildID != "1.4.0" {
					t.Errorf("deployment options %+v, want version certflow-eu/1.4.0", o)
				}
			},
		},
		"flags override the environment": {
			env:  map[string]string{"TEMPORAL_ADDRESS": "from-env:7233", "CERTFLOW_DB": "env.db", "CERTFLOW_STOP_TIMEOUT": "30s"},
			args: []string{"-temporal-address", "from-flag:7233", "-db", "flag.db", "-stop-timeout", "3s"},
			check: func(t *testing.T, c Config) {
				if c.Temporal.Address() != "from-flag:7233" || c.DB != "flag.db" || c.StopTimeout != 3*time.Second {
					t.Errorf("got %s %s %s, want the flags' values", c.Temporal.Address(), c.DB, c.StopTimeout)
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
		"mTLS from the SDK's variables": {
			env: map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": "c.pem", "TEMPORAL_TLS_CLIENT_KEY_PATH": "k.pem", "TEMPORAL_TLS_SERVER_NAME": "ns.tmprl.cloud"},
			check: func(t *testing.T, c Config) {
				if !c.Temporal.TLS() || c.Temporal.Profile.TLS.ServerName != "ns.tmprl.cloud" {
					t.Errorf("TLS %v profile %+v", c.Temporal.TLS(), c.Temporal.Profile.TLS)
				}
			},
		},
		"Temporal profile from its TOML file": {
			env: map[string]string{"TEMPORAL_CONFIG_FILE": writeFile(t, "temporal.toml",
				"[profile.prod]\naddress = \"ns.a1b2c.tmprl.cloud:7233\"\nnamespace = \"ns.a1b2c\"\napi_key = \"k\"\n"),
				"TEMPORAL_PROFILE": "prod"},
			check: func(t *testing.T, c Config) {
				if c.Temporal.Address() != "ns.a1b2c.tmprl.cloud:7233" || c.Temporal.Namespace() != "ns.a1b2c" || !c.Temporal.TLS() {
					t.Errorf("temporal = %s/%s TLS %v, want the prod profile with TLS", c.Temporal.Address(), c.Temporal.Namespace(), c.Temporal.TLS())
				}
			},
		},
		"config file below the environment and the flags": {
			env: map[string]string{"CERTFLOW_CONFIG": writeFile(t, "worker.env",
				"# worker settings\nCERTFLOW_STOP_TIMEOUT=45s\nCERTFLOW_METRICS_ADDR=\":9300\"\nTEMPORAL_NAMESPACE=from-file\nCERTFLOW_CA_TOKEN=file-token\n"),
				"CERTFLOW_CA_TOKEN": "env-token"},
			args: []string{"-metrics-addr", ":9400"},
			check: func(t *testing.T, c Config) {
				if c.StopTimeout != 45*time.Second || c.Temporal.Namespace() != "from-file" {
					t.Errorf("stop %s namespace %s, want the file's", c.StopTimeout, c.Temporal.Namespace())
				}
				if c.CAToken != "env-token" || c.MetricsAddr != ":9400" {
					t.Errorf("token %q metrics %q, want the environment's and the flag's", c.CAToken, c.MetricsAddr)
				}
			},
		},
		"postgres DSN and payment provider": {
			env: map[string]string{"CERTFLOW_DB": "postgres://certflow@db:5432/certflow", "CERTFLOW_PAY_POLL_INTERVAL": "250ms", "CERTFLOW_REVIEW_POLL": "15m"},
			check: func(t *testing.T, c Config) {
				if c.DB != "postgres://certflow@db:5432/certflow" || c.Payments.URL != "http://127.0.0.1:8082" || c.Payments.Token != "pay-secret" ||
					c.Payments.PollInterval != 250*time.Millisecond || c.ReviewPoll != 15*time.Minute {
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
		"bad duration in the environment":    {env: map[string]string{"CERTFLOW_STOP_TIMEOUT": "soon"}, want: "CERTFLOW_STOP_TIMEOUT"},
		"bad boolean in the environment":     {env: map[string]string{"CERTFLOW_DEV_LOG": "maybe"}, want: "CERTFLOW_DEV_LOG"},
		"zero stop timeout":                  {args: []string{"-stop-timeout", "0s"}, want: "CERTFLOW_STOP_TIMEOUT=\"0s\" (from flag -stop-timeout) must be positive"},
		"negative dial timeout":              {env: map[string]string{"CERTFLOW_DIAL_TIMEOUT": "-1s"}, want: "CERTFLOW_DIAL_TIMEOUT=\"-1s\" (from the environment) must be positive"},
		"address without port":               {env: map[string]string{"TEMPORAL_ADDRESS": "localhost"}, want: "TEMPORAL_ADDRESS \"localhost\" is not host:port"},
		"certificate without key":            {env: map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": "client.pem"}, want: "set both or neither"},
		"unknown log level":                  {env: map[string]string{"CERTFLOW_LOG_LEVEL": "loud"}, want: "CERTFLOW_LOG_LEVEL"},
		"OTLP endpoint without scheme":       {env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}, want: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		"missing config file":                {env: map[string]string{"CERTFLOW_CONFIG": "/nonexistent/worker.env"}, want: "config file (CERTFLOW_CONFIG)"},
		"unknown Temporal profile":           {env: map[string]string{"TEMPORAL_PROFILE": "nope"}, want: "TEMPORAL_PROFILE"},
		"missing database":                   {drop: []string{"CERTFLOW_DB"}, want: "CERTFLOW_DB"},
		"missing CA URL":                     {drop: []string{"CERTFLOW_CA_URL"}, want: "CERTFLOW_CA_URL"},
		"relative CA URL":                    {env: map[string]string{"CERTFLOW_CA_URL": "ca.local/api"}, want: "not an absolute http(s) URL"},
		"missing CA token":                   {drop: []string{"CERTFLOW_CA_TOKEN"}, want: "CERTFLOW_CA_TOKEN"},
		"missing payment URL":                {drop: []string{"CERTFLOW_PAY_URL"}, want: "CERTFLOW_PAY_URL"},
		"relative payment URL":               {env: map[string]string{"CERTFLOW_PAY_URL": "pay.local"}, want: "CERTFLOW_PAY_URL \"pay.local\" is not an absolute http(s) URL"},
		"missing payment token":              {drop: []string{"CERTFLOW_PAY_TOKEN"}, want: "CERTFLOW_PAY_TOKEN"},
		"zero poll interval":                 {env: map[string]string{"CERTFLOW_PAY_POLL_INTERVAL": "0s"}, want: "CERTFLOW_PAY_POLL_INTERVAL=\"0s\" (from the environment) must be positive"},
		"zero review poll":                   {env: map[string]string{"CERTFLOW_REVIEW_POLL": "0s"}, want: "CERTFLOW_REVIEW_POLL=\"0s\" (from the environment) must be positive"},
		"metrics address without port":       {env: map[string]string{"CERTFLOW_METRICS_ADDR": "9090"}, want: "CERTFLOW_METRICS_ADDR"},
		"profiles without a metrics address": {env: map[string]string{"CERTFLOW_PPROF": "true"}, args: []string{"-metrics-addr", ""}, want: "CERTFLOW_PPROF serves the profiles on CERTFLOW_METRICS_ADDR, which is empty"},
		"bad profiles boolean":               {env: map[string]string{"CERTFLOW_PPROF": "sometimes"}, want: "CERTFLOW_PPROF"},
		"versioning without a build ID":      {env: map[string]string{"CERTFLOW_VERSIONING": "true"}, want: "CERTFLOW_BUILD_ID is required"},
		"bad versioning boolean":             {env: map[string]string{"CERTFLOW_VERSIONING": "yes please"}, want: "CERTFLOW_VERSIONING"},
		"CA bundle missing":                  {env: map[string]string{"CERTFLOW_CA_TLS_CA_FILE": "/nonexistent/ca.pem"}, want: "CERTFLOW_CA_TLS_CA_FILE: CA bundle: open /nonexistent/ca.pem"},
		"payment CA bundle missing":          {env: map[string]string{"CERTFLOW_PAY_TLS_CA_FILE": "/nonexistent/pay.pem"}, want: "CERTFLOW_PAY_TLS_CA_FILE: CA bundle: open /nonexistent/pay.pem"},
		"unknown flag":                       {args: []string{"-nope"}, want: "flag provided but not defined"},
		"stray argument":                     {args: []string{"extra"}, want: "unexpected arguments"},
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
	c, err := parseConfig(nil, env(map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": "/nonexistent/c.pem", "TEMPORAL_TLS_CLIENT_KEY_PATH": "/nonexistent/k.pem"}), io.Discard)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if _, err := c.Temporal.Options(nil, nil); err == nil || !strings.Contains(err.Error(), "TEMPORAL_TLS_") {
		t.Errorf("Options with missing files: error %v, want one about the certificate", err)
	}
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
