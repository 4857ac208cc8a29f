package gateway

import (
	"context"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// Workflows is what the gateway asks of Temporal. Temporal (temporal.go)
// implements it over a client.Client; tests use a fake. Every error is an
// errs-coded error: NotFound when the workflow does not exist, Conflict for
// a finished refund or a refusal in the current state, IllegalTransition,
// Invalid for a refusal of the request, Unavailable when Temporal cannot be
// reached.
type Workflows interface {
	// StartRefund starts the refund workflow of order o with in, or joins
	// the one already running (a repeated or concurrent request starts
	// nothing). afterFinished says the caller saw a finished refund and
	// judged that it does not block a new one (LastRefund): only then may a
	// new run follow a closed one; otherwise a run that closed since the
	// caller looked makes the start a Conflict, so a request judged before
	// another's refund paid never starts a second run. It returns the run ID.
	StartRefund(ctx context.Context, o domain.Order, in refund.Input, afterFinished bool) (runID string, err error)
	// LastRefund is the order's latest refund: whether it runs, and once
	// it finished, its result. NotFound when the order never had one.
	LastRefund(ctx context.Context, orderID string) (st refund.Status, running bool, err error)
	// LastRun is LastRefund with the run's ID (refund.Client.LastRun).
	LastRun(ctx context.Context, orderID string) (refund.Run, error)
	// CertificateWorkflows returns those of certIDs that have a workflow
	// (running or closed).
	CertificateWorkflows(ctx context.Context, certIDs []string) ([]string, error)
	// CertificateRunning reports whether the certificate's workflow runs.
	CertificateRunning(ctx context.Context, certID string) (bool, error)
	// RefundStatus is the refund's current status (query), or its result
	// once it finished.
	RefundStatus(ctx context.Context, orderID string) (refund.Status, error)
	// CancelRefund and ApproveRefund send the update and wait for its
	// outcome; the validator's refusal comes back as the error. A
	// non-empty updateID makes a retried request return the first outcome.
	CancelRefund(ctx context.Context, orderID, updateID string, req refund.CancelRequest) (refund.Status, error)
	ApproveRefund(ctx context.Context, orderID, updateID string, req refund.ApproveRequest) (refund.Status, error)
	// CertificateAction sends a console action to the certificate's
	// workflow, starting the workflow from in if it is not running.
	CertificateAction(ctx context.Context, in certificate.Input, updateID string, req certificate.ActionRequest) (certificate.Status, error)
	// CertificateStatus queries the certificate's workflow.
	CertificateStatus(ctx context.Context, certID string) (certificate.Status, error)
	// SignalCAResult signals a CA result to the certificate's running
	// workflow: one plain signal, the callback's usual path. errs.NotFound
	// when no workflow runs for the certificate.
	SignalCAResult(ctx context.Context, res certificate.CAResult) error
	// DeliverCAResult signals a CA result to the certificate's workflow,
	// starting the workflow from in if it is not running (the path of a
	// callback for a certificate without a running workflow).
	DeliverCAResult(ctx context.Context, in certificate.Input, res certificate.CAResult) error
	// SignalRefundCAResult signals a CA result to the running refund of
	// orderID, which holds the certificate (no certificate workflow runs
	// while a refund holds it): one plain signal. errs.NotFound when the
	// refund does not run (it ended and handed the certificate over).
	SignalRefundCAResult(ctx context.Context, orderID string, res certificate.CAResult) error
	// OfferRefundCAResult offers a CA result for a certificate nobody
	// holds to the running refund of orderID (its CA-result update) and
	// waits for its answer: nil when the refund took it (it was taking the
	// certificate's hold). errs.NotFound when the refund does not run or
	// does not hold the certificate: the caller starts the certificate's
	// workflow.
	OfferRefundCAResult(ctx context.Context, orderID string, res certificate.CAResult) error
	// RefundCertificateAction sends a console action on a certificate the
	// refund of orderID holds, as the refund's certificate-action update,
	// and waits for its outcome; the validator's refusal comes back as the
	// error, as for CertificateAction. errs.NotFound when the refund does
	// not run, or answers that it does not hold the certificate (it
	// handed it over): the caller then goes to the certificate's workflow.
	RefundCertificateAction(ctx context.Context, orderID, updateID string, req refund.CertificateAction) (certificate.Status, error)
}

// Orders is what the gateway reads from the store. GetOrder, GetCertificate
// and GetRefund have the signatures of the SQLite store; an unknown object
// is errs.NotFound.
type Orders interface {
	GetOrder(ctx context.Context, orderID string) (domain.Order, error)
	// GetCertificate returns a certificate with the ID of its order.
	GetCertificate(ctx context.Context, certID string) (orderID string, cert domain.Certificate, err error)
	// GetRefund returns the order's refund record (projection of the
	// refund workflow).
	GetRefund(ctx context.Context, orderID string) (ports.RefundRecord, error)
	// ListOrders returns one page of orders. A malformed cursor is
	// errs.Invalid.
	ListOrders(ctx context.Context, f OrderFilter) (OrderPage, error)
	// IntakeOrder registers or updates an order; the certificates listed
	// in owned keep the state their workflows gave them. Conflict while a
	// refund of the order runs or after one paid out.
	IntakeOrder(ctx context.Context, o domain.Order, owned []string) (created bool, err error)
	// RefundedAmount is what the payment ledger paid out for the order
	// (M-3 counts it as refunded).
	RefundedAmount(ctx context.Context, orderID string) (decimal.Decimal, error)
	// Requests is the durable intake of refund requests: the console
	// API records them, the dispatcher starts them.
	ports.Requests
	// CertificateHolder names the certificate's one writer by its workflow
	// ID: refund.WorkflowID(order) while a refund releases it,
	// certificate.WorkflowID(cert) when its own workflow holds
	// it, "" when nobody does. An unknown certificate is errs.NotFound.
	CertificateHolder(ctx context.Context, certID string) (string, error)
}

// Events is what the gateway reads of the outbound events' outbox (the
// store's ports.Outbox offers it): the console catches up with
// ListEvents, operators watch and re-enable the endpoints events are
// delivered to.
type Events interface {
	// ListEvents returns up to limit events after the cursor ("" from the
	// first), oldest first. A malformed cursor is errs.Invalid.
	ListEvents(ctx context.Context, after string, limit int) (ports.EventPage, error)
	// EndpointStatuses lists every known endpoint's delivery status, by
	// name.
	EndpointStatuses(ctx context.Context) ([]ports.EndpointStatus, error)
	// EnableEndpoint enables a disabled endpoint again (errs.NotFound for
	// an unknown one).
	EnableEndpoint(ctx context.Context, name string) error
}

var _ Events = ports.Outbox(nil)

// The list types are the ports' own (one type per concept): the store
// implements Orders as it is, with no adapter.
type (
	// OrderFilter selects orders for Orders.ListOrders; zero fields select
	// all (ports.OrderFilter).
	OrderFilter = ports.OrderFilter
	// OrderPage is one page of orders, newest first.
	OrderPage = ports.OrderPage
	// OrderSummary is an order with its refund record, if it has one.
	OrderSummary = ports.OrderSummary
)

// NoRefund, as OrderFilter.RefundState, selects the orders without a refund.
const NoRefund = ports.NoRefund

// Page sizes of GET /v1/orders.
const (
	DefaultPageSize = ports.DefaultPageSize
	MaxPageSize     = ports.MaxPageSize
)

// Judge decides whether a refund request would be granted now, without
// side effects (refund.Judge).
type Judge = refund.Judge

// Policies resolves the refund profile and calendar an order was sold
// under (refund.Policies).
type Policies = refund.Policies

// PolicyJudge is the Judge of the rules (refund.PolicyJudge).
func PolicyJudge(p Policies) Judge { return refund.PolicyJudge(p) }
