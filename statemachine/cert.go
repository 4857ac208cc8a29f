package statemachine

import "slices"

// eventClass says where a certificate event comes from.
type eventClass int

const (
	// consoleAction: the customer clicks it, or the refund chain does on
	// the customer's behalf.
	consoleAction eventClass = iota + 1
	// caResult: the CA's review delivers it by callback.
	caResult
	// orderConsequence: it follows from another certificate of the same
	// order (SSL-8's cascade), with no console action and no CA call.
	orderConsequence
)

// certEventInfo is what the package knows about an event beside the table.
type certEventInfo struct {
	event CertEvent
	class eventClass
	// irreversible: the event cannot be undone (SSL-9).
	irreversible bool
	// release is how a single-certificate release plan uses the event:
	// StepAction for the console actions a release performs, StepAwaitCA
	// for the one CA result it waits for, "" for events a release never
	// takes.
	release StepKind
}

// certStates lists every certificate state, in the order diagrams and
// generated tests use.
var certStates = []CertState{
	PendingSubmission,
	PendingApplication,
	ValidatingApplication,
	ValidationFailed,
	Issued,
	ValidatingRevocation,
	Revoked,
	NotActivated,
	Removed,
}

// certEventInfos lists every certificate event with its class, in table
// order.
var certEventInfos = []certEventInfo{
	// A release never applies for or activates a certificate, so submit and
	// activate are not release steps.
	{event: Submit, class: consoleAction},
	{event: Withdraw, class: consoleAction, release: StepAction},
	{event: Cancel, class: consoleAction, release: StepAction},
	{event: Resubmit, class: consoleAction, release: StepAction},
	{event: Revoke, class: consoleAction, irreversible: true, release: StepAction}, // SSL-9
	{event: Delete, class: consoleAction, release: StepAction},
	{event: Activate, class: consoleAction},

	{event: ValidationPassed, class: caResult},
	{event: CAIssued, class: caResult},
	{event: ValidationFailedEv, class: caResult},
	{event: ResubmissionRejected, class: caResult},
	// SSL-6: the revocation review is the only CA result a release waits
	// for (up to 5 business days, T-3).
	{event: RevocationApproved, class: caResult, release: StepAwaitCA},
	{event: RevocationRejected, class: caResult},

	// SSL-8: applied by the order, never by a single-certificate plan.
	{event: Cascade, class: orderConsequence},
}

// certTable is the certificate machine. Its order is the order of
// CertEvents, release-plan search and the diagram.
var certTable = []edge[CertState, CertEvent]{
	// Console actions.
	{Submit, []CertState{PendingSubmission, PendingApplication}, ValidatingApplication},
	{Withdraw, []CertState{ValidatingApplication}, PendingApplication}, // SSL-6
	// SSL-6 (Pending Application), TC-4 (Pending Submission), SSL-8 (a Not
	// Activated later year). Validation Failed has no direct cancel: SSL-6
	// requires resubmit, withdraw, then cancel.
	{Cancel, []CertState{PendingApplication, PendingSubmission, NotActivated}, Removed},
	{Resubmit, []CertState{ValidationFailed}, ValidatingApplication}, // SSL-6: modify and resubmit
	{Revoke, []CertState{Issued}, ValidatingRevocation},              // SSL-9: cannot be undone
	{Delete, []CertState{Revoked}, Removed},                          // SSL-6
	{Activate, []CertState{NotActivated}, PendingApplication},        // SSL-8

	// CA results.
	{ValidationPassed, []CertState{ValidatingApplication}, Issued},
	{CAIssued, []CertState{ValidatingApplication}, Issued},
	{ValidationFailedEv, []CertState{ValidatingApplication}, ValidationFailed},
	// SSL-6: the CA may reject a resubmission for missing data; that needs
	// the customer.
	{ResubmissionRejected, []CertState{ValidatingApplication}, ValidationFailed},
	{RevocationApproved, []CertState{ValidatingRevocation}, Revoked},
	{RevocationRejected, []CertState{ValidatingRevocation}, Issued},

	// Order-level consequence. SSL-8: removing the first year removes the
	// later years.
	{Cascade, []CertState{NotActivated}, Removed},
}

// certInitial lists the states a certificate starts in: applied quota
// (Pending Application; Pending Submission at the second vendor, TC-4) and
// the later years of a multi-year order (Not Activated, SSL-8). Only the
// diagram uses it.
var certInitial = []CertState{PendingSubmission, PendingApplication, NotActivated}

var certMachine = newMachine("certificate", certStates, certEventNames(), certTable)

func certEventNames() []CertEvent {
	out := make([]CertEvent, len(certEventInfos))
	for i, info := range certEventInfos {
		out[i] = info.event
	}
	return out
}

func certInfo(ev CertEvent) (certEventInfo, bool) {
	i := slices.IndexFunc(certEventInfos, func(info certEventInfo) bool { return info.event == ev })
	if i < 0 {
		return certEventInfo{}, false
	}
	return certEventInfos[i], true
}

// CertTransition returns the state ev leads to from from. An event the table
// does not allow in from is an errs.IllegalTransition error whose message
// names both, e.g. `certificate in state "issued" cannot "withdraw"`; an
// unknown state or event is errs.Invalid.
func CertTransition(from CertState, ev CertEvent) (CertState, error) {
	return certMachine.transition(from, ev)
}

// CertEvents lists the events legal in from, in table order; nil for
// removed and for an unknown state.
func CertEvents(from CertState) []CertEvent {
	return certMachine.legalEvents(from)
}

// CertStates lists every certificate state, in a fixed order.
func CertStates() []CertState { return slices.Clone(certStates) }

// AllCertEvents lists every certificate event, in table order.
func AllCertEvents() []CertEvent { return certEventNames() }

// ValidCertState reports whether s is a certificate state.
func ValidCertState(s CertState) bool { return certMachine.knownState(s) }

// IsConsoleAction reports whether ev is a console action: something the
// customer clicks, or the refund chain does on the customer's behalf.
func IsConsoleAction(ev CertEvent) bool {
	info, ok := certInfo(ev)
	return ok && info.class == consoleAction
}

// IsCAResult reports whether ev is a CA review result, delivered by
// callback.
func IsCAResult(ev CertEvent) bool {
	info, ok := certInfo(ev)
	return ok && info.class == caResult
}

// IsIrreversible reports whether ev cannot be undone: revoke (SSL-9). The
// requester must confirm before the chain takes such a step.
func IsIrreversible(ev CertEvent) bool {
	info, ok := certInfo(ev)
	return ok && info.irreversible
}
