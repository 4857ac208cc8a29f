package bench

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The modes Run knows. ModeAll runs them in this order in one server
// session.
const (
	ModeThroughput = "throughput"
	ModeWaiting    = "waiting"
	ModeCallbacks  = "callbacks"
	ModeAPI        = "api"
	ModeAll        = "all"
)

// Modes lists the modes in the order ModeAll runs them.
var Modes = []string{ModeThroughput, ModeWaiting, ModeCallbacks, ModeAPI}

// Config is one benchmark run.
type Config struct {
	// Mode is one of the Mode constants.
	Mode string
	// Refunds is the number of refunds per throughput round (and of
	// baseline workflows per baseline round).
	Refunds int
	// Concurrency is how many refunds (or callbacks) are in flight at once.
	Concurrency int
	// Rounds is how many paired rounds of certflow and the baseline the
	// throughput and callback modes run.
	Rounds int
	// Waiting is the number of refunds parked at the CA's review in the
	// waiting mode (and of baseline workflows parked at their signal).
	Waiting int
	// Callbacks is the number of callbacks per round in the callback mode,
	// spread over CallbackCertificates certificate workflows on the
	// certificate path and as many refunds holding their certificate on
	// the held path.
	Callbacks            int
	CallbackCertificates int
	// InFlight is the number of refunds parked at the CA's review while
	// the api mode measures the console API (and of baseline workflows
	// parked at their signal).
	InFlight int
	// APIClients are the numbers of concurrent clients the api mode
	// measures each endpoint at, in order.
	APIClients []int
	// APIRequests is the number of requests per endpoint at each client
	// count (each cancel and approve needs an order of its own awaiting
	// approval, each refund POST a new order).
	APIRequests int
	// APIBackground is how many background refunds (PUT order, POST
	// refund, await refunded, with the CA answering at once) run at once
	// while the api mode measures, so the worker is busy; 0: none.
	APIBackground int

	// Dir holds the run's state (SQLite files, logs, binaries); it is
	// emptied first.
	Dir string
	// TemporalBin is the Temporal CLI (make temporal builds it), which
	// runs the dev server the benchmark starts unless TemporalAddress is
	// set.
	TemporalBin string
	// TemporalAddress, if set, is an existing Temporal frontend (host:port)
	// to run on instead of a dev server of its own, e.g. the real server on
	// PostgreSQL of scripts/with-temporal-server (make bench-e2e-real); its
	// namespace default must exist. TemporalPID is that server's process,
	// whose CPU and RSS the figures report.
	TemporalAddress string
	TemporalPID     int
	// DB is certflow's database DSN (sqlite:PATH or postgres://…), shared
	// by the gateway and the worker; empty: a SQLite file in Dir.
	DB string
	// WorkerBin, CASimBin and PaySimBin, if set, are used instead of
	// building ./worker, ./cmd/casim and ./cmd/paysim from ModuleDir.
	WorkerBin, CASimBin, PaySimBin string
	// BaselineWorkerBin, if set, is a bench-e2e binary the harness runs
	// with -baseline-worker as the baseline's worker process; otherwise
	// ./cmd/bench-e2e is built from ModuleDir.
	BaselineWorkerBin string
	// ModuleDir is the certflow module root the binaries are built from.
	ModuleDir string
	// WorkerEnv is added to the worker's environment (e.g. the
	// CERTFLOW_STICKY_CACHE_SIZE under test).
	WorkerEnv []string
	// ConsoleToken, if set, is the secret of the console-role token the
	// in-process gateway accepts and the harness sends on every console
	// API request (at least 16 characters); otherwise one is generated.
	ConsoleToken string
	// Timeout bounds each phase's wait.
	Timeout time.Duration
}

// Validate names the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Mode != ModeAll && !slices.Contains(Modes, c.Mode):
		return fmt.Errorf("mode %q: want %s or %s", c.Mode, strings.Join(Modes, ", "), ModeAll)
	case c.Concurrency < 1:
		return fmt.Errorf("concurrency %d: must be at least 1", c.Concurrency)
	case c.Rounds < 1:
		return fmt.Errorf("rounds %d: must be at least 1", c.Rounds)
	case c.runs(ModeThroughput) && c.Refunds < 1:
		return fmt.Errorf("refunds %d: must be at least 1", c.Refunds)
	case c.runs(ModeWaiting) && c.Waiting < 1:
		return fmt.Errorf("waiting %d: must be at least 1", c.Waiting)
	case c.runs(ModeCallbacks) && (c.Callbacks < 1 || c.CallbackCertificates < 1):
		return fmt.Errorf("callbacks %d over %d certificates: both must be at least 1", c.Callbacks, c.CallbackCertificates)
	case c.runs(ModeAPI) && c.InFlight < 1:
		return fmt.Errorf("inflight %d: must be at least 1", c.InFlight)
	case c.runs(ModeAPI) && c.APIRequests < 1:
		return fmt.Errorf("api-requests %d: must be at least 1", c.APIRequests)
	case c.runs(ModeAPI) && c.APIBackground < 0:
		return fmt.Errorf("api-background %d: must not be negative", c.APIBackground)
	case c.runs(ModeAPI) && len(c.APIClients) == 0:
		return errors.New("api-clients: at least one client count is required")
	case c.Dir == "":
		return errors.New("dir: required")
	case c.TemporalBin == "" && c.TemporalAddress == "":
		return errors.New("temporal binary: required (make temporal builds bin/temporal)")
	case c.TemporalAddress != "" && c.TemporalPID <= 0:
		return errors.New("temporal-pid: required with temporal-address (the server's CPU and RSS are part of the figures)")
	case c.DB != "" && !strings.HasPrefix(c.DB, "sqlite:") && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://"):
		return fmt.Errorf("db %q: want sqlite:PATH or a postgres:// DSN", c.DB)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout %s: must be positive", c.Timeout)
	}
	if c.runs(ModeAPI) {
		seen := map[int]bool{}
		for _, n := range c.APIClients {
			switch {
			case n < 1:
				return fmt.Errorf("api-clients: %d: each client count must be at least 1", n)
			case seen[n]:
				return fmt.Errorf("api-clients: %d given twice", n)
			}
			seen[n] = true
		}
	}
	for _, kv := range c.WorkerEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("worker environment %q is not NAME=value", kv)
		}
	}
	return nil
}

func (c Config) runs(mode string) bool { return c.Mode == ModeAll || c.Mode == mode }

// ParseCounts reads a comma-separated list of positive whole numbers, such
// as the -api-clients flag's "50,200". Blanks around the numbers are
// allowed; an empty list, an empty item, a number below 1 or something
// that is not a number is an error naming it.
func ParseCounts(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty list: want comma-separated numbers such as 50,200")
	}
	var out []int
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("item %d is empty in %q: want comma-separated numbers such as 50,200", i+1, s)
		}
		n, err := strconv.Atoi(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", item)
		}
		if n < 1 {
			return nil, fmt.Errorf("%d: must be at least 1", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// DefaultAPIRequests is the api mode's requests per endpoint and client
// count when none is given: five per client at the largest client count
// (1,000 at 200), so every client makes several and the p99 is not just
// the worst request.
func DefaultAPIRequests(clients []int) int {
	if len(clients) == 0 {
		return 0
	}
	return 5 * slices.Max(clients)
}
