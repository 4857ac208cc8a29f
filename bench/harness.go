// Package bench is certflow's end-to-end benchmark (`make bench-e2e`). It
// starts its own Temporal dev server on a SQLite file, the CA simulator
// with no review delay, the payment simulator settling at once, the
// worker and the baseline's worker as separate processes (so their CPU and
// memory can be read from /proc), serves the gateway in-process with its
// own console and operator tokens, registers orders through
// PUT /v1/orders/{id} as a console backend does, and drives refunds
// through the gateway's console API, paired with a same-shape baseline
// workflow on its own task queue in the same server session. It measures;
// it asserts nothing about speed.
//
// Four modes: throughput (refunds/s, start → refunded latency, history
// events per path counted from the server, CPU and RSS; certflow and the
// baseline at once, half the slots each), waiting (refunds parked at the
// CA's review, the worker's memory, then the drain rate once the reviews
// arrive, certflow's and the baseline's released at once), callbacks
// (signed CA callbacks through the gateway against direct SignalWorkflow
// calls, to certificate workflows and to refunds holding their
// certificate) and api (the console API's latency per endpoint with thousands
// of refunds in flight and the worker busy, against bare Temporal calls).
package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/gateway"
	"github.com/certflow/certflow/intake"
	"github.com/certflow/certflow/internal/procs"
	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/store"
	"github.com/certflow/certflow/workflows"
)

// harness is one server session: the processes, the clients and the
// orders of the run.
type harness struct {
	cfg Config
	out io.Writer

	temporal, casim, paysim, worker *procs.Child
	// baselineWorker is the baseline's worker process (bench-e2e
	// -baseline-worker); baselineURL serves its parked count.
	baselineWorker *procs.Child
	baselineURL    string
	stops          []func()

	tc         client.Client
	temporalAt string // the frontend's host:port
	db         *store.DB
	gatewayURL string
	casimURL   string
	paysimURL  string
	caToken    string
	// consoleToken is the console-role bearer token the in-process
	// gateway accepts (subject "bench").
	consoleToken string
	// operatorToken is the operator-role token (subject
	// "bench-operator"): the api mode lists orders and approves refunds
	// the console's subject requested (GW-4, four eyes) with it.
	operatorToken string
	secret        []byte
	metricsURL    string
	web           *http.Client
	plan          plan
	retries       atomic.Int64 // requests the gateway answered 503
	// timeoutRetries are calls to Temporal made again after a timeout.
	timeoutRetries atomic.Int64
}

// Run starts a server session, runs cfg's modes in it, stops everything it
// started and returns the figures. Progress goes to out.
func Run(ctx context.Context, cfg Config, out io.Writer) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &harness{cfg: cfg, out: out, web: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: time.Minute}}
	defer h.stopAll()
	if err := h.start(ctx); err != nil {
		return nil, err
	}
	rep := &Report{Config: cfg}
	defer func() { rep.Retries, rep.TimeoutRetries = int(h.retries.Load()), int(h.timeoutRetries.Load()) }()
	if cfg.runs(ModeThroughput) {
		if err := h.throughput(ctx, rep); err != nil {
			return rep, fmt.Errorf("throughput mode: %w", err)
		}
	}
	if cfg.runs(ModeWaiting) {
		if err := h.waiting(ctx, rep); err != nil {
			return rep, fmt.Errorf("waiting mode: %w", err)
		}
	}
	if cfg.runs(ModeCallbacks) {
		if err := h.callbacks(ctx, rep); err != nil {
			return rep, fmt.Errorf("callback mode: %w", err)
		}
	}
	if cfg.runs(ModeAPI) {
		if err := h.api(ctx, rep); err != nil {
			return rep, fmt.Errorf("api mode: %w", err)
		}
	}
	return rep, nil
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.out, "· "+format+"\n", args...)
}

func (h *harness) onStop(f func()) { h.stops = append(h.stops, f) }

