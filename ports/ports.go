// Package ports declares what certflow needs from its database: the
// orders and certificates the workflows read and project, the refund
// records the console shows, and the refund ledger that guards every
// payout (M-3, M-4). It holds interfaces and plain types only, and imports
// neither Temporal nor a database driver: store implements it on SQLite
// and PostgreSQL, the simulator and tests fake it.
//
// Errors carry an errs code: NotFound, Conflict and Invalid for the
// caller's mistakes, Unavailable for what is worth retrying (a busy
// database, a lost connection, a cancelled context), Internal otherwise.
package ports

import (
	"context"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/money"
)

// Store is what the activities need: orders, certificates, quotas, refund
// records and the refund ledger.
type Store interface {
	GetOrder(ctx context.Context, orderID string) (domain.Order, error)
	// SaveCertificate records a certificate's new state (projection of the
	// certificate workflow, for the console).
	SaveCertificate(ctx context.Context, orderID string, cert domain.Certificate, at time.Time) error
	// ReturnQuota gives a certificate's quota back once; it reports whether
	// this call returned it (false when it was already returned).
	ReturnQuota(ctx context.Context, orderID, certID, rule string, at time.Time) (bool, error)
	// SaveRefund records a refund's status (projection for the console).
	SaveRefund(ctx context.Context, rec RefundRecord) error
	// SaveRecords writes one workflow task's records together, in one
	// transaction: its quota returns, then its certificates' states, then
	// its refund record, each as ReturnQuota, SaveCertificate and
	// SaveRefund would; an error writes none of them.
	SaveRecords(ctx context.Context, recs Records) error
	Holds
	Ledger
}

// Records are the store writes a refund's workflow task made, written
// together so the task costs one transaction (one fsync) instead of one
// per write (docs/orchestration.md).
type Records struct {
	OrderID      string              `json:"order_id"`
	QuotaReturns []QuotaReturn       `json:"quota_returns,omitempty"`
	Certificates []CertificateRecord `json:"certificates,omitempty"`
	Refund       *RefundRecord       `json:"refund,omitempty"`
}

// Empty reports whether there is nothing to write.
func (r Records) Empty() bool {
	return len(r.QuotaReturns) == 0 && len(r.Certificates) == 0 && r.Refund == nil
}

// QuotaReturn gives a certificate's quota back under Rule (ReturnQuota).
type QuotaReturn struct {
	CertificateID string    `json:"certificate_id"`
	Rule          string    `json:"rule"`
	At            time.Time `json:"at"`
}

// CertificateRecord is a certificate's state as of At (SaveCertificate).
type CertificateRecord struct {
	Certificate domain.Certificate `json:"certificate"`
	At          time.Time          `json:"at"`
}

// Holds names each certificate's one writer (its holder): a refund while
// it releases the certificate, or the certificate's own workflow, by
// workflow ID. A hold is taken by one atomic compare-and-set, so two
// would-be writers, in any processes, never both hold a certificate.
type Holds interface {
	// HoldCertificate makes holder the one writer of certificate certID when
	// nobody holds it, holder already does, or from does (a hand-over; from
	// may be ""). It returns who holds the certificate after the call: holder
	// when taken, the other holder when refused. An unknown certificate is
	// errs.NotFound; an empty certID or holder is errs.Invalid.
	HoldCertificate(ctx context.Context, certID, holder, from string) (string, error)
	// ReleaseCertificate ends holder's hold of certID; a certificate held by
	// another, or by nobody, is left as it is. An unknown certificate is
	// errs.NotFound; an empty certID or holder is errs.Invalid.
	ReleaseCertificate(ctx context.Context, certID, holder string) error
	// CertificateHolder returns who holds certID ("" when nobody does). An
	// unknown certificate is errs.NotFound.
	CertificateHolder(ctx context.Context, certID string) (string, error)
	// CertificateHold returns who holds certID with the hold's sequence
	// number. An unknown certificate is errs.NotFound.
	CertificateHold(ctx context.Context, certID string) (Hold, error)
	// TakeOverCertificate makes holder the one writer of certID in place of
	// dead, a holder whose workflow no longer runs, when dead still holds
	// it with the same sequence number (nobody, not even a new run of
	// dead's workflow ID, took it since it was read): one compare-and-set.
	// It returns who holds the certificate after the call. An unknown
	// certificate is errs.NotFound; an empty certID, holder or dead holder
	// is errs.Invalid.
	TakeOverCertificate(ctx context.Context, certID, holder string, dead Hold) (string, error)
}

