package domain

import "time"

// WaitKind is what an in-flight refund waits on.
type WaitKind string

// The things a refund waits on (RefundRecord.WaitingOn).
const (
	// WaitCAReview: the CA's revocation review of a certificate (SSL-6);
	// its deadline is the T-3 date, then, once escalated, the window end.
	WaitCAReview WaitKind = "ca_review"
	// WaitCustomer: the customer must fix and resubmit a certificate the
	// CA refused (SSL-6); its deadline is the window end, if any.
	WaitCustomer WaitKind = "customer"
	// WaitOperatorApproval: a second operator's approval (GW-4).
	WaitOperatorApproval WaitKind = "operator_approval"
	// WaitPaymentProvider: the payment provider did not answer, from the
	// first failed attempt on.
	WaitPaymentProvider WaitKind = "payment_provider"
	// WaitCACredentials: the CA refuses certflow's credentials; an
	// operator fixes them (signal ca-config-fixed).
	WaitCACredentials WaitKind = "ca_credentials"
	// WaitCAUnreachable: the CA cannot be reached.
	WaitCAUnreachable WaitKind = "ca_unreachable"
)

// WaitKinds lists every WaitKind, in a fixed order.
var WaitKinds = []WaitKind{WaitCAReview, WaitCustomer, WaitOperatorApproval, WaitPaymentProvider, WaitCACredentials, WaitCAUnreachable}

// Valid reports whether k is a known kind.
func (k WaitKind) Valid() bool {
	for _, x := range WaitKinds {
		if k == x {
			return true
		}
	}
	return false
}

// Wait is one thing a refund waits on.
type Wait struct {
	Kind WaitKind `json:"kind"`
	// Certificate is the certificate concerned, where there is one.
	Certificate string `json:"certificate,omitempty"`
	// Since is when the wait began.
	Since time.Time `json:"since"`
	// Deadline is the rule's own date for it (the window end, the T-3
	// business day, the escalation time); absent when no rule sets one.
	Deadline *time.Time `json:"deadline,omitempty"`
	// Rule is the rule ID that makes the refund wait, or sets Deadline.
	Rule string `json:"rule"`
	// Detail says it in words, for people.
	Detail string `json:"detail,omitempty"`
}

// Escalation says why and since when a refund needs an operator (T-3).
type Escalation struct {
	Rule        string    `json:"rule"`
	Reason      string    `json:"reason"`
	At          time.Time `json:"at"`
	Certificate string    `json:"certificate,omitempty"`
	// Deadline is the date that passed (the T-3 review deadline).
	Deadline time.Time `json:"deadline"`
}

// Roles of the console API's callers.
const (
	RoleConsole  = "console"
	RoleOperator = "operator"
)

// Actor is who asked for an action, as the console API authenticated them.
// It never holds a secret: the subject is the token's subject, not the
// token.
type Actor struct {
	Subject string `json:"subject"`
	Role    string `json:"role,omitempty"`
	// IdempotencyKey is the request's Idempotency-Key header, if any.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// ActorOr is who asked: by as authenticated when the gateway gave it, the
// name the request carried otherwise.
func ActorOr(by Actor, name string) Actor {
	if by != (Actor{}) {
		return by
	}
	return Actor{Subject: name}
}

// The audited actions (AuditEntry.Action).
const (
	AuditRefundRequested   = "refund_requested"
	AuditRefundApproved    = "refund_approved"
	AuditRefundCancelled   = "refund_cancelled"
	AuditCertificateAction = "certificate_action"
)

// StepRecord is one thing a refund did, with its time: the refund's
// timeline, in the workflow's status and in the store's record.
type StepRecord struct {
	At     time.Time `json:"at"`
	Step   string    `json:"step"`
	Detail string    `json:"detail,omitempty"`
}

// AuditEntry is one console or operator action on a refund or on a
// certificate: who, in which role, when, with which Idempotency-Key, and
// the note or reason they gave.
type AuditEntry struct {
	Action string    `json:"action"`
	At     time.Time `json:"at"`
	Actor
	// Note is the approval's note or the cancel's reason.
	Note string `json:"note,omitempty"`
	// Certificate and Event name a certificate action (revoke, withdraw…).
	Certificate string `json:"certificate,omitempty"`
	Event       string `json:"event,omitempty"`
}
