package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/certflow/certflow/gateway"
	"github.com/certflow/certflow/internal/app"
	"github.com/certflow/certflow/internal/obs"
	"github.com/certflow/certflow/internal/procs"
	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/outbound"
	"github.com/certflow/certflow/store"
	"github.com/certflow/certflow/webhook"
	"github.com/certflow/certflow/workflows"
)

// runner starts the demo's services and stops them in reverse order.
type runner struct {
	o     options
	out   io.Writer
	force <-chan struct{}

	stops    []stopStep
	stopping atomic.Bool
	// died receives a child that exited, or a server that failed, while
	// the demo ran.
	died chan error

	token  string // casim's bearer token
	secret []byte // callback signing key, shared by casim and the gateway
	// api holds the demo's console API tokens by role name (console,
	// operator, operator2), written to endpoints.json.
	api map[string]string
	// eventSecret signs the events delivered to the demo's receiver; it
	// is fresh every run.
	eventSecret []byte
	orders      []demoOrder
	log         *zap.Logger
	db          *store.DB
	tc          client.Client
}

// stopStep undoes one start step.
type stopStep struct {
	name string
	stop func() error
}

// run starts everything, runs the demo until ctx ends (or -for elapses, or
// a service dies), then stops everything it started, last first.
func run(ctx context.Context, o options, out io.Writer, force <-chan struct{}) (err error) {
	r := &runner{o: o, out: out, force: force, died: make(chan error, 8)}
	defer func() { err = errors.Join(err, r.stopAll()) }()
	if err := r.start(ctx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil // interrupted while starting
	}
	r.printWhere()

	demoCtx, stopDemo := context.WithCancel(ctx)
	var wg sync.WaitGroup
	d := r.newDemo()
	requested := make(chan struct{})
	wg.Go(func() { d.progress(demoCtx, o.refresh, requested) })
	if o.demo {
		wg.Go(func() { d.run(demoCtx, o.approveAfter, requested) })
	} else {
		close(requested)
	}
	defer func() { stopDemo(); wg.Wait() }()

	var timeout <-chan time.Time
	if o.runFor > 0 {
		timeout = time.After(o.runFor)
	}
	select {
	case <-ctx.Done():
		return nil
	case <-timeout:
		fmt.Fprintf(out, "\n-for %s elapsed: stopping everything…\n", o.runFor)
		return nil
	case err := <-r.died:
		return err
	}
}

func (r *runner) start(ctx context.Context) error {
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"preparing " + r.o.dir, r.prepare},
		{"checking ports", r.checkPorts},
		{"building the worker, gateway, casim, paysim and eventsink", r.build},
		{"starting Temporal", r.startTemporal},
		{"starting the CA simulator", r.startCASim},
		{"starting the payment simulator", r.startPaysim},
		{"starting the event receiver", r.startEventSink},
		{"opening the store", r.openStore},
		{"starting the " + plural(len(r.o.metricsAddrs()), "worker"), r.startWorkers},
		{"starting the " + plural(len(r.o.gatewayAddrs()), "gateway"), r.startGateways},
		{"writing " + r.path(endpointsFile), r.writeEndpoints},
		{"registering demo orders through PUT /v1/orders/{id}", r.seed},
	}
	for _, s := range steps {
		fmt.Fprintf(r.out, "· %s\n", s.name)
		if err := s.fn(ctx); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

// stopAll undoes the start steps that ran, last first.
func (r *runner) stopAll() error {
	r.stopping.Store(true)
	var errs []error
	for i := len(r.stops) - 1; i >= 0; i-- {
		s := r.stops[i]
		start := time.Now()
		err := s.stop()
		fmt.Fprintf(r.out, "· stopped %s (%s)\n", s.name, time.Since(start).Round(time.Millisecond))
		if err != nil {
			errs = append(errs, fmt.Errorf("stopping %s: %w", s.name, err))
		}
	}
	r.stops = nil
	if len(errs) == 0 && r.log != nil {
		fmt.Fprintln(r.out, "· everything stopped")
	}
	return errors.Join(errs...)
}

func (r *runner) onStop(name string, stop func() error) {
	r.stops = append(r.stops, stopStep{name: name, stop: stop})
}

func (r *runner) path(name string) string { return filepath.Join(r.o.dir, name) }

// prepare checks the working directory, resets -dir when fresh, and
// generates the demo's secrets.
func (r *runner) prepare(context.Context) error {
	mod, err := os.ReadFile("go.mod")
	if err != nil || !strings.Contains(string(mod), "module github.com/certflow/certflow\n") {
		return errors.New("run certflow-dev from the certflow repository root (make run)")
	}
	clean := filepath.Clean(r.o.dir)
	if clean == "." || clean == "/" || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("-dir %q would delete more than the demo's state", r.o.dir)
	}
	if r.o.fresh {
		if err := os.RemoveAll(clean); err != nil {
			return fmt.Errorf("resetting %s: %w", clean, err)
		}
	}
	if err := os.MkdirAll(clean, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", clean, err)
	}
	// The runner's own log (its Temporal client); each child logs to
	// <name>.log.
	r.log, err = fileLogger(r.path("certflow-dev.log"))
	if err != nil {
		return err
	}
	r.onStop("log file", func() error { _ = r.log.Sync(); return nil })
	var key [32]byte
	_, _ = rand.Read(key[:])
	r.secret = key[:]
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	r.token = "demo-" + hex.EncodeToString(tok[:])
	r.api = map[string]string{}
	for _, name := range []string{"console", "operator", "operator2"} {
		_, _ = rand.Read(tok[:])
		r.api[name] = "cf_" + name + "_" + hex.EncodeToString(tok[:])
	}
	r.eventSecret = make([]byte, 32)
	_, _ = rand.Read(r.eventSecret)
	r.orders = demoOrders(time.Now())
	return nil
}

