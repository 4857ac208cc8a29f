// Package program holds the few lines every certflow command's main
// shares: stop on SIGINT or SIGTERM, exit 0 after -h, 2 on a usage error
// and 1 when the program fails; flags defaulted from the environment; a
// logger; an HTTP server that drains on stop. It depends on the standard
// library and zap only, so the simulators link nothing of the service.
package program

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Main runs a tool's main: parse reads the program (a usage error exits
// 2, -h exits 0), whose Run runs until ctx ends; SIGINT or SIGTERM end
// ctx. A failure is printed as "name: error" and exits 1.
func Main[P interface{ Run(context.Context) error }](name string, parse func() (P, error)) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p, err := parse()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		exit(name, err, 2)
	}
	if err := p.Run(ctx); err != nil {
		exit(name, err, 1)
	}
}

// Service runs a service's main as Main does, with a logger built from the
// configuration (a logger that cannot be built exits 2); a failure is
// logged as "name failed" and exits 1.
func Service[C any](name string, parse func() (C, error), logger func(C) (*zap.Logger, error), run func(context.Context, C, *zap.Logger) error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, err := parse()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		exit(name, err, 2)
	}
	log, err := logger(cfg)
	if err != nil {
		exit(name, err, 2)
	}
	defer func() { _ = log.Sync() }()
	if err := run(ctx, cfg, log); err != nil {
		log.Error(name+" failed", zap.Error(err))
		_ = log.Sync()
		os.Exit(1)
	}
}

// Run opens a service, runs it until ctx ends or failed delivers an
// error, then closes it. Stopped while opening (ctx ended), it is a clean
// stop: the opening error is logged, not returned.
func Run(ctx context.Context, log *zap.Logger, open func(context.Context) error, failed <-chan error, close func() error) error {
	if err := open(ctx); err != nil {
		if ctx.Err() != nil {
			// Stopped while starting (SIGINT/SIGTERM): a clean stop.
			log.Info("stopped while starting", zap.Error(err))
			return close()
		}
		return errors.Join(err, close())
	}
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-failed:
	}
	return errors.Join(runErr, close())
}

func exit(name string, err error, code int) {
	fmt.Fprintln(os.Stderr, name+":", err)
	os.Exit(code)
}

// Env returns a lookup of getenv with a default for an unset or empty
// variable: flags defaulted from the environment.
func Env(getenv func(string) string) func(name, def string) string {
	return func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
}

// Logger returns the tools' logger: JSON (zap's production config), or
// human-readable with dev.
func Logger(dev bool) (*zap.Logger, error) {
	if dev {
		return zap.NewDevelopment(zap.AddStacktrace(zapcore.ErrorLevel))
	}
	return zap.NewProduction()
}

// Serve serves h on ln until ctx ends, then lets requests in flight finish
// (up to 5s); it returns early if the server fails.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shut)
}
