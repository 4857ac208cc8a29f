package ports

import (
	"context"
	"encoding/json"
	"time"
)

// EventType names an outbound event: what changed.
type EventType string

// The outbound events (docs/event-delivery.md). Each is written to the outbox in
// the transaction that makes its change, so an event exists exactly when
// its change does.
const (
	// EventRefundRequested: a refund was requested (RecordRefundRequested).
	EventRefundRequested EventType = "refund.requested"
	// EventRefundApproved: an operator approved the refund (GW-4).
	EventRefundApproved EventType = "refund.approved"
	// EventRefundCancelled: the refund ended cancelled (CAN-1, CAN-2).
	EventRefundCancelled EventType = "refund.cancelled"
	// EventRefundEscalated: a revocation review passed its T-3 deadline.
	EventRefundEscalated EventType = "refund.escalated"
	// EventRefundPaid: the refund ended paid; the data carries the payout.
	EventRefundPaid EventType = "refund.paid"
	// EventRefundRejected: the refund ended rejected; the data carries
	// its rules.
	EventRefundRejected EventType = "refund.rejected"
	// EventRefundWaitingChanged: the refund's waiting_on changed.
	EventRefundWaitingChanged EventType = "refund.waiting_changed"
	// EventCertificateStateChanged: a certificate's state changed.
	EventCertificateStateChanged EventType = "certificate.state_changed"
)

// EventTypes lists every event type, in a fixed order.
var EventTypes = []EventType{EventRefundRequested, EventRefundApproved, EventRefundCancelled, EventRefundEscalated,
	EventRefundPaid, EventRefundRejected, EventRefundWaitingChanged, EventCertificateStateChanged}

// Event is one change, as written to the outbox and delivered to the
// console (the body of a webhook and an item of GET /v1/events).
type Event struct {
	// ID is stable: the webhook-id of every delivery of the event.
	ID   string    `json:"id"`
	Type EventType `json:"type"`
	// OrderID is the order the change belongs to; CertificateID is set
	// for a certificate's events.
	OrderID       string `json:"order_id"`
	CertificateID string `json:"certificate_id,omitempty"`
	// OccurredAt is when the change happened (the record's time).
	OccurredAt time.Time `json:"occurred_at"`
	// Data is the state after the change: the refund record
	// (RefundRecord) for refund events, CertificateChange for certificate
	// events.
	Data json.RawMessage `json:"data"`
	// Cursor is the event's position in the outbox: GET /v1/events?after=
	// continues after it.
	Cursor string `json:"cursor"`
}

// CertificateChange is the data of a certificate.state_changed event.
type CertificateChange struct {
	CertificateID string `json:"certificate_id"`
	OrderID       string `json:"order_id"`
	From          string `json:"from"`
	State         string `json:"state"`
}

// EventPage is one page of the outbox, oldest first.
type EventPage struct {
	Events []Event `json:"events"`
	// Next is the cursor to pass as after for the following page; it is
	// the last event's cursor, or the given one when the page is empty.
	Next string `json:"next"`
}

// Page sizes of ListEvents.
const (
	DefaultEventPage = 100
	MaxEventPage     = 1000
)

// Endpoint is a console endpoint the dispatcher delivers events to, as
// configured (secrets stay with the dispatcher: the store never sees them).
type Endpoint struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Delivery is one event leased to one dispatcher for one endpoint.
type Delivery struct {
	Endpoint string `json:"endpoint"`
	Event    Event  `json:"event"`
	// Attempt counts this attempt (1 for the first).
	Attempt int `json:"attempt"`
	// LeaseUntil is when the lease ends: a delivery still unanswered then
	// may be leased again, by any dispatcher.
	LeaseUntil time.Time `json:"lease_until"`
}

// EndpointStatus is where an endpoint's deliveries stand.
type EndpointStatus struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	Enabled  bool   `json:"enabled"`
	Disabled string `json:"disabled_reason,omitempty"`
	// Pending counts events not yet delivered to it; Delivered those
	// that were.
	Pending   int64 `json:"pending"`
	Delivered int64 `json:"delivered"`
	// ConsecutiveFailures counts failed attempts since the last success;
	// RetryAt is when the endpoint is tried again after them.
	ConsecutiveFailures int       `json:"consecutive_failures"`
	RetryAt             time.Time `json:"retry_at,omitzero"`
	LastError           string    `json:"last_error,omitempty"`
	LastSuccessAt       time.Time `json:"last_success_at,omitzero"`
	LastAttemptAt       time.Time `json:"last_attempt_at,omitzero"`
}

// Outbox is the durable queue of outbound events and of their deliveries
// to each endpoint. Several dispatchers may share one database: a
// delivery is leased to one of them at a time, and an event is delivered
// to an endpoint in order per order (an order's next event is leased only
// after the previous one was delivered).
type Outbox interface {
	// ListEvents returns up to limit events (0 means DefaultEventPage, at
	// most MaxEventPage) after the cursor ("" from the first), oldest
	// first. A malformed cursor is errs.Invalid.
	ListEvents(ctx context.Context, after string, limit int) (EventPage, error)
	// SyncEndpoints makes the configured endpoints known: a new endpoint
	// receives the events written from now on; an endpoint whose URL
	// changed is enabled again. Endpoints not listed are left as they are
	// (no delivery is leased for them until configured again).
	SyncEndpoints(ctx context.Context, eps []Endpoint) error
	// ClaimDeliveries leases to owner, for lease, up to limit deliveries
	// due now to the enabled endpoints named in endpoints: for each
	// endpoint and order only the oldest event not yet delivered, and only
	// when its retry time has come and no live lease holds it.
	ClaimDeliveries(ctx context.Context, owner string, endpoints []string, limit int, lease time.Duration) ([]Delivery, error)
	// DeliverySucceeded records a delivery the endpoint accepted.
	DeliverySucceeded(ctx context.Context, owner string, d Delivery) error
	// DeliveryFailed records a failed attempt; the delivery is due again
	// at retryAt, and the endpoint as a whole not before endpointRetryAt.
	DeliveryFailed(ctx context.Context, owner string, d Delivery, reason string, retryAt, endpointRetryAt time.Time) error
	// DisableEndpoint stops all deliveries to the endpoint (it answered
	// 410 Gone) until it is configured with another URL or enabled again.
	DisableEndpoint(ctx context.Context, name, reason string) error
	// EnableEndpoint enables a disabled endpoint again (errs.NotFound for
	// an unknown one).
	EnableEndpoint(ctx context.Context, name string) error
	// EndpointStatuses lists every known endpoint's status, by name.
	EndpointStatuses(ctx context.Context) ([]EndpointStatus, error)
}
