// Command worker is certflow's Temporal worker: it polls the certflow task
// queue and runs the certificate and refund workflows and their activities
// against the real clients — the store (SQLite or PostgreSQL, by DSN) with
// its refund ledger, the payment provider over HTTP (a real one or paysim)
// and the CA over HTTP (the real CA or casim). It builds the
// store, policies, payment client and Temporal client through internal/app
// (as the gateway does), checks at start that the namespace has the search
// attributes the workflows set, serves /metrics, /healthz and /readyz, and
// stops gracefully on SIGINT or SIGTERM: the worker stops polling and lets
// running activities finish (up to -stop-timeout), then the Temporal
// client, the metrics server and the store are closed, in that order.
//
// Configuration comes from flags, the environment and an optional file (a
// flag wins); run `worker -h` for the list. Temporal's own settings
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
// profiles) are read as the Temporal SDK reads them. The CA and the payment
// provider may be https URLs; their certificates are verified against the
// system's roots or the bundles CERTFLOW_CA_TLS_CA_FILE and
// CERTFLOW_PAY_TLS_CA_FILE name, never skipped.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/caclient"
	"github.com/certflow/certflow/internal/app"
	"github.com/certflow/certflow/internal/app/program"
	"github.com/certflow/certflow/internal/httpjson"
	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/workflows"
)

func main() {
	app.Main("worker", parseConfig, func(ctx context.Context, cfg Config, logger *zap.Logger) error { return NewMain(cfg, logger).Run(ctx) })
}

// Main is the worker program: it builds the clients from Config, wires
// them into the activities, and owns their lifetimes.
type Main struct {
	Config Config
	Logger *zap.Logger
	// Options change how the shared parts are built (tests pass a span
	// recorder with app.WithTracing).
	Options []app.Option

	app        *app.App
	metricsSrv *http.Server
	metricsLn  net.Listener
	worker     worker.Worker
	// failed receives the worker's fatal error and the metrics server's.
	failed chan error
}

// NewMain returns the program for cfg, logging to logger.
func NewMain(cfg Config, logger *zap.Logger) *Main {
	return &Main{Config: cfg, Logger: logger, failed: make(chan error, 2)}
}

// Run opens everything, runs the worker until ctx ends or the worker fails,
// then closes everything.
func (m *Main) Run(ctx context.Context) error {
	return program.Run(ctx, m.Logger, m.Open, m.failed, m.Close)
}

// Open builds the shared parts (internal/app), checks the search
// attributes, the CA client and the health server, and starts the worker.
// On error, Close releases what was opened.
func (m *Main) Open(ctx context.Context) error {
	cfg := m.Config
	var err error
	if m.app, err = app.Open(ctx, cfg.Common, "certflow-worker", m.Logger, m.Options...); err != nil {
		return err
	}
	if err := m.app.CheckSearchAttributes(ctx); err != nil {
		return err
	}
	payments, err := m.app.PaymentClient(cfg.Payments)
	if err != nil {
		return err
	}
	// The CA calls verify its certificate against CERTFLOW_CA_TLS_CA_FILE
	// (or the system's roots) and join the activity's trace.
	caTransport, err := httpjson.Transport(cfg.CAFile)
	if err != nil {
		return fmt.Errorf("CERTFLOW_CA_TLS_CA_FILE: %w", err)
	}
	ca, err := caclient.New(caclient.Config{BaseURL: cfg.CAURL, Token: cfg.CAToken,
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: app.TracedTransport(m.app.Tracing, caTransport)}})
	if err != nil {
		return fmt.Errorf("CA client (CERTFLOW_CA_URL): %w", err)
	}
	if cfg.MetricsAddr != "" {
		if err := m.serveMetrics(cfg.MetricsAddr, cfg.Pprof); err != nil {
			return err
		}
	}

	m.worker = worker.New(m.app.Temporal, workflows.TaskQueue, cfg.Tuning.apply(worker.Options{
		WorkerStopTimeout: cfg.StopTimeout,
		Interceptors:      app.WorkerInterceptors(),
		DeploymentOptions: cfg.Versioning.DeploymentOptions(),
		OnFatalError: func(err error) {
			select {
			case m.failed <- fmt.Errorf("worker stopped: %w", err):
			default:
			}
		},
	}))
	workflows.Register(m.worker)
	workflows.RegisterActivities(m.worker, activities.Deps{CA: ca, Payments: payments, Store: m.app.Store, Policies: m.app.Policies,
		Runs: temporalx.WorkflowRuns{Client: m.app.Temporal}, ReviewPoll: cfg.ReviewPoll, PayPollInterval: cfg.Payments.PollInterval})
	if err := m.worker.Start(); err != nil {
		m.worker = nil
		return fmt.Errorf("starting worker: %w", err)
	}
	m.Logger.Info("worker started",
		zap.String("temporal", cfg.Temporal.Address()), zap.String("namespace", cfg.Temporal.Namespace()),
		zap.Bool("tls", cfg.Temporal.TLS()), zap.String("task_queue", workflows.TaskQueue),
		zap.String("db", app.RedactDSN(cfg.DB)), zap.String("ca", cfg.CAURL), zap.String("payments", cfg.Payments.URL),
		zap.String("metrics", m.MetricsAddr()), zap.Bool("tracing", m.app.Tracing.Enabled()), zap.Any("tuning", cfg.Tuning),
		zap.Bool("versioning", cfg.Versioning.Enabled), zap.String("deployment", cfg.Versioning.DeploymentName), zap.String("build_id", cfg.Versioning.BuildID))
	return nil
}

func (m *Main) serveMetrics(addr string, pprofOn bool) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.app.Metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	// Ready: Temporal answers and the store answers.
	mux.HandleFunc("GET /readyz", m.app.Readyz(m.Logger))
	if pprofOn {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	}
	m.metricsLn = ln
	m.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := m.metricsSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			m.failed <- fmt.Errorf("metrics server: %w", err)
		}
	}()
	return nil
}

// MetricsAddr is the address /metrics is served on, once Open ran ("" if
// disabled).
func (m *Main) MetricsAddr() string {
	if m.metricsLn == nil {
		return ""
	}
	return m.metricsLn.Addr().String()
}

// Close stops the worker (running activities get StopTimeout), then closes
// the metrics server and the shared parts (Temporal client, store, traces,
// metrics). It is safe after a failed Open.
func (m *Main) Close() error {
	var errs []error
	if m.worker != nil {
		m.worker.Stop()
		m.worker = nil
	}
	if m.metricsSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := m.metricsSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping metrics server: %w", err))
		}
		cancel()
		m.metricsSrv = nil
	}
	if m.app != nil {
		errs = append(errs, m.app.Close())
		m.app = nil
	}
	m.Logger.Info("worker stopped")
	return errors.Join(errs...)
}
