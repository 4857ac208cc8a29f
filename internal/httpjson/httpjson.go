// Package httpjson is the core of certflow's HTTP clients of other
// services (activities/caclient for the CA, activities/payclient for the
// payment provider): JSON requests with a bearer token and an optional
// Idempotency-Key header, answers read up to a bound, redirects not
// followed, and every failure an *errs.Error.
//
// The core maps what no protocol decides: a network error, a timeout or
// an answer cut while read → errs.Unavailable (retryable); a request that
// cannot be encoded or built, an oversized or undecodable answer →
// errs.Internal. Servers are verified as net/http does, against the
// system's roots or the CA bundle Transport is given; a client whose
// transport skips verification is refused. An error answer is decoded into an *APIError (the
// {"error": {"code", "message"}} envelope both protocols share) and handed
// to the client's own table, Config.MapError.
package httpjson

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

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/tlsfiles"
)

// DefaultMaxResponseBytes bounds answers when Config leaves it 0.
const DefaultMaxResponseBytes = 1 << 20

// Config configures a Client.
type Config struct {
	// Service names the other side in messages: "CA", "payment provider".
	Service string
	// BaseURL is the service's root; a path prefix is kept.
	BaseURL string
	// Token is sent as "Authorization: Bearer <Token>".
	Token string
	// HTTPClient carries the timeouts; nil means a client with a 10s
	// timeout. The Client works on a copy whose redirect policy is
	// replaced: redirects are not followed.
	HTTPClient *http.Client
	// MaxResponseBytes bounds an answer; 0 means DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// UserAgent is sent when not empty.
	UserAgent string
	// Accept tells the statuses whose answer is decoded; nil means 2xx.
	Accept func(status int) bool
	// MapError turns an error answer (any other status) into the error
	// the call returns.
	MapError func(op string, e *APIError) error
}

// Client makes JSON calls to one service. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base string // BaseURL without a trailing slash
	hc   *http.Client
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errs.E(errs.Invalid, "%s URL %q is not an absolute http(s) URL", cfg.Service, cfg.BaseURL)
	}
	if cfg.Token == "" {
		return nil, errs.E(errs.Invalid, "%s token is required", cfg.Service)
	}
	if cfg.MapError == nil {
		return nil, errs.E(errs.Internal, "%s client: no error table", cfg.Service)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	if t, ok := transportOf(cfg.HTTPClient).(*http.Transport); ok && t.TLSClientConfig != nil && t.TLSClientConfig.InsecureSkipVerify {
		return nil, errs.E(errs.Invalid, "%s client: a transport that skips verifying the server's certificate is refused; trust its CA with a bundle instead", cfg.Service)
	}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient // a copy: the caller's client keeps its redirect policy
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.Accept == nil {
		cfg.Accept = func(s int) bool { return s >= 200 && s < 300 }
	}
	return &Client{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"), hc: hc}, nil
}

// Transport is the transport of a service's client: http.DefaultTransport's
// settings (proxy from the environment, pools, timeouts) with TLS 1.2 or
// later, verifying the server against the PEM bundle caFile, or against the
// system's roots when caFile is empty (https URLs of a private CA).
func Transport(caFile string) (*http.Transport, error) {
	cfg, err := tlsfiles.ClientConfig(caFile)
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	return t, nil
}

// transportOf is the transport c sends through.
func transportOf(c *http.Client) http.RoundTripper {
	if c == nil || c.Transport == nil {
		return http.DefaultTransport
	}
	return c.Transport
}

// APIError is the service's error answer, kept in the chain of the error
// a Client returns (errors.As) for logs.
type APIError struct {
	Service string
	Status  int
	Code    string // the service's error code, "" when the body had none
	Message string
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("%s answered %d", e.Service, e.Status)
	}
	return fmt.Sprintf("%s answered %d %s: %s", e.Service, e.Status, e.Code, e.Message)
}

// Do makes one call named op (for messages): it sends in (JSON, if not
// nil) to the base URL + path, with idemKey as the Idempotency-Key header
// (if not empty), decodes an accepted answer into out (if not nil), and
// maps every failure to a coded error.
func (c *Client) Do(ctx context.Context, op, method, path, idemKey string, in, out any) error {
	svc := c.cfg.Service
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return errs.Wrap(errs.Internal, err, "%s: encoding the request", op)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "%s: building the request", op)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Accept", "application/json")
	if c.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		// Network errors, the client's timeout and the caller's deadline
		// alike: the call may be retried (the services are idempotent).
		return errs.Wrap(errs.Unavailable, err, "%s: %s unreachable", op, svc)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "%s: reading the %s's answer", op, svc)
	}
	if int64(len(data)) > c.cfg.MaxResponseBytes {
		return errs.E(errs.Internal, "%s: the %s's answer exceeds %d bytes", op, svc, c.cfg.MaxResponseBytes)
	}

	if c.cfg.Accept(resp.StatusCode) {
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return errs.Wrap(errs.Internal, err, "%s: undecodable answer from the %s", op, svc)
			}
		}
		return nil
	}
	apiErr := &APIError{Service: svc, Status: resp.StatusCode}
	var envelope struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &envelope) == nil {
		apiErr.Code, apiErr.Message = envelope.Error.Code, envelope.Error.Message
	}
	return c.cfg.MapError(op, apiErr)
}
