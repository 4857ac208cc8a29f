// Package errstest helps tests assert certflow's coded errors.
package errstest

import (
	"errors"
	"strings"
	"testing"

	"github.com/certflow/certflow/errs"
)

// Want fails t unless err is a coded error of code whose client-safe
// message contains every one of parts.
func Want(t testing.TB, err error, code errs.Code, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want a %s error containing %q", code, parts)
	}
	if !errors.Is(err, &errs.Error{Code: code}) {
		t.Fatalf("got error %v (code %s), want code %s", err, errs.CodeOf(err), code)
	}
	msg := errs.MessageOf(err)
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Fatalf("message %q does not contain %q", msg, p)
		}
	}
}
