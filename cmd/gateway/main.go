// Command gateway is certflow's HTTP edge as a program of its own: the
// console API and the CA's signed callbacks (package gateway), with
// /metrics (request counts and latency by route and status, callbacks by
// outcome, the Temporal client's metrics), /healthz (the process serves)
// and /readyz (Temporal and the store answer). It builds its policies,
// store and Temporal client through internal/app, as the worker does, so
// the Refund button and the refund judge by the same rules. Requests are
// traced with otelhttp and the trace continues into the workflows (the
// SDK's tracing interceptor) when OTEL_EXPORTER_OTLP_ENDPOINT is set.
//
// When CERTFLOW_EVENT_ENDPOINTS names console endpoints, the gateway also
// runs the event dispatcher (package outbound, docs/event-delivery.md): it
// delivers the store's outbox to them as signed Standard Webhooks, and
// re-reads CERTFLOW_EVENT_SECRETS_FILE when it changes or on SIGHUP.
// CERTFLOW_EVENT_DISPATCH=false turns it off in one gateway.
//
// With CERTFLOW_OIDC_ISSUER the console API and the operator pages also
// accept the JWTs of that OpenID Connect issuer (operators from an IdP;
// docs/operations.md): the issuer is discovered at start (a failure is
// logged, not fatal) and its keys re-read when a token names a new one.
//
// With CERTFLOW_TLS_CERT_FILE and CERTFLOW_TLS_KEY_FILE it serves HTTPS,
// re-reading the pair when the files change (checked at each handshake)
// or on SIGHUP, without a restart; without them, plain HTTP.
//
// Several gateways may run side by side: they keep no state of their own,
// and their dispatchers share the outbox through its leases. Each also
// starts the refund requests its console API recorded (durable intake,
// gateway/dispatch.go), and sweeps those any gateway left pending.
// On SIGINT or SIGTERM the gateway drains: new requests are refused 503
// (Retry-After, Connection: close) before routing and /readyz answers 503,
// for -drain-delay with the listener still open (a load balancer takes the
// gateway out); then it stops accepting, lets requests in flight finish
// (up to -shutdown-timeout), and closes the Temporal client and the store.
// Run `gateway -h` for the settings.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.uber.org/zap"

	"github.com/certflow/certflow/gateway"
	"github.com/certflow/certflow/intake"
	"github.com/certflow/certflow/internal/app"
	"github.com/certflow/certflow/internal/app/program"
	"github.com/certflow/certflow/internal/obs"
	"github.com/certflow/certflow/internal/tlsfiles"
	"github.com/certflow/certflow/ops"
	"github.com/certflow/certflow/outbound"
	"github.com/certflow/certflow/ports"
)

func main() {
	app.Main("gateway", parseConfig, func(ctx context.Context, cfg Config, logger *zap.Logger) error { return NewMain(cfg, logger).Run(ctx) })
}

// Main is the gateway program.
type Main struct {
	Config Config
	Logger *zap.Logger
	// Options change how the shared parts are built (tests pass a span
	// recorder with app.WithTracing).
	Options []app.Option

	app    *app.App
	srv    *http.Server
	ln     net.Listener
	served chan error
	// drain refuses new requests once the shutdown began.
	drain gateway.Drain
	// certs is the HTTPS certificate (nil: plain HTTP); stopCerts stops
	// its SIGHUP reloads.
	certs     *tlsfiles.CertFiles
	stopCerts func()
	// stopEvents stops the event dispatcher and waits for it.
	stopEvents func()
	// intake starts the refund requests the API records; stopIntake
	// stops its sweeper.
	intake     *gateway.Dispatcher
	stopIntake func()
}

// NewMain returns the program for cfg, logging to logger.
func NewMain(cfg Config, logger *zap.Logger) *Main {
	return &Main{Config: cfg, Logger: logger, served: make(chan error, 1)}
}

// Run opens everything, serves until ctx ends or the server fails, then
// shuts down.
func (m *Main) Run(ctx context.Context) error {
	return program.Run(ctx, m.Logger, m.Open, m.served, m.Close)
}

