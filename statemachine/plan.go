package statemachine

import (
	"fmt"
	"slices"

	"github.com/certflow/certflow/errs"
)

// StepKind says how a plan step happens.
type StepKind string

// The step kinds.
const (
	// StepAction is a console action the chain performs (calls the CA).
	StepAction StepKind = "action"
	// StepAwaitCA waits for a CA review result (a callback).
	StepAwaitCA StepKind = "await_ca"
	// StepCascade is SSL-8's consequence: applied without a CA call once the
	// first certificate is removed.
	StepCascade StepKind = "cascade"
)

// PlanStep is one step of a release plan: Event takes Certificate from From
// to To.
type PlanStep struct {
	Certificate string    `json:"certificate,omitempty"`
	Event       CertEvent `json:"event"`
	Kind        StepKind  `json:"kind"`
	From        CertState `json:"from"`
	To          CertState `json:"to"`
}

// CertRef names a certificate and its state, first year first.
type CertRef struct {
	ID    string    `json:"id"`
	State CertState `json:"state"`
}

// ReleasePlan returns the steps that take a certificate from from to
// removed (SSL-6; TC-4 for Pending Submission; SSL-8 for a Not Activated
// year). It is not written per state but found by a breadth-first search of
// the certificate table, in table order, over the release edges: the
// console actions a release performs (not submit, not activate) and the one
// CA result it waits for, revocation_approved (a StepAwaitCA step). The
// order-level cascade_remove is never part of a single-certificate plan.
//
// removed yields an empty plan. An unknown state is errs.Invalid; a state
// with no path to removed is errs.IllegalTransition naming the state.
// certID is copied into the steps as is; it may be empty.
func ReleasePlan(certID string, from CertState) ([]PlanStep, error) {
	return releasePlan(certTable, certID, from)
}

// releasePlan is ReleasePlan over a given table, so tests can search a
// table without a path.
func releasePlan(table []edge[CertState, CertEvent], certID string, from CertState) ([]PlanStep, error) {
	if !ValidCertState(from) {
		return nil, errs.E(errs.Invalid, "unknown certificate state %q", from)
	}
	if from == Removed {
		return nil, nil
	}
	// reachedBy[s] is the step that first reached s. Maps are only looked
	// up here, never ranged over.
	reachedBy := map[CertState]PlanStep{}
	queue := []CertState{from}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, e := range table {
			kind := releaseKind(e.event)
			if kind == "" || !slices.Contains(e.from, s) {
				continue
			}
			if _, seen := reachedBy[e.to]; seen || e.to == from {
				continue
			}
			reachedBy[e.to] = PlanStep{Certificate: certID, Event: e.event, Kind: kind, From: s, To: e.to}
			if e.to == Removed {
				return pathTo(reachedBy, from), nil
			}
			queue = append(queue, e.to)
		}
	}
	return nil, errs.E(errs.IllegalTransition, "certificate in state %q has no release path to %q", from, Removed)
}

// pathTo walks reachedBy back from removed to from.
func pathTo(reachedBy map[CertState]PlanStep, from CertState) []PlanStep {
	var plan []PlanStep
	for s := Removed; s != from; {
		st := reachedBy[s]
		plan = append(plan, st)
		s = st.From
	}
	slices.Reverse(plan)
	return plan
}

// releaseKind is how a release plan uses ev, or "" if it never does.
func releaseKind(ev CertEvent) StepKind {
	info, _ := certInfo(ev)
	return info.release
}

// SSL-8: the first certificate's state decides how a multi-year order is
// released.
var (
	// cascadeFirst: removing the first certificate removes the later,
	// Not Activated years (Pending Submission is TC-4's Pending).
	cascadeFirst = []CertState{PendingSubmission, PendingApplication, ValidatingApplication, ValidationFailed}
	// revokeFirst: a certificate was issued; the later years are
	// cancelled one by one before the first is revoked and deleted.
	revokeFirst = []CertState{Issued, ValidatingRevocation, Revoked}
)

