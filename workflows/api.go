package workflows

import (
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/statemachine"
)

// TaskQueue is the task queue the worker polls.
const TaskQueue = "certflow"

// CertificateWorkflowID is the workflow ID of a certificate's workflow.
func CertificateWorkflowID(certID string) string { return "certificate/" + certID }

// RefundWorkflowID is the workflow ID of an order's refund.
func RefundWorkflowID(orderID string) string { return "refund/" + orderID }

// Search attributes. Register them on the server (the dev runner does)
// with the types SearchAttributeTypes names.
var (
	OrderIDKey      = temporal.NewSearchAttributeKeyKeyword("OrderId")
	RefundStatusKey = temporal.NewSearchAttributeKeyKeyword("RefundStatus")
	ProductKey      = temporal.NewSearchAttributeKeyKeyword("Product")
	EscalatedKey    = temporal.NewSearchAttributeKeyBool("Escalated")
	// WaitingOnKey lists the kinds (domain.WaitKind) a refund waits on:
	// `WaitingOn = "customer"` finds the refunds waiting on the customer.
	WaitingOnKey = temporal.NewSearchAttributeKeyKeywordList("WaitingOn")
	// CertificateIDsKey and CertificateStatesKey list the certificates a
	// workflow writes and their states: one for a certificate workflow,
	// those a refund holds for a refund. `CertificateState =
	// "validating_revocation"` finds both kinds of workflow with a
	// certificate under review.
	CertificateIDsKey    = temporal.NewSearchAttributeKeyKeywordList("CertificateId")
	CertificateStatesKey = temporal.NewSearchAttributeKeyKeywordList("CertificateState")
)

// CertificateStartAttributes are the search attributes a certificate
// workflow starts with (the workflow upserts the same in its first task).
func CertificateStartAttributes(in CertificateInput) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		CertificateIDsKey.ValueSet([]string{in.Certificate.ID}),
		OrderIDKey.ValueSet(in.OrderID),
		CertificateStatesKey.ValueSet([]string{string(in.Certificate.State)}),
	)
}

// SearchAttributeTypes lists the search attributes for server registration
// ("name=Type" as `temporal server start-dev --search-attribute` takes it).
var SearchAttributeTypes = []string{
	"OrderId=Keyword", "RefundStatus=Keyword", "CertificateId=KeywordList",
	"CertificateState=KeywordList", "Product=Keyword", "Escalated=Bool", "WaitingOn=KeywordList",
}

// Certificate workflow messages.
const (
	// UpdateCertificateAction carries a console action (ActionRequest →
	// CertificateStatus). Its validator refuses illegal transitions.
	UpdateCertificateAction = "action"
	// SignalCAResult carries a CA review result (CAResult).
	SignalCAResult = "ca-result"
	// SignalCertificateCommand carries a refund chain's step (Command).
	SignalCertificateCommand = "command"
	// QueryCertificateStatus returns CertificateStatus.
	QueryCertificateStatus = "status"
)

// Refund workflow messages.
const (
	// UpdateRefundCancel asks to cancel the refund (CancelRequest → RefundStatus).
	UpdateRefundCancel = "cancel"
	// UpdateRefundApprove is the operator's approval (ApproveRequest → RefundStatus).
	UpdateRefundApprove = "approve"
	// SignalCertificateReport carries a certificate workflow's Report.
	SignalCertificateReport = "certificate-report"
	// UpdateRefundCertificateAction carries a console action on a
	// certificate the refund holds (RefundCertificateAction →
	// CertificateStatus): while a refund releases a certificate it is the
	// certificate's one writer, so the console's actions go to it. The
	// refund also takes SignalCAResult for the certificates it holds.
	UpdateRefundCertificateAction = "certificate-action"
	// UpdateRefundCAResult offers a CA result (CAResult) to the refund
	// for a certificate the store names no holder of: a refund taking the
	// hold takes it once its hold is known (workflows/hold.go). A refund
	// that does not hold the certificate refuses it as errs.NotFound (its
	// validator: no history written), and the sender starts the
	// certificate's workflow.
	UpdateRefundCAResult = "ca-result"
	// QueryRefundStatus returns RefundStatus.
	QueryRefundStatus = "status"
)

// CertificateInput starts (or continues) a certificate workflow.
type CertificateInput struct {
	Certificate domain.Certificate `json:"certificate"`
	OrderID     string             `json:"order_id"`
	// Review is the revocation review known to be open at the CA when the
	// certificate starts under review (optional).
	Review *Review `json:"review,omitempty"`
	// Command is the first command of the refund that starts the
	// workflow, delivered with the start instead of a signal after it.
	Command *Command `json:"command,omitempty"`
	// HandedFrom is the refund that held the certificate and hands it
	// over to this workflow as it ends (a review still open): the
	// workflow takes the hold from it in the store.
	HandedFrom string `json:"handed_from,omitempty"`
	// Carried over by continue-as-new.
	Carry *CertificateCarry `json:"carry,omitempty"`
}

