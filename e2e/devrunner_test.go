package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/testenv"
)

// devRunner is a running cmd/certflow-dev (what `make run` starts: the
// Temporal dev server, worker, gateway with /ops/, CA and payment
// simulators, event receiver and the demo orders) on free ports.
type devRunner struct {
	// Dir is the folder the runner works in, as a reader's module root
	// would be: Dir/.run is its state (RunDir), Dir/bin holds the
	// Temporal CLI and what the runner builds.
	Dir, RunDir string
	// Endpoints is the runner's .run/endpoints.json.
	Endpoints devEndpoints
}

// devEndpoints is the part of endpoints.json the tests read.
type devEndpoints struct {
	Gateway string `json:"gateway"`
	Ops     string `json:"ops"`
	WebUI   string `json:"web_ui"`
	// Tokens are the demo's API tokens by role: console, operator
	// (subject demo-operator) and operator2 (demo-operator2).
	Tokens map[string]string `json:"tokens"`
	CA     struct {
		URL   string `json:"url"`
		Token string `json:"token"`
	} `json:"ca"`
}

// startDevRunner builds and starts the dev runner in a fresh folder, with
// extraArgs after the port flags (e.g. "-approve-after", "1h"), and waits
// for its endpoints.json. The runner is stopped (SIGINT, as Ctrl-C) when
// the test ends or ctx is done; when the test failed, the tails of the
// runner's, the gateway's and the worker's logs are logged.
func startDevRunner(t *testing.T, ctx context.Context, extraArgs ...string) *devRunner {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := &devRunner{Dir: dir, RunDir: filepath.Join(dir, ".run")}
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(testenv.TemporalBin(t), filepath.Join(bin, "temporal")); err != nil {
		t.Fatal(err)
	}
	runner := filepath.Join(bin, "certflow-dev")
	build := exec.CommandContext(ctx, "go", "build", "-o", runner, "./cmd/certflow-dev")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the dev runner: %v\n%s", err, out)
	}
	// The ports are picked free, but the runner binds them a minute
	// later, after its builds: on a busy machine another process may take
	// one meanwhile. Such a start (a bind refused, the runner exited) is
	// made again on other ports, in a new folder, up to three times.
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			r.RunDir = filepath.Join(dir, fmt.Sprintf(".run-%d", attempt))
		}
		err := r.launch(t, ctx, root, dir, bin, runner, extraArgs)
		if err == nil {
			return r
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("start %d: %v; starting again on other ports", attempt, err)
	}
}

// errPortTaken: the runner exited because a port it was given was taken.
var errPortTaken = errors.New("a port the dev runner was given was taken before it bound it")

// launch starts the runner on fresh ports in r.RunDir and waits for its
// endpoints.json; it returns errPortTaken (wrapped) when the runner exited
// on a refused bind, another error when it failed otherwise.
func (r *devRunner) launch(t *testing.T, ctx context.Context, root, dir, bin, runner string, extraArgs []string) error {
	t.Helper()
	args := []string{"-dir", r.RunDir, "-bin", bin, "-temporal", filepath.Join(bin, "temporal"),
		"-temporal-port", strconv.Itoa(freePort(t)), "-ui-port", strconv.Itoa(freePort(t)),
		"-gateway-addr", addrOf(freePort(t)), "-casim-addr", addrOf(freePort(t)), "-paysim-addr", addrOf(freePort(t)),
		"-eventsink-addr", addrOf(freePort(t)), "-metrics-addr", addrOf(freePort(t)), "-refresh", "1h"}
	args = append(args, extraArgs...)

	runCtx, stop := context.WithCancel(ctx)
	cmd := exec.CommandContext(runCtx, runner, args...)
	cmd.Dir = root
	runnerLog := filepath.Join(dir, "runner.log")
	logf, err := os.Create(runnerLog)
	if err != nil {
		stop()
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Start(); err != nil {
		stop()
		logf.Close()
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	runDir := r.RunDir
	cleanup := func() {
		stop()
		<-exited
		logf.Close()
		if t.Failed() {
			dumpTail(t, runnerLog)
			for _, f := range []string{"gateway.log", "worker.log"} {
				dumpTail(t, filepath.Join(runDir, f))
			}
		}
	}

	// endpoints.json is written once the gateway serves; it is read until
	// it parses, since the runner may be midway through writing it.
	path := filepath.Join(r.RunDir, "endpoints.json")
	deadline := time.Now().Add(8 * time.Minute)
	for {
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &r.Endpoints) == nil && r.Endpoints.Gateway != "" {
			t.Cleanup(cleanup)
			return nil
		}
		if time.Now().After(deadline) {
			t.Cleanup(cleanup)
			return fmt.Errorf("%s did not appear within 8m", path)
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			if portTaken(runnerLog, runDir) {
				stop()
				logf.Close()
				return fmt.Errorf("%w: %v", errPortTaken, err)
			}
			t.Cleanup(cleanup)
			return fmt.Errorf("the dev runner exited before writing %s: %v", path, err)
		case <-ctx.Done():
			t.Cleanup(cleanup)
			return fmt.Errorf("waiting for %s: %v", path, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// portTaken reports whether the runner's or a child's log says a bind was
// refused.
func portTaken(runnerLog, runDir string) bool {
	logs, _ := filepath.Glob(filepath.Join(runDir, "*.log"))
	for _, f := range append(logs, runnerLog) {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "address already in use") {
			return true
		}
	}
	return false
}

func addrOf(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func dumpTail(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	t.Logf("--- tail of %s ---\n%s", path, b)
}
