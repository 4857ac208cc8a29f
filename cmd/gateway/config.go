package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/certflow/certflow/gateway"
	"github.com/certflow/certflow/internal/app"
	"github.com/certflow/certflow/internal/tlsfiles"
	"github.com/certflow/certflow/outbound"
	"github.com/certflow/certflow/webhook"
)

// Config is the gateway's configuration: the settings it shares with the
// worker (app.Common: Temporal, store, policies, logs, tracing) and its
// own. Each has a flag and an environment variable, and may come from the
// optional file (-config / CERTFLOW_CONFIG); a flag wins over the
// environment, which wins over the file, which wins over the default.
type Config struct {
	app.Common
	// Tokens authenticate the console API's calls (CERTFLOW_TOKENS_FILE,
	// CERTFLOW_TOKENS; docs/console-api.md).
	Tokens *gateway.Tokens
	// OIDC, when CERTFLOW_OIDC_ISSUER is set, also accepts the JWTs of
	// that OpenID Connect issuer (operators from an IdP); nil otherwise.
	OIDC *gateway.OIDC
	// Addr is the listen address of the API, /metrics, /healthz, /readyz.
	Addr string
	// WebhookSecrets verify the CA's callbacks; several at once during a
	// rotation.
	WebhookSecrets [][]byte
	// WebhookTolerance bounds a callback's timestamp skew.
	WebhookTolerance time.Duration
	// Timeouts of the HTTP server.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ShutdownTimeout is how long requests in flight get at shutdown.
	ShutdownTimeout time.Duration
	// DrainDelay is how long the gateway keeps its listener open at
	// shutdown, answering 503 (and /readyz 503) so a load balancer takes it
	// out, before it stops accepting (CERTFLOW_DRAIN_DELAY; 0: at once).
	DrainDelay time.Duration
	// TLSCertFile and TLSKeyFile, when set, make the gateway serve HTTPS
	// with that certificate, re-read when the files change or on SIGHUP;
	// unset, it serves plain HTTP (behind a proxy that terminates TLS).
	TLSCertFile, TLSKeyFile string
	// Events configures the event dispatcher (docs/event-delivery.md); it runs
	// when endpoints are configured and Dispatch is on.
	Events outbound.Config
	// Dispatch turns this gateway's dispatcher off (CERTFLOW_EVENT_DISPATCH
	// =false) when another gateway delivers the events.
	Dispatch bool
	// WebUI is the Temporal Web UI's base URL the operator pages link
	// each refund to (docs/ops.md); empty: no links.
	WebUI string
	// SecureCookie marks the operator pages' session cookie Secure behind
	// a proxy that terminates TLS.
	SecureCookie bool
}

