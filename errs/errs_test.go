package errs

import (
	"errors"
	"fmt"
	"testing"
)

func TestCodesSurviveWrapping(t *testing.T) {
	base := &Error{Code: NotRefundable, Message: "late", Rules: []string{"GEN-1"}}
	err := fmt.Errorf("judging o-1: %w", base)
	if CodeOf(err) != NotRefundable || MessageOf(err) != "late" || RulesOf(err)[0] != "GEN-1" {
		t.Fatalf("code %s message %q rules %v", CodeOf(err), MessageOf(err), RulesOf(err))
	}
	if !errors.Is(err, &Error{Code: NotRefundable}) || errors.Is(err, &Error{Code: Invalid}) {
		t.Fatal("errors.Is must match by code")
	}
}

func TestUncodedErrorsAreInternalAndHidden(t *testing.T) {
	err := errors.New("sql: connection refused at 10.0.0.3")
	if CodeOf(err) != Internal || MessageOf(err) != "internal error" {
		t.Fatalf("code %s message %q", CodeOf(err), MessageOf(err))
	}
	wrapped := Wrap(Unavailable, err, "store unavailable")
	if MessageOf(wrapped) != "store unavailable" || !errors.Is(wrapped, err) {
		t.Fatalf("wrap lost the cause or leaked it: %q", MessageOf(wrapped))
	}
	if CodeOf(nil) != "" {
		t.Fatal("nil has no code")
	}
}
