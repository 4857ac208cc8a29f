package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/certflow/certflow/internal/temporalx"
)

// BaselineWorkerFlag is the hidden first argument that makes bench-e2e
// the baseline's worker process instead of the benchmark (the harness
// runs it so the baseline's worker CPU and RSS are read from /proc as
// certflow's worker's are).
const BaselineWorkerFlag = "-baseline-worker"

// The baseline worker's environment and its HTTP page.
const (
	envBaselineTemporal = "BENCH_BASELINE_TEMPORAL" // host:port of the frontend
	envBaselineAddr     = "BENCH_BASELINE_ADDR"     // where it serves /healthz and /parked
	baselineParkedPath  = "/parked"
)

// BaselinePollers is the baseline worker's workflow and activity task
// polls, each: as many as certflow's worker opens by default (worker
// DefaultPollers), so that the paired rounds compare workflows, not
// pollers.
const BaselinePollers = 8

// RunBaselineWorker is the baseline's worker process: it polls
// BaselineTaskQueue on the Temporal frontend named by
// BENCH_BASELINE_TEMPORAL and serves, on BENCH_BASELINE_ADDR, /healthz and
// /parked (the number of baseline workflows its Revoke activity left
// waiting for their signal, as a decimal number) until ctx ends.
func RunBaselineWorker(ctx context.Context, getenv func(string) string) error {
	hostPort, addr := getenv(envBaselineTemporal), getenv(envBaselineAddr)
	if hostPort == "" || addr == "" {
		return fmt.Errorf("baseline worker: %s and %s are required (the harness sets them)", envBaselineTemporal, envBaselineAddr)
	}
	c, err := client.Dial(client.Options{HostPort: hostPort, Namespace: temporalx.DefaultNamespace,
		Logger: temporalx.NewZapLogger(zap.NewNop())})
	if err != nil {
		return fmt.Errorf("baseline worker: dialing %s: %w", hostPort, err)
	}
	defer c.Close()
	var parked atomic.Int64
	w := worker.New(c, BaselineTaskQueue, worker.Options{MaxConcurrentWorkflowTaskPollers: BaselinePollers,
		MaxConcurrentActivityTaskPollers: BaselinePollers})
	w.RegisterWorkflow(BaselineWorkflow)
	w.RegisterActivity(&BaselineActivities{Client: c, Parked: func() { parked.Add(1) }})
	if err := w.Start(); err != nil {
		return fmt.Errorf("baseline worker: %w", err)
	}
	defer w.Stop()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET "+baselineParkedPath, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strconv.FormatInt(parked.Load(), 10)))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("baseline worker: %w", err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("baseline worker: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}