var gatewaySettings = []app.Setting{
	app.Set("addr", "CERTFLOW_GATEWAY_ADDR", ":8080", "listen address of the API, /metrics, /healthz and /readyz"),
	app.Set("tokens-file", gateway.EnvTokensFile, "", "file of the console API's tokens, one 'subject role secret' (or 'subject role sha256:HEX') a line, separated by blanks (docs/console-api.md)"),
	app.Set("tokens", gateway.EnvTokens, "", "comma-separated console API tokens subject:role:secret or subject:role:sha256:HEX (with or instead of the file; prefer the environment or the file)"),
	app.Set("oidc-issuer", gateway.EnvOIDCIssuer, "", "OpenID Connect issuer URL whose JWTs the console API and the operator pages accept (https; its discovery names the JWKS); empty: static tokens only (docs/operations.md)"),
	app.Set("oidc-audience", gateway.EnvOIDCAudience, "", "value a token's aud claim must include (the client ID or API identifier the IdP issues certflow's tokens for); required with -oidc-issuer"),
	app.Set("oidc-roles-claim", gateway.EnvOIDCRolesClaim, gateway.DefaultOIDCRolesClaim, "claim holding the user's roles: a list of strings or a space-separated string; a dotted name reaches into objects (realm_access.roles)"),
	app.Set("oidc-role-map", gateway.EnvOIDCRoleMap, gateway.DefaultOIDCRoleMap, "comma-separated value=role pairs mapping the roles claim's values to certflow roles (operator, console)"),
	app.Set("webhook-secrets", "CERTFLOW_WEBHOOK_SECRETS", "", "comma-separated whsec_<base64> secrets verifying CA callbacks, newest first (required; prefer the environment or the file)"),
	app.Set("webhook-tolerance", "CERTFLOW_WEBHOOK_TOLERANCE", "5m", "largest accepted distance of a callback's timestamp from now"),
	app.Set("read-header-timeout", "CERTFLOW_READ_HEADER_TIMEOUT", "5s", "time to read a request's headers"),
	app.Set("read-timeout", "CERTFLOW_READ_TIMEOUT", "30s", "time to read a whole request"),
	app.Set("write-timeout", "CERTFLOW_WRITE_TIMEOUT", "60s", "time to answer a request (an approval waits for the workflow's outcome)"),
	app.Set("idle-timeout", "CERTFLOW_IDLE_TIMEOUT", "2m", "how long an idle keep-alive connection is kept"),
	app.Set("shutdown-timeout", "CERTFLOW_SHUTDOWN_TIMEOUT", "20s", "how long requests in flight get at shutdown"),
	app.Set("drain-delay", "CERTFLOW_DRAIN_DELAY", "0s", "at SIGTERM, how long new requests and /readyz are answered 503 before the listener closes (a load balancer that polls /readyz takes the gateway out); 0: close at once"),
	app.Set("tls-cert-file", "CERTFLOW_TLS_CERT_FILE", "", "PEM certificate (chain) to serve HTTPS with, re-read when it changes or on SIGHUP; empty: plain HTTP"),
	app.Set("tls-key-file", "CERTFLOW_TLS_KEY_FILE", "", "PEM private key of CERTFLOW_TLS_CERT_FILE"),
	app.Set("event-endpoints", outbound.EnvEndpoints, "", "console endpoints the events are delivered to, name=url,name=url (docs/event-delivery.md); empty: no delivery"),
	app.Set("event-secrets", outbound.EnvSecrets, "", "each endpoint's signing secrets, name=whsec_NEW|whsec_OLD;name=whsec_… (newest first; prefer the environment or the secrets file)"),
	app.Set("event-secrets-file", outbound.EnvSecretsFile, "", "file of name=whsec_…|whsec_… lines, re-read when it changes or on SIGHUP (rotation without restart)"),
	app.Set("event-max-in-flight", outbound.EnvMaxInFlight, strconv.Itoa(outbound.DefaultMaxInFlight), "most event deliveries in flight at once (half of them at most for one endpoint when there are several)"),
	app.Set("event-timeout", outbound.EnvTimeout, outbound.DefaultTimeout.String(), "time one delivery attempt may take (shorter than the lease)"),
	app.Set("event-lease", outbound.EnvLease, outbound.DefaultLease.String(), "how long a claimed delivery is held before another dispatcher may take it"),
	app.Set("event-dispatch", "CERTFLOW_EVENT_DISPATCH", "true", "run the event dispatcher in this gateway when endpoints are configured; false leaves delivery to other gateways"),
	app.Set("web-ui", "CERTFLOW_TEMPORAL_WEB_UI", "", "the Temporal Web UI's base URL (e.g. http://localhost:8233) the operator pages link each refund to; empty: no links"),
	app.Set("ops-secure-cookie", "CERTFLOW_OPS_SECURE_COOKIE", "false", "mark the operator pages' session cookie Secure on plain HTTP (behind a proxy that terminates TLS)"),
}

