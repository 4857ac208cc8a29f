// Command starter is the command line of certflow for console engineers and
// operators: it simulates scenarios and (against a running system) starts,
// inspects, approves and cancels refunds.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `usage: starter <command> [flags]

commands:
  simulate -f FILE.json [-check]   run a scenario in the time-skipping test environment, print the result JSON
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "starter:", oneLine(err.Error()))
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("no command given\n%s", usage)
	}
	switch args[0] {
	case "simulate":
		return simulate(ctx, args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q (try: starter help)", args[0])
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
