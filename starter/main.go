// Command starter is the command line of certflow for console engineers and
// operators: against a running system it registers orders and starts,
// inspects, approves and cancels refunds through the gateway's console API.
//
// It is a shipped binary and links no test package. `starter simulate -f
// FILE.json`, the command the scenario format names, runs the development
// tool cmd/certflow-sim (Temporal's time-skipping test environment), beside
// starter, on PATH, or built from the source tree (simulate.go).
//
// Exit status: 0 on success (and for -h/--help), 2 for a usage error (an
// unknown flag or command, a missing or mistyped value, no token in
// CERTFLOW_TOKEN), 1 when the operation fails (the gateway refuses or
// cannot be reached).
package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/certflow/certflow/internal/cli"
)

const description = `The command line of certflow's console API, against a running gateway.

The gateway's URL comes from --gateway or ` + EnvGateway + `; the API token from ` + EnvToken + `
(never a flag), e.g. export ` + EnvToken + `=$(jq -r .tokens.console .run/endpoints.json).
A long flag takes one dash or two (-order X or --order X).`

// starterCLI is the command line: the global flags and one field per
// subcommand.
type starterCLI struct {
	Gateway string `help:"The gateway's base URL." env:"CERTFLOW_GATEWAY" default:"http://127.0.0.1:8080" placeholder:"URL"`

	Import      importCmd      `cmd:"" help:"Register or update an order (PUT /v1/orders/{id}); a scenario file's order works too."`
	Eligibility eligibilityCmd `cmd:"" help:"What the rules would decide now (the Refund button)."`
	Refund      refundCmd      `cmd:"" help:"Request the refund: refused at once with the rule IDs, or started (a repeat joins)."`
	Status      statusCmd      `cmd:"" help:"The refund's status, steps and deadlines."`
	Orders      ordersCmd      `cmd:"" help:"List orders with the filters of GET /v1/orders (operator token)."`
	Approve     approveCmd     `cmd:"" help:"Operator approval (GW-4) as the token's subject, who must not be the requester."`
	Cancel      cancelCmd      `cmd:"" help:"Cancel the refund (refused after the first irreversible step, CAN-1; never in tencent, CAN-2)."`
	Simulate    simulateCmd    `cmd:"" passthrough:"" help:"Run a scenario file in Temporal's time-skipping test environment and print the result JSON: simulate -f FILE.json [--check] (runs the development tool certflow-sim; no gateway, no token)."`
}

func main() { cli.Main("starter", run) }

// run parses args and runs the command. Its error is a *cli.UsageError
// for a usage error (exit 2), any other error for a failed operation
// (exit 1); nil when the command succeeded or help was printed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var grammar starterCLI
	kctx, err := cli.Parse(&grammar, args, stdout, stderr, kong.Name("starter"), kong.Description(description))
	if kctx == nil || err != nil {
		return err
	}
	if kctx.Selected() != nil && kctx.Selected().Name == "simulate" {
		return runSimulate(ctx, grammar.Simulate.Args, stdout, stderr)
	}
	token := strings.TrimSpace(os.Getenv(EnvToken))
	if token == "" {
		return cli.Usagef("%s: set %s to a console API token (make run writes demo tokens to .run/endpoints.json)",
			kctx.Command(), EnvToken)
	}
	c := &console{base: grammar.Gateway, token: token, http: &http.Client{Timeout: 30 * time.Second}, out: stdout}
	kctx.BindTo(ctx, (*context.Context)(nil))
	return kctx.Run(c)
}