func fileLogger(path string) (*zap.Logger, error) {
	cfg := zap.NewDevelopmentConfig()
	cfg.OutputPaths, cfg.ErrorOutputPaths = []string{path}, []string{path}
	l, err := cfg.Build()
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return l, nil
}

// checkPorts fails early, naming the flag, when a port is taken (another
// demo, or a Temporal server, still running).
func (r *runner) checkPorts(context.Context) error {
	ports := []struct{ flag, addr string }{
		{"-temporal-port", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.o.temporalPort))},
		{"-ui-port", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.o.uiPort))},
	}
	if r.o.temporalAddress != "" {
		ports = nil // no dev server: Temporal is already there
	}
	ports = append(ports, []struct{ flag, addr string }{
		{"-gateway-addr", r.o.gatewayAddr},
		{"-casim-addr", r.o.casimAddr},
		{"-paysim-addr", r.o.paysimAddr},
		{"-eventsink-addr", r.o.sinkAddr},
		{"-metrics-addr", r.o.metricsAddr},
	}...)
	if r.o.topology == topologyProduction {
		ports = append(ports, []struct{ flag, addr string }{{"-gateway2-addr", r.o.gateway2Addr}, {"-metrics2-addr", r.o.metrics2Addr}}...)
	}
	for _, p := range ports {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			return fmt.Errorf("%s is taken (%v): is another demo or Temporal server running? Stop it or choose another %s", p.addr, err, p.flag)
		}
		ln.Close()
	}
	return nil
}

func (r *runner) bin(name string) string { return filepath.Join(r.o.binDir, name) }

// build compiles the worker, the gateway, casim, paysim and eventsink
// from this checkout.
func (r *runner) build(ctx context.Context) error {
	for _, b := range []struct{ out, pkg string }{{"certflow-worker", "./worker"}, {"casim", "./cmd/casim"}, {"paysim", "./cmd/paysim"}, {"eventsink", "./cmd/eventsink"}, {"certflow-gateway", "./cmd/gateway"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", r.bin(b.out), b.pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
		}
	}
	return nil
}

// watch reports c's exit on r.died unless the runner is stopping.
func (r *runner) watch(c *procs.Child) {
	go func() {
		<-c.Done()
		if !r.stopping.Load() {
			r.died <- fmt.Errorf("%s exited unexpectedly (%v); see %s", c.Name, c.Err(), c.Log)
		}
	}()
}

