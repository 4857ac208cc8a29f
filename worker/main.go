// Command worker is certflow's Temporal worker: it polls the certflow task
// queue and runs the certificate and refund workflows and their activities
// against the real clients — the SQLite store, the payment simulator on the
// same database, and the CA over HTTP (the real CA or casim). It serves
// the SDK's metrics for Prometheus on /metrics and stops gracefully on
// SIGINT or SIGTERM: the worker stops polling and lets running activities
// finish (up to -stop-timeout), then the Temporal client, the metrics
// server and the database are closed, in that order.
//
// Configuration comes from flags and the environment (a flag wins); run
// `worker -h` for the list. TEMPORAL_API_KEY implies TLS (Temporal Cloud).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/caclient"
	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/store"
	"github.com/certflow/certflow/workflows"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
	logger, err := newLogger(cfg.DevLog)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
	defer func() { _ = logger.Sync() }()
	if err := NewMain(cfg, logger).Run(ctx); err != nil {
		logger.Error("worker failed", zap.Error(err))
		_ = logger.Sync()
		os.Exit(1)
	}
}

func newLogger(dev bool) (*zap.Logger, error) {
	if dev {
		return zap.NewDevelopment(zap.AddStacktrace(zapcore.ErrorLevel))
	}
	return zap.NewProduction()
}

// Main is the worker program: it builds the clients from Config, wires
// them into the activities, and owns their lifetimes.
type Main struct {
	Config Config
	Logger *zap.Logger

	db         *store.DB
	metrics    *temporalx.Metrics
	metricsSrv *http.Server
	metricsLn  net.Listener
	metricsErr chan error
	client     client.Client
	worker     worker.Worker
	fatal      chan error
}

// NewMain returns the program for cfg, logging to logger.
func NewMain(cfg Config, logger *zap.Logger) *Main {
	return &Main{Config: cfg, Logger: logger, fatal: make(chan error, 1), metricsErr: make(chan error, 1)}
}

// Run opens everything, runs the worker until ctx ends or the worker fails,
// then closes everything.
func (m *Main) Run(ctx context.Context) error {
	if err := m.Open(ctx); err != nil {
		if ctx.Err() != nil {
			// Stopped while starting (SIGINT/SIGTERM): a clean stop.
			m.Logger.Info("stopped while starting", zap.Error(err))
			return m.Close()
		}
		return errors.Join(err, m.Close())
	}
	var runErr error
	select {
	case <-ctx.Done():
		m.Logger.Info("shutting down")
	case runErr = <-m.fatal:
		runErr = fmt.Errorf("worker stopped: %w", runErr)
	case runErr = <-m.metricsErr:
		runErr = fmt.Errorf("metrics server: %w", runErr)
	}
	return errors.Join(runErr, m.Close())
}

// Open builds the store, the policies, the CA client, the metrics server
// and the Temporal client, and starts the worker. On error, Close releases
// what was opened.
func (m *Main) Open(ctx context.Context) error {
	cfg := m.Config
	var err error
	if m.db, err = store.Open(ctx, cfg.DB); err != nil {
		return fmt.Errorf("opening store %s: %w", cfg.DB, err)
	}
	payments := store.NewPayments(m.db)
	for _, id := range cfg.FailOriginalMethod {
		if id == "*" {
			id = ""
		}
		payments.FailOriginalMethod(id, true)
	}
	policies, err := newPolicies(cfg.ProfileDir, cfg.CalendarFile)
	if err != nil {
		return err
	}
	ca, err := caclient.New(caclient.Config{BaseURL: cfg.CAURL, Token: cfg.CAToken})
	if err != nil {
		return fmt.Errorf("CA client: %w", err)
	}

	m.metrics = temporalx.NewMetrics()
	if cfg.MetricsAddr != "" {
		if err := m.serveMetrics(cfg.MetricsAddr); err != nil {
			return err
		}
	}

	opts, err := cfg.Temporal.Options(temporalx.NewZapLogger(m.Logger), m.metrics.Handler)
	if err != nil {
		return fmt.Errorf("temporal client options: %w", err)
	}
	dialCtx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if m.client, err = temporalx.Dial(dialCtx, opts, time.Second); err != nil {
		return err
	}

	m.worker = worker.New(m.client, workflows.TaskQueue, cfg.Tuning.apply(worker.Options{
		WorkerStopTimeout: cfg.StopTimeout,
		OnFatalError: func(err error) {
			select {
			case m.fatal <- err:
			default:
			}
		},
	}))
	m.worker.RegisterWorkflow(workflows.CertificateWorkflow)
	m.worker.RegisterWorkflow(workflows.RefundWorkflow)
	m.worker.RegisterActivity(&activities.Activities{CA: ca, Payments: payments, Store: m.db, Policies: policies,
		ReviewPoll: cfg.ReviewPoll})
	if err := m.worker.Start(); err != nil {
		m.worker = nil
		return fmt.Errorf("starting worker: %w", err)
	}
	m.Logger.Info("worker started",
		zap.String("temporal", cfg.Temporal.Address), zap.String("namespace", cfg.Temporal.Namespace),
		zap.Bool("tls", cfg.Temporal.TLS()), zap.String("task_queue", workflows.TaskQueue),
		zap.String("db", cfg.DB), zap.String("ca", cfg.CAURL), zap.String("metrics", m.MetricsAddr()),
		zap.Any("tuning", cfg.Tuning))
	return nil
}

// newPolicies loads the shipped profiles (plus those of dir) and the
// optional calendar override.
func newPolicies(dir, calendarFile string) (*activities.RegistryPolicies, error) {
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
		return nil, fmt.Errorf("loading refund-policy profiles: %w", err)
	}
	p := &activities.RegistryPolicies{Registry: reg}
	if calendarFile != "" {
		spec, err := calendar.LoadFile(calendarFile)
		if err != nil {
			return nil, err
		}
		// T-2: a loaded calendar replaces the built-in one of its name.
		p.Calendars = map[string]calendar.Spec{spec.Name: spec}
	}
	return p, nil
}

func (m *Main) serveMetrics(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.metrics.HTTP)
	m.metricsLn = ln
	m.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := m.metricsSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			m.metricsErr <- err
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
// the Temporal client, the metrics server and the store. It is safe after
// a failed Open.
func (m *Main) Close() error {
	var errs []error
	if m.worker != nil {
		m.worker.Stop()
		m.worker = nil
	}
	if m.client != nil {
		m.client.Close()
		m.client = nil
	}
	if m.metricsSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := m.metricsSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping metrics server: %w", err))
		}
		cancel()
		m.metricsSrv = nil
	}
	if m.metrics != nil {
		if err := m.metrics.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing metrics scope: %w", err))
		}
		m.metrics = nil
	}
	if m.db != nil {
		if err := m.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing store: %w", err))
		}
		m.db = nil
	}
	m.Logger.Info("worker stopped")
	return errors.Join(errs...)
}