func (h *harness) stopAll() {
	for i := len(h.stops) - 1; i >= 0; i-- {
		h.stops[i]()
	}
	h.stops = nil
}

func (h *harness) path(name string) string { return filepath.Join(h.cfg.Dir, name) }

func (h *harness) start(ctx context.Context) error {
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"preparing " + h.cfg.Dir, h.prepare},
		{"building the worker, casim, paysim and the baseline worker", h.build},
		{h.temporalStep(), h.startTemporal},
		{"starting the CA simulator (no review delay)", h.startCASim},
		{"starting the payment simulator (settling at once)", h.startPaysim},
		{"opening the store", h.openStore},
		{"starting the baseline worker (a process of its own)", h.startBaselineWorker},
		{"starting the gateway", h.startInProcess},
		{"registering orders through PUT /v1/orders/{id}", h.registerAll},
		{"starting the worker", h.startWorker},
	}
	for _, s := range steps {
		h.logf("%s", s.name)
		if err := s.fn(ctx); err != nil {
			return err
		}
	}
	return nil
}

// prepare empties the run's directory and makes its secrets and orders.
func (h *harness) prepare(context.Context) error {
	clean := filepath.Clean(h.cfg.Dir)
	if clean == "." || clean == "/" || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("dir %q would delete more than the benchmark's state", h.cfg.Dir)
	}
	if err := os.RemoveAll(clean); err != nil {
		return fmt.Errorf("emptying %s: %w", clean, err)
	}
	if err := os.MkdirAll(clean, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", clean, err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	h.secret = key
	tok := make([]byte, 12)
	_, _ = rand.Read(tok)
	h.caToken = "bench-" + hex.EncodeToString(tok)
	h.consoleToken = h.cfg.ConsoleToken
	if h.consoleToken == "" {
		_, _ = rand.Read(tok)
		h.consoleToken = "cf_bench_" + hex.EncodeToString(tok)
	}
	_, _ = rand.Read(tok)
	h.operatorToken = "cf_bench_op_" + hex.EncodeToString(tok)
	h.plan = newPlan(h.cfg, time.Now())
	return nil
}

// build compiles the worker, casim, paysim and bench-e2e (the baseline's
// worker) unless given.
func (h *harness) build(ctx context.Context) error {
	for _, b := range []struct {
		bin *string
		out string
		pkg string
	}{{&h.cfg.WorkerBin, "certflow-worker", "./worker"}, {&h.cfg.CASimBin, "casim", "./cmd/casim"}, {&h.cfg.PaySimBin, "paysim", "./cmd/paysim"},
		{&h.cfg.BaselineWorkerBin, "bench-e2e", "./cmd/bench-e2e"}} {
		if *b.bin != "" {
			continue
		}
		out, err := filepath.Abs(h.path(b.out))
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, b.pkg)
		cmd.Dir = h.cfg.ModuleDir
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", b.pkg, err, msg)
		}
		*b.bin = out
	}
	return nil
}

// freePort asks the kernel for a free TCP port on the loopback interface.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (h *harness) startChild(name string, env []string, bin string, args ...string) (*procs.Child, error) {
	c, err := procs.Start(name, h.path(name+".log"), env, bin, args...)
	if err != nil {
		return nil, err
	}
	h.onStop(func() { _ = c.Stop(15*time.Second, nil) })
	return c, nil
}

// temporalStep names the Temporal start step.
func (h *harness) temporalStep() string {
	if h.cfg.TemporalAddress != "" {
		return fmt.Sprintf("connecting to Temporal at %s (process %d)", h.cfg.TemporalAddress, h.cfg.TemporalPID)
	}
	return "starting Temporal (SQLite " + h.path("temporal.db") + ")"
}

// serverPID is the Temporal server's process: the dev server's, or
// Config.TemporalPID.
func (h *harness) serverPID() int {
	if h.temporal == nil {
		return h.cfg.TemporalPID
	}
	return h.temporal.Pid()
}