// Hold is a certificate's holder as read at one moment: Seq counts the
// holds ever taken of the certificate (a holder taking its own hold again
// included), so a take-over that names it cannot take a hold taken since.
type Hold struct {
	Holder string `json:"holder"`
	Seq    int64  `json:"seq"`
}

// Ledger is certflow's own record of the refunds it pays out, kept before
// and after every call to the payment provider. The provider is trusted to
// honour an idempotency key, not to know what an order may still get back:
// that check is the ledger's.
type Ledger interface {
	// ReservePayout records req as a pending payout under its idempotency
	// key, after checking that with every pending or paid payout of the
	// order it returns no more cash than was paid minus what was refunded
	// before (M-3), nor more gift card or benefit points than were paid
	// with them (TC-6). The check and the record are one serialised step
	// across processes. The same key again returns the payout recorded
	// first (created false) whatever its status; the same key with other
	// amounts, order or destination is errs.Conflict (M-4). A payout that
	// would exceed what is left is errs.Conflict with rule M-3 or TC-6.
	ReservePayout(ctx context.Context, req PayoutRequest) (p Payout, created bool, err error)
	// SettlePayout records the provider's final answer on a pending
	// payout: PayoutPaid with the provider's refund ID, or PayoutFailed
	// with its reason (a failed payout no longer counts against M-3).
	// Settling a payout again with the same status returns it unchanged;
	// with another status it is errs.Conflict. An unknown key is
	// errs.NotFound.
	SettlePayout(ctx context.Context, key string, s Settlement) (Payout, error)
	// GetPayout returns the payout recorded under key (errs.NotFound).
	GetPayout(ctx context.Context, key string) (Payout, error)
	// RefundedAmount is what the ledger paid out for the order (cash and
	// gift card of its paid payouts, in the order's currency): with the
	// order's own already refunded amount, what M-3 counts as refunded
	// when a later refund is judged. An unknown order is errs.NotFound.
	RefundedAmount(ctx context.Context, orderID string) (decimal.Decimal, error)
	// RefundedByOthers is RefundedAmount without the payouts refundRun
	// reserved (PayoutRequest.RefundRun): what a refund that judges again
	// (its first workflow task, which may have paid, was lost and runs
	// again; or it was reset) counts as refunded before it. An empty
	// refundRun counts every payout.
	RefundedByOthers(ctx context.Context, orderID, refundRun string) (decimal.Decimal, error)
	// OpenJudgement is called by the refund refundRun (not empty) each
	// time it judges the order: it draws the run's next judgement number
	// and returns it with the run's own pending or paid payout (a paid one
	// first; nil when there is none), in one step serialised with
	// ReservePayout (the order's lock). A reservation of the run naming an
	// older number (PayoutRequest.Judgement) that would record a new
	// payout is then refused (errs.Conflict): the judgement that decided
	// it was overtaken (its workflow task lost and run again, or the
	// refund reset). So a payout either was reserved before the judgement
	// that runs now, which finds it and pays it again by its key (M-4),
	// or is never made. An unknown order is errs.NotFound.
	OpenJudgement(ctx context.Context, orderID, refundRun string) (RunJudgement, error)
}

// RunJudgement is a refund run's judgement as the ledger opened it.
type RunJudgement struct {
	// Number is the run's judgement count, 1 for its first.
	Number int64 `json:"number"`
	// Payout is the run's own payout, pending or paid, recorded under an
	// earlier judgement; nil when there is none.
	Payout *Payout `json:"payout,omitempty"`
}

