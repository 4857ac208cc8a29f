package bench

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The modes Run knows. ModeAll runs them in this order in one server
// session.
const (
	ModeThroughput = "throughput"
	ModeWaiting    = "waiting"
	ModeCallbacks  = "callbacks"
	ModeAll        = "all"
)

// Modes lists the modes in the order ModeAll runs them.
var Modes = []string{ModeThroughput, ModeWaiting, ModeCallbacks}

// Config is one benchmark run.
type Config struct {
	// Mode is one of the Mode constants.
	Mode string
	// Refunds is the number of refunds per throughput round (and of
	// baseline workflows per baseline round).
	Refunds int
	// Concurrency is how many refunds (or callbacks) are in flight at once.
	Concurrency int
	// Rounds is how many times certflow and the baseline alternate in the
	// throughput and callback modes.
	Rounds int
	// Waiting is the number of refunds parked at the CA's review in the
	// waiting mode (and of baseline workflows parked at their signal).
	Waiting int
	// Callbacks is the number of callbacks per round in the callback mode,
	// spread over CallbackCertificates certificate workflows.
	Callbacks            int
	CallbackCertificates int

	// Dir holds the run's state (SQLite files, logs, binaries); it is
	// emptied first.
	Dir string
	// TemporalBin is the Temporal CLI (make temporal builds it).
	TemporalBin string
	// WorkerBin, CASimBin and PaySimBin, if set, are used instead of
	// building ./worker, ./cmd/casim and ./cmd/paysim from ModuleDir.
	WorkerBin, CASimBin, PaySimBin string
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
	case c.Dir == "":
		return errors.New("dir: required")
	case c.TemporalBin == "":
		return errors.New("temporal binary: required (make temporal builds bin/temporal)")
	case c.Timeout <= 0:
		return fmt.Errorf("timeout %s: must be positive", c.Timeout)
	}
	for _, kv := range c.WorkerEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("worker environment %q is not NAME=value", kv)
		}
	}
	return nil
}

func (c Config) runs(mode string) bool { return c.Mode == ModeAll || c.Mode == mode }
