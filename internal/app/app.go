// Package app is the one place certflow's processes build what they share:
// the configuration (flags, environment, optional file), the logger,
// metrics and tracing, the refund-policy registry with its calendars, the
// store and the Temporal client. The worker, the gateway and the dev
// runner all call it, so the Refund button and the refund itself judge by
// the same profiles and calendars, and reach the same Temporal the same
// way (the SDK's own environment configuration).
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.uber.org/zap"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/app/program"
	"github.com/certflow/certflow/internal/obs"
	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/store"
	"github.com/certflow/certflow/workflows"
)

// Common is the configuration every certflow process shares.
type Common struct {
	// Temporal is the SDK's client profile (file, TEMPORAL_* variables,
	// flags).
	Temporal temporalx.ClientConfig
	// DB names the store (CERTFLOW_DB).
	DB string
	// ProfileDir adds the refund-policy profiles of its *.json files to
	// the shipped ones.
	ProfileDir string
	// CalendarFile replaces the built-in business-day calendar of its name
	// (T-2: the calendar is data).
	CalendarFile string
	// DialTimeout bounds the wait for Temporal at start.
	DialTimeout time.Duration
	// Log is the logger's level and form.
	Log obs.LogConfig
	// OTLPEndpoint is where traces go (OTLP gRPC); empty turns tracing off.
	OTLPEndpoint string
}

// Logger builds the process's logger from Log.
func (c Common) Logger() (*zap.Logger, error) { return obs.NewLogger(c.Log) }

// Main is the main of a service program (the worker, the gateway): it
// parses the command line and the environment with parse, builds the
// logger of the configuration and runs run until SIGINT or SIGTERM, with
// the exits of program.Service.
func Main[C interface{ Logger() (*zap.Logger, error) }](name string, parse func(args, environ []string, output io.Writer) (C, error), run func(context.Context, C, *zap.Logger) error) {
	program.Service(name, func() (C, error) { return parse(os.Args[1:], os.Environ(), os.Stderr) },
		func(c C) (*zap.Logger, error) { return c.Logger() }, run)
}

