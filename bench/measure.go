package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// drive runs op(i) for i in [0,n) with conc in flight, returning each
// op's latency. The first error stops the run.
func drive(ctx context.Context, n, conc int, op func(ctx context.Context, i int) error) ([]time.Duration, time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(conc, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := op(ctx, i); err != nil {
					cancel(err)
					return
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return nil, wall, err
	}
	return lat, wall, nil
}

// percentile is the nearest-rank percentile p (0-100) of d.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(rank, len(s)-1))]
}

// Usage is a process's resource use over a phase.
type Usage struct {
	// CPU is the average number of cores used.
	CPU float64 `json:"cpu_cores"`
	// RSS is the largest resident set seen (sampled every 250ms), in bytes.
	RSS int64 `json:"max_rss_bytes"`
}

// sampler follows the /proc entries of certflow's worker, the server, the
// baseline's worker, the harness (the in-process gateway and the load it
// drives) and the CA and payment simulators over a phase, and the
// machine's busy time (/proc/stat).
type sampler struct {
	pids    [6]int // worker, server, baseline worker, harness, casim, paysim
	first   [6]procSample
	maxRSS  [6]int64
	machine machineSample
	stop    chan struct{}
	done    chan struct{}
	err     error
}

// Usages is the resource use of the measured processes over a phase.
type Usages struct {
	Worker, Server, BaselineWorker Usage
	// Harness is the bench-e2e process: the in-process gateway and the
	// clients that load it.
	Harness Usage `json:"harness"`
	// Simulators is the CA and payment simulators' CPU together (casim,
	// paysim), their RSS the larger.
	Simulators Usage `json:"simulators"`
	// MachineCPU is the cores busy machine-wide (every process; /proc/stat);
	// what the processes above do not account for is the others: the
	// database, above all.
	MachineCPU float64 `json:"machine_cpu_cores"`
}

// OtherCPU is the cores busy outside the measured processes.
func (u Usages) OtherCPU() float64 {
	return max(0, u.MachineCPU-u.Worker.CPU-u.Server.CPU-u.BaselineWorker.CPU-u.Harness.CPU-u.Simulators.CPU)
}

func (h *harness) sample() (*sampler, error) {
	s := &sampler{pids: [6]int{h.worker.Pid(), h.serverPID(), h.baselineWorker.Pid(), os.Getpid(), h.casim.Pid(), h.paysim.Pid()},
		stop: make(chan struct{}), done: make(chan struct{})}
	var err error
	if s.machine, err = readMachine(); err != nil {
		return nil, err
	}
	for i, pid := range s.pids {
		p, err := readProc(pid)
		if err != nil {
			return nil, err
		}
		s.first[i], s.maxRSS[i] = p, p.rss
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				for i, pid := range s.pids {
					p, err := readProc(pid)
					if err != nil {
						s.err = err
						return
					}
					s.maxRSS[i] = max(s.maxRSS[i], p.rss)
				}
			}
		}
	}()
	return s, nil
}

// end stops sampling and returns the processes' usage.
func (s *sampler) end() (Usages, error) {
	close(s.stop)
	<-s.done
	if s.err != nil {
		return Usages{}, s.err
	}
	m, err := readMachine()
	if err != nil {
		return Usages{}, err
	}
	var u [6]Usage
	for i, pid := range s.pids {
		p, err := readProc(pid)
		if err != nil {
			return Usages{}, err
		}
		wall := p.at.Sub(s.first[i].at).Seconds()
		u[i] = Usage{CPU: (p.cpu - s.first[i].cpu).Seconds() / wall, RSS: max(s.maxRSS[i], p.rss)}
	}
	sims := Usage{CPU: u[4].CPU + u[5].CPU, RSS: max(u[4].RSS, u[5].RSS)}
	return Usages{Worker: u[0], Server: u[1], BaselineWorker: u[2], Harness: u[3], Simulators: sims, MachineCPU: m.coresSince(s.machine)}, nil
}

// workerMetrics reads the worker's Prometheus page: for each metric, the
// sum over its label sets (counters) and the largest value (gauges such as
// temporal_sticky_cache_size, which the SDK reports once per workflow
// type, each the whole cache's size).
func (h *harness) workerMetrics(ctx context.Context) (sum, largest map[string]float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.metricsURL, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := h.web.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("reading worker metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("worker metrics: %s", resp.Status)
	}
	sum, largest = map[string]float64{}, map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		sum[name] += v
		largest[name] = max(largest[name], v)
	}
	return sum, largest, sc.Err()
}

// WorkflowEvents is one workflow's history as counted on the server.
type WorkflowEvents struct {
	WorkflowID string         `json:"workflow_id"`
	Events     int            `json:"events"`
	ByType     map[string]int `json:"by_type"`
}

// CountEvents waits for each workflow to close, then counts its history's
// events (GetWorkflowExecutionHistory), by event type too.
func CountEvents(ctx context.Context, c client.Client, workflowIDs ...string) ([]WorkflowEvents, error) {
	var out []WorkflowEvents
	for _, id := range workflowIDs {
		// Wait for the close so the history is complete.
		closing := c.GetWorkflowHistory(ctx, id, "", true, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
		exists := true
		for closing.HasNext() {
			if _, err := closing.Next(); err != nil {
				var nf *serviceerror.NotFound
				if errors.As(err, &nf) {
					// No such workflow: a refund held the certificate and
					// ran its release itself.
					exists = false
					break
				}
				return nil, fmt.Errorf("waiting for %s to close: %w", id, err)
			}
		}
		if !exists {
			continue
		}
		we := WorkflowEvents{WorkflowID: id, ByType: map[string]int{}}
		it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return nil, fmt.Errorf("reading the history of %s: %w", id, err)
			}
			we.Events++
			we.ByType[strings.TrimPrefix(ev.GetEventType().String(), "EVENT_TYPE_")]++
		}
		out = append(out, we)
	}
	return out, nil
}

// String is the usage as the progress lines show it.
func (u Usages) String() string {
	return fmt.Sprintf("server %.2f cores %s, worker %.2f cores %s, baseline worker %.2f cores %s, harness %.2f cores, simulators %.2f cores, machine %.2f cores busy (others %.2f)",
		u.Server.CPU, mb(u.Server.RSS), u.Worker.CPU, mb(u.Worker.RSS), u.BaselineWorker.CPU, mb(u.BaselineWorker.RSS),
		u.Harness.CPU, u.Simulators.CPU, u.MachineCPU, u.OtherCPU())
}
