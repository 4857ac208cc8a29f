// Command paysim runs the simulated payment provider (package paysim): it
// serves the refund protocol of paysim/PROTOCOL.md over HTTP and keeps its
// refunds in its own SQLite file. Stop it with SIGINT or SIGTERM.
//
// Every flag has an environment variable; a flag given on the command line
// wins:
//
//	-addr                  PAYSIM_ADDR                  listen address (default 127.0.0.1:8082)
//	-token                 PAYSIM_TOKEN                 bearer token clients must send (required)
//	-db                    PAYSIM_DB                    SQLite file of the simulator's refunds (required)
//	-settle-delay          PAYSIM_SETTLE_DELAY          how long a refund stays pending (default 1s)
//	-fail-original-method  PAYSIM_FAIL_ORIGINAL_METHOD  comma-separated order IDs whose refunds to the
//	                                                    original method fail ("*" = every order)
//	-dev-log               PAYSIM_DEV_LOG               human-readable logs instead of JSON
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/internal/app/program"
	"github.com/certflow/certflow/paysim"
)

func main() {
	program.Main("paysim", func() (*Main, error) { return parse(os.Args[1:], os.Getenv) })
}

// Main is the paysim program's configuration.
type Main struct {
	Addr        string
	Token       string
	DB          string
	SettleDelay time.Duration
	Fail        []string
	DevLog      bool
}

// parse reads flags, defaulting each to its environment variable.
func parse(args []string, getenv func(string) string) (*Main, error) {
	env := program.Env(getenv)
	delay, err := time.ParseDuration(env("PAYSIM_SETTLE_DELAY", "1s"))
	if err != nil {
		return nil, fmt.Errorf("PAYSIM_SETTLE_DELAY: %w", err)
	}
	devLog, err := strconv.ParseBool(env("PAYSIM_DEV_LOG", "false"))
	if err != nil {
		return nil, fmt.Errorf("PAYSIM_DEV_LOG: %w", err)
	}
	m := &Main{}
	var fail string
	fs := flag.NewFlagSet("paysim", flag.ContinueOnError)
	fs.StringVar(&m.Addr, "addr", env("PAYSIM_ADDR", "127.0.0.1:8082"), "listen address (PAYSIM_ADDR)")
	fs.StringVar(&m.Token, "token", getenv("PAYSIM_TOKEN"), "bearer token clients must send (PAYSIM_TOKEN)")
	fs.StringVar(&m.DB, "db", getenv("PAYSIM_DB"), "SQLite file of the simulator's refunds (PAYSIM_DB)")
	fs.DurationVar(&m.SettleDelay, "settle-delay", delay, "how long a refund stays pending (PAYSIM_SETTLE_DELAY)")
	fs.StringVar(&fail, "fail-original-method", getenv("PAYSIM_FAIL_ORIGINAL_METHOD"), "comma-separated order IDs whose original-method refunds fail, * = all (PAYSIM_FAIL_ORIGINAL_METHOD)")
	fs.BoolVar(&m.DevLog, "dev-log", devLog, "human-readable logs (PAYSIM_DEV_LOG)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case m.Token == "":
		return nil, errors.New("a bearer token is required (-token or PAYSIM_TOKEN)")
	case m.DB == "":
		return nil, errors.New("a database file is required (-db or PAYSIM_DB)")
	case m.SettleDelay < 0:
		return nil, fmt.Errorf("PAYSIM_SETTLE_DELAY %s is negative", m.SettleDelay)
	}
	for _, id := range strings.Split(fail, ",") {
		if id = strings.TrimSpace(id); id != "" {
			m.Fail = append(m.Fail, id)
		}
	}
	return m, nil
}

// Run opens the simulator and serves it until ctx ends.
func (m *Main) Run(ctx context.Context) error {
	log, err := program.Logger(m.DevLog)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	sim, err := paysim.New(ctx, paysim.Config{Token: m.Token, DB: m.DB, SettleDelay: m.SettleDelay, FailOriginalMethod: m.Fail, Logger: log})
	if err != nil {
		return err
	}
	defer sim.Close()
	ln, err := net.Listen("tcp", m.Addr)
	if err != nil {
		return err
	}
	log.Info("paysim started", zap.String("addr", ln.Addr().String()), zap.String("db", m.DB),
		zap.Duration("settle_delay", m.SettleDelay), zap.Strings("fail_original_method", m.Fail))
	err = program.Serve(ctx, ln, sim.Handler())
	log.Info("paysim stopped")
	return err
}