// CommonSettings are the settings of Common, shared by the worker and the
// gateway.
var CommonSettings = []Setting{
	{"temporal-address", "TEMPORAL_ADDRESS", "", "Temporal frontend host:port (default localhost:7233); TEMPORAL_API_KEY, TEMPORAL_TLS_* and TEMPORAL_GRPC_META_* are read as the Temporal SDK reads them"},
	{"temporal-namespace", "TEMPORAL_NAMESPACE", "", "Temporal namespace (default \"default\")"},
	{"temporal-profile", "TEMPORAL_PROFILE", "", "profile of the Temporal client configuration file"},
	{"temporal-config-file", "TEMPORAL_CONFIG_FILE", "", "Temporal client configuration TOML file (default ~/.config/temporalio/temporal.toml)"},
	{"db", "CERTFLOW_DB", "", "the store's database DSN: sqlite:PATH (or a bare path) or postgres://user:password@host:port/db (required)"},
	{"profile-dir", "CERTFLOW_PROFILE_DIR", "", "directory of extra refund-policy profile *.json files"},
	{"calendar-file", "CERTFLOW_CALENDAR_FILE", "", "business-day calendar JSON replacing the built-in one of its name"},
	{"dial-timeout", "CERTFLOW_DIAL_TIMEOUT", "1m", "how long to wait for the Temporal server at start"},
	{"log-level", "CERTFLOW_LOG_LEVEL", "info", "lowest log level: debug, info, warn, error"},
	{"dev-log", "CERTFLOW_DEV_LOG", "false", "human-readable logs instead of JSON"},
	{"sdk-debug", "CERTFLOW_SDK_DEBUG", "false", "let the Temporal SDK's debug lines through"},
	{"otlp-endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "", "OTLP gRPC endpoint for traces, e.g. http://otel-collector:4317; empty turns tracing off"},
}

// renamed maps the TLS variables certflow read before it followed the SDK's
// environment configuration to their SDK names: a deployment still setting
// an old one must not silently connect without its certificate.
var renamed = map[string]string{
	"TEMPORAL_TLS_CERT": "TEMPORAL_TLS_CLIENT_CERT_PATH",
	"TEMPORAL_TLS_KEY":  "TEMPORAL_TLS_CLIENT_KEY_PATH",
	"TEMPORAL_TLS_CA":   "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
}

// ParseCommon reads Common from v and checks it, naming the setting at
// fault.
func ParseCommon(v *Values) (Common, error) {
	var (
		c   Common
		e   Errors
		err error
	)
	for old, now := range renamed {
		if v.String(old) != "" {
			e.Check(fmt.Errorf("%s is no longer read: set %s (the Temporal SDK's name) instead", old, now))
		}
	}
	c.Temporal, err = temporalx.LoadClientConfig(v.Env())
	e.Check(err)
	e.Check(c.Temporal.Validate())
	c.DB = v.String("CERTFLOW_DB")
	c.ProfileDir = v.String("CERTFLOW_PROFILE_DIR")
	c.CalendarFile = v.String("CERTFLOW_CALENDAR_FILE")
	c.DialTimeout, err = v.PositiveDuration("CERTFLOW_DIAL_TIMEOUT")
	e.Check(err)
	c.Log.Level = v.String("CERTFLOW_LOG_LEVEL")
	c.Log.Dev, err = v.Bool("CERTFLOW_DEV_LOG")
	e.Check(err)
	c.Log.SDKDebug, err = v.Bool("CERTFLOW_SDK_DEBUG")
	e.Check(err)
	c.OTLPEndpoint = v.String("OTEL_EXPORTER_OTLP_ENDPOINT")
	if err := e.Err(); err != nil {
		return Common{}, err
	}
	return c, c.Validate()
}

// Validate checks what can be checked without opening anything.
func (c Common) Validate() error {
	if err := c.Temporal.Validate(); err != nil {
		return err
	}
	if c.DB == "" {
		return errors.New("CERTFLOW_DB (-db) is required: the store's database")
	}
	if c.DialTimeout <= 0 {
		return fmt.Errorf("CERTFLOW_DIAL_TIMEOUT must be positive, not %s", c.DialTimeout)
	}
	if err := c.Log.Validate(); err != nil {
		return fmt.Errorf("CERTFLOW_LOG_LEVEL: %w", err)
	}
	if c.OTLPEndpoint != "" {
		if u, err := url.Parse(c.OTLPEndpoint); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %q is not an http(s) URL like http://otel-collector:4317", c.OTLPEndpoint)
		}
	}
	return nil
}

// App holds what Open built; Close releases it.
type App struct {
	Config   Common
	Logger   *zap.Logger
	Metrics  *obs.Metrics
	Tracing  *obs.Tracing
	Policies *activities.RegistryPolicies
	Store    *store.DB
	Temporal client.Client
}

// Option changes how Open builds an App.
type Option func(*App)

// WithTracing uses t instead of the tracer provider c.OTLPEndpoint names
// (tests record spans with it).
func WithTracing(t *obs.Tracing) Option { return func(a *App) { a.Tracing = t } }

// Open builds, in order, the metrics registry, the tracer provider, the
// policies, the store and the Temporal client (dialled and health-checked
// within DialTimeout); service names the process in traces. On error what
// was built is released.
func Open(ctx context.Context, c Common, service string, logger *zap.Logger, opts ...Option) (a *App, err error) {
	a = &App{Config: c, Logger: logger, Metrics: obs.NewMetrics()}
	defer func() {
		if err != nil {
			err = errors.Join(err, a.Close())
			a = nil
		}
	}()
	for _, o := range opts {
		o(a)
	}
	if a.Tracing == nil {
		if a.Tracing, err = obs.NewTracing(ctx, service, c.OTLPEndpoint); err != nil {
			return a, err
		}
	}
	if a.Policies, err = NewPolicies(c.ProfileDir, c.CalendarFile); err != nil {
		return a, err
	}
	if a.Store, err = openStore(ctx, c.DB); err != nil {
		return a, err
	}
	tracing, err := a.Tracing.Interceptor()
	if err != nil {
		return a, fmt.Errorf("tracing interceptor: %w", err)
	}
	copts, err := c.Temporal.Options(temporalx.NewZapLogger(c.Log.SDKLogger(logger)), a.Metrics.SDK)
	if err != nil {
		return a, err
	}
	copts.Interceptors = append(copts.Interceptors, tracing)
	dialCtx, cancel := context.WithTimeout(ctx, c.DialTimeout)
	defer cancel()
	if a.Temporal, err = temporalx.Dial(dialCtx, copts, time.Second); err != nil {
		return a, err
	}
	return a, nil
}