// PayoutRequest is one refund payment.
type PayoutRequest struct {
	// IdempotencyKey is derived from the order and destination (M-4).
	IdempotencyKey string             `json:"idempotency_key"`
	OrderID        string             `json:"order_id"`
	Cash           money.Amount       `json:"cash"`
	GiftCard       money.Amount       `json:"gift_card"`
	BenefitPoints  int64              `json:"benefit_points"`
	Destination    domain.Destination `json:"destination"`
	// RefundRun names the refund that asks: its workflow's first run ID
	// (RefundedByOthers). Empty: a payout of no particular refund.
	RefundRun string `json:"refund_run,omitempty"`
	// Judgement is the number of the refund run's judgement that decided
	// the payout (Ledger.OpenJudgement); 0 checks none.
	Judgement int64 `json:"judgement,omitempty"`
}

// PayoutStatus is where a payout stands in the ledger.
type PayoutStatus string

// Payout statuses.
const (
	// PayoutPending: reserved, sent or about to be sent to the provider;
	// it counts against what the order can still get back.
	PayoutPending PayoutStatus = "pending"
	// PayoutPaid: the provider confirmed the refund.
	PayoutPaid PayoutStatus = "paid"
	// PayoutFailed: the provider refused or failed it; nothing moved.
	PayoutFailed PayoutStatus = "failed"
)

// Settlement is the provider's final answer on a payout.
type Settlement struct {
	Status PayoutStatus
	// ProviderID is the provider's refund ID (required when paid).
	ProviderID string
	// Reason is why it failed.
	Reason string
}

// Payout is one row of the ledger.
type Payout struct {
	Request    PayoutRequest `json:"request"`
	Status     PayoutStatus  `json:"status"`
	ProviderID string        `json:"provider_id,omitempty"`
	Reason     string        `json:"reason,omitempty"`
	CreatedAt  time.Time     `json:"created_at"`
	// SettledAt is zero while pending.
	SettledAt time.Time `json:"settled_at,omitzero"`
}

