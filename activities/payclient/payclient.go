// Package payclient is certflow's client of the payment provider: it
// implements activities.Payments over the refund protocol of
// paysim/PROTOCOL.md (JSON, bearer token, Idempotency-Key header), so the
// worker talks to a real provider or to the paysim simulator alike.
//
// It guarantees:
//
//   - Every refund request carries the payout's idempotency key as the
//     Idempotency-Key header, so a retried request creates nothing new.
//   - Every error is an *errs.Error the activities branch on: 400 →
//     errs.Invalid; 409 (the key reused for another request) →
//     errs.Conflict, both final; 5xx, 429, network errors and timeouts →
//     errs.Unavailable (retryable); 401/403, redirects, unknown statuses and
//     undecodable answers → errs.Internal. The provider's error text is
//     kept in the chain (*APIError) for logs.
//   - A refund status the client does not know is an error, never taken
//     as paid.
package payclient

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
	"github.com/certflow/certflow/errs"
)

var _ activities.Payments = (*Client)(nil)

// maxResponse bounds the provider's answers.
const maxResponse = 1 << 20

// Config configures a Client.
type Config struct {
	// BaseURL is the provider's root, e.g. "http://127.0.0.1:8082".
	BaseURL string
	// Token is sent as "Authorization: Bearer <Token>".
	Token string
	// HTTPClient carries the timeouts; nil means a 10s timeout. Redirects
	// are not followed.
	HTTPClient *http.Client
}

// Client is the payment provider client. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errs.E(errs.Invalid, "payment provider URL %q is not an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.Token == "" {
		return nil, errs.E(errs.Invalid, "payment provider token is required")
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{base: strings.TrimRight(cfg.BaseURL, "/"), token: cfg.Token, hc: hc}, nil
}

// APIError is the provider's error answer.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("payment provider answered %d", e.Status)
	}
	return fmt.Sprintf("payment provider answered %d %s: %s", e.Status, e.Code, e.Message)
}

// refundBody is the body of POST /v1/refunds.
type refundBody struct {
	OrderID       string `json:"order_id"`
	Amount        string `json:"amount"`
	Currency      string `json:"currency"`
	GiftCard      string `json:"gift_card,omitempty"`
	BenefitPoints int64  `json:"benefit_points,omitempty"`
	Destination   string `json:"destination"`
}

// refundView is the protocol's refund object, as far as certflow reads it.
type refundView struct {
	ID             string    `json:"id"`
	IdempotencyKey string    `json:"idempotency_key"`
	Status         string    `json:"status"`
	FailureReason  string    `json:"failure_reason"`
	Created        time.Time `json:"created"`
}

// Refund asks the provider for the refund req describes, under its
// idempotency key. The answer may be pending.
func (c *Client) Refund(ctx context.Context, req activities.PayoutRequest) (activities.ProviderRefund, error) {
	if req.IdempotencyKey == "" {
		return activities.ProviderRefund{}, errs.E(errs.Invalid, "refund: idempotency key is empty")
	}
	cur := req.Cash.Currency()
	if cur.Code == "" {
		cur = req.GiftCard.Currency()
	}
	if cur.Code == "" {
		return activities.ProviderRefund{}, errs.E(errs.Invalid, "refund %s: no currency (cash and gift card are both unset)", req.IdempotencyKey)
	}
	body := refundBody{OrderID: req.OrderID, Amount: req.Cash.Decimal().StringFixed(cur.Places), Currency: cur.Code,
		BenefitPoints: req.BenefitPoints, Destination: string(req.Destination)}
	if !req.GiftCard.IsZero() {
		body.GiftCard = req.GiftCard.String()
	}
	var v refundView
	if err := c.do(ctx, "refund "+req.IdempotencyKey, http.MethodPost, "/v1/refunds", req.IdempotencyKey, body, &v); err != nil {
		return activities.ProviderRefund{}, err
	}
	return v.refund("refund " + req.IdempotencyKey)
}

// Lookup finds the refund created under key; found is false when the
// provider has none.
func (c *Client) Lookup(ctx context.Context, key string) (activities.ProviderRefund, bool, error) {
	if key == "" {
		return activities.ProviderRefund{}, false, errs.E(errs.Invalid, "lookup: idempotency key is empty")
	}
	var v refundView
	err := c.do(ctx, "lookup "+key, http.MethodGet, "/v1/refunds?idempotency_key="+url.QueryEscape(key), "", nil, &v)
	if errs.CodeOf(err) == errs.NotFound {
		return activities.ProviderRefund{}, false, nil
	}
	if err != nil {
		return activities.ProviderRefund{}, false, err
	}
	r, err := v.refund("lookup " + key)
	return r, err == nil, err
}

func (v refundView) refund(op string) (activities.ProviderRefund, error) {
	st := activities.RefundStatus(v.Status)
	switch st {
	case activities.RefundPending, activities.RefundSucceeded, activities.RefundFailed:
	default:
		return activities.ProviderRefund{}, errs.E(errs.Internal, "%s: unknown refund status %q", op, v.Status)
	}
	if v.ID == "" {
		return activities.ProviderRefund{}, errs.E(errs.Internal, "%s: the refund has no ID", op)
	}
	return activities.ProviderRefund{ID: v.ID, IdempotencyKey: v.IdempotencyKey, Status: st, FailureReason: v.FailureReason, Created: v.Created.UTC()}, nil
}

func (c *Client) do(ctx context.Context, op, method, path, key string, in, out any) error {
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return errs.Wrap(errs.Internal, err, "%s: encoding the request", op)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "%s: building the request", op)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "%s: payment provider unreachable", op)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "%s: reading the answer", op)
	}
	if len(b) > maxResponse {
		return errs.E(errs.Internal, "%s: the answer exceeds %d bytes", op, maxResponse)
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
		if err := json.Unmarshal(b, out); err != nil {
			return errs.Wrap(errs.Internal, err, "%s: undecodable answer", op)
		}
		return nil
	}
	ae := &APIError{Status: resp.StatusCode}
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &eb) == nil {
		ae.Code, ae.Message = eb.Error.Code, eb.Error.Message
	}
	var code errs.Code
	switch s := resp.StatusCode; {
	case s == http.StatusBadRequest:
		code = errs.Invalid
	case s == http.StatusNotFound:
		code = errs.NotFound
	case s == http.StatusConflict:
		code = errs.Conflict
	case s == http.StatusTooManyRequests || s >= 500:
		code = errs.Unavailable
	default:
		code = errs.Internal
	}
	msg := ae.Message
	if msg == "" {
		msg = ae.Error()
	}
	return &errs.Error{Code: code, Message: op + ": " + msg, Err: ae}
}