// CertificateCarry is the state a certificate workflow hands to its next run.
type CertificateCarry struct {
	Transitions []Transition `json:"transitions"`
	SeenEvents  []string     `json:"seen_events"`
	Held        []CAResult   `json:"held"`
	Owner       string       `json:"owner,omitempty"`
	Review      *Review      `json:"review,omitempty"`
	Strays      []Stray      `json:"strays,omitempty"`
	// Poll is the interval at which the certificate asks the CA about an
	// open review nobody else waits for.
	Poll time.Duration `json:"poll,omitempty"`
	// Judge is the order and policy a refund's revoke command brought.
	Judge *activities.Judgement `json:"judge,omitempty"`
	// OwnerRun and Then: see Command.ReplyRun and Command.Then.
	OwnerRun string                   `json:"owner_run,omitempty"`
	Then     []statemachine.CertEvent `json:"then,omitempty"`
	// Holding says the run holds the certificate in the store already
	// (a continue-as-new), so it does not take the hold again.
	Holding bool `json:"holding,omitempty"`
	// Audit is the console's actions on the certificate (the latest).
	Audit []domain.AuditEntry `json:"audit,omitempty"`
}

// Review is the revocation review a certificate has open at the CA.
type Review struct {
	// ID is the CA's review ID; empty for a CA without review IDs, or for
	// a review opened before certflow knew of it.
	ID string `json:"id,omitempty"`
	// SubmittedAt is when the revocation was submitted to the CA (T-3
	// counts from here); zero when unknown.
	SubmittedAt time.Time `json:"submitted_at,omitempty"`
}

// Stray is a CA result that answered no open review: acknowledged and
// recorded, never applied, never held for later.
type Stray struct {
	Result CAResult  `json:"result"`
	Why    string    `json:"why"`
	At     time.Time `json:"at"`
}

// ActionRequest is a console action on a certificate.
type ActionRequest struct {
	Action statemachine.CertEvent `json:"action"`
	// Actor is who asked (customer, operator, console user ID).
	Actor string `json:"actor,omitempty"`
	// ConfirmIrreversible must be true for revoke (SSL-9).
	ConfirmIrreversible bool `json:"confirm_irreversible,omitempty"`
	// By is who asked, as authenticated, for the audit trail.
	By domain.Actor `json:"by,omitzero"`
}

// RefundCertificateAction is a console action on a certificate a refund
// holds (UpdateRefundCertificateAction).
type RefundCertificateAction struct {
	Certificate string `json:"certificate"`
	ActionRequest
}

// Holders: a certificate's one writer is named in the store by its
// workflow ID, a refund's (RefundWorkflowID) while a refund releases it,
// or its certificate workflow's (CertificateWorkflowID) once one runs.

// IsRefundHolder tells whether a holder named in the store is a refund.
func IsRefundHolder(holder string) bool { return strings.HasPrefix(holder, "refund/") }

// CAResult is a CA review result delivered by a callback.
type CAResult struct {
	// EventID is the CA's event ID; a repeated ID is ignored.
	EventID     string                 `json:"event_id"`
	Certificate string                 `json:"certificate"`
	Result      statemachine.CertEvent `json:"result"`
	Reason      string                 `json:"reason,omitempty"`
	// At is when the CA decided (the callback's occurred_at).
	At time.Time `json:"at"`
	// ReviewID names the review the result answers; a revocation result
	// is applied only to the open review it names (or, without an ID, to
	// an open review submitted before At).
	ReviewID string `json:"review_id,omitempty"`
	// Stray, when the sender already knows the result answers nothing
	// (e.g. occurred_at beyond the webhook tolerance), says why; the
	// workflow records it and does not apply it.
	Stray string `json:"stray,omitempty"`
}

// Command is a refund chain's step sent to a certificate workflow.
type Command struct {
	RequestID string                 `json:"request_id"`
	Event     statemachine.CertEvent `json:"event,omitempty"`
	// ReplyTo is the workflow ID that receives Reports (the refund).
	ReplyTo string `json:"reply_to"`
	// ReplyRun is the run of ReplyTo. When that run started this
	// certificate workflow as its child, the report on a command that
	// removes the certificate is the workflow's result
	// (CertificateStatus.Final) instead of a signal: the parent is told
	// of the child's end anyway.
	ReplyRun string `json:"reply_run,omitempty"`
	// Watch asks only to be told of the certificate's changes from now on
	// (a refund that finds a review already under way); no event applies.
	Watch bool `json:"watch,omitempty"`
	// Disown tells the certificate that ReplyTo no longer waits for its
	// review (a refund refused at its window end): the certificate asks the
	// CA itself, every Poll, until the review ends (SSL-7, VAS-3 quota).
	Disown bool          `json:"disown,omitempty"`
	Poll   time.Duration `json:"poll,omitempty"`
	// Judge is the order and the policy bundle the refund judged by, sent
	// with a revoke: the certificate judges the completed revocation's
	// quota rule (SSL-7, VAS-2..VAS-4) with them instead of loading the
	// order and resolving the policy again.
	Judge *activities.Judgement `json:"judge,omitempty"`
	// Then, with a revoke, are the release steps that follow an approved
	// revocation (delete): the certificate performs them at once when the
	// revocation keeps the refund (policy.JudgeRevocation by Judge) and
	// reports them with the approval, one report for the whole chain.
	Then []statemachine.CertEvent `json:"then,omitempty"`
}

