package statemachine

import (
	"context"
	"errors"
	"slices"

	"github.com/looplab/fsm"

	"github.com/certflow/certflow/errs"
)

// edge is one row of a transition table: ev leads from each of from to to.
type edge[S, E ~string] struct {
	event E
	from  []S
	to    S
}

// machine is one state machine as data: its states and events in a fixed
// order and its ordered transition table. Everything the package exports is
// derived from these, in slice order, so no output depends on map order.
//
// A machine is built once, when the package is initialised, and is read-only
// afterwards; nothing in the package writes to it.
type machine[S, E ~string] struct {
	noun   string // "certificate" or "order": names the machine in errors
	states []S
	events []E
	table  []edge[S, E]
	// next is the transition function looplab/fsm computes from the table,
	// once, as the package is initialised (compile): next[i][j] is the
	// index in states of the state events[j] leads to from states[i], or -1
	// when the table does not allow it. Every transition is read from it.
	next [][]int
	// refusal explains why ev is illegal in from, beyond "cannot", and names
	// the rules behind the refusal; nil, or "" and nil, when there is nothing
	// to add.
	refusal func(from S, ev E) (reason string, rules []string)
}

func newMachine[S, E ~string](noun string, states []S, events []E, table []edge[S, E]) *machine[S, E] {
	m := &machine[S, E]{noun: noun, states: states, events: events, table: table}
	m.next = compile(states, events, fsmEvents(table))
	return m
}

// fsmEvents is the table in looplab/fsm's form, row for row.
func fsmEvents[S, E ~string](table []edge[S, E]) fsm.Events {
	rows := make(fsm.Events, 0, len(table))
	for _, e := range table {
		src := make([]string, len(e.from))
		for i, s := range e.from {
			src[i] = string(s)
		}
		rows = append(rows, fsm.EventDesc{Name: string(e.event), Src: src, Dst: string(e.to)})
	}
	return rows
}

// compile has looplab/fsm interpret the table once, for every state and
// event, and keeps its answers as the machine's transition function.
//
// Why looplab/fsm, and only here: the table stays the package's own ordered
// slice (diagrams, legal-event lists and release plans read it in order, and
// the event classes sit beside it), and looplab/fsm is the one interpreter
// of it: whether an event is legal in a state and where it leads is what an
// FSM built from these rows answers, not a second lookup written here. It
// runs while the package is initialised, never in a workflow: an FSM is a
// mutable object (its current state, a mutex, maps ranged over, a derived
// context) that workflow code should not build or fire, and rebuilding one
// for each check, as the package once did, cost about 1µs a check to repeat
// the same answer. After compile, a transition is two index lookups.
func compile[S, E ~string](states []S, events []E, rows fsm.Events) [][]int {
	next := make([][]int, len(states))
	for i, from := range states {
		next[i] = make([]int, len(events))
		for j, ev := range events {
			next[i][j] = -1
			if to, ok := check(rows, string(from), string(ev)); ok {
				next[i][j] = slices.Index(states, S(to))
			}
		}
	}
	return next
}

func (m *machine[S, E]) knownState(s S) bool { return slices.Contains(m.states, s) }
func (m *machine[S, E]) knownEvent(e E) bool { return slices.Contains(m.events, e) }

// transition returns the state ev leads to from from. Unknown states and
// events are errs.Invalid; a known event the table does not allow in from is
// errs.IllegalTransition, with a message naming both.
func (m *machine[S, E]) transition(from S, ev E) (S, error) {
	i, j := slices.Index(m.states, from), slices.Index(m.events, ev)
	if i < 0 {
		return "", errs.E(errs.Invalid, "unknown %s state %q", m.noun, from)
	}
	if j < 0 {
		return "", errs.E(errs.Invalid, "unknown %s event %q", m.noun, ev)
	}
	to := m.next[i][j]
	if to < 0 {
		return "", m.illegal(from, ev)
	}
	return m.states[to], nil
}

func (m *machine[S, E]) illegal(from S, ev E) *errs.Error {
	err := errs.E(errs.IllegalTransition, "%s in state %q cannot %q", m.noun, from, ev)
	if m.refusal != nil {
		if reason, rules := m.refusal(from, ev); reason != "" {
			err.Message += ": " + reason
			err.Rules = rules
		}
	}
	return err
}

// check asks looplab/fsm whether ev is legal in from and where it leads,
// given rows, the table in its form. The FSM is fresh, positioned at from
// and has no callbacks, so the check has no side effects. Only compile
// calls it, as the package is initialised.
func check(rows fsm.Events, from, ev string) (string, bool) {
	f := fsm.NewFSM(from, rows, nil)
	// No callbacks are registered, so nothing can observe or cancel the
	// context: Background is the honest value here.
	err := f.Event(context.Background(), ev)
	var same fsm.NoTransitionError
	switch {
	case err == nil:
		return f.Current(), true
	case errors.As(err, &same) && same.Err == nil:
		// A self-loop: legal, and the state stays. Neither table has one
		// today; this keeps the checker correct if one is added.
		return from, true
	default:
		return "", false
	}
}

// legalEvents lists the events the table allows in from, in table order,
// each once; nil for an unknown state or a final one.
func (m *machine[S, E]) legalEvents(from S) []E {
	var out []E
	for _, e := range m.table {
		if slices.Contains(e.from, from) && !slices.Contains(out, e.event) {
			out = append(out, e.event)
		}
	}
	return out
}

// final reports whether no event leaves s.
func (m *machine[S, E]) final(s S) bool { return finalIn(m.table, s) }

// finalIn reports whether no row of table leaves s.
func finalIn[S, E ~string](table []edge[S, E], s S) bool {
	for _, e := range table {
		if slices.Contains(e.from, s) {
			return false
		}
	}
	return true
}