// startTemporal starts the dev server on a free port, or connects to
// Config.TemporalAddress. The port is free when chosen but may be taken
// before the server binds it (other tests or processes on a busy
// machine): a server that exits while starting is started again on
// another port, up to three times.
func (h *harness) startTemporal(ctx context.Context) error {
	if h.cfg.TemporalAddress != "" {
		return h.dialTemporal(ctx)
	}
	var err error
	for try := 1; ; try++ {
		if err = h.startTemporalOnce(ctx); err == nil || !errors.Is(err, procs.ErrExitedWhileStarting) || try == 3 {
			break
		}
		h.logf("Temporal exited while starting (try %d): %v; again on another port", try, err)
	}
	if err != nil {
		return err
	}
	h.onStop(h.tc.Close)
	_, err = temporalx.EnsureSearchAttributes(ctx, h.tc, temporalx.DefaultNamespace, workflows.SearchAttributeTypes)
	return err
}

// dialTemporal connects to the existing server of Config.TemporalAddress
// (up to 90s) and registers the search attributes missing on its
// namespace default.
func (h *harness) dialTemporal(ctx context.Context) error {
	if _, err := readProc(h.cfg.TemporalPID); err != nil {
		return fmt.Errorf("the Temporal server's process %d: %w", h.cfg.TemporalPID, err)
	}
	h.temporalAt = h.cfg.TemporalAddress
	dctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var err error
	h.tc, err = temporalx.Dial(dctx, client.Options{HostPort: h.temporalAt, Namespace: temporalx.DefaultNamespace,
		Logger: temporalx.NewZapLogger(zap.NewNop())}, 250*time.Millisecond)
	if err != nil {
		return fmt.Errorf("Temporal at %s: %w", h.temporalAt, err)
	}
	h.onStop(h.tc.Close)
	_, err = temporalx.EnsureSearchAttributes(ctx, h.tc, temporalx.DefaultNamespace, workflows.SearchAttributeTypes)
	return err
}

func (h *harness) startTemporalOnce(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	dev := temporalx.DevServer{CLI: h.cfg.TemporalBin, DBFile: h.path("temporal.db"), Port: port,
		SearchAttributes: workflows.SearchAttributeTypes, Extra: []string{"--headless", "--log-level", "error", "--ip", "127.0.0.1"}}
	if err := dev.Check(); err != nil {
		return err
	}
	if h.temporal, err = h.startChild("temporal", nil, dev.CLI, dev.Args()...); err != nil {
		return err
	}
	h.temporalAt = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	opts := client.Options{HostPort: h.temporalAt, Namespace: temporalx.DefaultNamespace,
		Logger: temporalx.NewZapLogger(zap.NewNop())}
	h.tc, err = temporalx.DialDevServer(ctx, h.temporal, opts)
	return err
}

// startCASim starts the CA simulator with no review delay, posting to the
// gateway (whose listener startInProcess opens on the port chosen here).
func (h *harness) startCASim(ctx context.Context) error {
	gwPort, err := freePort()
	if err != nil {
		return err
	}
	h.gatewayURL = "http://127.0.0.1:" + strconv.Itoa(gwPort)
	port, err := freePort()
	if err != nil {
		return err
	}
	h.casimURL = "http://127.0.0.1:" + strconv.Itoa(port)
	behaviours, err := json.Marshal(h.plan.behaviours())
	if err != nil {
		return err
	}
	if err := os.WriteFile(h.path("casim-behaviours.json"), behaviours, 0o600); err != nil {
		return err
	}
	env := []string{"CASIM_TOKEN=" + h.caToken, "CASIM_WEBHOOK_SECRET=whsec_" + base64.StdEncoding.EncodeToString(h.secret)}
	h.casim, err = h.startChild("casim", env, h.cfg.CASimBin,
		"-addr", "127.0.0.1:"+strconv.Itoa(port),
		"-callback-url", h.gatewayURL+"/v1/ca/callbacks",
		"-review-delay", "0s",
		"-behaviours", h.path("casim-behaviours.json"))
	if err != nil {
		return err
	}
	return procs.WaitReady(ctx, h.casim, "casim", 30*time.Second, h.httpOK(h.casimURL+"/healthz"))
}