// startChild starts a child and registers its stop.
func (r *runner) startChild(name string, grace time.Duration, env []string, bin string, args ...string) (*procs.Child, error) {
	c, err := procs.Start(name, r.path(name+".log"), env, bin, args...)
	if errors.Is(err, procs.ErrUnsupported) {
		return nil, errors.New("certflow-dev needs a Unix system (process groups); use docker-compose.temporal.yml and run the binaries by hand")
	}
	if err != nil {
		return nil, err
	}
	r.onStop(fmt.Sprintf("%s (pid %d)", name, c.Pid()), func() error { return c.Stop(grace, r.force) })
	r.watch(c)
	return c, nil
}

// waitReady polls ready until it succeeds, the child dies, ctx ends or
// limit passes. An interrupt is not an error: the caller stops what
// started.
func waitReady(ctx context.Context, c *procs.Child, what string, limit time.Duration, ready func(context.Context) error) error {
	err := procs.WaitReady(ctx, c, what, limit, ready)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// startTemporal starts the dev server with certflow's search attributes
// and connects to it.
func (r *runner) startTemporal(ctx context.Context) error {
	if r.o.temporalAddress != "" {
		return r.dialTemporal(ctx)
	}
	dev := temporalx.DevServer{CLI: r.o.temporalBin, DBFile: r.path("temporal.db"), Port: r.o.temporalPort,
		SearchAttributes: workflows.SearchAttributeTypes, Extra: []string{"--ui-port", strconv.Itoa(r.o.uiPort)}}
	if err := dev.Check(); err != nil {
		return err
	}
	c, err := r.startChild("temporal", 15*time.Second, nil, dev.CLI, dev.Args()...)
	if err != nil {
		return err
	}
	opts := client.Options{HostPort: r.o.temporalAddr(), Namespace: temporalx.DefaultNamespace, Logger: temporalx.NewZapLogger(obs.LogConfig{}.SDKLogger(r.log))} // SDK debug off: the demo polls
	if r.tc, err = temporalx.DialDevServer(ctx, c, opts); err != nil {
		if ctx.Err() != nil {
			return nil // interrupted: the caller stops what started
		}
		return err
	}
	r.onStop("Temporal client", func() error { r.tc.Close(); return nil })
	// A reused database keeps the attributes it was created with; the dev
	// server ignores --search-attribute then, so add what is missing, and
	// register anew those whose type changed (CertificateId and
	// CertificateState became KeywordLists).
	retyped, err := temporalx.RetypeSearchAttributes(ctx, r.tc, temporalx.DefaultNamespace, workflows.SearchAttributeTypes)
	if err != nil {
		return err
	}
	if len(retyped) > 0 {
		fmt.Fprintf(r.out, "  search attributes %s changed type: registered anew\n", strings.Join(retyped, ", "))
	}
	added, err := temporalx.EnsureSearchAttributes(ctx, r.tc, temporalx.DefaultNamespace, workflows.SearchAttributeTypes)
	if err != nil {
		return err
	}
	if len(added) > 0 {
		fmt.Fprintf(r.out, "  registered search attributes %s\n", strings.Join(added, ", "))
	}
	return nil
}

// dialTemporal connects to the existing server of -temporal-address (up
// to 90s) and registers the search attributes missing on its namespace
// default.
func (r *runner) dialTemporal(ctx context.Context) error {
	opts := client.Options{HostPort: r.o.temporalAddr(), Namespace: temporalx.DefaultNamespace, Logger: temporalx.NewZapLogger(obs.LogConfig{}.SDKLogger(r.log))}
	dctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var err error
	if r.tc, err = temporalx.Dial(dctx, opts, 250*time.Millisecond); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("Temporal at %s (-temporal-address): %w", r.o.temporalAddress, err)
	}
	r.onStop("Temporal client", func() error { r.tc.Close(); return nil })
	added, err := temporalx.EnsureSearchAttributes(ctx, r.tc, temporalx.DefaultNamespace, workflows.SearchAttributeTypes)
	if err != nil {
		return err
	}
	if len(added) > 0 {
		fmt.Fprintf(r.out, "  registered search attributes %s\n", strings.Join(added, ", "))
	}
	return nil
}

