// Package cli parses certflow's command lines with kong and holds their
// conventions, so every command behaves the same:
//
//   - -h or --help, on the root or any subcommand, prints its usage on
//     stdout and exits 0; so does `NAME help [COMMAND]`;
//   - a usage error (an unknown flag or command, a missing or mistyped
//     value, a missing required flag) exits 2 with a message naming it;
//   - a failed operation exits 1;
//   - a long flag takes one dash or two: `-order X` (as the Go flag
//     package spelled it, so older scripts keep working) or `--order X`.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
)

// Exit statuses.
const (
	StatusOK     = 0
	StatusFailed = 1
	StatusUsage  = 2
)

// UsageError is an error in how a command was called: exit status 2.
type UsageError struct {
	Err error
	// Help is the command line that prints the relevant usage, e.g.
	// "starter refund --help".
	Help string
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef is a UsageError for a problem the parser cannot see, such as a
// required environment variable that is not set.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Exited is the exit status of a command that ran another program which
// has already reported on stderr (starter simulate runs certflow-sim):
// the status is passed on and nothing more is printed.
type Exited struct{ Status int }

func (e *Exited) Error() string { return fmt.Sprintf("exit status %d", e.Status) }

// exitRequest is how kong's exit (after printing help) unwinds Parse.
type exitRequest struct{ status int }

// Parse parses args into grammar, a kong grammar (a pointer to a struct
// of commands and flags). It returns the parsed context to Run; nil and a
// nil error when it printed help (on stdout); or a *UsageError. The
// options add to kong's (kong.Name, kong.Description, ...).
func Parse(grammar any, args []string, stdout, stderr io.Writer, options ...kong.Option) (kctx *kong.Context, err error) {
	opts := append([]kong.Option{
		kong.Writers(stdout, stderr),
		kong.Exit(func(status int) { panic(exitRequest{status}) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: true}),
	}, options...)
	parser, err := kong.New(grammar, opts...)
	if err != nil {
		return nil, err // the grammar is wrong: a bug, not a usage error
	}
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		exit, ok := r.(exitRequest)
		if !ok {
			panic(r)
		}
		kctx = nil
		if exit.status == StatusOK {
			err = nil
			return
		}
		err = &UsageError{Err: fmt.Errorf("exit status %d", exit.status), Help: parser.Model.Name + " --help"}
	}()
	kctx, err = parser.Parse(Normalize(args))
	if err != nil {
		help := parser.Model.Name + " --help"
		var perr *kong.ParseError
		if errors.As(err, &perr) && perr.Context != nil {
			if cmd := perr.Context.Selected(); cmd != nil {
				help = parser.Model.Name + " " + cmd.Path() + " --help"
			}
		}
		return nil, &UsageError{Err: err, Help: help}
	}
	return kctx, nil
}

// longFlag is a long flag written with one dash: -order, -order=X.
var longFlag = regexp.MustCompile(`^-[A-Za-z][A-Za-z0-9_-]+(=.*)?$`)

// Normalize rewrites the Go flag package's spellings into kong's: a long
// flag with one dash gets two (-order X is --order X; a one-letter flag
// such as -f or -h is a short flag already), and `help [COMMAND...]` is
// `[COMMAND...] --help`. Nothing after a "--" is touched.
func Normalize(args []string) []string {
	out := make([]string, 0, len(args)+1)
	if len(args) > 0 && args[0] == "help" {
		args = append(append([]string{}, args[1:]...), "--help")
	}
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if longFlag.MatchString(a) {
			a = "-" + a
		}
		out = append(out, a)
	}
	return out
}

// Status is the exit status for err: 0 for nil, 2 for a *UsageError, an
// *Exited's own status, 1 otherwise.
func Status(err error) int {
	var usage *UsageError
	var exited *Exited
	switch {
	case err == nil:
		return StatusOK
	case errors.As(err, &exited):
		return exited.Status
	case errors.As(err, &usage):
		return StatusUsage
	default:
		return StatusFailed
	}
}

// Report writes err as one line "NAME: message" on w (a usage error with
// where to find the usage) and returns the exit status for it.
func Report(name string, err error, w io.Writer) int {
	var exited *Exited
	if err == nil || errors.As(err, &exited) {
		return Status(err)
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	var usage *UsageError
	if errors.As(err, &usage) {
		help := usage.Help
		if help == "" {
			help = name + " --help"
		}
		msg += " (see " + help + ")"
	}
	fmt.Fprintf(w, "%s: %s\n", name, msg)
	return Status(err)
}

// Main is a command's main: it runs run with os.Args, a context that ends
// on Ctrl-C (SIGINT or SIGTERM), stdout and stderr, reports its error as
// Report does and exits with the status.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	status := Report(name, run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr)
	stop()
	os.Exit(status)
}
