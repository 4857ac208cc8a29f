package refund

import (
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/certificate"
)

// WorkflowName is the type RefundWorkflow is registered and started
// under (histories name it).
const WorkflowName = "RefundWorkflow"

// WorkflowID is the workflow ID of an order's refund.
func WorkflowID(orderID string) string { return "refund/" + orderID }

// Holders: a certificate's one writer is named in the store by its
// workflow ID, a refund's (WorkflowID) while a refund releases it, or its
// certificate workflow's (certificate.WorkflowID) once one runs.

// IsHolder tells whether a holder named in the store is a refund.
func IsHolder(holder string) bool { return strings.HasPrefix(holder, "refund/") }

// OrderOfHolder returns the order whose refund holder names, if holder
// names a refund's workflow (WorkflowID).
func OrderOfHolder(holder string) (orderID string, ok bool) {
	orderID, ok = strings.CutPrefix(holder, WorkflowID(""))
	if !ok || orderID == "" || WorkflowID(orderID) != holder {
		return "", false
	}
	return orderID, true
}

// Search attributes a refund publishes beside certificate's
// (OrderIDKey, CertificateIDsKey, CertificateStatesKey).
var (
	RefundStatusKey = temporal.NewSearchAttributeKeyKeyword("RefundStatus")
	ProductKey      = temporal.NewSearchAttributeKeyKeyword("Product")
	EscalatedKey    = temporal.NewSearchAttributeKeyBool("Escalated")
	// WaitingOnKey lists the kinds (domain.WaitKind) a refund waits on:
	// `WaitingOn = "customer"` finds the refunds waiting on the customer.
	WaitingOnKey = temporal.NewSearchAttributeKeyKeywordList("WaitingOn")
)

// Refund workflow messages. A refund also takes certificate.SignalReport
// and certificate.SignalCAResult for the certificates it commands or holds.
const (
	// UpdateCancel asks to cancel the refund (CancelRequest → Status).
	UpdateCancel = "cancel"
	// UpdateApprove is the operator's approval (ApproveRequest → Status).
	UpdateApprove = "approve"
	// UpdateCertificateAction carries a console action on a certificate
	// the refund holds (CertificateAction → certificate.Status): while a
	// refund releases a certificate it is the certificate's one writer,
	// so the console's actions go to it.
	UpdateCertificateAction = "certificate-action"
	// UpdateCAResult offers a CA result (certificate.CAResult) to the
	// refund for a certificate the store names no holder of: a refund
	// taking the hold takes it once its hold is known (hold.go). A refund
	// that does not hold the certificate refuses it as errs.NotFound (its
	// validator: no history written), and the sender starts the
	// certificate's workflow.
	UpdateCAResult = "ca-result"
	// QueryStatus returns Status.
	QueryStatus = "status"
)

// Versioning pins a refund to the build it started on: it runs to its end
// there, however long its reviews and approvals take, so a new build never
// replays an old refund's history and a change to the refund needs no
// GetVersion patch. The old build's workers stay up until its refunds have
// drained. It applies only on a worker with Worker Versioning on.
const Versioning = workflow.VersioningBehaviorPinned

// CertificateAction is a console action on a certificate a refund
// holds (UpdateCertificateAction).
type CertificateAction struct {
	Certificate string `json:"certificate"`
	certificate.ActionRequest
}

// Input starts a refund workflow.
type Input struct {
	OrderID string               `json:"order_id"`
	Request domain.RefundRequest `json:"request"`
	// By is who asked, as authenticated, for the audit trail (its subject
	// is Request.RequestedBy).
	By domain.Actor `json:"by,omitzero"`
	// Carry is the state of the run this one continues (continue-as-new,
	// workflows/refund/carry.go): the new run resumes where that one stopped,
	// without judging or holding again. Nil for a refund's first run.
	Carry *Carry `json:"carry,omitempty"`
}

// Carry is everything a refund run hands to the run that continues
// it as new: what it loaded and decided, the requests it holds, its
// dealings with the CA, the certificates it holds with their whole state,
// what it last published, and where it stood (the decision's step, the
// release plan's remaining steps, the wait it was in).
type Carry struct {
	// Runs counts the runs before this one (1 for the first continuation).
	Runs     int                     `json:"runs"`
	Status   Status                  `json:"status"`
	Order    domain.Order            `json:"order"`
	Bundle   activities.PolicyBundle `json:"bundle"`
	Decision policy.Decision         `json:"decision"`
	Cancel   *CancelRequest          `json:"cancel,omitempty"`
	Approval *ApproveRequest         `json:"approval,omitempty"`
	// Reports are certificate reports received and not yet taken.
	Reports   []certificate.Report `json:"reports,omitempty"`
	Started   []string             `json:"started,omitempty"`
	Commanded []string             `json:"commanded,omitempty"`
	// Seq numbers the commands (their request IDs go on from here).
	Seq int `json:"seq"`
	// Reviews are the revocation reviews the refund's revokes opened.
	Reviews []CarriedReview `json:"reviews,omitempty"`
	// CA is the infrastructure failure at the CA being waited on, if any.
	CAFailing string          `json:"ca_failing,omitempty"`
	CAFixed   bool            `json:"ca_fixed,omitempty"`
	CASince   time.Time       `json:"ca_since,omitzero"`
	CAKind    domain.WaitKind `json:"ca_kind,omitempty"`
	// Published and Recorded are the search attributes and the store
	// record last written (the new run writes them again only on change;
	// the attributes themselves carry over with the run).
	Published *PublishedAttributes     `json:"published,omitempty"`
	Recorded  *activities.RefundRecord `json:"recorded,omitempty"`
	// Holds, Handed and Held: see hold.go. Held carries each held
	// certificate's whole state (transitions, open review, seen CA event
	// IDs, held and stray results, judgement, chain).
	Holds  []string            `json:"holds,omitempty"`
	Handed []string            `json:"handed,omitempty"`
	Held   []certificate.Input `json:"held,omitempty"`
	// Step is the index of the decision's step under way; Queue and
	// Replans the release plan's remaining steps and re-plans when it is
	// a release.
	Step    int                     `json:"step"`
	Queue   []statemachine.PlanStep `json:"queue,omitempty"`
	Replans int                     `json:"replans,omitempty"`
	// Wait is the wait the run stopped in ("" between two attempts):
	// review (NextPoll: its next look at the CA), customer (Customer: the
	// report of the refused resubmission), approval, payment
	// (PayFallback: paying to the balance after GEN-4).
	Wait        string              `json:"wait,omitempty"`
	NextPoll    time.Time           `json:"next_poll,omitzero"`
	Customer    *certificate.Report `json:"customer,omitempty"`
	PayFailing  bool                `json:"pay_failing,omitempty"`
	PayFallback bool                `json:"pay_fallback,omitempty"`
	// Judgement is the number of the judgement the first run drew from
	// the ledger (ports.RunJudgement): its payout carries it.
	Judgement int64 `json:"judgement,omitempty"`
}

