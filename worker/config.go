package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/certflow/certflow/internal/app"
	"github.com/certflow/certflow/internal/tlsfiles"
)

// Config is the worker's configuration: the settings it shares with the
// gateway (app.Common: Temporal, store, policies, logs, tracing), the
// payment provider's (app.Payments) and its own. Each has a flag and an
// environment variable, and may come from the optional file (-config /
// CERTFLOW_CONFIG); a flag wins over the environment, which wins over the
// file, which wins over the default.
type Config struct {
	app.Common
	// Payments reaches the payment provider (a real one or paysim).
	Payments app.Payments
	// CAURL and CAToken reach the certificate authority (or casim).
	CAURL   string
	CAToken string
	// CAFile is a PEM bundle verifying the CA's https certificate
	// (CERTFLOW_CA_TLS_CA_FILE); empty: the system's roots.
	CAFile string
	// ReviewPoll is how often a refund asks the CA about a revocation
	// review still open (docs/ca-boundary.md).
	ReviewPoll time.Duration
	// Pprof also serves net/http/pprof's /debug/pprof/ on MetricsAddr.
	Pprof bool
	// MetricsAddr serves /metrics, /healthz and /readyz; empty disables
	// them.
	MetricsAddr string
	// StopTimeout is how long running activities get to finish at shutdown.
	StopTimeout time.Duration
	// Tuning is the worker's cache, pollers and concurrency.
	Tuning Tuning
	// Versioning is the worker's Worker Deployment version, if any.
	Versioning app.Versioning
}

// workerSettings are the worker's own settings, after app.CommonSettings
// and app.PaymentSettings.
var workerSettings = []app.Setting{
	app.Set("ca-url", "CERTFLOW_CA_URL", "", "certificate authority base URL (required)"),
	app.Set("ca-token", "CERTFLOW_CA_TOKEN", "", "certificate authority bearer token (required; prefer the environment or the file)"),
	app.Set("ca-tls-ca-file", "CERTFLOW_CA_TLS_CA_FILE", "", "PEM bundle of the CAs that sign the certificate authority's https certificate (a private CA); empty: the system's roots"),
	app.Set("review-poll", "CERTFLOW_REVIEW_POLL", "1h", "how often a refund asks the CA about a revocation review still open"),
	app.Set("metrics-addr", "CERTFLOW_METRICS_ADDR", ":9090", "listen address of /metrics, /healthz and /readyz; empty disables"),
	app.Set("pprof", "CERTFLOW_PPROF", "false", "also serve Go's profiles (/debug/pprof/) on the metrics address, for an engineer profiling memory or CPU; off by default"),
	app.Set("stop-timeout", "CERTFLOW_STOP_TIMEOUT", "10s", "how long running activities get at shutdown"),
}

// allSettings are every setting of the worker, in help order.
func allSettings() []app.Setting {
	var all []app.Setting
	for _, s := range [][]app.Setting{app.CommonSettings, app.PaymentSettings, workerSettings, tuningSettings, app.VersioningSettings} {
		all = append(all, s...)
	}
	return all
}

// parseConfig reads the configuration from the file, the environment
// (environ, as os.Environ) and the command line (args), and checks it.
func parseConfig(args, environ []string, output io.Writer) (Config, error) {
	v, err := app.Parse("worker", allSettings(), args, environ, output)
	if err != nil {
		return Config{}, err
	}
	var (
		cfg Config
		e   app.Errors
	)
	cfg.Common, err = app.ParseCommon(v)
	e.Check(err)
	cfg.Payments, err = app.ParsePayments(v)
	e.Check(err)
	cfg.CAURL = v.String("CERTFLOW_CA_URL")
	cfg.CAToken = v.String("CERTFLOW_CA_TOKEN")
	cfg.CAFile = v.String("CERTFLOW_CA_TLS_CA_FILE")
	cfg.ReviewPoll, err = v.PositiveDuration("CERTFLOW_REVIEW_POLL")
	e.Check(err)
	cfg.MetricsAddr = v.String("CERTFLOW_METRICS_ADDR")
	cfg.Pprof, err = v.Bool("CERTFLOW_PPROF")
	e.Check(err)
	cfg.StopTimeout, err = v.PositiveDuration("CERTFLOW_STOP_TIMEOUT")
	e.Check(err)
	cfg.Tuning, err = parseTuning(v)
	e.Check(err)
	cfg.Versioning, err = app.ParseVersioning(v)
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
	if err := c.Payments.Validate(); err != nil {
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
	if c.CAFile != "" {
		if _, err := tlsfiles.CAPool(c.CAFile); err != nil {
			return fmt.Errorf("CERTFLOW_CA_TLS_CA_FILE: %w", err)
		}
	}
	if c.ReviewPoll <= 0 {
		return fmt.Errorf("CERTFLOW_REVIEW_POLL must be positive, not %s", c.ReviewPoll)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("CERTFLOW_METRICS_ADDR %q is not host:port: %w", c.MetricsAddr, err)
		}
	} else if c.Pprof {
		return fmt.Errorf("CERTFLOW_PPROF serves the profiles on CERTFLOW_METRICS_ADDR, which is empty")
	}
	if c.StopTimeout <= 0 {
		return fmt.Errorf("CERTFLOW_STOP_TIMEOUT must be positive, not %s", c.StopTimeout)
	}
	if err := c.Versioning.Validate(); err != nil {
		return err
	}
	return c.Tuning.Validate()
}
