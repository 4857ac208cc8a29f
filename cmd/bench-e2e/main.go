// Command bench-e2e runs certflow's end-to-end benchmark (package bench):
// its own Temporal dev server on a SQLite file, the CA simulator with no
// review delay, the worker as a separate process and the gateway, driven
// through the console API and alternated with a same-shape baseline
// workflow. It prints the figures and appends them to docs/BENCHMARKS.md
// with the machine, date, commit and command. `make bench-e2e` runs it;
// pass flags with ARGS, e.g. make bench-e2e ARGS='-mode waiting -waiting 2000'.
// With -temporal-address, -temporal-pid and -db it runs on an existing
// server and database instead: `make bench-e2e-real` runs it so on the
// real Temporal server and PostgreSQL of scripts/with-temporal-server.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/certflow/certflow/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Hidden: the harness runs this binary again as the baseline's worker
	// process (bench.RunBaselineWorker), configured by its environment.
	if len(os.Args) == 2 && os.Args[1] == bench.BaselineWorkerFlag {
		if err := bench.RunBaselineWorker(ctx, os.Getenv); err != nil {
			fmt.Fprintln(os.Stderr, "bench-e2e:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "bench-e2e:", err)
		os.Exit(1)
	}
}

// options is the command's configuration beyond bench.Config.
type options struct {
	cfg  bench.Config
	out  string
	json string
}

func parse(args []string, getenv func(string) string, output io.Writer) (options, error) {
	var (
		o          options
		workerEnv  string
		apiClients string
	)
	fs := flag.NewFlagSet("bench-e2e", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&o.cfg.Mode, "mode", bench.ModeAll, "throughput, waiting, callbacks, api or all")
	fs.IntVar(&o.cfg.Refunds, "n", 300, "throughput: ops per path per paired round on average (a round is 2n ops, certflow refunds and baseline workflows at once)")
	fs.IntVar(&o.cfg.Concurrency, "concurrency", 50, "refunds or callbacks in flight")
	fs.IntVar(&o.cfg.Rounds, "rounds", 2, "paired rounds of certflow and the baseline (throughput, callbacks)")
	fs.IntVar(&o.cfg.Waiting, "waiting", 2000, "refunds parked at the CA's review in the waiting mode")
	fs.IntVar(&o.cfg.Callbacks, "callbacks", 2000, "callbacks per round and path in the callback mode (certificate path: gateway alone, direct alone, both paired; held path: both paired)")
	fs.IntVar(&o.cfg.CallbackCertificates, "callback-certs", 200, "callbacks: certificates each path spreads its callbacks over (as many certificate workflows, and as many refunds parked at the review holding theirs)")
	fs.IntVar(&o.cfg.InFlight, "inflight", 2000, "api: refunds parked at the CA's review while the console API is measured (and baseline workflows parked)")
	fs.StringVar(&apiClients, "api-clients", "50,200", "api: comma-separated numbers of concurrent clients each endpoint is measured at")
	fs.IntVar(&o.cfg.APIRequests, "api-requests", 0, "api: requests per endpoint at each client count (each cancel, approve and refund POST takes an order of its own); 0: five times the largest client count (1000 at 200)")
	fs.IntVar(&o.cfg.APIBackground, "api-background", 10, "api: background refunds run at once while measuring, to keep the worker busy (0: none)")
	fs.StringVar(&o.cfg.Dir, "dir", ".bench", "state and logs (emptied first)")
	fs.StringVar(&o.cfg.TemporalBin, "temporal", filepath.Join("bin", "temporal"), "Temporal CLI (make temporal builds it) for the benchmark's own dev server")
	fs.StringVar(&o.cfg.TemporalAddress, "temporal-address", "", "an existing Temporal frontend (host:port) to run on instead of a dev server, e.g. the real server of scripts/with-temporal-server (make bench-e2e-real); its namespace default must exist")
	fs.IntVar(&o.cfg.TemporalPID, "temporal-pid", 0, "with -temporal-address: the server's process ID, whose CPU and RSS are reported")
	fs.StringVar(&o.cfg.DB, "db", "", "certflow database DSN (sqlite:PATH or postgres://…); default sqlite:<dir>/certflow.db")
	fs.StringVar(&workerEnv, "worker-env", getenv("BENCH_WORKER_ENV"), "space-separated NAME=value settings for the worker, e.g. CERTFLOW_STICKY_CACHE_SIZE=2000 (BENCH_WORKER_ENV)")
	fs.StringVar(&o.cfg.ConsoleToken, "console-token", getenv("CERTFLOW_CONSOLE_TOKEN"), "secret of the console-role token the in-process gateway accepts and the harness sends, at least 16 characters; default: generated (CERTFLOW_CONSOLE_TOKEN)")
	fs.DurationVar(&o.cfg.Timeout, "timeout", 2*time.Hour, "bound on each phase")
	fs.StringVar(&o.out, "out", filepath.Join("docs", "BENCHMARKS.md"), "Markdown file the figures are appended to; empty: print only")
	fs.StringVar(&o.json, "json", "", "also write the raw figures as JSON to this file")
	if err := fs.Parse(args[1:]); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.cfg.WorkerEnv = strings.Fields(workerEnv)
	o.cfg.ModuleDir = "."
	var err error
	if o.cfg.APIClients, err = bench.ParseCounts(apiClients); err != nil {
		return o, fmt.Errorf("-api-clients %q: %w", apiClients, err)
	}
	if o.cfg.APIRequests == 0 {
		o.cfg.APIRequests = bench.DefaultAPIRequests(o.cfg.APIClients)
	}
	return o, o.cfg.Validate()
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := parse(args, getenv, os.Stderr)
	if err != nil {
		return err
	}
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("run bench-e2e from the certflow repository root (make bench-e2e)")
	}
	hdr := bench.Header{Date: time.Now(), Machine: machine(), Commit: commit(), Go: runtime.Version(),
		Command: commandLine(args[1:]), Load: loadAverage()}
	// This binary is the baseline's worker too (-baseline-worker): no
	// build of its own.
	if exe, err := os.Executable(); err == nil {
		o.cfg.BaselineWorkerBin = exe
	}
	rep, runErr := bench.Run(ctx, o.cfg, stdout)
	if rep == nil || (runErr != nil && len(rep.Throughput)+len(rep.Paths)+len(rep.Callbacks) == 0 && rep.Waiting == nil && rep.API == nil) {
		return runErr
	}
	if runErr != nil {
		// Keep what was measured before the failure or interrupt.
		rep.Incomplete = runErr.Error()
	}
	md := rep.Markdown(hdr)
	fmt.Fprint(stdout, "\n"+md)
	if o.json != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.json, b, 0o644); err != nil {
			return err
		}
	}
	if o.out == "" {
		return runErr
	}
	f, err := os.OpenFile(o.out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("appending to %s: %w", o.out, err)
	}
	if _, err := f.WriteString(md); err != nil {
		f.Close()
		return fmt.Errorf("appending to %s: %w", o.out, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "appended to %s\n", o.out)
	return runErr
}

// machine describes the CPU, cores and memory from /proc.
func machine() string {
	model, mem := "unknown CPU", ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && k == "MemTotal" {
				var kb int64
				fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
				mem = fmt.Sprintf(", %.1f GB RAM", float64(kb)/(1<<20))
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%s, %d cores%s, %s/%s", model, runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH)
}

// commit is the checkout's commit, marked when the tree has changes.
func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	// The figures file itself changes with every run; it is not a change
	// to what is measured.
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/BENCHMARKS.md").Output(); err == nil && len(st) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}

// loadAverage is the 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// commandLine is the command as a shell would take it back: arguments
// that are empty or hold blanks or quotes are single-quoted.
func commandLine(args []string) string {
	parts := []string{"bench-e2e"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