// CarriedReview is a revocation review a refund's revoke opened.
type CarriedReview struct {
	Certificate string             `json:"certificate"`
	Review      certificate.Review `json:"review"`
}

// PublishedAttributes are the search attributes a refund last upserted
// (the lists joined).
type PublishedAttributes struct {
	State     statemachine.OrderState `json:"state"`
	Escalated bool                    `json:"escalated,omitempty"`
	Product   domain.Product          `json:"product,omitempty"`
	WaitingOn string                  `json:"waiting_on,omitempty"`
	CertIDs   string                  `json:"cert_ids,omitempty"`
	CertState string                  `json:"cert_state,omitempty"`
}

// CancelRequest asks to cancel a refund (CAN-1, CAN-2).
type CancelRequest struct {
	Actor  string `json:"actor,omitempty"`
	Reason string `json:"reason,omitempty"`
	// By is who asked, as authenticated, for the audit trail.
	By domain.Actor `json:"by,omitzero"`
}

// ApproveRequest is an operator's approval (GW-4).
type ApproveRequest struct {
	Operator string `json:"operator"`
	Note     string `json:"note,omitempty"`
	// By is who asked, as authenticated, for the audit trail.
	By domain.Actor `json:"by,omitzero"`
}

// Outcome is where a refund ended (or stands).
type Outcome string

// The outcomes, as the scenario format names them.
const (
	OutcomeRefunded         Outcome = "refunded"
	OutcomeRejected         Outcome = "rejected"
	OutcomeCancelled        Outcome = "cancelled"
	OutcomePending          Outcome = "pending"
	OutcomeAwaitingApproval Outcome = "awaiting_approval"
)

// OutcomeOf is the outcome of a refund in order state s: where it ended
// for a final state, awaiting_approval while an operator must approve
// (GW-4), pending otherwise. The refund's Outcome is always OutcomeOf its
// State; nothing sets it beside the state.
func OutcomeOf(s statemachine.OrderState) Outcome {
	switch s {
	case statemachine.OrderRefunded:
		return OutcomeRefunded
	case statemachine.OrderRejected:
		return OutcomeRejected
	case statemachine.OrderCancelled:
		return OutcomeCancelled
	case statemachine.OrderAwaitingApproval:
		return OutcomeAwaitingApproval
	default:
		return OutcomePending
	}
}

// Payout is money that moved.
type Payout struct {
	PaymentID     string             `json:"payment_id"`
	Cash          string             `json:"cash"`
	GiftCard      string             `json:"gift_card"`
	BenefitPoints int64              `json:"benefit_points"`
	Currency      string             `json:"currency"`
	Destination   domain.Destination `json:"destination"`
	At            time.Time          `json:"at"`
}

// StepRecord is one thing the refund did, with its time.
type StepRecord = domain.StepRecord

// Status is the refund's state (query) and, once finished, its result.
type Status struct {
	OrderID  string                  `json:"order_id"`
	State    statemachine.OrderState `json:"state"`
	Outcome  Outcome                 `json:"outcome"`
	Reasons  []string                `json:"reasons"`
	Message  string                  `json:"message,omitempty"`
	Decision *policy.Decision        `json:"decision,omitempty"`
	Payout   *Payout                 `json:"payout,omitempty"`
	// Waiting says in words what WaitingOn lists.
	Waiting string `json:"waiting,omitempty"`
	// WaitingOn lists what the refund waits on, one entry per thing.
	WaitingOn []domain.Wait `json:"waiting_on"`
	Escalated bool          `json:"escalated"`
	// Escalation says why and when, once Escalated.
	Escalation *domain.Escalation `json:"escalation,omitempty"`
	// Audit lists the console's and operators' actions, oldest first.
	Audit        []domain.AuditEntry    `json:"audit"`
	Steps        []StepRecord           `json:"steps"`
	Certificates []statemachine.CertRef `json:"certificates,omitempty"`
	// Held is, for each certificate the refund holds (no certificate
	// workflow runs for it meanwhile) or held until it ended, what its
	// workflow's query would answer: transitions, open review, held and
	// stray CA results.
	Held []certificate.Status `json:"held,omitempty"`
}
