package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/testenv"

	"go.temporal.io/api/serviceerror"
)

// TestRunAllModesTiny runs the whole harness once at a tiny size, as CI
// does, and checks that every mode produced well-formed figures. Their
// values are not judged: timing is recorded, not asserted.
func TestRunAllModesTiny(t *testing.T) {
	cfg := Config{
		Mode: ModeAll, Refunds: 3, Concurrency: 3, Rounds: 1, Waiting: 3, Callbacks: 10, CallbackCertificates: 2,
		InFlight: 3, APIClients: []int{2}, APIRequests: 3, APIBackground: 1,
		Dir: filepath.Join(t.TempDir(), "run"), TemporalBin: testenv.TemporalBin(t), ModuleDir: "..", Timeout: 3 * time.Minute,
		WorkerEnv: []string{"CERTFLOW_DEV_LOG=false"},
	}
	var log strings.Builder
	rep, err := Run(context.Background(), cfg, &log)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	if err := rep.Check(); err != nil {
		t.Fatalf("malformed figures: %v\n%s", err, log.String())
	}
	// Every refund POST's workflow was seen started (the 202 comes before
	// the start, which the api mode times separately).
	if p, ok := rep.API.phase(EndpointRefundStarted, 2); !ok || p.Count != cfg.APIRequests || p.P50 <= 0 {
		t.Errorf("refund POST → started = %+v (found %v), want all %d POSTs started", p, ok, cfg.APIRequests)
	}
	md := rep.Markdown(Header{Date: time.Now(), Machine: "test", Commit: "test", Command: "test"})
	for _, want := range []string{"refunds/s", "| refund POST → started | 2 |", "history events, 1 issued certificate", "unused quota", "3-year order",
		"waiting for CA review", "drain after the reviews arrive", "CA callbacks through the gateway", "| certflow | 1 |", "| baseline | 1 |",
		"| paired: gateway | 1 |", "| paired: direct | 1 |", "| refund POST | 2 |", "| status GET | 2 |", "| approve | 2 |", "Review timing"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

func TestCheckRefusesMalformedFigures(t *testing.T) {
	good := func() *Report {
		p := Phase{Count: 1, Wall: time.Second, PerSec: 1, P50: time.Millisecond, P99: 2 * time.Millisecond,
			Worker: Usage{CPU: 0.1, RSS: 1}, Server: Usage{CPU: 0.5, RSS: 1}, BaselineWorker: Usage{CPU: 0.05, RSS: 1}}
		cert, base := p, p
		cert.Name, base.Name = PhaseCertflow, PhaseBaseline
		wf := func(n int) WorkflowEvents {
			return WorkflowEvents{WorkflowID: "w", Events: n, ByType: map[string]int{"X": n}}
		}
		return &Report{
			Config:     Config{Mode: ModeThroughput, Rounds: 1},
			Throughput: []Phase{cert, base},
			Paths: []PathEvents{
				{Path: PathIssued, Total: 4, Workflows: []WorkflowEvents{wf(4)}},
				{Path: PathUnused, Total: 4, Workflows: []WorkflowEvents{wf(4)}},
				{Path: PathThreeYear, Total: 4, Workflows: []WorkflowEvents{wf(4)}},
				{Path: PathBaseline, Total: 4, Workflows: []WorkflowEvents{wf(4)}},
			},
		}
	}
	if err := good().Check(); err != nil {
		t.Fatalf("well-formed report refused: %v", err)
	}
	for name, spoil := range map[string]func(r *Report){
		"p99 below p50":        func(r *Report) { r.Throughput[0].P99 = 0 },
		"no server CPU":        func(r *Report) { r.Throughput[1].Server.CPU = 0 },
		"no baseline worker":   func(r *Report) { r.Throughput[0].BaselineWorker.RSS = 0 },
		"missing round":        func(r *Report) { r.Throughput = r.Throughput[:1] },
		"missing path":         func(r *Report) { r.Paths = r.Paths[1:] },
		"total is not the sum": func(r *Report) { r.Paths[0].Total = 9 },
		"waiting missing":      func(r *Report) { r.Config.Mode = ModeAll },
	} {
		t.Run(name, func(t *testing.T) {
			r := good()
			spoil(r)
			if r.Check() == nil {
				t.Error("malformed report accepted")
			}
		})
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i))
	}
	for p, want := range map[float64]time.Duration{50: 50, 99: 99, 100: 100, 1: 1} {
		if got := percentile(d, p); got != want {
			t.Errorf("p%.0f = %d, want %d", p, got, want)
		}
	}
}

