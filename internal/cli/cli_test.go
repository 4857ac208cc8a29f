package cli

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	cases := []struct{ in, want string }{
		{"refund -order o-1 -consent", "refund --order o-1 --consent"},
		{"refund --order o-1 --consent=false", "refund --order o-1 --consent=false"},
		{"refund -order=o-1", "refund --order=o-1"},
		{"import -f x.json -h", "import -f x.json -h"}, // one letter: a short flag
		{"orders -limit -5", "orders --limit -5"},      // a number is a value
		{"help", "--help"},
		{"help refund", "refund --help"},
		{"cancel -reason x -- -not-a-flag", "cancel --reason x -- -not-a-flag"},
		{"", ""},
	}
	for _, tc := range cases {
		if got := strings.Join(Normalize(strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStatusAndReport(t *testing.T) {
	usage := fmt.Errorf("refund: %w", &UsageError{Err: errors.New("unknown flag --bogus"), Help: "starter refund --help"})
	for err, want := range map[error]int{nil: 0, errors.New("gateway unreachable"): 1, usage: 2, Usagef("no token"): 2, &Exited{Status: 3}: 3} {
		if got := Status(err); got != want {
			t.Errorf("Status(%v) = %d, want %d", err, got, want)
		}
	}
	var b strings.Builder
	if Report("starter", usage, &b) != StatusUsage || b.String() != "starter: refund: unknown flag --bogus (see starter refund --help)\n" {
		t.Fatalf("report %q", b.String())
	}
	// A program that ran and reported its own error: its status, no line.
	b.Reset()
	if Report("starter", &Exited{Status: 2}, &b) != 2 || b.Len() != 0 {
		t.Fatalf("report of an exited program: %q", b.String())
	}
	type grammar struct {
		Run struct {
			N int `help:"n"`
		} `cmd:""`
	}
	var g grammar
	kctx, err := Parse(&g, []string{"run", "-n", "x"}, &b, &b)
	if kctx != nil || !reflect.DeepEqual(Status(err), StatusUsage) || !strings.Contains(err.Error(), "-n") {
		t.Fatalf("Parse: %v %v", kctx, err)
	}
}