// Open builds the shared parts and starts serving.
func (m *Main) Open(ctx context.Context) error {
	cfg := m.Config
	var err error
	if m.app, err = app.Open(ctx, cfg.Common, "certflow-gateway", m.Logger, m.Options...); err != nil {
		return err
	}
	if o := cfg.OIDC; o != nil {
		// Discovery now says at start whether the IdP answers; a failure
		// is not fatal: static tokens work, OIDC tokens try again.
		dctx, cancel := context.WithTimeout(ctx, gateway.DefaultOIDCTimeout)
		if err := o.Discover(dctx); err != nil {
			m.Logger.Warn("OIDC issuer not reachable at start; OIDC tokens are refused 503 until it answers", zap.String("oidc", o.String()), zap.Error(err))
		} else {
			m.Logger.Info("OIDC tokens accepted", zap.String("oidc", o.String()))
		}
		cancel()
	}
	h, err := m.handler()
	if err != nil {
		return err
	}
	m.startIntake(ctx)
	if err := m.startEvents(ctx); err != nil {
		return err
	}
	if cfg.TLSCertFile != "" {
		if err := m.loadCerts(); err != nil {
			return err
		}
	}
	if m.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return fmt.Errorf("listening on CERTFLOW_GATEWAY_ADDR %s: %w", cfg.Addr, err)
	}
	m.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          zap.NewStdLog(m.Logger.Named("http")),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	serve := func() error { return m.srv.Serve(m.ln) }
	if m.certs != nil {
		m.srv.TLSConfig = m.certs.ServerConfig()
		serve = func() error { return m.srv.ServeTLS(m.ln, "", "") }
	}
	go func() {
		if err := serve(); !errors.Is(err, http.ErrServerClosed) {
			m.served <- fmt.Errorf("serving: %w", err)
		}
	}()
	m.Logger.Info("gateway started", zap.String("addr", m.Addr()), zap.Bool("https", m.certs != nil),
		zap.String("temporal", cfg.Temporal.Address()), zap.String("namespace", cfg.Temporal.Namespace()),
		zap.Bool("tls", cfg.Temporal.TLS()), zap.Bool("tracing", m.app.Tracing.Enabled()))
	return nil
}

// loadCerts reads the HTTPS certificate and re-reads it on SIGHUP (it is
// also re-read at the first handshake after its files change).
func (m *Main) loadCerts() error {
	log := m.Logger.Named("tls")
	certs, err := tlsfiles.LoadCertFiles(m.Config.TLSCertFile, m.Config.TLSKeyFile)
	if err != nil {
		return fmt.Errorf("CERTFLOW_TLS_CERT_FILE, CERTFLOW_TLS_KEY_FILE: %w", err)
	}
	certs.OnReload = func(c *x509.Certificate, err error) {
		if err != nil {
			log.Error("TLS certificate files changed but do not load; the previous certificate serves on", zap.Error(err))
			return
		}
		log.Info("TLS certificate reloaded", certFields(c)...)
	}
	log.Info("serving HTTPS", certFields(certs.Certificate().Leaf)...)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				if err := certs.Reload(); err != nil {
					log.Error("SIGHUP: the TLS certificate files do not load; the previous certificate serves on", zap.Error(err))
				} else {
					log.Info("SIGHUP: TLS certificate re-read", certFields(certs.Certificate().Leaf)...)
				}
			}
		}
	})
	m.certs = certs
	m.stopCerts = func() {
		signal.Stop(hup)
		close(done)
		wg.Wait()
	}
	return nil
}

// certFields describe a serving certificate in the logs; the serial in hex,
// as `openssl x509 -noout -serial` prints it.
func certFields(c *x509.Certificate) []zap.Field {
	if c == nil {
		return nil
	}
	return []zap.Field{zap.String("subject", c.Subject.String()), zap.String("serial", fmt.Sprintf("%X", c.SerialNumber)),
		zap.Strings("dns_names", c.DNSNames), zap.Time("not_after", c.NotAfter)}
}

// startIntake runs the sweeper of the refund requests the API records
// (gateway/dispatch.go): it starts those left pending, by this gateway or
// another that stopped, leased so that gateways do not all start one.
func (m *Main) startIntake(ctx context.Context) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { m.intake.Run(ctx) })
	m.stopIntake = func() {
		cancel()
		wg.Wait()
	}
	m.Logger.Info("refund intake: dispatcher running", zap.String("owner", m.intake.Owner()))
}

// startEvents runs the event dispatcher (docs/event-delivery.md) when endpoints
// are configured and CERTFLOW_EVENT_DISPATCH is on. The store is the
// outbox; several gateways may dispatch from one database, its leases
// keep each delivery with one of them.
func (m *Main) startEvents(ctx context.Context) error {
	cfg := m.Config
	log := m.Logger.Named("events")
	switch {
	case !cfg.Events.Enabled():
		log.Info("event dispatcher off: no endpoints configured (" + outbound.EnvEndpoints + ")")
		return nil
	case !cfg.Dispatch:
		log.Info("event dispatcher off in this gateway (CERTFLOW_EVENT_DISPATCH=false): another delivers the events")
		return nil
	}
	ob, ok := any(m.app.Store).(ports.Outbox)
	if !ok {
		return fmt.Errorf("%s is set but this store has no event outbox", outbound.EnvEndpoints)
	}
	metrics, err := outbound.NewMetrics(m.app.Metrics.Registry)
	if err != nil {
		return fmt.Errorf("event metrics: %w", err)
	}
	d, err := outbound.New(ob, cfg.Events, outbound.Options{Logger: log, Metrics: metrics})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	var wg sync.WaitGroup
	wg.Go(func() { _ = d.Run(ctx) })
	wg.Go(func() { d.WatchSecrets(ctx, 5*time.Second, hup) })
	m.stopEvents = func() {
		signal.Stop(hup)
		cancel()
		wg.Wait()
	}
	return nil
}

