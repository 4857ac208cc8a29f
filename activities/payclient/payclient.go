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
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpjson"
)

var _ activities.Payments = (*Client)(nil)

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
	core *httpjson.Client
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	core, err := httpjson.New(httpjson.Config{
		Service:    "payment provider",
		BaseURL:    cfg.BaseURL,
		Token:      cfg.Token,
		HTTPClient: cfg.HTTPClient,
		// The protocol answers 200 or 201; any other status is an error.
		Accept:   func(s int) bool { return s == http.StatusOK || s == http.StatusCreated },
		MapError: mapError,
	})
	if err != nil {
		return nil, err
	}
	return &Client{core: core}, nil
}

// APIError is the provider's error answer.
type APIError = httpjson.APIError

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
	return c.core.Do(ctx, op, method, path, key, in, out)
}

// mapError turns the provider's error answer into a coded error.
func mapError(op string, ae *APIError) error {
	var code errs.Code
	switch s := ae.Status; {
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
