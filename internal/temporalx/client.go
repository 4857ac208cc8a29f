// Package temporalx owns how certflow's processes reach Temporal: the
// connection settings (the SDK's environment configuration: a local dev
// server, a self-hosted cluster, or Temporal Cloud with mTLS or an API
// key), dialing with a health check and retries, the zap adapter the
// SDK logs through, and the Prometheus metrics handler. It holds no
// business logic and no global state: every function returns what it
// builds and the caller owns it.
package temporalx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/log"
)

// Defaults of a local Temporal dev server.
const (
	DefaultAddress   = "localhost:7233"
	DefaultNamespace = "default"
)

// ClientConfig says where Temporal is and how to authenticate, in the
// SDK's own environment configuration (go.temporal.io/sdk/contrib/envconfig):
// a profile of the TOML file named by TEMPORAL_CONFIG_FILE (default
// ~/.config/temporalio/temporal.toml, profile TEMPORAL_PROFILE or
// "default"), overridden by TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
// TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH/_DATA,
// TEMPORAL_TLS_CLIENT_KEY_PATH/_DATA, TEMPORAL_TLS_SERVER_CA_CERT_PATH/_DATA,
// TEMPORAL_TLS_SERVER_NAME, TEMPORAL_GRPC_META_*, ... So a Temporal
// user's existing settings (the CLI's, Temporal Cloud's) just work.
type ClientConfig struct {
	// Profile is the resolved profile; Address and Namespace are filled
	// with the local defaults when nothing set them.
	Profile envconfig.ClientConfigProfile
}

// LoadClientConfig resolves the profile from the file and the variables
// of env (a nil env reads the process environment).
func LoadClientConfig(env envconfig.EnvLookup) (ClientConfig, error) {
	prof, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{EnvLookup: env})
	if err != nil {
		return ClientConfig{}, fmt.Errorf("Temporal client configuration (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE, TEMPORAL_*): %w", err)
	}
	if prof.Address == "" {
		prof.Address = DefaultAddress
	}
	if prof.Namespace == "" {
		prof.Namespace = DefaultNamespace
	}
	return ClientConfig{Profile: prof}, nil
}

// Address is the frontend's host:port.
func (c ClientConfig) Address() string { return c.Profile.Address }

// Namespace is the Temporal namespace.
func (c ClientConfig) Namespace() string { return c.Profile.Namespace }

// TLS reports whether the connection uses TLS: with TLS settings that do
// not disable it, or an API key (Temporal Cloud).
func (c ClientConfig) TLS() bool {
	if t := c.Profile.TLS; t != nil {
		return !t.Disabled
	}
	return c.Profile.APIKey != ""
}

// Validate checks the settings without touching the files, naming the
// variable at fault.
func (c ClientConfig) Validate() error {
	if c.Profile.Address == "" {
		return errors.New("TEMPORAL_ADDRESS is empty")
	}
	if _, _, err := net.SplitHostPort(c.Profile.Address); err != nil {
		return fmt.Errorf("TEMPORAL_ADDRESS %q is not host:port: %w", c.Profile.Address, err)
	}
	if c.Profile.Namespace == "" {
		return errors.New("TEMPORAL_NAMESPACE is empty")
	}
	if t := c.Profile.TLS; t != nil {
		if (t.ClientCertPath == "") != (t.ClientKeyPath == "") || (len(t.ClientCertData) == 0) != (len(t.ClientKeyData) == 0) {
			return errors.New("TEMPORAL_TLS_CLIENT_CERT_* and TEMPORAL_TLS_CLIENT_KEY_* go together: set both or neither")
		}
	}
	return nil
}

// Options builds the SDK's client options. Certificate files are read here,
// so a missing or malformed file is reported before dialing.
func (c ClientConfig) Options(logger log.Logger, metrics client.MetricsHandler) (client.Options, error) {
	if err := c.Validate(); err != nil {
		return client.Options{}, err
	}
	opts, err := c.Profile.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, fmt.Errorf("Temporal client options (TEMPORAL_TLS_*): %w", err)
	}
	if opts.ConnectionOptions.TLS != nil && opts.ConnectionOptions.TLS.MinVersion == 0 {
		opts.ConnectionOptions.TLS.MinVersion = tls.VersionTLS12
	}
	opts.Logger = logger
	opts.MetricsHandler = metrics
	return opts, nil
}

// EnvMap is an envconfig.EnvLookup over a map of variables (the merged
// configuration file, environment and flags of a certflow process).
type EnvMap map[string]string

var _ envconfig.EnvLookup = EnvMap(nil)

// Environ lists the variables as KEY=value, sorted.
func (m EnvMap) Environ() []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// LookupEnv returns the variable; an empty value counts as unset, as for
// certflow's own variables.
func (m EnvMap) LookupEnv(k string) (string, bool) {
	v, ok := m[k]
	return v, ok && v != ""
}

// Dial connects with opts and checks the server's health, retrying every
// interval until it answers or ctx ends (a dev server that is still
// starting). The caller closes the client.
func Dial(ctx context.Context, opts client.Options, interval time.Duration) (client.Client, error) {
	var last error
	for {
		c, err := client.DialContext(ctx, opts)
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			if err == nil {
				return c, nil
			}
			c.Close()
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to Temporal at %s: %w (last error: %v)", opts.HostPort, ctx.Err(), last)
		case <-time.After(interval):
		}
	}
}