// Report tells a refund workflow what became of a command, or of a
// certificate it watches (RequestID empty for unsolicited changes).
type Report struct {
	RequestID   string                 `json:"request_id,omitempty"`
	Certificate string                 `json:"certificate"`
	Event       statemachine.CertEvent `json:"event"`
	OK          bool                   `json:"ok"`
	State       statemachine.CertState `json:"state"`
	ErrorType   string                 `json:"error_type,omitempty"`
	Error       string                 `json:"error,omitempty"`
	At          time.Time              `json:"at"`
	// QuotaReturned is set when this change gave the certificate's quota back.
	QuotaReturned bool `json:"quota_returned,omitempty"`
	// Review is the revocation review open (after a revoke, or for a
	// watch while one is under way).
	Review *Review `json:"review,omitempty"`
	// Done lists the steps the certificate performed after an approved
	// revocation on the refund's behalf (Command.Then), in order.
	Done []Transition `json:"done,omitempty"`
}

// Transition is one recorded change of a certificate's state.
type Transition struct {
	From    statemachine.CertState `json:"from"`
	To      statemachine.CertState `json:"to"`
	Event   statemachine.CertEvent `json:"event"`
	At      time.Time              `json:"at"`
	Source  string                 `json:"source"` // console, refund/<order>, ca
	EventID string                 `json:"event_id,omitempty"`
}

// CertificateStatus is what the certificate workflow's query returns.
type CertificateStatus struct {
	ID            string                 `json:"id"`
	OrderID       string                 `json:"order_id"`
	State         statemachine.CertState `json:"state"`
	Transitions   []Transition           `json:"transitions"`
	QuotaReturned bool                   `json:"quota_returned"`
	Held          []CAResult             `json:"held,omitempty"`
	// Review is the revocation review open at the CA, if any.
	Review *Review `json:"review,omitempty"`
	// Strays are the latest results that answered no open review.
	Strays []Stray `json:"strays,omitempty"`
	// Audit lists the console's actions on the certificate (who, when,
	// which action), oldest first; the latest are carried over a
	// continue-as-new.
	Audit []domain.AuditEntry `json:"audit"`
	// Final is the report on the command that removed the certificate,
	// when the refund that sent it is the workflow's parent (ReplyRun).
	Final *Report `json:"final,omitempty"`
}

// RefundInput starts a refund workflow.
type RefundInput struct {
	OrderID string               `json:"order_id"`
	Request domain.RefundRequest `json:"request"`
	// By is who asked, as authenticated, for the audit trail (its subject
	// is Request.RequestedBy).
	By domain.Actor `json:"by,omitzero"`
	// Carry is the state of the run this one continues (continue-as-new,
	// workflows/carry.go): the new run resumes where that one stopped,
	// without judging or holding again. Nil for a refund's first run.
	Carry *RefundCarry `json:"carry,omitempty"`
}

// RefundCarry is everything a refund run hands to the run that continues
// it as new: what it loaded and decided, the requests it holds, its
// dealings with the CA, the certificates it holds with their whole state,
// what it last published, and where it stood (the decision's step, the
// release plan's remaining steps, the wait it was in).
type RefundCarry struct {
	// Runs counts the runs before this one (1 for the first continuation).
	Runs     int                     `json:"runs"`
	Status   RefundStatus            `json:"status"`
	Order    domain.Order            `json:"order"`
	Bundle   activities.PolicyBundle `json:"bundle"`
	Decision policy.Decision         `json:"decision"`
	Cancel   *CancelRequest          `json:"cancel,omitempty"`
	Approval *ApproveRequest         `json:"approval,omitempty"`
	// Reports are certificate reports received and not yet taken.
	Reports   []Report `json:"reports,omitempty"`
	Started   []string `json:"started,omitempty"`
	Commanded []string `json:"commanded,omitempty"`
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
	Holds  []string           `json:"holds,omitempty"`
	Handed []string           `json:"handed,omitempty"`
	Held   []CertificateInput `json:"held,omitempty"`
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
	Wait        string    `json:"wait,omitempty"`
	NextPoll    time.Time `json:"next_poll,omitzero"`
	Customer    *Report   `json:"customer,omitempty"`
	PayFailing  bool      `json:"pay_failing,omitempty"`
	PayFallback bool      `json:"pay_fallback,omitempty"`
}

// CarriedReview is a revocation review a refund's revoke opened.
type CarriedReview struct {
	Certificate string `json:"certificate"`
	Review      Review `json:"review"`
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

// RefundStatus is the refund's state (query) and, once finished, its result.
type RefundStatus struct {
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
	Held []CertificateStatus `json:"held,omitempty"`
}
