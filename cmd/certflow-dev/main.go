// Command certflow-dev runs the whole certflow demo on one machine with one
// command (`make run`): a Temporal dev server with certflow's search
// attributes, the CA simulator, the payment simulator, the worker, a
// console-side event receiver (cmd/eventsink, verifying and logging the
// signed events the gateway's dispatcher delivers), and the gateway (on 127.0.0.1
// by default, with demo API tokens written to -dir/endpoints.json); it
// registers demo orders in every certificate state, for every product and
// the three refund-policy profiles through the gateway's PUT API, requests
// their refunds, has a second operator approve the one that needs it,
// sends a duplicate CA callback, and prints the refunds' progress and
// where to look.
//
// With -topology production (make run-production) it runs the production
// shape instead, on the real Temporal server and PostgreSQL that
// scripts/with-temporal-server starts (-temporal-address, -db postgres://…):
// two workers and two gateways (the same binaries, different ports) share
// the store, the CA simulator posts its callbacks to both gateways in
// turn, and the demo spreads its requests over both.
//
// It owns only the demo's orchestration. The worker and casim run as child
// processes built from this module, the gateway in this process; every
// child runs in a process group of its own and Ctrl-C (SIGINT or SIGTERM)
// stops everything in reverse order of start — a second Ctrl-C kills what
// is left. Nothing it started survives it. State lives in -dir (.run/),
// deleted at start unless -fresh=false; child logs go to -dir/*.log.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/certflow/certflow/internal/app"
)

// options is the runner's configuration, from flags.
type options struct {
	dir          string
	fresh        bool
	binDir       string
	temporalBin  string
	temporalPort int
	// temporalAddress is an existing Temporal frontend to use instead of
	// starting a dev server (the real server of scripts/with-temporal-server).
	temporalAddress string
	uiPort          int
	gatewayAddr     string
	// gateway2Addr and metrics2Addr are the second gateway's and the
	// second worker's addresses in the production topology.
	gateway2Addr string
	metrics2Addr string
	// topology is topologyDev (one worker, one gateway) or
	// topologyProduction (two of each, on the real server and PostgreSQL).
	topology     string
	casimAddr    string
	paysimAddr   string
	sinkAddr     string
	db           string
	metricsAddr  string
	reviewDelay  time.Duration
	approveAfter time.Duration
	refresh      time.Duration
	runFor       time.Duration
	demo         bool
	versioning   bool
	buildID      string
}

