package statemachine

// CertState is a certificate's state in the console's certificate list.
type CertState string

// The certificate states (SSL-6, SSL-8, TC-4).
const (
	PendingSubmission     CertState = "pending_submission"
	PendingApplication    CertState = "pending_application"
	ValidatingApplication CertState = "validating_application"
	ValidationFailed      CertState = "validation_failed"
	Issued                CertState = "issued"
	ValidatingRevocation  CertState = "validating_revocation"
	Revoked               CertState = "revoked"
	NotActivated          CertState = "not_activated"
	Removed               CertState = "removed"
)

// CertEvent is something that happens to a certificate: a console action or
// a CA result.
type CertEvent string

// Console actions. They are what a customer clicks (or what the refund chain
// does on the customer's behalf).
const (
	Submit   CertEvent = "submit"
	Withdraw CertEvent = "withdraw"
	Cancel   CertEvent = "cancel"
	Resubmit CertEvent = "resubmit"
	Revoke   CertEvent = "revoke"
	Delete   CertEvent = "delete"
	Activate CertEvent = "activate"
)

// CA results. They arrive by the CA's review callbacks.
const (
	ValidationPassed     CertEvent = "validation_passed"
	ValidationFailedEv   CertEvent = "validation_failed"
	CAIssued             CertEvent = "issued"
	ResubmissionRejected CertEvent = "resubmission_rejected"
	RevocationApproved   CertEvent = "revocation_approved"
	RevocationRejected   CertEvent = "revocation_rejected"
)

// Cascade is the order-level consequence of SSL-8: removing a multi-year
// order's first certificate removes the Not Activated later years.
const Cascade CertEvent = "cascade_remove"

// OrderState is a refund order's state.
type OrderState string

// The order states.
const (
	OrderPaid             OrderState = "paid"
	OrderRefundRequested  OrderState = "refund_requested"
	OrderReleasing        OrderState = "releasing"
	OrderCommitted        OrderState = "committed"
	OrderAwaitingApproval OrderState = "awaiting_approval"
	OrderPaying           OrderState = "paying"
	OrderRefunded         OrderState = "refunded"
	OrderRejected         OrderState = "rejected"
	OrderCancelled        OrderState = "cancelled"
)

// OrderEvent is something that happens to a refund order.
type OrderEvent string

// The order events.
const (
	OrderRequest       OrderEvent = "request"        // paid → refund_requested (the rules accepted it)
	OrderRefuse        OrderEvent = "refuse"         // → rejected (the rules refused, at request time or later)
	OrderRelease       OrderEvent = "release"        // refund_requested → releasing
	OrderCommit        OrderEvent = "commit"         // releasing → committed (first irreversible step: revoke, reset)
	OrderAwaitApproval OrderEvent = "await_approval" // → awaiting_approval (GW-4)
	OrderApprove       OrderEvent = "approve"        // awaiting_approval → paying
	OrderPay           OrderEvent = "pay"            // → paying
	OrderPaidOut       OrderEvent = "paid_out"       // paying → refunded
	OrderCancel        OrderEvent = "cancel"         // → cancelled (CAN-1: only before the first irreversible step)
)
