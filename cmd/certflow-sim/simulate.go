package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/sim"
)

// simulateCmd runs one scenario file through the real workflows in the
// time-skipping test environment and prints the result JSON.
type simulateCmd struct {
	File  string `short:"f" required:"" help:"The scenario file (JSON)." placeholder:"FILE.json"`
	Check bool   `help:"Compare the result with the file's expect and fail on a difference."`
}

func (cmd *simulateCmd) Run(ctx context.Context, out stdoutWriter) error {
	file, stdout := cmd.File, out.Writer
	sc, err := sim.LoadFile(file)
	if err != nil {
		return fmt.Errorf("%s: %s", file, errs.MessageOf(err))
	}
	res, err := runInterruptibly(ctx, func() (sim.Result, error) { return sim.Run(ctx, sc, sim.Options{}) })
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return err
	}
	if cmd.Check && len(sc.Expect) > 0 {
		diffs, err := sim.Compare(sc.Expect, res)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if len(diffs) > 0 {
			return fmt.Errorf("%s: result differs from expect: %v", file, diffs)
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