func parseOptions(args []string, output io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("certflow-dev", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&o.dir, "dir", ".run", "state and log directory")
	fs.BoolVar(&o.fresh, "fresh", true, "delete -dir first for a deterministic demo; -fresh=false reuses it")
	fs.StringVar(&o.binDir, "bin", "bin", "where the worker, casim, paysim and eventsink binaries are built")
	fs.StringVar(&o.temporalBin, "temporal", filepath.Join("bin", "temporal"), "Temporal CLI (make temporal builds it)")
	fs.IntVar(&o.temporalPort, "temporal-port", 7233, "Temporal frontend gRPC port")
	fs.StringVar(&o.temporalAddress, "temporal-address", "", "an existing Temporal frontend (host:port) to run on instead of starting a dev server, e.g. $TEMPORAL_ADDRESS under scripts/with-temporal-server (the real server on PostgreSQL); its namespace default must exist; -temporal, -temporal-port and -ui-port are then unused")
	fs.IntVar(&o.uiPort, "ui-port", 8233, "Temporal Web UI port")
	fs.StringVar(&o.gatewayAddr, "gateway-addr", "127.0.0.1:8080", "gateway (console API and CA callbacks) listen address; this machine only by default")
	fs.StringVar(&o.casimAddr, "casim-addr", "127.0.0.1:8081", "CA simulator listen address")
	fs.StringVar(&o.paysimAddr, "paysim-addr", "127.0.0.1:8082", "payment provider simulator listen address")
	fs.StringVar(&o.sinkAddr, "eventsink-addr", "127.0.0.1:8083", "console-side event receiver (cmd/eventsink) listen address; the gateway's dispatcher delivers to it")
	fs.StringVar(&o.db, "db", "", "certflow database DSN (sqlite:PATH or postgres://…); default sqlite:<dir>/certflow.db")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "127.0.0.1:9090", "worker's Prometheus /metrics listen address; this machine only by default")
	fs.StringVar(&o.topology, "topology", topologyDev, "dev: one worker and one gateway; production: two workers and two gateways on the real Temporal server and PostgreSQL (needs -temporal-address and a postgres:// -db: make run-production)")
	fs.StringVar(&o.gateway2Addr, "gateway2-addr", "127.0.0.1:8084", "the second gateway's listen address (-topology production)")
	fs.StringVar(&o.metrics2Addr, "metrics2-addr", "127.0.0.1:9091", "the second worker's /metrics listen address (-topology production)")
	fs.DurationVar(&o.reviewDelay, "review-delay", 5*time.Second, "how long the CA simulator takes to decide a revocation review")
	fs.DurationVar(&o.approveAfter, "approve-after", 5*time.Second, "how long the demo operator waits before approving")
	fs.DurationVar(&o.refresh, "refresh", 3*time.Second, "progress table refresh interval")
	fs.DurationVar(&o.runFor, "for", 0, "stop by itself after this long (0: run until Ctrl-C)")
	fs.BoolVar(&o.demo, "demo", true, "start the demo refunds; -demo=false only seeds and serves")
	fs.BoolVar(&o.versioning, "versioning", true, "run the worker as a Worker Deployment version (deployment \""+app.DefaultDeploymentName+"\") and make it current; -versioning=false runs it unversioned")
	fs.StringVar(&o.buildID, "build-id", defaultBuildID(), "the worker's build ID with -versioning (default: this checkout's revision)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, p := range []struct {
		name string
		port int
	}{{"-temporal-port", o.temporalPort}, {"-ui-port", o.uiPort}} {
		if p.port < 1 || p.port > 65535 {
			return o, fmt.Errorf("%s %d is not a port", p.name, p.port)
		}
	}
	switch o.topology {
	case topologyDev:
	case topologyProduction:
		if o.temporalAddress == "" || !(strings.HasPrefix(o.db, "postgres://") || strings.HasPrefix(o.db, "postgresql://")) {
			return o, errors.New("-topology production runs on the real Temporal server and PostgreSQL: give -temporal-address and a postgres:// -db, or run make run-production")
		}
	default:
		return o, fmt.Errorf("-topology %q: want %s or %s", o.topology, topologyDev, topologyProduction)
	}
	for _, a := range []struct{ name, addr string }{{"-gateway-addr", o.gatewayAddr}, {"-casim-addr", o.casimAddr}, {"-paysim-addr", o.paysimAddr}, {"-eventsink-addr", o.sinkAddr}, {"-metrics-addr", o.metricsAddr},
		{"-gateway2-addr", o.gateway2Addr}, {"-metrics2-addr", o.metrics2Addr}} {
		if _, port, err := net.SplitHostPort(a.addr); err != nil || port == "" || port == "0" {
			return o, fmt.Errorf("%s %q is not host:port with a fixed port", a.name, a.addr)
		}
	}
	if o.versioning && o.buildID == "" {
		return o, errors.New("-build-id must not be empty with -versioning")
	}
	if o.reviewDelay < 0 || o.approveAfter < 0 || o.refresh <= 0 || o.runFor < 0 {
		return o, errors.New("durations must not be negative, and -refresh must be positive")
	}
	return o, nil
}

// localURL is the http URL a client on this machine uses for a listen
// address (":8080" → http://127.0.0.1:8080).
func localURL(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// defaultBuildID is the worker's build ID: the runner's own (the worker is
// built from the same checkout), or "dev" when it has none (go run).
func defaultBuildID() string {
	if id := app.BuildID(); id != "" {
		return id
	}
	return "dev"
}

// The topologies of -topology.
const (
	topologyDev        = "dev"
	topologyProduction = "production"
)

// gatewayAddrs are the gateways' listen addresses: one, or two in the
// production topology.
func (o options) gatewayAddrs() []string {
	if o.topology == topologyProduction {
		return []string{o.gatewayAddr, o.gateway2Addr}
	}
	return []string{o.gatewayAddr}
}

// metricsAddrs are the workers' /metrics addresses, one per worker.
func (o options) metricsAddrs() []string {
	if o.topology == topologyProduction {
		return []string{o.metricsAddr, o.metrics2Addr}
	}
	return []string{o.metricsAddr}
}

// webUI is the Temporal Web UI's URL: the dev server's; the real server
// has none ("").
func (o options) webUI() string {
	if o.temporalAddress != "" {
		return ""
	}
	return fmt.Sprintf("http://localhost:%d", o.uiPort)
}

func (o options) temporalAddr() string {
	if o.temporalAddress != "" {
		return o.temporalAddress
	}
	return "localhost:" + strconv.Itoa(o.temporalPort)
}

func main() {
	o, err := parseOptions(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "certflow-dev:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	force := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stdout, "\n%s: stopping everything (again to kill)…\n", s)
		cancel()
		<-sigs
		close(force)
	}()
	err = run(ctx, o, os.Stdout, force)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "certflow-dev:", err)
		os.Exit(1)
	}
}
