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
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/statemachine"
)

var _ activities.CA = (*Client)(nil)

// CodeResubmissionRejected is the CA's error code for a refused
// resubmission (SSL-6).
const CodeResubmissionRejected = "resubmission_rejected"

// DefaultMaxResponseBytes bounds the CA's answers when Config leaves it 0.
const DefaultMaxResponseBytes = 1 << 20

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
	base    string // BaseURL without a trailing slash
	token   string
	hc      *http.Client
	maxBody int64
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errs.E(errs.Invalid, "CA base URL %q is not an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.Token == "" {
		return nil, errs.E(errs.Invalid, "CA token is required")
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient // a copy: the caller's client keeps its redirect policy
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return &Client{
		base:    strings.TrimRight(cfg.BaseURL, "/"),
		token:   cfg.Token,
		hc:      hc,
		maxBody: cfg.MaxResponseBytes,
	}, nil
}

// APIError is the CA's error answer, kept in the chain of the *errs.Error
// the Client returns.
type APIError struct {
	Status  int
	Code    string // the CA's error code, "" when the body had none
	Message string
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("CA answered %d", e.Status)
	}
	return fmt.Sprintf("CA answered %d %s: %s", e.Status, e.Code, e.Message)
}

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
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return errs.Wrap(errs.Internal, err, "%s: encoding request", op)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "%s: building request", op)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "certflow-caclient")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		// Network errors, the client's timeout and the caller's deadline
		// alike: the call may be retried (the CA is idempotent).
		return errs.Wrap(errs.Unavailable, err, "%s: CA unreachable", op)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "%s: reading the CA's answer", op)
	}
	if int64(len(data)) > c.maxBody {
		return errs.E(errs.Internal, "%s: the CA's answer exceeds %d bytes", op, c.maxBody)
	}

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return errs.Wrap(errs.Internal, err, "%s: undecodable CA answer", op)
			}
		}
		return nil
	}
	return mapError(op, resp.StatusCode, data)
}

// mapError turns a CA error answer into a coded error: the one table of
// PROTOCOL.md.
func mapError(op string, status int, body []byte) *errs.Error {
	apiErr := &APIError{Status: status}
	var envelope struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &envelope) == nil {
		apiErr.Code, apiErr.Message = envelope.Error.Code, envelope.Error.Message
	}
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