// startPaysim starts the payment provider simulator with its own
// database, settling every refund at once (the CA's review delay is zero
// too: the run measures certflow, not the simulated partners' waits).
func (h *harness) startPaysim(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	h.paysimURL = "http://127.0.0.1:" + strconv.Itoa(port)
	h.paysim, err = h.startChild("paysim", []string{"PAYSIM_TOKEN=" + h.caToken}, h.cfg.PaySimBin,
		"-addr", "127.0.0.1:"+strconv.Itoa(port),
		"-db", h.path("paysim.db"),
		"-settle-delay", "0s")
	if err != nil {
		return err
	}
	return procs.WaitReady(ctx, h.paysim, "paysim", 30*time.Second, h.httpOK(h.paysimURL+"/healthz"))
}

// dsn is certflow's database, shared by the gateway and the worker.
func (h *harness) dsn() string {
	if h.cfg.DB != "" {
		return h.cfg.DB
	}
	return "sqlite:" + h.path("certflow.db")
}

// openStore opens the store the in-process gateway reads (the worker
// opens its own connection to the same database).
func (h *harness) openStore(ctx context.Context) error {
	db, err := store.Open(ctx, h.dsn())
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	h.db = db
	h.onStop(func() { _ = db.Close() })
	return nil
}

// registerAll registers the run's orders through the gateway, before the
// worker starts.
func (h *harness) registerAll(ctx context.Context) error {
	orders := h.plan.all()
	start := time.Now()
	if _, _, err := drive(ctx, len(orders), h.cfg.Concurrency, func(ctx context.Context, i int) error {
		return h.registerOrder(ctx, orders[i])
	}); err != nil {
		return err
	}
	h.logf("  %d orders in %s", len(orders), time.Since(start).Round(time.Millisecond))
	return nil
}

