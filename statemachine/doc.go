// Package statemachine owns the certificate and refund-order state machines:
// which events are legal in which state, where they lead, and the release
// plans derived from them (SSL-6, SSL-8, TC-4).
//
// Each machine is one ordered table (a slice of {event, sources,
// destination}) with the event classes kept as data beside it; everything
// else — transitions, the legal events of a state, release plans, the
// Mermaid diagrams in docs/ — is derived from those tables.
//
// The package is pure and deterministic, because it runs inside Temporal
// workflows: it reads no clock, draws no random numbers, starts no
// goroutines, does no I/O, and no map iteration order reaches an output.
// github.com/looplab/fsm is used only as a transition checker: each check
// builds a fresh FSM without callbacks, positioned at the given state, from
// the table rows that can apply there, so no FSM state is shared between
// calls or goroutines.
package statemachine

//go:generate go test -run TestDiagrams -update .
