package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/certflow/certflow/gateway"
	"github.com/certflow/certflow/internal/app"
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
}

var gatewaySettings = []app.Setting{
	app.Set("addr", "CERTFLOW_GATEWAY_ADDR", ":8080", "listen address of the API, /metrics, /healthz and /readyz"),
	app.Set("tokens-file", gateway.EnvTokensFile, "", "file of the console API's tokens, one subject:role:secret (or subject:role:sha256:HEX) a line (docs/console-api.md)"),
	app.Set("tokens", gateway.EnvTokens, "", "comma-separated console API tokens subject:role:secret or subject:role:sha256:HEX (with or instead of the file; prefer the environment or the file)"),
	app.Set("webhook-secrets", "CERTFLOW_WEBHOOK_SECRETS", "", "comma-separated whsec_<base64> secrets verifying CA callbacks, newest first (required; prefer the environment or the file)"),
	app.Set("webhook-tolerance", "CERTFLOW_WEBHOOK_TOLERANCE", "5m", "largest accepted distance of a callback's timestamp from now"),
	app.Set("read-header-timeout", "CERTFLOW_READ_HEADER_TIMEOUT", "5s", "time to read a request's headers"),
	app.Set("read-timeout", "CERTFLOW_READ_TIMEOUT", "30s", "time to read a whole request"),
	app.Set("write-timeout", "CERTFLOW_WRITE_TIMEOUT", "60s", "time to answer a request (an approval waits for the workflow's outcome)"),
	app.Set("idle-timeout", "CERTFLOW_IDLE_TIMEOUT", "2m", "how long an idle keep-alive connection is kept"),
	app.Set("shutdown-timeout", "CERTFLOW_SHUTDOWN_TIMEOUT", "20s", "how long requests in flight get at shutdown"),
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
	c.Tokens, err = gateway.TokensFromEnv(v.String)
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
	if c.Tokens == nil || c.Tokens.Len() == 0 {
		return fmt.Errorf("%s or %s (-tokens-file, -tokens) is required: the console API never runs open", gateway.EnvTokensFile, gateway.EnvTokens)
	}
	if len(c.WebhookSecrets) == 0 {
		return errors.New("CERTFLOW_WEBHOOK_SECRETS (-webhook-secrets) is required: the CA's callbacks cannot be verified without it")
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