func (h *harness) startWorker(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	metrics := "127.0.0.1:" + strconv.Itoa(port)
	h.metricsURL = "http://" + metrics + "/metrics"
	env := append([]string{
		"TEMPORAL_ADDRESS=" + h.temporalAt,
		"TEMPORAL_NAMESPACE=" + temporalx.DefaultNamespace,
		"CERTFLOW_DB=" + h.dsn(),
		"CERTFLOW_CA_URL=" + h.casimURL,
		"CERTFLOW_CA_TOKEN=" + h.caToken,
		"CERTFLOW_PAY_URL=" + h.paysimURL,
		"CERTFLOW_PAY_TOKEN=" + h.caToken,
		"CERTFLOW_METRICS_ADDR=" + metrics,
	}, h.cfg.WorkerEnv...)
	if h.worker, err = h.startChild("worker", env, h.cfg.WorkerBin); err != nil {
		return err
	}
	return procs.WaitReady(ctx, h.worker, "worker", 60*time.Second, func(ctx context.Context) error {
		resp, err := h.tc.DescribeTaskQueue(ctx, workflows.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		if err != nil {
			return err
		}
		if len(resp.GetPollers()) == 0 {
			return errors.New("no poller on the task queue yet")
		}
		return nil
	})
}

// startBaselineWorker starts the baseline's worker as a process of its
// own (bench-e2e -baseline-worker), as certflow's worker is, so that its
// CPU and RSS are read from /proc alike and it takes no CPU from the
// harness's process (where the gateway runs).
func (h *harness) startBaselineWorker(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	h.baselineURL = "http://" + addr
	env := []string{envBaselineTemporal + "=" + h.temporalAt, envBaselineAddr + "=" + addr}
	if h.baselineWorker, err = h.startChild("baseline-worker", env, h.cfg.BaselineWorkerBin, BaselineWorkerFlag); err != nil {
		return err
	}
	return procs.WaitReady(ctx, h.baselineWorker, "baseline worker", 60*time.Second, func(ctx context.Context) error {
		if err := h.httpOK(h.baselineURL + "/healthz")(ctx); err != nil {
			return err
		}
		resp, err := h.tc.DescribeTaskQueue(ctx, BaselineTaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		if err != nil {
			return err
		}
		if len(resp.GetPollers()) == 0 {
			return errors.New("no poller on the baseline's task queue yet")
		}
		return nil
	})
}

// baselineParked is the number of baseline workflows the baseline
// worker's Revoke left waiting for their signal since it started.
func (h *harness) baselineParked(ctx context.Context) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.baselineURL+baselineParkedPath, nil)
	if err != nil {
		return 0, err
	}
	resp, err := h.web.Do(req)
	if err != nil {
		return 0, fmt.Errorf("reading the baseline worker's parked count: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("baseline worker's parked count: %s", resp.Status)
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// waitBaselineParked waits until the baseline worker counts want parked
// workflows.
func (h *harness) waitBaselineParked(ctx context.Context, want int64) error {
	for {
		n, err := h.baselineParked(ctx)
		if err == nil && n >= want {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("baseline: %d of %d parked: %w", n, want, ctx.Err())
		}
		if err := h.alive(); err != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startInProcess serves the gateway.
func (h *harness) startInProcess(ctx context.Context) error {
	reg, err := policy.LoadRegistry()
	if err != nil {
		return fmt.Errorf("loading profiles: %w", err)
	}
	tokens, err := gateway.NewTokens("bench:console:"+h.consoleToken, "bench-operator:operator:"+h.operatorToken)
	if err != nil {
		return fmt.Errorf("console token: %w", err)
	}
	srv, err := gateway.New(gateway.Config{
		Workflows: gateway.NewTemporal(h.tc),
		Orders:    h.db,
		Judge:     gateway.PolicyJudge(&activities.RegistryPolicies{Registry: reg}),
		Validate:  intake.Validator{Registry: reg}.Validate,
		Tokens:    tokens,
		// The per-token (and per-address, for CA callbacks) limit is
		// lifted: the run measures certflow, not DefaultRateLimit, which
		// would hold one console token to 50 requests/s. A deployment
		// sets the limit its console backend's traffic needs.
		RateLimit:         unlimited,
		CallbackRateLimit: unlimited,
		WebhookSecrets:    [][]byte{h.secret},
		Logger:            zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("building the gateway: %w", err)
	}
	ln, err := net.Listen("tcp", strings.TrimPrefix(h.gatewayURL, "http://"))
	if err != nil {
		return fmt.Errorf("gateway listener: %w", err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	// The refund requests' sweeper (the dispatcher starts each at once;
	// the sweeper takes those whose start must be tried again).
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	sweeping := make(chan struct{})
	go func() {
		defer close(sweeping)
		srv.Intake().Run(sweepCtx)
	}()
	h.onStop(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		stopSweep()
		<-sweeping
		srv.Close()
	})
	return procs.WaitReady(ctx, nil, "gateway", 10*time.Second, h.httpOK(h.gatewayURL+"/healthz"))
}

// unlimited is the in-process gateway's rate limit: far above any rate
// the harness reaches.
var unlimited = gateway.RateLimit{Rate: 1e9, Burst: 1 << 30}

func (h *harness) httpOK(url string) func(context.Context) error { return procs.HTTPOK(h.web, url) }

// alive fails when a child process has died.
func (h *harness) alive() error {
	for _, c := range []*procs.Child{h.temporal, h.casim, h.paysim, h.worker, h.baselineWorker} {
		if c != nil {
			if err := c.Exited(); err != nil {
				return err
			}
		}
	}
	return nil
}

// casimBehaviours is what casim's -behaviours file holds.
type casimBehaviours = map[string]casim.Behaviour