// RefundRecord is the store's view of a refund, written at every state
// change of the refund workflow. State is the refund's statemachine
// OrderState, the same word as the RefundStatus search attribute.
type RefundRecord struct {
	OrderID string `json:"order_id"`
	// RefundRun names the refund that wrote the record (its first run
	// ID, as PayoutRequest.RefundRun); empty for the intake's record.
	// Not stored: the store uses it to refuse a record that would take a
	// refund it paid back from refunded (SaveRefund).
	RefundRun string    `json:"refund_run,omitempty"`
	State     string    `json:"state"`
	Outcome   string    `json:"outcome"`
	Reasons   []string  `json:"reasons"`
	Cash      string    `json:"cash,omitempty"`
	Currency  string    `json:"currency,omitempty"`
	PaymentID string    `json:"payment_id,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	// Waiting says what the refund waits for (the customer, a revocation
	// review, an operator); empty when it waits for nothing.
	Waiting string `json:"waiting,omitempty"`
	// Escalated is set once a revocation review passed its T-3 deadline.
	Escalated bool `json:"escalated,omitempty"`
	// RequestedBy is the subject that asked for the refund (GW-4).
	RequestedBy string `json:"requested_by,omitempty"`
	// WaitingOn lists what the refund waits on, one entry per thing;
	// empty when it waits on nothing. Waiting is the same in words.
	WaitingOn []domain.Wait `json:"waiting_on"`
	// Escalation says why and when the refund was escalated (T-3); nil
	// while Escalated is false.
	Escalation *domain.Escalation `json:"escalation,omitempty"`
	// Audit lists the console's and operators' actions on the refund,
	// oldest first.
	Audit []domain.AuditEntry `json:"audit"`
	// Message says in words why a refund was rejected or cancelled.
	Message string `json:"message,omitempty"`
	// GiftCard, BenefitPoints and Destination complete the payout of a
	// paid refund (with Cash, Currency and PaymentID).
	GiftCard      string             `json:"gift_card,omitempty"`
	BenefitPoints int64              `json:"benefit_points,omitempty"`
	Destination   domain.Destination `json:"destination,omitempty"`
	// Due is the refund the request was judged to be owed (the policy
	// decision's breakdown), set once an eligible request is judged and
	// kept after payment; nil before judgement and for a request judged
	// not eligible. Until the refund is paid (Cash, PaymentID) it is the
	// amount that will be paid, and what an approving operator lets
	// through (GW-4). A payment that fell back to the account balance
	// (GEN-4) shows in Destination, not here.
	Due *RefundDue `json:"due,omitempty"`
	// Steps is the refund's timeline as of this record, oldest first:
	// the workflow writes it with every record, so a step taken in a
	// workflow task that changed nothing else shows with the next change.
	Steps []domain.StepRecord `json:"steps,omitempty"`
}

// RefundDue is the amount a refund was judged to be owed: decimal text at
// the currency's minor unit (M-1), never floats.
type RefundDue struct {
	Cash          string             `json:"cash"`
	GiftCard      string             `json:"gift_card,omitempty"`
	BenefitPoints int64              `json:"benefit_points,omitempty"`
	Currency      string             `json:"currency"`
	Destination   domain.Destination `json:"destination"`
}

// NoRefund, as OrderFilter.RefundState, selects the orders that have no
// refund record.
const NoRefund = "none"

// Page sizes of ListOrders.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// OrderFilter selects orders for ListOrders. Zero fields select all.
type OrderFilter struct {
	// RefundState selects orders whose refund record is in this state, or
	// with NoRefund the orders without one.
	RefundState string         `json:"refund_state,omitempty"`
	Product     domain.Product `json:"product,omitempty"`
	// WaitingOn selects refunds waiting on this kind (any of WaitingOn).
	WaitingOn domain.WaitKind `json:"waiting_on,omitempty"`
	// Escalated, when set, selects refunds escalated (true) or not (false).
	Escalated *bool `json:"escalated,omitempty"`
	// Outcome selects refunds with this outcome (pending,
	// awaiting_approval, refunded, rejected, cancelled).
	Outcome string `json:"outcome,omitempty"`
	// Limit is the page size: 0 means DefaultPageSize, at most MaxPageSize.
	Limit int `json:"limit,omitempty"`
	// Cursor continues after the page that returned it as Next.
	Cursor string `json:"cursor,omitempty"`
}

// OrderPage is one page of ListOrders.
type OrderPage struct {
	Orders []OrderSummary `json:"orders"`
	// Next is the cursor of the following page; empty on the last page.
	Next string `json:"next,omitempty"`
}

// OrderSummary is an order with its refund record, if it has one.
type OrderSummary struct {
	Order  domain.Order  `json:"order"`
	Refund *RefundRecord `json:"refund,omitempty"`
}

// Database is everything a store implementation offers: the activities'
// Store, the console's reads, order intake, the ledger's audit view and the
// outbox of outbound events.
type Database interface {
	Store
	Outbox
	PutOrder(ctx context.Context, o domain.Order) error
	// IntakeOrder registers or updates an order handed in by the console,
	// in one serialised step with its checks: while a refund of the order
	// runs, or once a payout of it is pending or paid, the order is not
	// changed (errs.Conflict); the certificates listed in owned, those
	// held (HoldCertificate) and those whose state a workflow ever wrote
	// (SaveCertificate) keep the state, revocation time, quota and
	// resubmission flag the store has (a workflow owns them). created
	// reports whether the order is new.
	IntakeOrder(ctx context.Context, o domain.Order, owned []string) (created bool, err error)
	// RecordRefundRequested writes the record of a refund just started
	// (state refund_requested at the request's time, by by.Subject, with
	// the request in its audit) unless the record of a running refund, or
	// a newer one, is there; the refund.requested event goes with it. The
	// order must exist (errs.NotFound).
	RecordRefundRequested(ctx context.Context, orderID string, by domain.Actor, at time.Time) error
	GetCertificate(ctx context.Context, certID string) (orderID string, cert domain.Certificate, err error)
	GetRefund(ctx context.Context, orderID string) (RefundRecord, error)
	QuotaReturned(ctx context.Context, orderID string) (int, error)
	ListOrders(ctx context.Context, f OrderFilter) (OrderPage, error)
	// Payouts lists an order's ledger rows, oldest first.
	Payouts(ctx context.Context, orderID string) ([]Payout, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	Close() error
}
