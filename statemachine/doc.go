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
// github.com/looplab/fsm interprets each table once, as the package is
// initialised: it answers, for every state and event, whether the event is
// legal and where it leads, and that answer is the machine's read-only
// transition function (machine.go, compile). No FSM is built or fired at
// run time, so none is shared between calls, goroutines or workflows.
package statemachine

//go:generate go test -run TestDiagrams -update .
