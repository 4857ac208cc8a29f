package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/statemachine"
)

// Waiting is the waiting-at-scale figures: refunds parked at the CA's
// review, what the processes hold then, and how fast they drain when the
// reviews arrive; and the same for baseline workflows parked at their
// signal.
type Waiting struct {
	Refunds int `json:"refunds"`
	// Park is from the first refund request until every certificate is in
	// review.
	Park time.Duration `json:"park"`
	// Parked state, read after the server went quiet.
	WorkerRSS  int64 `json:"worker_rss_bytes"`
	WorkerPeak int64 `json:"worker_peak_rss_bytes"`
	ServerRSS  int64 `json:"server_rss_bytes"`
	// Goroutines, StickyCacheSize and ForcedEvictions are the worker's
	// metrics (go_goroutines, temporal_sticky_cache_size,
	// temporal_sticky_cache_total_forced_eviction).
	Goroutines      float64 `json:"goroutines"`
	StickyCacheSize float64 `json:"sticky_cache_size"`
	ForcedEvictions float64 `json:"forced_evictions"`
	// Drain is from the first review released until the last refund is
	// refunded; DrainRate is Refunds / Drain. The baseline's workflows are
	// released at the same moment (drainPaired).
	Drain       time.Duration `json:"drain"`
	DrainRate   float64       `json:"drain_rate"`
	DrainWorker Usage         `json:"drain_worker"`
	DrainServer Usage         `json:"drain_server"`
	// The baseline, parked at its signal and then signalled, drained at
	// the same time as certflow's refunds (half the release slots each).
	BaselineDrain       time.Duration `json:"baseline_drain"`
	BaselineDrainRate   float64       `json:"baseline_drain_rate"`
	DrainBaselineWorker Usage         `json:"drain_baseline_worker"`
	// WorkerEnv is the worker settings of the run (CERTFLOW_*).
	WorkerEnv []string `json:"worker_env"`
}

// settle is how long the harness lets the server and worker go quiet
// before reading the parked state.
const settle = 10 * time.Second

func (h *harness) waiting(ctx context.Context, rep *Report) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	orders := h.plan.waiting
	n := len(orders)
	h.logf("waiting: %d refunds parked at the CA's review, %d requests in flight", n, h.cfg.Concurrency)
	w := &Waiting{Refunds: n, WorkerEnv: h.cfg.WorkerEnv}
	// What is measured is kept even if a later step fails.
	rep.Waiting = w

	start := time.Now()
	if _, _, err := drive(ctx, n, h.cfg.Concurrency, func(ctx context.Context, i int) error {
		return h.startRefund(ctx, orders[i])
	}); err != nil {
		return err
	}
	if err := h.waitParked(ctx, orders); err != nil {
		return err
	}
	w.Park = time.Since(start)
	time.Sleep(settle)
	if err := h.alive(); err != nil {
		return err
	}
	wp, err := readProc(h.worker.Pid())
	if err != nil {
		return err
	}
	sp, err := readProc(h.serverPID())
	if err != nil {
		return err
	}
	w.WorkerRSS, w.WorkerPeak, w.ServerRSS = wp.rss, wp.hwm, sp.rss
	sum, largest, err := h.workerMetrics(ctx)
	if err != nil {
		return err
	}
	w.Goroutines = sum["go_goroutines"]
	w.StickyCacheSize = largest["temporal_sticky_cache_size"]
	w.ForcedEvictions = sum["temporal_sticky_cache_total_forced_eviction"] + sum["temporal_sticky_cache_total_forced_eviction_total"]
	h.logf("  parked in %s: worker RSS %s (peak %s), %.0f goroutines, sticky cache %.0f, %.0f forced evictions; server RSS %s",
		w.Park.Round(time.Second), mb(w.WorkerRSS), mb(w.WorkerPeak), w.Goroutines, w.StickyCacheSize, w.ForcedEvictions, mb(w.ServerRSS))

	// The baseline: park n workflows at their signal (in the baseline
	// worker's process), then drain both at once.
	before, err := h.baselineParked(ctx)
	if err != nil {
		return err
	}
	id := func(i int) string { return fmt.Sprintf("baseline/wait-%05d", i) }
	if _, _, err := drive(ctx, n, h.cfg.Concurrency, func(ctx context.Context, i int) error {
		return h.baseline(ctx, id(i), false)
	}); err != nil {
		return err
	}
	if err := h.waitBaselineParked(ctx, before+int64(n)); err != nil {
		return err
	}
	time.Sleep(settle)

	s, err := h.sample()
	if err != nil {
		return err
	}
	took, err := drainPaired(ctx, n, h.cfg.Concurrency, [2]func(context.Context, int) error{
		func(ctx context.Context, i int) error { return h.releaseReview(ctx, orders[i].Certificates[0].ID) },
		func(ctx context.Context, i int) error {
			return h.again(ctx, func(ctx context.Context) error {
				return h.tc.SignalWorkflow(ctx, id(i), "", SignalBaselineReview, nil)
			})
		},
	}, [2]func(context.Context, int) error{
		func(ctx context.Context, i int) error {
			return h.again(ctx, func(ctx context.Context) error { return h.awaitRefunded(ctx, orders[i].ID) })
		},
		func(ctx context.Context, i int) error {
			return h.again(ctx, func(ctx context.Context) error { return h.tc.GetWorkflow(ctx, id(i), "").Get(ctx, nil) })
		},
	})
	if err != nil {
		return err
	}
	u, err := s.end()
	if err != nil {
		return err
	}
	w.DrainWorker, w.DrainServer, w.DrainBaselineWorker = u.Worker, u.Server, u.BaselineWorker
	w.Drain, w.BaselineDrain = took[0], took[1]
	w.DrainRate, w.BaselineDrainRate = float64(n)/w.Drain.Seconds(), float64(n)/w.BaselineDrain.Seconds()
	h.logf("  drained at once, half the release slots each: certflow in %s = %.2f refunds/s, baseline in %s = %.2f workflows/s; %s",
		w.Drain.Round(time.Millisecond), w.DrainRate, w.BaselineDrain.Round(time.Millisecond), w.BaselineDrainRate, u)
	return nil
}

