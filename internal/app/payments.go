package app

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/certflow/certflow/activities/payclient"
	"github.com/certflow/certflow/internal/httpjson"
	"github.com/certflow/certflow/internal/obs"
	"github.com/certflow/certflow/internal/tlsfiles"
)

// Payments is how a process reaches the payment provider (a real one or
// paysim): the worker pays through it.
type Payments struct {
	// URL and Token reach the provider (CERTFLOW_PAY_URL,
	// CERTFLOW_PAY_TOKEN).
	URL   string
	Token string
	// CAFile is a PEM bundle of the CAs the provider's https certificate
	// is verified against (CERTFLOW_PAY_TLS_CA_FILE); empty: the system's
	// roots.
	CAFile string
	// PollInterval is how often a refund the provider answered pending is
	// polled (CERTFLOW_PAY_POLL_INTERVAL).
	PollInterval time.Duration
}

// PaymentSettings are the settings of Payments.
var PaymentSettings = []Setting{
	{"pay-url", "CERTFLOW_PAY_URL", "", "payment provider base URL (required)"},
	{"pay-token", "CERTFLOW_PAY_TOKEN", "", "payment provider bearer token (required; prefer the environment or the file)"},
	{"pay-tls-ca-file", "CERTFLOW_PAY_TLS_CA_FILE", "", "PEM bundle of the CAs that sign the payment provider's https certificate (a private CA); empty: the system's roots"},
	{"pay-poll-interval", "CERTFLOW_PAY_POLL_INTERVAL", "1s", "how often a refund the provider answered pending is polled"},
}

// ParsePayments reads Payments from v and checks it, naming the setting at
// fault.
func ParsePayments(v *Values) (Payments, error) {
	p := Payments{URL: v.String("CERTFLOW_PAY_URL"), Token: v.String("CERTFLOW_PAY_TOKEN"), CAFile: v.String("CERTFLOW_PAY_TLS_CA_FILE")}
	var err error
	if p.PollInterval, err = v.PositiveDuration("CERTFLOW_PAY_POLL_INTERVAL"); err != nil {
		return Payments{}, err
	}
	return p, p.Validate()
}

// Validate checks what can be checked without calling the provider.
func (p Payments) Validate() error {
	if p.URL == "" {
		return errors.New("CERTFLOW_PAY_URL (-pay-url) is required: the payment provider's base URL")
	}
	if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("CERTFLOW_PAY_URL %q is not an absolute http(s) URL", p.URL)
	}
	if p.Token == "" {
		return errors.New("CERTFLOW_PAY_TOKEN (-pay-token) is required")
	}
	if p.CAFile != "" {
		if _, err := tlsfiles.CAPool(p.CAFile); err != nil {
			return fmt.Errorf("CERTFLOW_PAY_TLS_CA_FILE: %w", err)
		}
	}
	if p.PollInterval <= 0 {
		return fmt.Errorf("CERTFLOW_PAY_POLL_INTERVAL must be positive, not %s", p.PollInterval)
	}
	return nil
}

// PaymentClient builds the payment provider's client; its calls join the
// calling activity's trace when tracing is on.
func (a *App) PaymentClient(p Payments) (*payclient.Client, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	tr, err := httpjson.Transport(p.CAFile)
	if err != nil {
		return nil, fmt.Errorf("CERTFLOW_PAY_TLS_CA_FILE: %w", err)
	}
	c, err := payclient.New(payclient.Config{BaseURL: p.URL, Token: p.Token,
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: TracedTransport(a.Tracing, tr)}})
	if err != nil {
		return nil, fmt.Errorf("payment provider client (CERTFLOW_PAY_URL): %w", err)
	}
	return c, nil
}

// TracedTransport is base spanning each call under the caller's trace.
func TracedTransport(t *obs.Tracing, base http.RoundTripper) http.RoundTripper {
	if t == nil {
		return base
	}
	return otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(t.Provider), otelhttp.WithPropagators(t.Propagator))
}
