package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/certflow/certflow/internal/app"
)

// Config is the worker's configuration: the settings it shares with the
// gateway (app.Common: Temporal, store, policies, logs, tracing) and its
// own. Each has a flag and an environment variable, and may come from the
// optional file (-config / CERTFLOW_CONFIG); a flag wins over the
// environment, which wins over the file, which wins over the default.
type Config struct {
	app.Common
	// CAURL and CAToken reach the certificate authority (or casim).
	CAURL   string
	CAToken string
	// MetricsAddr serves /metrics, /healthz and /readyz; empty disables
	// them.
	MetricsAddr string
	// FailOriginalMethod lists order IDs whose refunds to the original
	// payment method the payment simulator fails (GEN-4 demo); "*" fails
	// every order.
	FailOriginalMethod []string
	// StopTimeout is how long running activities get to finish at shutdown.
	StopTimeout time.Duration
}

// workerSettings are the worker's own settings, after app.CommonSettings.
var workerSettings = []app.Setting{
	app.Set("ca-url", "CERTFLOW_CA_URL", "", "certificate authority base URL (required)"),
	app.Set("ca-token", "CERTFLOW_CA_TOKEN", "", "certificate authority bearer token (required; prefer the environment or the file)"),
	app.Set("metrics-addr", "CERTFLOW_METRICS_ADDR", ":9090", "listen address of /metrics, /healthz and /readyz; empty disables"),
	app.Set("fail-original-method", "CERTFLOW_FAIL_ORIGINAL_METHOD", "", "comma-separated order IDs whose original-method refunds the payment simulator fails (* = all)"),
	app.Set("stop-timeout", "CERTFLOW_STOP_TIMEOUT", "10s", "how long running activities get at shutdown"),
}

// parseConfig reads the configuration from the file, the environment
// (environ, as os.Environ) and the command line (args), and checks it.
func parseConfig(args, environ []string, output io.Writer) (Config, error) {
	v, err := app.Parse("worker", append(append([]app.Setting{}, app.CommonSettings...), workerSettings...), args, environ, output)
	if err != nil {
		return Config{}, err
	}
	var (
		cfg Config
		e   app.Errors
	)
	cfg.Common, err = app.ParseCommon(v)
	e.Check(err)
	cfg.CAURL = v.String("CERTFLOW_CA_URL")
	cfg.CAToken = v.String("CERTFLOW_CA_TOKEN")
	cfg.MetricsAddr = v.String("CERTFLOW_METRICS_ADDR")
	cfg.FailOriginalMethod = v.List("CERTFLOW_FAIL_ORIGINAL_METHOD")
	cfg.StopTimeout, err = v.PositiveDuration("CERTFLOW_STOP_TIMEOUT")
	e.Check(err)
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// Validate checks that the configuration can work, naming the setting at
// fault.
func (c Config) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if c.CAURL == "" {
		return errors.New("CERTFLOW_CA_URL (-ca-url) is required")
	}
	if u, err := url.Parse(c.CAURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("CERTFLOW_CA_URL %q is not an absolute http(s) URL", c.CAURL)
	}
	if c.CAToken == "" {
		return errors.New("CERTFLOW_CA_TOKEN (-ca-token) is required")
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("CERTFLOW_METRICS_ADDR %q is not host:port: %w", c.MetricsAddr, err)
		}
	}
	if c.StopTimeout <= 0 {
		return fmt.Errorf("CERTFLOW_STOP_TIMEOUT must be positive, not %s", c.StopTimeout)
	}
	return nil
}
