package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// Phase is one measured batch: certflow refunds or baseline workflows (or,
// in the callback mode, callbacks through the gateway or direct signals).
type Phase struct {
	Name  string `json:"name"`
	Round int    `json:"round"`
	Count int    `json:"count"`
	// Wall is from the first start to the last completion.
	Wall time.Duration `json:"wall"`
	// PerSec is Count / Wall.
	PerSec float64 `json:"per_sec"`
	// P50 and P99 are of each item's start → done latency.
	P50    time.Duration `json:"p50"`
	P99    time.Duration `json:"p99"`
	Worker Usage         `json:"worker"`
	Server Usage         `json:"server"`
	// BaselineWorker is the baseline's worker process (bench-e2e
	// -baseline-worker).
	BaselineWorker Usage `json:"baseline_worker"`
}

// Phase names.
const (
	PhaseCertflow = "certflow"
	PhaseBaseline = "baseline"
	PhaseGateway  = "gateway callbacks"
	PhaseDirect   = "direct signals"
	// The paired phases are one round of callbacks in which the two paths
	// take turns call by call, so a stall of the server (or of this
	// process) delays both alike; their p99s are the ones compared.
	PhasePairedGateway = "paired: gateway"
	PhasePairedDirect  = "paired: direct"
)

// measure runs n ops at the configured concurrency while sampling the
// worker and the server.
func (h *harness) measure(ctx context.Context, name string, round, n int, op func(ctx context.Context, i int) error) (Phase, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	s, err := h.sample()
	if err != nil {
		return Phase{}, err
	}
	lat, wall, runErr := drive(ctx, n, h.cfg.Concurrency, op)
	u, err := s.end()
	if runErr != nil {
		return Phase{}, fmt.Errorf("%s round %d: %w", name, round, runErr)
	}
	if err != nil {
		return Phase{}, err
	}
	if err := h.alive(); err != nil {
		return Phase{}, err
	}
	p := Phase{Name: name, Round: round, Count: n, Wall: wall, PerSec: float64(n) / wall.Seconds(),
		P50: percentile(lat, 50), P99: percentile(lat, 99), Worker: u.Worker, Server: u.Server, BaselineWorker: u.BaselineWorker}
	h.logf("  %-17s round %d: %d in %s = %.2f/s, p50 %s, p99 %s; %s",
		name, round, n, wall.Round(time.Millisecond), p.PerSec, p.P50.Round(time.Millisecond), p.P99.Round(time.Millisecond), u)
	return p, nil
}

// measurePaired runs n ops through two paths at once: half of the
// configured in-flight slots take path 0, half path 1, each slot the next
// op number when it is free, so the two paths share the same server, the
// same moments and the same stalls, and each goes as fast as it can. It
// returns a phase for each path: the same wall, CPU and RSS, each path's
// own count, rate and latencies.
func (h *harness) measurePaired(ctx context.Context, names [2]string, round, n int, ops [2]func(ctx context.Context, i int) error) ([2]Phase, error) {
	var out [2]Phase
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	s, err := h.sample()
	if err != nil {
		return out, err
	}
	lat, wall, runErr := drivePaired(ctx, n, h.cfg.Concurrency, ops)
	u, err := s.end()
	if runErr != nil {
		return out, fmt.Errorf("paired round %d: %w", round, runErr)
	}
	if err != nil {
		return out, err
	}
	if err := h.alive(); err != nil {
		return out, err
	}
	for k := range out {
		c := len(lat[k])
		out[k] = Phase{Name: names[k], Round: round, Count: c, Wall: wall, PerSec: float64(c) / wall.Seconds(),
			P50: percentile(lat[k], 50), P99: percentile(lat[k], 99), Worker: u.Worker, Server: u.Server, BaselineWorker: u.BaselineWorker}
		h.logf("  %-17s round %d: %d in %s = %.2f/s, p50 %s, p99 %s", names[k], round, c, wall.Round(time.Millisecond),
			out[k].PerSec, out[k].P50.Round(time.Millisecond), out[k].P99.Round(time.Millisecond))
	}
	h.logf("  paired round %d: %s", round, u)
	return out, nil
}