// startCASim starts the CA simulator, posting signed callbacks to the
// gateways in turn.
func (r *runner) startCASim(ctx context.Context) error {
	behaviours := r.path("casim-behaviours.json")
	if err := writeBehaviours(behaviours, r.orders); err != nil {
		return err
	}
	env := []string{
		"CASIM_TOKEN=" + r.token,
		"CASIM_WEBHOOK_SECRET=whsec_" + base64.StdEncoding.EncodeToString(r.secret),
	}
	c, err := r.startChild("casim", 10*time.Second, env, r.bin("casim"),
		"-addr", r.o.casimAddr,
		"-callback-url", strings.Join(r.callbackURLs(), ","),
		"-review-delay", r.o.reviewDelay.String(),
		"-behaviours", behaviours,
		"-db", r.path("casim.db"),
		"-dev-log")
	if err != nil {
		return err
	}
	return waitReady(ctx, c, "casim", 30*time.Second, httpOK(localURL(r.o.casimAddr)+"/healthz"))
}

// startPaysim starts the payment provider simulator with its own
// database; the demo's card-fails orders fail there (GEN-4).
func (r *runner) startPaysim(ctx context.Context) error {
	env := []string{"PAYSIM_TOKEN=" + r.token}
	c, err := r.startChild("paysim", 10*time.Second, env, r.bin("paysim"),
		"-addr", r.o.paysimAddr,
		"-db", r.path("paysim.db"),
		"-settle-delay", "2s",
		"-fail-original-method", strings.Join(failingOrders(r.orders), ","),
		"-dev-log")
	if err != nil {
		return err
	}
	return waitReady(ctx, c, "paysim", 30*time.Second, httpOK(localURL(r.o.paysimAddr)+"/healthz"))
}

// eventsFile is where the receiver appends the events it received.
const eventsFile = "events.jsonl"

// eventSettings are the dispatcher's settings for the demo, in the form a
// gateway reads them from its environment (docs/event-delivery.md): one endpoint,
// "console", the demo's receiver.
func (r *runner) eventSettings() map[string]string {
	return map[string]string{
		outbound.EnvEndpoints: "console=" + localURL(r.o.sinkAddr) + "/events",
		outbound.EnvSecrets:   "console=" + webhook.SecretPrefix + base64.StdEncoding.EncodeToString(r.eventSecret),
		outbound.EnvTimeout:   "5s",
		outbound.EnvLease:     "30s",
	}
}

// startEventSink starts the console-side receiver: it verifies the
// events' signatures, deduplicates them and appends them to events.jsonl.
func (r *runner) startEventSink(ctx context.Context) error {
	env := []string{"EVENTSINK_SECRETS=" + webhook.SecretPrefix + base64.StdEncoding.EncodeToString(r.eventSecret)}
	c, err := r.startChild("eventsink", 5*time.Second, env, r.bin("eventsink"),
		"-addr", r.o.sinkAddr,
		"-out", r.path(eventsFile),
		"-dev-log")
	if err != nil {
		return err
	}
	return waitReady(ctx, c, "eventsink", 30*time.Second, httpOK(localURL(r.o.sinkAddr)+"/healthz"))
}

// callbackURLs are the gateways' CA callback URLs.
func (r *runner) callbackURLs() []string {
	var urls []string
	for _, a := range r.o.gatewayAddrs() {
		urls = append(urls, localURL(a)+"/v1/ca/callbacks")
	}
	return urls
}

// childName names the i-th of a kind of child: worker, worker2, ...
func childName(kind string, i int) string {
	if i == 0 {
		return kind
	}
	return kind + strconv.Itoa(i+1)
}

// plural is "worker" or "2 workers".
func plural(n int, kind string) string {
	if n == 1 {
		return kind
	}
	return strconv.Itoa(n) + " " + kind + "s"
}

// dsn is the certflow database: -db, or SQLite in the run directory.
func (r *runner) dsn() string {
	if r.o.db != "" {
		return r.o.db
	}
	return "sqlite:" + r.path("certflow.db")
}

// openStore opens the store the gateway reads (the worker opens its own
// connection to the same database).
func (r *runner) openStore(ctx context.Context) error {
	db, err := store.Open(ctx, r.dsn())
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	r.db = db
	r.onStop("store", db.Close)
	return nil
}

