package ports

import (
	"context"
	"encoding/json"
	"time"

	"github.com/certflow/certflow/domain"
)

// RequestState is where a recorded refund request stands: pending until
// its workflow started (started) or its start was refused for good
// (failed).
type RequestState string

// The states of a refund request.
const (
	RequestPending RequestState = "pending"
	RequestStarted RequestState = "started"
	RequestFailed  RequestState = "failed"
)

// RefundRequest is a console's refund request as the gateway recorded it
// (durable intake): the workflow's input, and how far its start got. An
// order has at most one, its latest.
type RefundRequest struct {
	OrderID string `json:"order_id"`
	// ID names this request among the order's requests.
	ID string `json:"id"`
	// Input is the refund workflow's input (refund.Input as JSON: the
	// store does not read it).
	Input       json.RawMessage `json:"input"`
	RequestedAt time.Time       `json:"requested_at"`
	By          domain.Actor    `json:"by"`
	// IdempotencyKey is the request's Idempotency-Key header, if any.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// AfterFinished says the gateway saw a finished refund and judged it
	// not to block this one: the start may follow a closed run.
	AfterFinished bool         `json:"after_finished,omitempty"`
	State         RequestState `json:"state"`
	// RunID is the workflow run's ID once started (it may stay empty for
	// a run found started by an earlier attempt).
	RunID string `json:"run_id,omitempty"`
	// ErrorCode, ErrorRule and ErrorMessage say why a failed request's
	// start was refused (an errs code, the rule, the message).
	ErrorCode    string `json:"error_code,omitempty"`
	ErrorRule    string `json:"error_rule,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
	// Attempts counts the starts tried; NextAttemptAt is when a sweeper
	// may try again; a dispatcher holds a pending request until LeaseUntil.
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	LeaseOwner    string    `json:"lease_owner,omitempty"`
	LeaseUntil    time.Time `json:"lease_until,omitzero"`
	// LastError is the last failed attempt's error, for operators (never
	// sent to a client).
	LastError string    `json:"last_error,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RefundIntake is what the store knows of an order's refund: its record
// (nil when none) and its latest recorded request (nil when none).
type RefundIntake struct {
	Record  *RefundRecord
	Request *RefundRequest
}

// OrderRefunds is an order as a refund request finds it (Requests).
type OrderRefunds struct {
	Order  domain.Order
	Intake RefundIntake
	// PaidOut says the ledger paid a payout of the order: the amount is
	// then Ledger.RefundedAmount's to sum (when false, it is zero).
	PaidOut bool
}

// Claim is a dispatcher's lease on a pending request.
type Claim struct {
	// Owner names the dispatcher (one per gateway process).
	Owner string
	// Now is the claim's time; the lease lasts until Now+Lease.
	Now   time.Time
	Lease time.Duration
}

// Requests is the durable intake of refund requests.
type Requests interface {
	// RequestRefund records req (pending) with the read model's
	// refund_requested record and its refund.requested event, in one
	// transaction; a running refund's record (not final) is kept, and req
	// joins that refund when started. A pending request is joined
	// (joined true; nothing is written; the answer is what is there). A
	// req with a LeaseOwner is recorded leased to it (the recording
	// gateway's claim and first attempt). The order must exist
	// (errs.NotFound).
	RequestRefund(ctx context.Context, req RefundRequest) (in RefundIntake, joined bool, err error)
	// RefundIntake reads the order's record and request in one query.
	RefundIntake(ctx context.Context, orderID string) (RefundIntake, error)
	// OrderRefunds reads, in one query, what a refund request is judged
	// on: the order with its certificates, its record and request, and
	// whether any payout of it was paid (errs.NotFound: no such order).
	OrderRefunds(ctx context.Context, orderID string) (OrderRefunds, error)
	// ClaimRefundRequest leases the order's request to c.Owner if it is
	// pending and no other dispatcher holds a live lease (force: even
	// then), counting an attempt. ok is false when there is nothing to
	// claim.
	ClaimRefundRequest(ctx context.Context, orderID string, c Claim, force bool) (req RefundRequest, ok bool, err error)
	// ClaimRefundRequests leases up to limit pending requests that are
	// due (NextAttemptAt) and not leased, oldest first.
	ClaimRefundRequests(ctx context.Context, c Claim, limit int) ([]RefundRequest, error)
	// RefundRequestStarted marks the request started with its run ID.
	RefundRequestStarted(ctx context.Context, orderID, requestID, runID string, at time.Time) error
	// RetryRefundRequest lets go of the lease and sets when to try again.
	RetryRefundRequest(ctx context.Context, orderID, requestID string, next time.Time, lastErr string, at time.Time) error
	// RefundRequestFailed marks the request failed with the refusal's code,
	// rule and message; the read model's record, while it is still the
	// request's own refund_requested record, becomes rejected with the
	// rule (and its refund.rejected event).
	RefundRequestFailed(ctx context.Context, orderID, requestID, code, rule, message string, at time.Time) error
}
