package statemachine

// STUB: the statemachine helper replaces this file with the real
// implementation (cert.go, order.go, plan.go, mermaid.go). Signatures are the
// contract the workflows compile against.

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

// PlanStep is one step of a release plan.
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

// CertTransition returns the state ev leads to from from, or an
// errs.IllegalTransition error naming both.
func CertTransition(from CertState, ev CertEvent) (CertState, error) { panic("stub") }

// IsConsoleAction reports whether ev is a console action.
func IsConsoleAction(ev CertEvent) bool { panic("stub") }

// IsIrreversible reports whether ev cannot be undone (revoke: SSL-9).
func IsIrreversible(ev CertEvent) bool { panic("stub") }

// ReleasePlan derives, by path search over the transition table, the steps
// that take a certificate from from to removed (SSL-6).
func ReleasePlan(certID string, from CertState) ([]PlanStep, error) { panic("stub") }

// OrderReleasePlan is the plan for all certificates of an order, with the
// multi-year cascade (SSL-8).
func OrderReleasePlan(certs []CertRef) ([]PlanStep, error) { panic("stub") }

// OrderTransition returns the order state ev leads to, or an
// errs.IllegalTransition error.
func OrderTransition(from OrderState, ev OrderEvent) (OrderState, error) { panic("stub") }
