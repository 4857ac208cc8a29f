// Package temporalx owns how certflow's processes reach Temporal: the
// connection settings (local dev server or Temporal Cloud with mTLS or an
// API key), dialing with a health check and retries, the zap adapter the
// SDK logs through, and the Prometheus metrics handler. It holds no
// business logic and no global state: every function returns what it
// builds and the caller owns it.
package temporalx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
)

// Defaults of a local Temporal dev server.
const (
	DefaultAddress   = "localhost:7233"
	DefaultNamespace = "default"
)

// ClientConfig says where Temporal is and how to authenticate. The zero
// value (after Defaults) is a local dev server without TLS.
type ClientConfig struct {
	// Address is the frontend's host:port.
	Address string
	// Namespace is the Temporal namespace.
	Namespace string
	// TLSCert and TLSKey are PEM files of a client certificate (mTLS, e.g.
	// Temporal Cloud); both or neither.
	TLSCert string
	TLSKey  string
	// TLSCA is a PEM file of CAs to trust instead of the system pool.
	TLSCA string
	// APIKey authenticates with a Temporal Cloud API key; it implies TLS.
	APIKey string
}

// TLS reports whether the connection uses TLS: with a client certificate,
// a CA file or an API key.
func (c ClientConfig) TLS() bool {
	return c.TLSCert != "" || c.TLSKey != "" || c.TLSCA != "" || c.APIKey != ""
}

// Validate checks the settings without touching the files.
func (c ClientConfig) Validate() error {
	if c.Address == "" {
		return errors.New("Temporal address is empty")
	}
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		return fmt.Errorf("Temporal address %q is not host:port: %w", c.Address, err)
	}
	if c.Namespace == "" {
		return errors.New("Temporal namespace is empty")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("TLS client certificate and key go together: set both or neither")
	}
	return nil
}

// Options builds the SDK's client options. Certificate files are read here,
// so a missing or malformed file is reported before dialing.
func (c ClientConfig) Options(logger log.Logger, metrics client.MetricsHandler) (client.Options, error) {
	if err := c.Validate(); err != nil {
		return client.Options{}, err
	}
	opts := client.Options{
		HostPort:       c.Address,
		Namespace:      c.Namespace,
		Logger:         logger,
		MetricsHandler: metrics,
	}
	if !c.TLS() {
		return opts, nil
	}
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return client.Options{}, err
	}
	opts.ConnectionOptions.TLS = tlsCfg
	if c.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(c.APIKey)
	}
	return opts, nil
}

func (c ClientConfig) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TLSCert != "" {
		pair, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("loading TLS client certificate %s: %w", c.TLSCert, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if c.TLSCA != "" {
		pem, err := os.ReadFile(c.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("reading TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS CA file %s holds no PEM certificate", c.TLSCA)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
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