// OrderReleasePlan returns the steps that release every certificate of an
// order; certs lists them first year first (SSL-8).
//
//   - No certificate: an empty plan (SSL-5: nothing to release).
//   - One certificate: its ReleasePlan.
//   - First certificate Pending Submission, Pending Application, Validating
//     Application or Validation Failed: the first's plan, then a StepCascade
//     step (cascade_remove) for each later Not Activated certificate, then
//     the own ReleasePlan of each later certificate in any other state.
//   - First certificate Issued, Validating Revocation or Revoked: a cancel
//     StepAction for each later Not Activated certificate, then the own
//     ReleasePlan of each later certificate in any other state, then the
//     first's plan (revoke, await the review, delete).
//   - First certificate removed: each later certificate's own ReleasePlan.
//
// Within each group certificates keep their order in certs. Empty or
// duplicate IDs, unknown states, and a Not Activated first certificate of
// several (the first year is never Not Activated; the list is probably out
// of order) are errs.Invalid.
func OrderReleasePlan(certs []CertRef) ([]PlanStep, error) {
	if err := validateCerts(certs); err != nil {
		return nil, err
	}
	switch len(certs) {
	case 0:
		return nil, nil
	case 1:
		return certPlan(certs[0])
	}
	first, later := certs[0], certs[1:]
	firstPlan, err := certPlan(first)
	if err != nil {
		return nil, err
	}
	switch {
	case slices.Contains(cascadeFirst, first.State):
		// SSL-8: removing the first certificate removes the later years.
		return appendLater(firstPlan, later, Cascade, StepCascade)
	case slices.Contains(revokeFirst, first.State):
		// SSL-8: cancel each Not Activated year, then revoke, wait for the
		// review and delete the first.
		plan, err := appendLater(nil, later, Cancel, StepAction)
		if err != nil {
			return nil, err
		}
		return append(plan, firstPlan...), nil
	case first.State == Removed:
		var plan []PlanStep
		for _, c := range later {
			p, err := certPlan(c)
			if err != nil {
				return nil, err
			}
			plan = append(plan, p...)
		}
		return plan, nil
	default:
		return nil, errs.E(errs.Invalid, "first certificate %q of a multi-year order is %q: the first year is never Not Activated (SSL-8)", first.ID, first.State)
	}
}

// appendLater appends to plan, for the later certificates, one ev step of
// kind for each Not Activated certificate, then the own ReleasePlan of each
// certificate in any other state.
func appendLater(plan []PlanStep, later []CertRef, ev CertEvent, kind StepKind) ([]PlanStep, error) {
	for _, c := range later {
		if c.State != NotActivated {
			continue
		}
		to, err := CertTransition(c.State, ev)
		if err != nil {
			return nil, fmt.Errorf("certificate %q: %w", c.ID, err)
		}
		plan = append(plan, PlanStep{Certificate: c.ID, Event: ev, Kind: kind, From: c.State, To: to})
	}
	for _, c := range later {
		if c.State == NotActivated {
			continue
		}
		p, err := certPlan(c)
		if err != nil {
			return nil, err
		}
		plan = append(plan, p...)
	}
	return plan, nil
}

// certPlan is c's own ReleasePlan, with errors naming c.
func certPlan(c CertRef) ([]PlanStep, error) {
	plan, err := ReleasePlan(c.ID, c.State)
	if err != nil {
		return nil, fmt.Errorf("certificate %q: %w", c.ID, err)
	}
	return plan, nil
}

// validateCerts checks OrderReleasePlan's input.
func validateCerts(certs []CertRef) error {
	seen := make(map[string]bool, len(certs))
	for i, c := range certs {
		if c.ID == "" {
			return errs.E(errs.Invalid, "certificate %d of the order has no ID", i+1)
		}
		if seen[c.ID] {
			return errs.E(errs.Invalid, "certificate %q is listed twice", c.ID)
		}
		seen[c.ID] = true
		if !ValidCertState(c.State) {
			return errs.E(errs.Invalid, "certificate %q has unknown state %q", c.ID, c.State)
		}
	}
	return nil
}
