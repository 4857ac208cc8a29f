package statemachine

import (
	"testing"

	"github.com/looplab/fsm"
)

// TestCheckSelfLoop: looplab/fsm reports a self-loop as NoTransitionError;
// the checker must still call it legal. Neither table has one today.
func TestCheckSelfLoop(t *testing.T) {
	rows := fsm.Events{{Name: "touch", Src: []string{"a"}, Dst: "a"}}
	if to, ok := check(rows, "a", "touch"); !ok || to != "a" {
		t.Errorf("check(self-loop) = %q, %v; want \"a\", true", to, ok)
	}
	if _, ok := check(rows, "b", "touch"); ok {
		t.Error("check allowed an event from a state the row does not list")
	}
	if _, ok := check(rows, "a", "other"); ok {
		t.Error("check allowed an event with no row")
	}
}