// openStore opens the store named by dsn. It is the one place a process
// chooses the store's implementation.
func openStore(ctx context.Context, dsn string) (*store.DB, error) {
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("opening the store (CERTFLOW_DB=%s): %w", RedactDSN(dsn), err)
	}
	return db, nil
}

// RedactDSN hides the password of a postgres:// DSN for logs and errors.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if strings.Contains(dsn, "://") && err != nil {
			return "(malformed DSN)"
		}
		return dsn
	}
	return u.Redacted()
}

// NewPolicies loads the shipped refund-policy profiles (plus those of dir)
// and the optional calendar override.
func NewPolicies(dir, calendarFile string) (*activities.RegistryPolicies, error) {
	var (
		reg *policy.Registry
		err error
	)
	if dir != "" {
		reg, err = policy.LoadRegistryDir(dir)
	} else {
		reg, err = policy.LoadRegistry()
	}
	if err != nil {
		return nil, fmt.Errorf("loading refund-policy profiles (CERTFLOW_PROFILE_DIR): %w", err)
	}
	p := &activities.RegistryPolicies{Registry: reg}
	if calendarFile != "" {
		spec, err := calendar.LoadFile(calendarFile)
		if err != nil {
			return nil, fmt.Errorf("CERTFLOW_CALENDAR_FILE: %w", err)
		}
		// T-2: a loaded calendar replaces the built-in one of its name.
		p.Calendars = map[string]calendar.Spec{spec.Name: spec}
	}
	return p, nil
}

// CheckSearchAttributes fails, naming them, when the search attributes the
// workflows set are not registered on the namespace.
func (a *App) CheckSearchAttributes(ctx context.Context) error {
	return temporalx.CheckSearchAttributes(ctx, a.Temporal, a.Config.Temporal.Namespace(), workflows.SearchAttributeTypes)
}

// Ready reports whether the process can serve: Temporal answers its health
// check and the store answers a query.
func (a *App) Ready(ctx context.Context) error {
	if _, err := a.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	if _, err := a.Store.ListOrders(ctx, store.OrderFilter{Limit: 1}); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Readyz answers /readyz: 200 when Ready passes within 3s, 503 otherwise
// (a load balancer then sends traffic elsewhere), logging why on log.
func (a *App) Readyz(log *zap.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := a.Ready(ctx); err != nil {
			log.Warn("not ready", zap.Error(err))
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	}
}

// WorkerInterceptors are the worker's own interceptors (the client's
// tracing interceptor applies to the worker already).
func WorkerInterceptors() []interceptor.WorkerInterceptor {
	return []interceptor.WorkerInterceptor{obs.NewWorkerInterceptor(designedCodes()...)}
}

// Close closes the Temporal client and the store, flushes the traces and
// stops the metrics scope. It is safe on a partly built App.
func (a *App) Close() error {
	var errs []error
	if a.Temporal != nil {
		a.Temporal.Close()
		a.Temporal = nil
	}
	if a.Store != nil {
		if err := a.Store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the store: %w", err))
		}
		a.Store = nil
	}
	if a.Tracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := a.Tracing.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flushing traces: %w", err))
		}
		cancel()
		a.Tracing = nil
	}
	if a.Metrics != nil {
		if err := a.Metrics.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the metrics scope: %w", err))
		}
		a.Metrics = nil
	}
	return errors.Join(errs...)
}

// designedCodes are the error types the worker's interceptor logs as
// designed detours (errs.Code.Designed).
func designedCodes() []string {
	var out []string
	for _, c := range errs.Codes {
		if c.Designed() {
			out = append(out, string(c))
		}
	}
	return out
}
