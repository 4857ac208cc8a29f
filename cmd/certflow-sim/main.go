// Command certflow-sim is a development tool: it runs a scenario file
// (testdata/scenarios/FORMAT.md) through the real workflows and activities
// in Temporal's time-skipping test environment, against the simulators'
// fakes, and prints the result JSON:
//
//	go run ./cmd/certflow-sim simulate -f FILE.json [--check]
//
// It lives apart from the shipped binaries (worker, gateway, starter)
// because package sim links Temporal's testsuite and testify's mock.
//
// Exit status: 0 on success (and for -h/--help), 2 for a usage error, 1
// when the scenario is invalid, fails to run or (with --check) differs
// from its expect.
package main

import (
	"context"
	"io"

	"github.com/alecthomas/kong"

	"github.com/certflow/certflow/internal/cli"
)

// simCLI is the command line.
type simCLI struct {
	Simulate simulateCmd `cmd:"" default:"withargs" help:"Run a scenario in the time-skipping test environment and print the result JSON (the default command)."`
}

func main() { cli.Main("certflow-sim", run) }

// run parses args and runs the command: a *cli.UsageError for a usage
// error, any other error for a failed run.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var grammar simCLI
	kctx, err := cli.Parse(&grammar, args, stdout, stderr, kong.Name("certflow-sim"),
		kong.Description("Runs certflow scenarios in Temporal's time-skipping test environment (a development tool). A long flag takes one dash or two."))
	if kctx == nil || err != nil {
		return err
	}
	kctx.BindTo(ctx, (*context.Context)(nil))
	return kctx.Run(stdoutWriter{stdout})
}

// stdoutWriter is the output the command prints its result on.
type stdoutWriter struct{ io.Writer }