// seed registers the demo orders through the gateway's intake API, as a
// console backend would.
func (r *runner) seed(ctx context.Context) error {
	created, kept, err := seedOrders(ctx, r.newDemo(), r.orders)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.out, "  %d orders registered, %d updated in the %s database (PUT /v1/orders/{id} with the console token)\n",
		created, len(r.orders)-created-kept, r.db.Dialect())
	if kept > 0 {
		fmt.Fprintf(r.out, "  %d kept from an earlier run (-fresh=false): their refunds paid, so intake refuses to change them (409), as the API promises\n", kept)
	}
	return nil
}

// startWorkers starts the workers (one, two in the production topology)
// and waits until they poll the task queue: with -versioning, until their
// version is current.
func (r *runner) startWorkers(ctx context.Context) error {
	var first *procs.Child
	for i, metrics := range r.o.metricsAddrs() {
		c, err := r.startWorker(childName("worker", i), metrics)
		if err != nil {
			return err
		}
		if first == nil {
			first = c
		}
	}
	if r.o.versioning {
		// A versioned worker gets work once its version is current: make it
		// so as soon as the server registered it (docs/operations.md,
		// "Rolling out a new build"). Every worker of the run has the same
		// build ID, so one version serves them all. Refunds an earlier run
		// (-fresh=false) pinned to another build wait for that build's worker.
		v := worker.WorkerDeploymentVersion{DeploymentName: app.DefaultDeploymentName, BuildID: r.o.buildID}
		if err := waitReady(ctx, first, "worker (version "+v.DeploymentName+"/"+v.BuildID+" current)", 60*time.Second, func(ctx context.Context) error {
			return temporalx.SetCurrentVersion(ctx, r.tc, v, 250*time.Millisecond)
		}); err != nil {
			return err
		}
		fmt.Fprintf(r.out, "  worker version %s/%s is current\n", v.DeploymentName, v.BuildID)
	}
	want := len(r.o.metricsAddrs())
	return waitReady(ctx, first, plural(want, "worker")+" polling", 60*time.Second, func(ctx context.Context) error {
		return r.pollers(ctx, want)
	})
}

// pollers checks that at least want workers poll the workflow task queue.
func (r *runner) pollers(ctx context.Context, want int) error {
	resp, err := r.tc.DescribeTaskQueue(ctx, workflows.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return err
	}
	if n := len(resp.GetPollers()); n < want {
		return fmt.Errorf("%d of %d workers poll the task queue", n, want)
	}
	return nil
}

// startWorker starts one worker with its /metrics on metrics.
func (r *runner) startWorker(name, metrics string) (*procs.Child, error) {
	env := []string{
		"TEMPORAL_ADDRESS=" + r.o.temporalAddr(),
		"TEMPORAL_NAMESPACE=" + temporalx.DefaultNamespace,
		"CERTFLOW_DB=" + r.dsn(),
		"CERTFLOW_CA_URL=" + localURL(r.o.casimAddr),
		"CERTFLOW_CA_TOKEN=" + r.token,
		"CERTFLOW_PAY_URL=" + localURL(r.o.paysimAddr),
		"CERTFLOW_PAY_TOKEN=" + r.token,
		"CERTFLOW_METRICS_ADDR=" + metrics,
		"CERTFLOW_DEV_LOG=true",
	}
	if r.o.versioning {
		env = append(env, "CERTFLOW_VERSIONING=true", "CERTFLOW_DEPLOYMENT_NAME="+app.DefaultDeploymentName, "CERTFLOW_BUILD_ID="+r.o.buildID)
	}
	return r.startChild(name, 15*time.Second, env, r.bin("certflow-worker"))
}

// startGateways starts the gateways (one, two in the production topology)
// and waits until each answers /readyz.
func (r *runner) startGateways(ctx context.Context) error {
	for i, addr := range r.o.gatewayAddrs() {
		if err := r.startGateway(ctx, childName("gateway", i), addr); err != nil {
			return err
		}
	}
	return nil
}

