// Package activities holds certflow's Temporal activities: the only code
// that talks to the CA, the payment system and the store on behalf of the
// workflows. Activities are methods on Activities, which holds its clients
// as interfaces owned by this package; the worker injects real clients, the
// simulator and tests inject fakes. Errors that cross to a workflow carry a
// application error whose type is its errs code and whose details carry its
// rule IDs (package errs/errtemporal); outages stay retryable.
package activities

import (
	"context"
	"errors"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/statemachine"
)

// ErrCARefusedCredentials is what a CA implementation wraps when the CA
// answers 401 or 403: a configuration error (errs.Misconfigured), not an
// outage.
var ErrCARefusedCredentials = errors.New("the CA refuses our credentials")

// CA is the certificate authority's API, as the activities need it. Every
// call is idempotent on the CA side for the same certificate and action.
type CA interface {
	// Submit, Withdraw, Cancel, Resubmit, Delete and Activate perform a
	// console action at the CA. Resubmit may fail with a
	// errs.Error{Code: errs.Invalid} carrying the CA's reason (SSL-6: the
	// customer must fix the data).
	Act(ctx context.Context, certID string, action statemachine.CertEvent) error
	// Revoke submits a revocation for review and returns the CA's review
	// ID; repeating it returns the review already open.
	Revoke(ctx context.Context, certID, reason string) (ReviewReceipt, error)
	// RevocationStatus asks the CA where a revocation review stands.
	RevocationStatus(ctx context.Context, certID string) (ReviewStatus, error)
	// Reset resets a gateway instance or a private CA (GW-3, PCA-3).
	Reset(ctx context.Context, orderID string, product domain.Product) error
}

// ReviewReceipt is the CA's answer to a revocation: the review it opened.
type ReviewReceipt struct {
	// ReviewID names the review; results answer it by this ID. Empty for
	// a CA without review IDs.
	ReviewID string `json:"review_id,omitempty"`
	// SubmittedAt is when the CA registered the revocation; zero when the
	// CA does not say (the workflow's time is used).
	SubmittedAt time.Time `json:"submitted_at,omitempty"`
}

// ReviewStatus is the CA's answer on a revocation review.
type ReviewStatus struct {
	// ReviewID names the review the answer is about.
	ReviewID string `json:"review_id,omitempty"`
	// SubmittedAt is when the revocation was submitted.
	SubmittedAt time.Time `json:"submitted_at,omitempty"`
	// Result is empty while pending, else revocation_approved/_rejected.
	Result  statemachine.CertEvent `json:"result,omitempty"`
	EventID string                 `json:"event_id,omitempty"`
	Reason  string                 `json:"reason,omitempty"`
	At      time.Time              `json:"at,omitempty"`
}

// PayoutRequest is one refund payment.
type PayoutRequest struct {
	// IdempotencyKey is derived from the order (M-4).
	IdempotencyKey string             `json:"idempotency_key"`
	OrderID        string             `json:"order_id"`
	Cash           money.Amount       `json:"cash"`
	GiftCard       money.Amount       `json:"gift_card"`
	BenefitPoints  int64              `json:"benefit_points"`
	Destination    domain.Destination `json:"destination"`
}

// PayoutReceipt is what the payment system returns for a payout.
type PayoutReceipt struct {
	PaymentID      string             `json:"payment_id"`
	IdempotencyKey string             `json:"idempotency_key"`
	Destination    domain.Destination `json:"destination"`
	At             time.Time          `json:"at"`
}

// Payments is the payment system. Refund is idempotent by key: the same key
// returns the first receipt and moves no money again. A refund to the
// original method that cannot go through fails with ErrOriginalMethodFailed.
type Payments interface {
	Refund(ctx context.Context, req PayoutRequest) (PayoutReceipt, error)
	// Lookup finds a payout by idempotency key (reconciliation after a
	// timeout, M-4).
	Lookup(ctx context.Context, key string) (PayoutReceipt, bool, error)
}

// Store holds orders, certificates, quotas and refund records.
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
}

// RefundLedger is what a Store that also keeps the payment ledger adds:
// the amount paid out for an order (cash and gift card), which M-3 counts
// as already refunded.
type RefundLedger interface {
	RefundedAmount(ctx context.Context, orderID string) (decimal.Decimal, error)
}

// RefundRecord is the store's view of a refund, written at every state
// change of the refund workflow. State is the refund's statemachine
// OrderState, the same word as the RefundStatus search attribute.
type RefundRecord struct {
	OrderID   string    `json:"order_id"`
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
}

// Policies resolves the refund-policy profile and business-day calendar
// that judge an order (the profile version in force at payment).
type Policies interface {
	Resolve(ctx context.Context, profile string, paidAt time.Time) (policy.Profile, calendar.Spec, error)
}
