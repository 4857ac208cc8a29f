package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/certflow/certflow/internal/temporalx"
)

// Config is the worker's configuration. Every field has a flag and an
// environment variable; a flag on the command line wins over the
// environment, which wins over the default.
type Config struct {
	// Temporal is where the server is and how to authenticate.
	Temporal temporalx.ClientConfig
	// DB is the SQLite database file (orders, refunds, payout ledger).
	DB string
	// CAURL and CAToken reach the certificate authority (or casim).
	CAURL   string
	CAToken string
	// ReviewPoll is how often a refund asks the CA about a revocation
	// review still open (docs/ca-boundary.md).
	ReviewPoll time.Duration
	// MetricsAddr serves Prometheus /metrics; empty disables it.
	MetricsAddr string
	// CalendarFile, if set, replaces the built-in business-day calendar of
	// the same name (T-2: the calendar is data).
	CalendarFile string
	// ProfileDir, if set, adds the refund-policy profiles of its *.json
	// files to the shipped ones.
	ProfileDir string
	// FailOriginalMethod lists order IDs whose refunds to the original
	// payment method the payment simulator fails (GEN-4 demo); "*" fails
	// every order.
	FailOriginalMethod []string
	// DialTimeout bounds the wait for the Temporal server at start.
	DialTimeout time.Duration
	// StopTimeout is how long running activities get to finish at shutdown.
	StopTimeout time.Duration
	// DevLog switches from JSON logs to human-readable ones.
	DevLog bool
	// Tuning is the worker's cache, pollers and concurrency.
	Tuning Tuning
}

// setting is one flag and the environment variable that feeds it.
type setting struct {
	flag, env, usage string
}

// settings lists every configurable name, in help order.
var settings = []setting{
	{"temporal-address", "TEMPORAL_ADDRESS", "Temporal frontend host:port"},
	{"temporal-namespace", "TEMPORAL_NAMESPACE", "Temporal namespace"},
	{"temporal-tls-cert", "TEMPORAL_TLS_CERT", "PEM client certificate for mTLS (with -temporal-tls-key)"},
	{"temporal-tls-key", "TEMPORAL_TLS_KEY", "PEM client key for mTLS"},
	{"temporal-tls-ca", "TEMPORAL_TLS_CA", "PEM CA bundle to trust instead of the system pool"},
	{"temporal-api-key", "TEMPORAL_API_KEY", "Temporal Cloud API key (implies TLS; prefer the environment)"},
	{"db", "CERTFLOW_DB", "SQLite database file (required)"},
	{"ca-url", "CERTFLOW_CA_URL", "certificate authority base URL (required)"},
	{"ca-token", "CERTFLOW_CA_TOKEN", "certificate authority bearer token (required; prefer the environment)"},
	{"review-poll", "CERTFLOW_REVIEW_POLL", "how often a refund asks the CA about a revocation review still open"},
	{"metrics-addr", "CERTFLOW_METRICS_ADDR", "Prometheus /metrics listen address; empty disables"},
	{"calendar-file", "CERTFLOW_CALENDAR_FILE", "business-day calendar JSON replacing the built-in one of its name"},
	{"profile-dir", "CERTFLOW_PROFILE_DIR", "directory of extra refund-policy profile *.json files"},
	{"fail-original-method", "CERTFLOW_FAIL_ORIGINAL_METHOD", "comma-separated order IDs whose original-method refunds the payment simulator fails (* = all)"},
	{"dial-timeout", "CERTFLOW_DIAL_TIMEOUT", "how long to wait for the Temporal server at start"},
	{"stop-timeout", "CERTFLOW_STOP_TIMEOUT", "how long running activities get at shutdown"},
	{"dev-log", "CERTFLOW_DEV_LOG", "human-readable logs instead of JSON"},
}

// parseConfig reads the configuration from the environment (getenv) and
// then the command line (args), and checks it.
func parseConfig(args []string, getenv func(string) string, output io.Writer) (Config, error) {
	var (
		cfg  Config
		fail string
	)
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.Temporal.Address, "temporal-address", temporalx.DefaultAddress, "")
	fs.StringVar(&cfg.Temporal.Namespace, "temporal-namespace", temporalx.DefaultNamespace, "")
	fs.StringVar(&cfg.Temporal.TLSCert, "temporal-tls-cert", "", "")
	fs.StringVar(&cfg.Temporal.TLSKey, "temporal-tls-key", "", "")
	fs.StringVar(&cfg.Temporal.TLSCA, "temporal-tls-ca", "", "")
	fs.StringVar(&cfg.Temporal.APIKey, "temporal-api-key", "", "")
	fs.StringVar(&cfg.DB, "db", "", "")
	fs.StringVar(&cfg.CAURL, "ca-url", "", "")
	fs.StringVar(&cfg.CAToken, "ca-token", "", "")
	fs.DurationVar(&cfg.ReviewPoll, "review-poll", time.Hour, "")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", ":9090", "")
	fs.StringVar(&cfg.CalendarFile, "calendar-file", "", "")
	fs.StringVar(&cfg.ProfileDir, "profile-dir", "", "")
	fs.StringVar(&fail, "fail-original-method", "", "")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", time.Minute, "")
	fs.DurationVar(&cfg.StopTimeout, "stop-timeout", 10*time.Second, "")
	fs.BoolVar(&cfg.DevLog, "dev-log", false, "")
	cfg.Tuning.register(fs)
	for _, s := range append(settings, tuningSettings...) {
		f := fs.Lookup(s.flag)
		f.Usage = fmt.Sprintf("%s (%s)", s.usage, s.env)
		v := getenv(s.env)
		if v == "" {
			continue
		}
		if err := fs.Set(s.flag, v); err != nil {
			return Config{}, fmt.Errorf("environment %s=%q: %w", s.env, v, err)
		}
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, id := range strings.Split(fail, ",") {
		if id = strings.TrimSpace(id); id != "" {
			cfg.FailOriginalMethod = append(cfg.FailOriginalMethod, id)
		}
	}
	return cfg, cfg.Validate()
}

// Validate checks that the configuration can work, naming the setting at
// fault.
func (c Config) Validate() error {
	if err := c.Temporal.Validate(); err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	if c.DB == "" {
		return errors.New("the database is required (-db or CERTFLOW_DB)")
	}
	if c.CAURL == "" {
		return errors.New("the CA URL is required (-ca-url or CERTFLOW_CA_URL)")
	}
	if u, err := url.Parse(c.CAURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("CERTFLOW_CA_URL %q is not an absolute http(s) URL", c.CAURL)
	}
	if c.CAToken == "" {
		return errors.New("the CA token is required (-ca-token or CERTFLOW_CA_TOKEN)")
	}
	if c.ReviewPoll <= 0 {
		return fmt.Errorf("CERTFLOW_REVIEW_POLL must be positive, not %s", c.ReviewPoll)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("CERTFLOW_METRICS_ADDR %q is not host:port: %w", c.MetricsAddr, err)
		}
	}
	if c.DialTimeout <= 0 {
		return fmt.Errorf("CERTFLOW_DIAL_TIMEOUT must be positive, not %s", c.DialTimeout)
	}
	if c.StopTimeout <= 0 {
		return fmt.Errorf("CERTFLOW_STOP_TIMEOUT must be positive, not %s", c.StopTimeout)
	}
	return c.Tuning.Validate()
}