// parseConfig reads the configuration from the file, the environment
// (environ, as os.Environ) and the command line (args), and checks it.
func parseConfig(args, environ []string, output io.Writer) (Config, error) {
	v, err := app.Parse("gateway", append(append([]app.Setting{}, app.CommonSettings...), gatewaySettings...), args, environ, output)
	if err != nil {
		return Config{}, err
	}
	var (
		c Config
		e app.Errors
	)
	c.Common, err = app.ParseCommon(v)
	e.Check(err)
	c.Addr = v.String("CERTFLOW_GATEWAY_ADDR")
	c.OIDC, err = gateway.OIDCFromEnv(v.String)
	e.Check(err)
	if c.OIDC != nil && v.String(gateway.EnvTokensFile) == "" && v.String(gateway.EnvTokens) == "" {
		// Operators from the IdP, and no static token: allowed (the
		// console backend may have an IdP identity too).
		c.Tokens, err = gateway.NewTokens()
	} else {
		c.Tokens, err = gateway.TokensFromEnv(v.String)
	}
	e.Check(err)
	for i, s := range v.List("CERTFLOW_WEBHOOK_SECRETS") {
		sec, err := webhook.ParseSecret(s)
		if err != nil || len(sec) == 0 {
			// The value is a secret: name its position, never echo it.
			e.Check(fmt.Errorf("CERTFLOW_WEBHOOK_SECRETS: secret %d is not whsec_<base64>", i+1))
			continue
		}
		c.WebhookSecrets = append(c.WebhookSecrets, sec)
	}
	c.Events, err = outbound.ParseConfig(v.String)
	e.Check(err)
	c.Dispatch, err = v.Bool("CERTFLOW_EVENT_DISPATCH")
	e.Check(err)
	c.WebUI = v.String("CERTFLOW_TEMPORAL_WEB_UI")
	if c.WebUI != "" {
		if u, err := url.Parse(c.WebUI); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			e.Check(fmt.Errorf("CERTFLOW_TEMPORAL_WEB_UI: %q is not an absolute http(s) URL", c.WebUI))
		}
	}
	c.SecureCookie, err = v.Bool("CERTFLOW_OPS_SECURE_COOKIE")
	e.Check(err)
	c.DrainDelay, err = v.Duration("CERTFLOW_DRAIN_DELAY")
	e.Check(err)
	c.TLSCertFile, c.TLSKeyFile = v.String("CERTFLOW_TLS_CERT_FILE"), v.String("CERTFLOW_TLS_KEY_FILE")
	for _, d := range []struct {
		env string
		to  *time.Duration
	}{
		{"CERTFLOW_WEBHOOK_TOLERANCE", &c.WebhookTolerance},
		{"CERTFLOW_READ_HEADER_TIMEOUT", &c.ReadHeaderTimeout},
		{"CERTFLOW_READ_TIMEOUT", &c.ReadTimeout},
		{"CERTFLOW_WRITE_TIMEOUT", &c.WriteTimeout},
		{"CERTFLOW_IDLE_TIMEOUT", &c.IdleTimeout},
		{"CERTFLOW_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout},
	} {
		*d.to, err = v.PositiveDuration(d.env)
		e.Check(err)
	}
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// Validate checks that the configuration can work, naming the setting at
// fault.
func (c Config) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("CERTFLOW_GATEWAY_ADDR %q is not host:port: %w", c.Addr, err)
	}
	if c.Tokens.Len() == 0 && c.OIDC == nil {
		return fmt.Errorf("%s or %s (-tokens-file, -tokens), or %s (-oidc-issuer), is required: the console API never runs open", gateway.EnvTokensFile, gateway.EnvTokens, gateway.EnvOIDCIssuer)
	}
	if len(c.WebhookSecrets) == 0 {
		return errors.New("CERTFLOW_WEBHOOK_SECRETS (-webhook-secrets) is required: the CA's callbacks cannot be verified without it")
	}
	if c.DrainDelay < 0 {
		return fmt.Errorf("CERTFLOW_DRAIN_DELAY must not be negative, not %s", c.DrainDelay)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("CERTFLOW_TLS_CERT_FILE and CERTFLOW_TLS_KEY_FILE (-tls-cert-file, -tls-key-file) go together: set both for HTTPS, neither for plain HTTP")
	}
	if c.TLSCertFile != "" {
		if _, err := tlsfiles.LoadCertFiles(c.TLSCertFile, c.TLSKeyFile); err != nil {
			return fmt.Errorf("CERTFLOW_TLS_CERT_FILE, CERTFLOW_TLS_KEY_FILE: %w", err)
		}
	}
	for name, d := range map[string]time.Duration{
		"CERTFLOW_WEBHOOK_TOLERANCE": c.WebhookTolerance, "CERTFLOW_READ_HEADER_TIMEOUT": c.ReadHeaderTimeout,
		"CERTFLOW_READ_TIMEOUT": c.ReadTimeout, "CERTFLOW_WRITE_TIMEOUT": c.WriteTimeout,
		"CERTFLOW_IDLE_TIMEOUT": c.IdleTimeout, "CERTFLOW_SHUTDOWN_TIMEOUT": c.ShutdownTimeout,
	} {
		if d <= 0 {
			return fmt.Errorf("%s must be positive, not %s", name, d)
		}
	}
	return nil
}
