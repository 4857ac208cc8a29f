// Package activities holds certflow's Temporal activities: the only code
// that talks to the CA, the payment system and the store on behalf of the
// workflows. Activities are methods on Activities, which holds its clients
// as interfaces owned by this package; the worker injects real clients, the
// simulator and tests inject fakes. Errors that cross to a workflow carry an
// application error whose type is its errs code and whose details carry its
// rule IDs (package errs/errtemporal); outages stay retryable.
package activities

import (
	"context"
	"errors"
	"time"

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/ports"
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

// PayoutRequest is one refund payment (the ledger's type).
type PayoutRequest = ports.PayoutRequest

// PayoutReceipt is what a paid payout returns to the workflow.
type PayoutReceipt struct {
	// PaymentID is the provider's refund ID.
	PaymentID      string             `json:"payment_id"`
	IdempotencyKey string             `json:"idempotency_key"`
	Destination    domain.Destination `json:"destination"`
	At             time.Time          `json:"at"`
	// RecordsSaved is set when the records that came with the payout
	// were written (WriteRecords).
	RecordsSaved bool `json:"records_saved,omitempty"`
}

// RefundStatus is where a refund stands at the payment provider.
type RefundStatus string

// The provider's refund statuses (see cmd/paysim/PROTOCOL.md).
const (
	RefundPending   RefundStatus = "pending"
	RefundSucceeded RefundStatus = "succeeded"
	RefundFailed    RefundStatus = "failed"
)

// ProviderRefund is the payment provider's refund object.
type ProviderRefund struct {
	ID             string       `json:"id"`
	IdempotencyKey string       `json:"idempotency_key"`
	Status         RefundStatus `json:"status"`
	// FailureReason says why a failed refund failed.
	FailureReason string    `json:"failure_reason,omitempty"`
	Created       time.Time `json:"created"`
}

// Payments is the payment provider. Refund creates a refund, idempotent by
// key: the same key returns the refund created first and moves no money
// again. A refund may be answered pending and settle later (succeeded, or
// failed when the original method cannot take it back, GEN-4); Lookup
// finds it by key. The provider checks no business rule: certflow's ledger
// (Store) guards M-3 before any call.
type Payments interface {
	Refund(ctx context.Context, req PayoutRequest) (ProviderRefund, error)
	// Lookup finds a refund by idempotency key (reconciliation after a
	// timeout or a crash, M-4, and polling while pending).
	Lookup(ctx context.Context, key string) (ProviderRefund, bool, error)
}

// Store holds orders, certificates, quotas, refund records and the refund
// ledger (see package ports).
type Store = ports.Store

// RefundRecord is the store's view of a refund (see ports.RefundRecord).
type RefundRecord = ports.RefundRecord

// RefundDue is the amount a judged refund is owed (RefundRecord.Due).
type RefundDue = ports.RefundDue

// Records are one workflow task's store writes, written together (see
// ports.Records), with their parts.
type (
	Records           = ports.Records
	QuotaReturn       = ports.QuotaReturn
	CertificateRecord = ports.CertificateRecord
)

// Policies resolves the refund-policy profile and business-day calendar
// that judge an order (the profile version in force at payment).
type Policies interface {
	Resolve(ctx context.Context, profile string, paidAt time.Time) (policy.Profile, calendar.Spec, error)
}
