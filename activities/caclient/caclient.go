// Package caclient is certflow's client of the certificate authority: it
// implements activities.CA over the HTTP protocol of casim/PROTOCOL.md
// (JSON, bearer token), so the worker can talk to the real CA or to the
// casim simulator alike.
//
// It guarantees:
//
//   - Every error it returns is an *errs.Error whose Code the activities
//     layer can branch on:
//     a CA refusal of a resubmission (409 resubmission_rejected, SSL-6) →
//     errs.Invalid with Message exactly the CA's reason and Rules
//     ["SSL-6"]; any other 409 refusal (certificate removed, idempotency
//     key reused) → errs.Conflict; 400 → errs.Invalid; 404 →
//     errs.NotFound; 5xx, 429, network errors and timeouts →
//     errs.Unavailable (retryable); 401/403 → errs.Internal wrapping
//     activities.ErrCARefusedCredentials (a configuration error the
//     activities make non-retryable); redirects, oversized or
//     undecodable answers → errs.Internal (protocol mismatch). The CA's answer is kept as an *APIError in
//     the chain (errors.As) for logs; only refusal messages reach Message.
//   - Every POST carries an Idempotency-Key derived from the business key
//     (certificate and action, certificate and "revoke", order and product),
//     so retries of an activity are recognisable as retries by the CA.
//   - Answers are read up to a bound (1 MiB by default), and unknown JSON
//     fields are ignored.
package caclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpjson"
	"github.com/certflow/certflow/statemachine"
)

var _ activities.CA = (*Client)(nil)

// CodeResubmissionRejected is the CA's error code for a refused
// resubmission (SSL-6).
const CodeResubmissionRejected = "resubmission_rejected"

// DefaultMaxResponseBytes bounds the CA's answers when Config leaves it 0.
const DefaultMaxResponseBytes = httpjson.DefaultMaxResponseBytes