// drivePaired runs ops for i in [0,n) with conc in flight, slot g always
// through path g%2, and returns each path's latencies. The first error
// stops the run.
func drivePaired(ctx context.Context, n, conc int, ops [2]func(ctx context.Context, i int) error) ([2][]time.Duration, time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		lat  [2][]time.Duration
		mu   sync.Mutex
		next atomic.Int64
		wg   sync.WaitGroup
	)
	conc = max(2, min(conc-conc%2, n-n%2)) // as many slots for each path
	next.Store(int64(conc))
	start := time.Now()
	for g := range conc {
		path := g % 2
		wg.Go(func() {
			var mine []time.Duration
			defer func() {
				mu.Lock()
				lat[path] = append(lat[path], mine...)
				mu.Unlock()
			}()
			// Each slot's first op is its own, so both paths run one at
			// least; then the next free number.
			for i := g; ; i = int(next.Add(1) - 1) {
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := ops[path](ctx, i); err != nil {
					cancel(err)
					return
				}
				mine = append(mine, time.Since(t))
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return lat, wall, err
	}
	return lat, wall, nil
}

// throughput runs paired rounds of certflow refunds and baseline
// workflows: both at once, half the in-flight slots each, each slot taking
// the next op number when it is free (measurePaired), so both meet the
// server's same swings and stalls. A round is 2×Refunds ops (each path's
// share is what its speed takes), so the plan holds 2×Refunds orders per
// round and the ones the baseline's ops took stay unrefunded. Then one
// refund of each path is recorded event by event.
func (h *harness) throughput(ctx context.Context, rep *Report) error {
	h.logf("throughput: %d ops per round, certflow and the baseline at once with %d in flight each, %d paired rounds",
		2*h.cfg.Refunds, max(h.cfg.Concurrency/2, 1), h.cfg.Rounds)
	for r := range h.cfg.Rounds {
		orders := h.plan.throughput[r]
		paired, err := h.measurePaired(ctx, [2]string{PhaseCertflow, PhaseBaseline}, r+1, len(orders), [2]func(context.Context, int) error{
			func(ctx context.Context, i int) error { return h.refund(ctx, orders[i]) },
			func(ctx context.Context, i int) error {
				return h.baseline(ctx, fmt.Sprintf("baseline/tp%d-%05d", r+1, i), true)
			},
		})
		if err != nil {
			return err
		}
		rep.Throughput = append(rep.Throughput, paired[:]...)
	}
	return h.pathEvents(ctx, rep)
}

// refundBody is the body of POST /v1/orders/{id}/refund: every
// confirmation the console collects (who asks is the token's subject).
type refundBody struct {
	Consent              bool `json:"consent"`
	ConfirmIrreversible  bool `json:"confirm_irreversible"`
	AcceptLateReviewRisk bool `json:"accept_late_review_risk"`
}

// startRefund asks the gateway for o's refund. A 503 (Temporal did not
// answer in time) is retried as the API asks: the retry joins the refund
// if the first request started it. Retries are counted in the report.
func (h *harness) startRefund(ctx context.Context, o domain.Order) error {
	body, _ := json.Marshal(refundBody{Consent: true, ConfirmIrreversible: true, AcceptLateReviewRisk: true})
	for attempt := 1; ; attempt++ {
		status, resp, err := h.console(ctx, http.MethodPost, "/v1/orders/"+o.ID+"/refund", body)
		switch {
		case err != nil:
			return err
		case status/100 == 2:
			return nil
		case status == http.StatusServiceUnavailable && attempt < maxAttempts:
			h.retries.Add(1)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		default:
			return fmt.Errorf("POST refund of %s: %d %s", o.ID, status, resp)
		}
	}
}

// maxAttempts bounds the requests per refund start.
const maxAttempts = 30

// refund starts o's refund through the gateway and waits for the
// workflow's result, which must be refunded.
func (h *harness) refund(ctx context.Context, o domain.Order) error {
	if err := h.startRefund(ctx, o); err != nil {
		return err
	}
	// The 202 answers before the workflow's start (durable intake).
	if err := h.awaitStarted(ctx, o.ID); err != nil {
		return err
	}
	return h.awaitRefunded(ctx, o.ID)
}

func (h *harness) awaitRefunded(ctx context.Context, orderID string) error {
	var st refund.Status
	if err := h.tc.GetWorkflow(ctx, refund.WorkflowID(orderID), "").Get(ctx, &st); err != nil {
		return fmt.Errorf("refund of %s: %w", orderID, err)
	}
	if st.State != statemachine.OrderRefunded {
		return fmt.Errorf("refund of %s ended %s (%s %v), not refunded", orderID, st.State, st.Message, st.Reasons)
	}
	return nil
}

// console calls the gateway's console API with the harness's console
// token.
func (h *harness) console(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	return h.consoleAs(ctx, h.consoleToken, method, path, body)
}

// consoleAs calls the gateway's console API with the bearer token given.
func (h *harness) consoleAs(ctx context.Context, token, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, h.gatewayURL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := h.web.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// baseline runs one baseline workflow to its end.
func (h *harness) baseline(ctx context.Context, id string, selfSignal bool) error {
	run, err := h.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: BaselineTaskQueue}, BaselineWorkflow, BaselineInput{SelfSignal: selfSignal})
	if err != nil {
		return fmt.Errorf("starting %s: %w", id, err)
	}
	if !selfSignal {
		return nil
	}
	return run.Get(ctx, nil)
}

// PathEvents is the history events of one path's workflows.
type PathEvents struct {
	Path      string           `json:"path"`
	Total     int              `json:"total"`
	Workflows []WorkflowEvents `json:"workflows"`
}

// pathEvents runs one refund of each path (one at a time, on a quiet
// server) and a baseline workflow, and counts their events.
func (h *harness) pathEvents(ctx context.Context, rep *Report) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	for _, name := range []string{PathIssued, PathUnused, PathThreeYear} {
		o := h.plan.paths[name]
		if err := h.refund(ctx, o); err != nil {
			return err
		}
		ids := []string{refund.WorkflowID(o.ID)}
		for _, c := range o.Certificates {
			ids = append(ids, certificate.WorkflowID(c.ID))
		}
		wes, err := CountEvents(ctx, h.tc, ids...)
		if err != nil {
			return err
		}
		rep.Paths = append(rep.Paths, newPathEvents(name, wes))
	}
	if err := h.baseline(ctx, "baseline/path", true); err != nil {
		return err
	}
	wes, err := CountEvents(ctx, h.tc, "baseline/path")
	if err != nil {
		return err
	}
	rep.Paths = append(rep.Paths, newPathEvents(PathBaseline, wes))
	for _, p := range rep.Paths {
		h.logf("  events, %-10s %d %v", p.Path, p.Total, p.counts())
	}
	return nil
}

func newPathEvents(path string, wes []WorkflowEvents) PathEvents {
	p := PathEvents{Path: path, Workflows: wes}
	for _, w := range wes {
		p.Total += w.Events
	}
	return p
}

func (p PathEvents) counts() []int {
	var n []int
	for _, w := range p.Workflows {
		n = append(n, w.Events)
	}
	return n
}

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }
