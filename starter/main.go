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

  against a running system (the gateway: -gateway URL or CERTFLOW_GATEWAY, default http://127.0.0.1:8080;
  the API token from CERTFLOW_TOKEN, e.g. export CERTFLOW_TOKEN=$(jq -r .tokens.console .run/endpoints.json)):
  import -f order.json             register or update an order (PUT /v1/orders/{id}; a scenario file's order works too)
  eligibility -order ID [-consent] [-confirm-irreversible] [-accept-late-review-risk]
                                   what the rules would decide now (the Refund button)
  refund -order ID [-consent] [-confirm-irreversible] [-accept-late-review-risk]
                                   request the refund: refused at once with the rule IDs, or started (a repeat joins)
  status -order ID                 the refund's status, steps and deadlines
  orders [-state S] [-product P]   list orders by refund state (operator token; none, awaiting_approval, ...)
  approve -order ID [-note N]      operator approval (GW-4) as the token's subject, who must not be the requester
  cancel -order ID [-reason R]     cancel (refused after the first irreversible step, CAN-1; never in tencent, CAN-2)
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
	case "eligibility", "refund", "status", "approve", "cancel", "orders", "import":
		return consoleCommand(ctx, args[0], args[1:], stdout, os.Getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q (try: starter help)", args[0])
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