func TestConfigNamesTheBadSetting(t *testing.T) {
	ok := Config{Mode: ModeAll, Refunds: 1, Concurrency: 1, Rounds: 1, Waiting: 1, Callbacks: 1, CallbackCertificates: 1,
		InFlight: 1, APIClients: []int{50, 200}, APIRequests: 1, Dir: "x", TemporalBin: "t", Timeout: time.Second}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	real := ok
	real.TemporalBin, real.TemporalAddress, real.TemporalPID, real.DB = "", "127.0.0.1:7233", 4242, "postgres://certflow@127.0.0.1/postgres"
	if err := real.Validate(); err != nil {
		t.Fatalf("on an existing server and PostgreSQL: %v", err)
	}
	for want, spoil := range map[string]func(c *Config){
		"mode":                                 func(c *Config) { c.Mode = "fast" },
		"concurrency":                          func(c *Config) { c.Concurrency = 0 },
		"waiting":                              func(c *Config) { c.Waiting = 0 },
		"worker env":                           func(c *Config) { c.WorkerEnv = []string{"NOEQUALS"} },
		"inflight":                             func(c *Config) { c.InFlight = 0 },
		"api-requests":                         func(c *Config) { c.APIRequests = 0 },
		"api-background":                       func(c *Config) { c.APIBackground = -1 },
		"at least one client count":            func(c *Config) { c.APIClients = nil },
		"given twice":                          func(c *Config) { c.APIClients = []int{50, 50} },
		"each client count must be at least 1": func(c *Config) { c.APIClients = []int{0} },
		"temporal-pid: required":               func(c *Config) { c.TemporalAddress = "127.0.0.1:7233" },
		"want sqlite:PATH or a postgres":       func(c *Config) { c.DB = "mysql://x" },
	} {
		c := ok
		spoil(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}

func TestWorkerMetricsSumsCountersAndKeepsLargestGauge(t *testing.T) {
	page := `# HELP go_goroutines Number of goroutines.
go_goroutines 2017
temporal_sticky_cache_size{workflow_type="CertificateWorkflow"} 988
temporal_sticky_cache_size{workflow_type="RefundWorkflow"} 989
temporal_sticky_cache_total_forced_eviction_total{workflow_type="none"} 54
temporal_request_total{operation="A"} 2
temporal_request_total{operation="B"} 3
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(page)) }))
	defer srv.Close()
	h := &harness{web: srv.Client(), metricsURL: srv.URL}
	sum, largest, err := h.workerMetrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum["go_goroutines"] != 2017 || sum["temporal_request_total"] != 5 || sum["temporal_sticky_cache_total_forced_eviction_total"] != 54 {
		t.Errorf("sums = %v", sum)
	}
	if largest["temporal_sticky_cache_size"] != 989 {
		t.Errorf("sticky cache size = %v, want 989", largest["temporal_sticky_cache_size"])
	}
}

// drivePaired gives each path half the slots: with one path ten times
// slower than the other, the fast one does most of the ops, and each
// path's latencies are its own.
func TestDrivePairedSplitsSlotsByPath(t *testing.T) {
	slow, fast := 10*time.Millisecond, time.Millisecond
	lat, _, err := drivePaired(context.Background(), 200, 4, [2]func(context.Context, int) error{
		func(context.Context, int) error { time.Sleep(slow); return nil },
		func(context.Context, int) error { time.Sleep(fast); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(lat[0]) + len(lat[1]); n != 200 {
		t.Fatalf("%d ops ran, want 200", n)
	}
	if len(lat[0]) < 2 || len(lat[1]) <= len(lat[0]) {
		t.Errorf("slow path ran %d, fast path %d: want each at least its two slots' first ops and the fast one more", len(lat[0]), len(lat[1]))
	}
	if p := percentile(lat[0], 50); p < slow {
		t.Errorf("slow path p50 %s, want at least %s", p, slow)
	}
}

// again makes a timed-out call again, counted, and gives up at once on
// any other error.
func TestAgainRetriesTimeoutsOnly(t *testing.T) {
	h := &harness{}
	calls := 0
	err := h.again(context.Background(), func(context.Context) error {
		if calls++; calls < 3 {
			return serviceerror.NewDeadlineExceeded("slow server")
		}
		return nil
	})
	if err != nil || calls != 3 || h.timeoutRetries.Load() != 2 {
		t.Errorf("err %v after %d calls, %d retries; want success at the third call, 2 retries", err, calls, h.timeoutRetries.Load())
	}
	calls = 0
	err = h.again(context.Background(), func(context.Context) error {
		calls++
		return serviceerror.NewNotFound("no such workflow")
	})
	if err == nil || calls != 1 {
		t.Errorf("not found: err %v after %d calls, want it returned at once", err, calls)
	}
}
