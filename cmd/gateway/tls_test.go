package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap/zaptest"

	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/internal/tlsfiles/tlstest"
)

func TestParseConfigTLS(t *testing.T) {
	dir := t.TempDir()
	leaf := tlstest.NewCA(t, "gateway CA").Server(t).Write(t, dir, "gw")
	c, err := parseConfig(nil, environ(map[string]string{"CERTFLOW_TLS_CERT_FILE": leaf.CertFile, "CERTFLOW_TLS_KEY_FILE": leaf.KeyFile, "CERTFLOW_DRAIN_DELAY": "3s"}), io.Discard)
	if err != nil || c.TLSCertFile != leaf.CertFile || c.TLSKeyFile != leaf.KeyFile || c.DrainDelay != 3*time.Second {
		t.Fatalf("%+v, %v", c, err)
	}
	c, err = parseConfig(nil, environ(nil), io.Discard)
	if err != nil || c.TLSCertFile != "" || c.DrainDelay != 0 {
		t.Fatalf("defaults: plain HTTP, no drain delay: %+v, %v", c, err)
	}
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"certificate without key": {map[string]string{"CERTFLOW_TLS_CERT_FILE": leaf.CertFile}, "go together"},
		"key without certificate": {map[string]string{"CERTFLOW_TLS_KEY_FILE": leaf.KeyFile}, "go together"},
		"missing files": {map[string]string{"CERTFLOW_TLS_CERT_FILE": filepath.Join(dir, "none.crt"), "CERTFLOW_TLS_KEY_FILE": leaf.KeyFile},
			"CERTFLOW_TLS_CERT_FILE, CERTFLOW_TLS_KEY_FILE: TLS certificate file"},
		"negative drain delay": {map[string]string{"CERTFLOW_DRAIN_DELAY": "-1s"}, "CERTFLOW_DRAIN_DELAY must not be negative"},
	} {
		if _, err := parseConfig(nil, environ(tc.env), io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// The gateway program over HTTPS: a client trusting the gateway's CA
// reaches it, one that does not is refused; the certificate files
// replaced, the next connection sees the new certificate's serial without
// a restart; a broken pair keeps the previous certificate and SIGHUP
// re-reads a good one. Then SIGTERM's drain: /readyz and the API answer
// 503 during the drain delay, /healthz 200, and the listener closes.
func TestGatewayHTTPSReloadAndDrain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{ExistingPath: testenv.TemporalBin(t), LogLevel: "error", Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop() }()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "gateway CA")
	first := ca.Server(t).Write(t, dir, "gw")
	addr := freeAddr(t)
	cfg, err := parseConfig(nil, environ(map[string]string{
		"TEMPORAL_ADDRESS": srv.FrontendHostPort(), "CERTFLOW_DB": filepath.Join(dir, "certflow.db"), "CERTFLOW_GATEWAY_ADDR": addr,
		"CERTFLOW_DIAL_TIMEOUT": "30s", "CERTFLOW_SHUTDOWN_TIMEOUT": "5s", "CERTFLOW_DRAIN_DELAY": "1500ms",
		"CERTFLOW_TLS_CERT_FILE": first.CertFile, "CERTFLOW_TLS_KEY_FILE": first.KeyFile,
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	m := NewMain(cfg, zaptest.NewLogger(t))
	ran := make(chan error, 1)
	go func() { ran <- m.Run(runCtx) }()
	base := "https://" + addr

	// Each call on a connection of its own: the handshake shows the
	// certificate of the moment.
	trusting := func() *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, DisableKeepAlives: true}}
	}
	get := func(c *http.Client, path string) (int, string, error) {
		resp, err := c.Get(base + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		if resp.TLS == nil {
			t.Fatalf("GET %s: not over TLS", path)
		}
		return resp.StatusCode, resp.TLS.PeerCertificates[0].SerialNumber.String(), nil
	}
	for end := time.Now().Add(45 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if code, _, err := get(trusting(), "/healthz"); err == nil && code == 200 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the gateway never answered over HTTPS")
		}
	}
	if code, serial, err := get(trusting(), "/readyz"); err != nil || code != 200 || serial != first.Serial.String() {
		t.Fatalf("/readyz: %d, serial %s, %v; want 200 with the first certificate %s", code, serial, err, first.Serial)
	}
	_, _, err = get(&http.Client{Transport: &http.Transport{}}, "/healthz")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("a client without the gateway's CA: %v, want an unknown authority", err)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the HTTPS port: %d, want 400", resp.StatusCode)
		}
		resp.Body.Close()
	}

	second := ca.Server(t).Write(t, dir, "gw")
	if code, serial, err := get(trusting(), "/healthz"); err != nil || code != 200 || serial != second.Serial.String() {
		t.Errorf("after the files were replaced: %d, serial %s, %v; want the new certificate %s", code, serial, err, second.Serial)
	}
	third := ca.Server(t)
	tlstest.WriteFile(t, second.CertFile, third.CertPEM) // the key not yet
	if _, serial, err := get(trusting(), "/healthz"); err != nil || serial != second.Serial.String() {
		t.Errorf("with a mismatched pair: serial %s, %v; want the previous %s", serial, err, second.Serial)
	}
	tlstest.WriteFile(t, second.KeyFile, third.KeyPEM)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, serial, err := get(trusting(), "/healthz"); err != nil || serial != third.Serial.String() {
		t.Errorf("after SIGHUP: serial %s, %v; want %s", serial, err, third.Serial)
	}

	// SIGTERM (the run's context): draining for the drain delay.
	stop()
	time.Sleep(300 * time.Millisecond)
	if code, _, err := get(trusting(), "/readyz"); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining: %d, %v; want 503", code, err)
	}
	if code, _, err := get(trusting(), "/v1/orders/o-1/refund-eligibility"); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("the API while draining: %d, %v; want 503", code, err)
	}
	if code, _, err := get(trusting(), "/healthz"); err != nil || code != 200 {
		t.Errorf("/healthz while draining: %d, %v; want 200", code, err)
	}
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if _, _, err := get(trusting(), "/healthz"); err == nil {
		t.Error("still serving after the stop")
	}
}
