package certificate

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/statemachine"
)

// WorkflowName is the type CertificateWorkflow is registered and
// started under (histories name it).
const WorkflowName = "CertificateWorkflow"

// WorkflowID is the workflow ID of a certificate's workflow.
func WorkflowID(certID string) string { return "certificate/" + certID }

// Search attributes both processes publish (the server registers them
// with the types workflows.SearchAttributeTypes names).
var (
	OrderIDKey = temporal.NewSearchAttributeKeyKeyword("OrderId")
	// CertificateIDsKey and CertificateStatesKey list the certificates a
	// workflow writes and their states: one for a certificate workflow,
	// those a refund holds for a refund. `CertificateState =
	// "validating_revocation"` finds both kinds of workflow with a
	// certificate under review.
	CertificateIDsKey    = temporal.NewSearchAttributeKeyKeywordList("CertificateId")
	CertificateStatesKey = temporal.NewSearchAttributeKeyKeywordList("CertificateState")
)

// Certificate workflow messages, and the protocol of a certificate's
// holder: a workflow that holds a certificate (a refund) takes its
// Reports on SignalReport and its CA results on SignalCAResult.
const (
	// UpdateAction carries a console action (ActionRequest → Status).
	// Its validator refuses illegal transitions.
	UpdateAction = "action"
	// SignalCAResult carries a CA review result (CAResult).
	SignalCAResult = "ca-result"
	// SignalCommand carries a refund chain's step (Command).
	SignalCommand = "command"
	// SignalReport carries a certificate workflow's Report to the
	// workflow it reports to (Command.ReplyTo).
	SignalReport = "certificate-report"
	// QueryStatus returns Status.
	QueryStatus = "status"
)

// Versioning moves a certificate workflow to the current build at its
// next task: a certificate's workflow lives until the certificate is
// removed, which may be never, so pinned it would keep an old build up
// forever. A change to it must replay its old histories (GetVersion, the
// replay test). It applies only on a worker with Worker Versioning on.
const Versioning = workflow.VersioningBehaviorAutoUpgrade

// StartAttributes are the search attributes a certificate
// workflow starts with (the workflow upserts the same in its first task).
func StartAttributes(in Input) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		CertificateIDsKey.ValueSet([]string{in.Certificate.ID}),
		OrderIDKey.ValueSet(in.OrderID),
		CertificateStatesKey.ValueSet([]string{string(in.Certificate.State)}),
	)
}

// Input starts (or continues) a certificate workflow.
type Input struct {
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
	Carry *Carry `json:"carry,omitempty"`
}

// Carry is the state a certificate workflow hands to its next run.
type Carry struct {
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
	// (Status.Final) instead of a signal: the parent is told
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
	// Skipped is set when the command's CA action went in a batch that
	// stopped before it (Batch): nothing was done, and the command may
	// be given again.
	Skipped bool `json:"skipped,omitempty"`
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

// Status is what the certificate workflow's query returns.
type Status struct {
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
