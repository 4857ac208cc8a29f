package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/sim"
)

// simulate runs one scenario file through the real workflows in the
// time-skipping test environment and prints the result JSON.
func simulate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	file := fs.String("f", "", "scenario file (JSON)")
	check := fs.Bool("check", false, "compare the result with the file's expect and fail on a difference")
	if err := fs.Parse(args); err != nil {
		return errs.E(errs.Invalid, "simulate: %v", err)
	}
	if *file == "" {
		return errs.E(errs.Invalid, "simulate: -f FILE.json is required")
	}
	sc, err := sim.LoadFile(*file)
	if err != nil {
		return fmt.Errorf("%s: %s", *file, errs.MessageOf(err))
	}
	res, err := runInterruptibly(ctx, func() (sim.Result, error) { return sim.Run(ctx, sc, sim.Options{}) })
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return err
	}
	if *check && len(sc.Expect) > 0 {
		diffs, err := sim.Compare(sc.Expect, res)
		if err != nil {
			return fmt.Errorf("%s: %w", *file, err)
		}
		if len(diffs) > 0 {
			return fmt.Errorf("%s: result differs from expect: %v", *file, diffs)
		}
	}
	return nil
}

// runInterruptibly runs fn and returns its result, or returns as soon as
// ctx ends (Ctrl-C): the time-skipping environment does not watch a
// context, and the process exits right after, taking the run with it.
func runInterruptibly(ctx context.Context, fn func() (sim.Result, error)) (sim.Result, error) {
	type outcome struct {
		res sim.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := fn()
		done <- outcome{res, err}
	}()
	select {
	case o := <-done:
		return o.res, o.err
	case <-ctx.Done():
		return sim.Result{}, errs.E(errs.Unavailable, "interrupted: the simulation was stopped")
	}
}