// startGateway starts the gateway binary (cmd/gateway) on addr,
// configured as in production, through its environment: the console API,
// the CA callbacks, the operator pages, /metrics and /readyz on one
// address, and the event dispatcher delivering the store's outbox to the
// demo's receiver (docs/event-delivery.md; two gateways share that work
// through leases in the store). It logs at INFO: a refused request is a
// DEBUG line, which the demo's own polling would flood.
func (r *runner) startGateway(ctx context.Context, name, addr string) error {
	env := []string{
		"TEMPORAL_ADDRESS=" + r.o.temporalAddr(),
		"TEMPORAL_NAMESPACE=" + temporalx.DefaultNamespace,
		"CERTFLOW_DB=" + r.dsn(),
		"CERTFLOW_GATEWAY_ADDR=" + addr,
		gateway.EnvTokens + "=" + strings.Join([]string{
			"demo-console:console:" + r.api["console"],
			"demo-operator:operator:" + r.api["operator"],
			"demo-operator2:operator:" + r.api["operator2"],
		}, ","),
		"CERTFLOW_WEBHOOK_SECRETS=" + webhook.SecretPrefix + base64.StdEncoding.EncodeToString(r.secret),
		"CERTFLOW_TEMPORAL_WEB_UI=" + r.o.webUI(), // empty on the real server: no links
		"CERTFLOW_DEV_LOG=true",
		"CERTFLOW_LOG_LEVEL=info",
	}
	settings := r.eventSettings()
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		env = append(env, k+"="+settings[k])
	}
	c, err := r.startChild(name, 25*time.Second, env, r.bin("certflow-gateway"))
	if err != nil {
		return err
	}
	return waitReady(ctx, c, name, 60*time.Second, httpOK(localURL(addr)+"/readyz"))
}

// httpOK is a readiness check: GET url answers 200.
func httpOK(url string) func(context.Context) error { return procs.HTTPOK(http.DefaultClient, url) }

// printWhere tells the user where to look.
func (r *runner) printWhere() {
	var b strings.Builder
	what := "demo"
	if r.o.topology == topologyProduction {
		what = "demo (production topology: 2 workers, 2 gateways, the real Temporal server, PostgreSQL)"
	}
	fmt.Fprintf(&b, "\ncertflow %s is up — Ctrl-C stops everything.\n\n", what)
	line := func(what, format string, args ...any) {
		fmt.Fprintf(&b, "  %-18s"+format+"\n", append([]any{what}, args...)...)
	}
	list := fmt.Sprintf("bin/temporal workflow list --address %s --query 'RefundStatus != \"\"'", r.o.temporalAddr())
	if ui := r.o.webUI(); ui != "" {
		line("Temporal Web UI", "%s/namespaces/default/workflows", ui)
		line("", "refunded ones: %s/namespaces/default/workflows?query=RefundStatus%%3D%%22refunded%%22", ui)
		line("", "(visibility query RefundStatus=\"refunded\"; or %s)", list)
	} else {
		line("Temporal Web UI", "none: the real Temporal server has no Web UI (compose runs temporalio/ui beside it);")
		line("", "the same visibility queries: %s,", list)
		line("", "and the operator pages below")
	}
	line("Temporal gRPC", "%s (namespace default, task queue %s)", r.o.temporalAddr(), workflows.TaskQueue)
	if r.o.topology == topologyProduction {
		line("Store", "PostgreSQL (%s)", redactDSN(r.dsn()))
	}
	eps := r.path(endpointsFile)
	for i, addr := range r.o.gatewayAddrs() {
		gw := localURL(addr)
		name := "Gateway"
		if len(r.o.gatewayAddrs()) > 1 {
			name = fmt.Sprintf("Gateway %d", i+1)
		}
		line(name, "%s   (Authorization: Bearer <token>; demo tokens in %s)", gw, eps)
		if i == 0 {
			line("", "e.g. curl -H \"Authorization: Bearer $(jq -r .tokens.operator %s)\" %s/v1/orders", eps, gw)
		}
		line("", "operator pages %s/ops/ (log in with the operator token), OpenAPI %s/openapi.yaml,", gw, gw)
		line("", "metrics %s/metrics, readiness %s/readyz", gw, gw)
	}
	for i, addr := range r.o.metricsAddrs() {
		name := "Worker metrics"
		if len(r.o.metricsAddrs()) > 1 {
			name = fmt.Sprintf("Worker %d metrics", i+1)
		}
		line(name, "%s/metrics", localURL(addr))
	}
	line("CA simulator", "%s   (Authorization: Bearer %s; callbacks to %s)", localURL(r.o.casimAddr), r.token, strings.Join(r.callbackURLs(), " and "))
	line("Payment simulator", "%s   (same token; e.g. curl -H 'Authorization: Bearer %s' '%s/admin/refunds?order_id=d20-intl-card-fails')",
		localURL(r.o.paysimAddr), r.token, localURL(r.o.paysimAddr))
	line("Event receiver", "%s/events   (signed events, one line each in %s; all of them in %s)", localURL(r.o.sinkAddr), r.path("eventsink.log"), r.path(eventsFile))
	logs := []string{}
	if r.o.temporalAddress == "" {
		logs = append(logs, r.path("temporal.log"))
	}
	logs = append(logs, r.path("casim.log"), r.path("paysim.log"), r.path("eventsink.log"))
	for i := range r.o.metricsAddrs() {
		logs = append(logs, r.path(childName("worker", i)+".log"))
	}
	for i := range r.o.gatewayAddrs() {
		logs = append(logs, r.path(childName("gateway", i)+".log"))
	}
	line("Logs", "%s", strings.Join(logs, " "))
	fmt.Fprint(r.out, b.String())
}

