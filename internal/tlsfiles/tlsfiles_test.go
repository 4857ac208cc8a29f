package tlsfiles_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/certflow/certflow/internal/tlsfiles"
	"github.com/certflow/certflow/internal/tlsfiles/tlstest"
)

// serveTLS serves 200 over TLS with cfg and returns its URL (httptest's
// TLS server would add a certificate of its own, served before
// GetCertificate's to a client sending no server name).
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }),
		ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + ln.Addr().String()
}

// serialSeen connects afresh (no session reuse) and returns the serial of
// the server's certificate.
func serialSeen(t *testing.T, addr string, roots *x509.CertPool) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// The files replaced (by a rename, as a secret mount does) are served from
// the next handshake on, without a restart; a pair that does not load
// keeps the previous certificate; Reload reads them on demand.
func TestCertFilesReloadWhenReplaced(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "test CA")
	first := ca.Server(t).Write(t, dir, "server")
	cf, err := tlsfiles.LoadCertFiles(first.CertFile, first.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		reloads []string
	)
	cf.OnReload = func(c *x509.Certificate, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			reloads = append(reloads, "error")
		} else {
			reloads = append(reloads, c.SerialNumber.String())
		}
	}
	addr := strings.TrimPrefix(serveTLS(t, cf.ServerConfig()), "https://")
	if got := serialSeen(t, addr, ca.Pool()); got != first.Serial.String() {
		t.Fatalf("serial %s, want the first certificate's %s", got, first.Serial)
	}

	second := ca.Server(t).Write(t, dir, "server")
	if got := serialSeen(t, addr, ca.Pool()); got != second.Serial.String() {
		t.Fatalf("after the files were replaced: serial %s, want the new certificate's %s", got, second.Serial)
	}

	// Half a rotation: the certificate replaced, its key not yet. The
	// previous pair serves on; once the key follows, the new pair serves.
	third := ca.Server(t)
	tlstest.WriteFile(t, second.CertFile, third.CertPEM)
	if got := serialSeen(t, addr, ca.Pool()); got != second.Serial.String() {
		t.Fatalf("with a mismatched pair: serial %s, want the previous %s", got, second.Serial)
	}
	serialSeen(t, addr, ca.Pool()) // the same broken pair: reported once
	tlstest.WriteFile(t, second.KeyFile, third.KeyPEM)
	if got := serialSeen(t, addr, ca.Pool()); got != third.Serial.String() {
		t.Fatalf("after the key followed: serial %s, want %s", got, third.Serial)
	}
	mu.Lock()
	if got, want := strings.Join(reloads, " "), second.Serial.String()+" error "+third.Serial.String(); got != want {
		t.Errorf("reloads reported %q, want %q", got, want)
	}
	mu.Unlock()

	if err := cf.Reload(); err != nil {
		t.Errorf("Reload of a good pair: %v", err)
	}
	tlstest.WriteFile(t, second.KeyFile, []byte("not a key"))
	if err := cf.Reload(); err == nil {
		t.Error("Reload of a broken pair succeeded")
	}
	if got := serialSeen(t, addr, ca.Pool()); got != third.Serial.String() {
		t.Errorf("after a failed reload: serial %s, want %s still", got, third.Serial)
	}
}

func TestLoadCertFilesRefusesBadPairs(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "test CA")
	a, b := ca.Server(t).Write(t, dir, "a"), ca.Server(t).Write(t, dir, "b")
	for name, files := range map[string][2]string{
		"mismatched":   {a.CertFile, b.KeyFile},
		"missing key":  {a.CertFile, filepath.Join(dir, "none.key")},
		"no key named": {a.CertFile, ""},
	} {
		if _, err := tlsfiles.LoadCertFiles(files[0], files[1]); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// A client with the bundle accepts the server its CA signed; without it
// (the system's roots) or with another CA's bundle, it refuses.
func TestClientConfigVerifiesWithTheBundle(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "private CA")
	leaf := ca.Server(t)
	url := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{leaf.TLS(t)}})
	get := func(caFile string) error {
		cfg, err := tlsfiles.ClientConfig(caFile)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.InsecureSkipVerify || cfg.MinVersion < tls.VersionTLS12 {
			t.Fatalf("client config %+v", cfg)
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	var unknown x509.UnknownAuthorityError
	if err := get(""); !errors.As(err, &unknown) {
		t.Errorf("with the system's roots: %v, want an unknown authority", err)
	}
	if err := get(tlstest.NewCA(t, "other CA").WriteCA(t, dir, "other.pem")); !errors.As(err, &unknown) {
		t.Errorf("with another CA's bundle: %v, want an unknown authority", err)
	}
	if err := get(ca.WriteCA(t, dir, "ca.pem")); err != nil {
		t.Errorf("with the CA's bundle: %v", err)
	}
	tlstest.WriteFile(t, filepath.Join(dir, "empty.pem"), []byte("nothing\n"))
	if _, err := tlsfiles.ClientConfig(filepath.Join(dir, "empty.pem")); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("a bundle without a certificate: %v", err)
	}
	if _, err := tlsfiles.ClientConfig(filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("a missing bundle was accepted")
	}
}