// Config configures a Client.
type Config struct {
	// BaseURL is the CA's root, e.g. "http://127.0.0.1:8090"; a path
	// prefix is kept.
	BaseURL string
	// Token is sent as "Authorization: Bearer <Token>".
	Token string
	// HTTPClient carries the timeouts; nil means a client with a 10s
	// timeout. Its redirect policy is replaced: redirects are not part of
	// the protocol and are not followed.
	HTTPClient *http.Client
	// MaxResponseBytes bounds an answer; 0 means DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

// Client is the CA client. It is safe for concurrent use.
type Client struct {
	core *httpjson.Client
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	core, err := httpjson.New(httpjson.Config{
		Service:          "CA",
		BaseURL:          cfg.BaseURL,
		Token:            cfg.Token,
		HTTPClient:       cfg.HTTPClient,
		MaxResponseBytes: cfg.MaxResponseBytes,
		UserAgent:        "certflow-caclient",
		MapError:         mapError,
	})
	if err != nil {
		return nil, err
	}
	return &Client{core: core}, nil
}

// APIError is the CA's error answer, kept in the chain of the *errs.Error
// the Client returns.
type APIError = httpjson.APIError

// actions are the console actions Act performs at the CA.
var actions = map[statemachine.CertEvent]bool{
	statemachine.Submit: true, statemachine.Withdraw: true, statemachine.Cancel: true,
	statemachine.Resubmit: true, statemachine.Delete: true, statemachine.Activate: true,
}

// Act performs a console action at the CA. A refused resubmission fails
// with errs.Invalid whose Message is the CA's reason (SSL-6).
func (c *Client) Act(ctx context.Context, certID string, action statemachine.CertEvent) error {
	if certID == "" {
		return errs.E(errs.Invalid, "certificate ID is required")
	}
	if !actions[action] {
		return errs.E(errs.Invalid, "%q is not a CA action (revocations go through Revoke)", action)
	}
	id := url.PathEscape(certID)
	op := fmt.Sprintf("%s certificate %s", action, certID)
	return c.do(ctx, op, http.MethodPost, "/v1/certificates/"+id+"/actions/"+string(action),
		"cert/"+id+"/"+string(action), nil, nil)
}

// revocationOpened is the CA's answer to POST .../revocations.
type revocationOpened struct {
	ReviewID    string     `json:"review_id"`
	RequestedAt *time.Time `json:"requested_at"`
}

// Revoke opens the certificate's revocation review and returns its review
// ID. The CA keeps one review per certificate, so repeating it is harmless
// and returns the same review.
func (c *Client) Revoke(ctx context.Context, certID, reason string) (activities.ReviewReceipt, error) {
	if certID == "" {
		return activities.ReviewReceipt{}, errs.E(errs.Invalid, "certificate ID is required")
	}
	id := url.PathEscape(certID)
	var v revocationOpened
	if err := c.do(ctx, "revoke certificate "+certID, http.MethodPost, "/v1/certificates/"+id+"/revocations",
		"cert/"+id+"/revoke", map[string]string{"reason": reason}, &v); err != nil {
		return activities.ReviewReceipt{}, err
	}
	rec := activities.ReviewReceipt{ReviewID: v.ReviewID}
	if v.RequestedAt != nil {
		rec.SubmittedAt = v.RequestedAt.UTC()
	}
	return rec, nil
}

// The review statuses of the protocol.
const (
	statusPending  = "pending"
	statusApproved = "approved"
	statusRejected = "rejected"
)

// revocationView is the CA's answer to GET .../revocation.
type revocationView struct {
	ReviewID    string     `json:"review_id"`
	RequestedAt *time.Time `json:"requested_at"`
	Status      string     `json:"status"`
	EventID     string     `json:"event_id"`
	Reason      string     `json:"reason"`
	DecidedAt   *time.Time `json:"decided_at"`
}

// RevocationStatus asks where the certificate's revocation review stands.
// A pending review has an empty Result; a certificate without revocation
// fails with errs.NotFound; a status this client does not know fails with
// errs.Internal rather than being guessed.
func (c *Client) RevocationStatus(ctx context.Context, certID string) (activities.ReviewStatus, error) {
	if certID == "" {
		return activities.ReviewStatus{}, errs.E(errs.Invalid, "certificate ID is required")
	}
	var v revocationView
	op := "revocation status of certificate " + certID
	if err := c.do(ctx, op, http.MethodGet, "/v1/certificates/"+url.PathEscape(certID)+"/revocation", "", nil, &v); err != nil {
		return activities.ReviewStatus{}, err
	}
	rs := activities.ReviewStatus{ReviewID: v.ReviewID}
	if v.RequestedAt != nil {
		rs.SubmittedAt = v.RequestedAt.UTC()
	}
	switch v.Status {
	case statusPending:
		return rs, nil
	case statusApproved:
		rs.Result = statemachine.RevocationApproved
	case statusRejected:
		rs.Result = statemachine.RevocationRejected
	default:
		return rs, errs.E(errs.Internal, "%s: unknown review status %q", op, v.Status)
	}
	rs.EventID, rs.Reason = v.EventID, v.Reason
	if v.DecidedAt != nil {
		rs.At = v.DecidedAt.UTC()
	}
	return rs, nil
}

// Reset resets a gateway instance (GW-3) or a private CA (PCA-3). The CA
// refuses other products with errs.Invalid.
func (c *Client) Reset(ctx context.Context, orderID string, product domain.Product) error {
	if orderID == "" {
		return errs.E(errs.Invalid, "order ID is required")
	}
	id := url.PathEscape(orderID)
	return c.do(ctx, fmt.Sprintf("reset %s of order %s", product, orderID), http.MethodPost,
		"/v1/orders/"+id+"/reset", "order/"+id+"/reset/"+url.PathEscape(string(product)),
		map[string]domain.Product{"product": product}, nil)
}

// do makes one call: it sends in (JSON, if not nil), decodes a 2xx answer
// into out (if not nil), and maps every failure to a coded error.
func (c *Client) do(ctx context.Context, op, method, path, idemKey string, in, out any) error {
	return c.core.Do(ctx, op, method, path, idemKey, in, out)
}

// mapError turns a CA error answer into a coded error: the one table of
// PROTOCOL.md.
func mapError(op string, apiErr *APIError) error {
	status := apiErr.Status
	refusal := apiErr.Message
	if refusal == "" {
		refusal = http.StatusText(status)
	}
	switch {
	case status == http.StatusConflict && apiErr.Code == CodeResubmissionRejected:
		// SSL-6: the customer must fix the data; the reason is for them.
		reason := apiErr.Message
		if reason == "" {
			reason = "the CA rejected the resubmission"
		}
		return &errs.Error{Code: errs.Invalid, Message: reason, Rules: []string{"SSL-6"}, Err: apiErr}
	case status == http.StatusConflict:
		return errs.Wrap(errs.Conflict, apiErr, "%s: refused by the CA: %s", op, refusal)
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		return errs.Wrap(errs.Invalid, apiErr, "%s: refused by the CA: %s", op, refusal)
	case status == http.StatusNotFound:
		return errs.Wrap(errs.NotFound, apiErr, "%s: not found at the CA", op)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		// A configuration error: retrying cannot help until an operator
		// fixes the token (errs.Misconfigured).
		return errs.Wrap(errs.Misconfigured, fmt.Errorf("%w: %w", activities.ErrCARefusedCredentials, apiErr), "%s: the CA refuses our credentials", op)
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		return errs.Wrap(errs.Unavailable, apiErr, "%s: CA unavailable", op)
	default:
		return errs.Wrap(errs.Internal, apiErr, "%s: unexpected CA answer", op)
	}
}