// drainPaired drains two paths at once from one start: for each path k,
// release[k] runs for i in [0,n) on half the conc slots (at least one)
// while await[k] waits for all n (a long poll each, not a task: 256 at
// once). It returns, per path, the time from the common start to that
// path's last finish. The first error of either path stops both.
func drainPaired(ctx context.Context, n, conc int, release, await [2]func(ctx context.Context, i int) error) ([2]time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		took [2]time.Duration
		wg   sync.WaitGroup
	)
	start := time.Now()
	for k := range 2 {
		wg.Go(func() {
			var inner sync.WaitGroup
			for _, step := range []struct {
				op   func(context.Context, int) error
				conc int
			}{{release[k], max(conc/2, 1)}, {await[k], 256}} {
				inner.Go(func() {
					if _, _, err := drive(ctx, n, step.conc, step.op); err != nil {
						cancel(err)
					}
				})
			}
			inner.Wait()
			took[k] = time.Since(start)
		})
	}
	wg.Wait()
	return took, context.Cause(ctx)
}

// releaseReview lets casim decide certificate id's parked review now
// (approve); with no review delay its callback follows at once.
func (h *harness) releaseReview(ctx context.Context, certID string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.casimURL+"/admin/certificates/"+certID+"/behaviour",
		strings.NewReader(`{"revocation":"approve"}`))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+h.caToken)
	resp, err := h.web.Do(req)
	if err != nil {
		return fmt.Errorf("releasing the review of %s: %w", certID, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("releasing the review of %s: casim answered %s", certID, resp.Status)
	}
	return nil
}

// waitParked polls the store until every order's certificate is in
// revocation review: its refund, which holds it, then waits for the CA.
func (h *harness) waitParked(ctx context.Context, orders []domain.Order) error {
	lastLog := time.Now()
	for {
		parked := 0
		for _, o := range orders {
			_, c, err := h.db.GetCertificate(ctx, o.Certificates[0].ID)
			if err == nil && c.State == statemachine.ValidatingRevocation {
				parked++
			}
		}
		if parked == len(orders) {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%d of %d refunds parked at the review: %w", parked, len(orders), ctx.Err())
		}
		if err := h.alive(); err != nil {
			return err
		}
		if time.Since(lastLog) > 30*time.Second {
			h.logf("  %d of %d parked", parked, len(orders))
			lastLog = time.Now()
		}
		time.Sleep(time.Second)
	}
}

// again makes a call to Temporal, and again after a second when the
// server did not answer in time (a loaded dev server with thousands of
// workflows waking), up to maxAttempts, as casim delivers a callback
// again: a drain must not fail on one slow answer, on either path.
func (h *harness) again(ctx context.Context, call func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := call(ctx)
		if err == nil || !isTransient(err) || ctx.Err() != nil || attempt >= maxAttempts {
			return err
		}
		h.timeoutRetries.Add(1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// isTransient reports whether err is Temporal not answering in time (a
// timeout or Unavailable).
func isTransient(err error) bool {
	var timeout *serviceerror.DeadlineExceeded
	var unavailable *serviceerror.Unavailable
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &timeout) || errors.As(err, &unavailable)
}