// handler assembles the routes: the gateway's API behind the request
// metrics and otelhttp, and the process's own /metrics and /readyz.
func (m *Main) handler() (http.Handler, error) {
	a := m.app
	tw := gateway.NewTemporal(a.Temporal)
	im, err := obs.NewIntakeMetrics(a.Metrics.Registry)
	if err != nil {
		return nil, fmt.Errorf("intake metrics: %w", err)
	}
	g, err := gateway.New(gateway.Config{
		Workflows:        tw,
		Orders:           a.Store,
		Judge:            gateway.PolicyJudge(a.Policies),
		Validate:         intake.Validator{Registry: a.Policies.Registry}.Validate,
		Tokens:           m.Config.Tokens,
		OIDC:             m.Config.OIDC,
		WebhookSecrets:   m.Config.WebhookSecrets,
		WebhookTolerance: m.Config.WebhookTolerance,
		Dispatch:         gateway.DispatchConfig{Observer: im},
		Logger:           m.Logger.Named("gateway"),
	})
	if err != nil {
		return nil, fmt.Errorf("building the gateway: %w", err)
	}
	m.intake = g.Intake()
	if err := im.WatchInFlight(m.intake.InFlight); err != nil {
		return nil, fmt.Errorf("intake metrics: %w", err)
	}
	hm, err := obs.NewHTTPMetrics(a.Metrics.Registry)
	if err != nil {
		return nil, fmt.Errorf("request metrics: %w", err)
	}
	api := g.CallbackOutcomes(g.Handler(), func(result, reason string) { obs.CallbackHandled(a.Metrics.SDK, result, reason) })
	api = hm.Middleware(g.Route, api)
	// otelhttp outermost: the span covers the whole request, and its
	// context reaches the Temporal client's interceptor.
	api = otelhttp.NewHandler(api, "gateway",
		otelhttp.WithTracerProvider(a.Tracing.Provider), otelhttp.WithPropagators(a.Tracing.Propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if rt := g.Route(r); rt != "" {
				return rt
			}
			return r.Method + " unmatched"
		}))
	opsH, err := ops.New(ops.Config{
		Reader:       a.Store,
		Actions:      gateway.RefundActions{Workflows: tw, Intake: g.Intake()},
		Authenticate: g.Authenticate,
		WebUI:        m.Config.WebUI,
		Namespace:    m.Config.Temporal.Namespace(),
		SecureCookie: m.Config.SecureCookie,
		Logger:       m.Logger.Named("ops"),
	})
	if err != nil {
		return nil, fmt.Errorf("building the operator pages: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ops/", opsH)
	mux.Handle("GET /metrics", a.Metrics.Handler())
	ready := a.Readyz(m.Logger)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if m.drain.Draining() {
			http.Error(w, "draining: shutting down", http.StatusServiceUnavailable)
			return
		}
		ready(w, r)
	})
	mux.Handle("/", api)
	// The drain switch comes before routing: a request arriving after
	// SIGTERM is refused whatever its route.
	return m.drain.Handler(mux), nil
}

// Addr is the address the gateway listens on, once Open ran.
func (m *Main) Addr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// Close drains (new requests and /readyz answer 503 for DrainDelay), stops
// accepting, lets requests in flight finish (up to ShutdownTimeout), then
// closes the shared parts. Safe after a failed Open.
func (m *Main) Close() error {
	var errs []error
	if m.srv != nil {
		m.drain.Start()
		m.Logger.Info("draining: new requests are refused 503", zap.String("drain_delay", m.Config.DrainDelay.String()),
			zap.String("shutdown_timeout", m.Config.ShutdownTimeout.String()))
		time.Sleep(m.Config.DrainDelay)
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
		if err := m.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping the server: %w", err))
		}
		cancel()
		m.srv = nil
	}
	// The requests' starts in flight finish and record their outcome;
	// those not begun stay pending for another gateway's sweeper.
	if m.stopIntake != nil {
		m.stopIntake()
		m.stopIntake = nil
	}
	if m.intake != nil {
		m.intake.Close()
		m.intake = nil
	}
	if m.stopEvents != nil {
		m.stopEvents()
		m.stopEvents = nil
	}
	if m.stopCerts != nil {
		m.stopCerts()
		m.stopCerts = nil
	}
	if m.app != nil {
		errs = append(errs, m.app.Close())
		m.app = nil
	}
	m.Logger.Info("gateway stopped")
	return errors.Join(errs...)
}