// redactDSN drops the password of a postgres:// DSN for printing.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// endpointsFile is where the runner tells clients how to reach the demo.
const endpointsFile = "endpoints.json"

// Endpoints is the content of -dir/endpoints.json: the gateway's URL, the
// Temporal Web UI's URL, the Temporal frontend address, the demo's
// console API tokens by role, and where the events go.
type Endpoints struct {
	// Topology is the runner's -topology: dev or production.
	Topology string `json:"topology"`
	// Gateway is the first gateway's URL; Gateways all of them (two in the
	// production topology).
	Gateway  string   `json:"gateway"`
	Gateways []string `json:"gateways"`
	// WebUI is the Temporal Web UI's URL; empty on the real server, which
	// has none.
	WebUI    string            `json:"web_ui"`
	Temporal string            `json:"temporal"`
	Tokens   map[string]string `json:"tokens"`
	Events   EventsEndpoint    `json:"events"`
	// Ops is the operator pages' URL (log in with an operator token).
	Ops string `json:"ops"`
	// CA is the CA simulator: its URL and token (its /admin API sets how a
	// certificate's review ends, e.g. never, for a walk-through).
	CA Simulator `json:"ca"`
	// Pay is the payment simulator: its URL and token (its /admin/refunds
	// lists what it paid).
	Pay Simulator `json:"pay"`
}

// Simulator is a simulator's URL and bearer token.
type Simulator struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

// EventsEndpoint is the demo's event receiver: its URL, its log (one line
// per event), the JSONL file of the events, and the endpoint's signing
// secret (fresh every run), so another receiver can verify them too.
type EventsEndpoint struct {
	Endpoint string `json:"endpoint"`
	URL      string `json:"url"`
	Log      string `json:"log"`
	File     string `json:"file"`
	Secret   string `json:"secret"`
}

// writeEndpoints writes endpoints.json, readable by this user only (it
// holds the demo's tokens).
func (r *runner) writeEndpoints(context.Context) error {
	var gws []string
	for _, a := range r.o.gatewayAddrs() {
		gws = append(gws, localURL(a))
	}
	e := Endpoints{
		Topology: r.o.topology,
		Gateway:  gws[0],
		Gateways: gws,
		WebUI:    r.o.webUI(),
		Temporal: r.o.temporalAddr(),
		Tokens:   r.api,
		Ops:      localURL(r.o.gatewayAddr) + "/ops/",
		CA:       Simulator{URL: localURL(r.o.casimAddr), Token: r.token},
		Pay:      Simulator{URL: localURL(r.o.paysimAddr), Token: r.token},
		Events: EventsEndpoint{
			Endpoint: "console",
			URL:      localURL(r.o.sinkAddr) + "/events",
			Log:      r.path("eventsink.log"),
			File:     r.path(eventsFile),
			Secret:   webhook.SecretPrefix + base64.StdEncoding.EncodeToString(r.eventSecret),
		},
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(r.path(endpointsFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", r.path(endpointsFile), err)
	}
	return nil
}
