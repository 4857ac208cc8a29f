package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/tlsfiles/tlstest"
)

// An HTTPS gateway's readiness: refused without its CA's bundle, checked
// with it.
func TestCheckHTTPSWithBundle(t *testing.T) {
	ca := tlstest.NewCA(t, "gateway CA")
	srv := ca.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ready\n")) }))
	plain, err := newClient("")
	if err != nil {
		t.Fatal(err)
	}
	if err := check(plain, srv.URL+"/readyz", 3*time.Second); err == nil {
		t.Error("checked a server of an unknown CA")
	}
	trusting, err := newClient(ca.WriteCA(t, t.TempDir(), "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := check(trusting, srv.URL+"/readyz", 3*time.Second); err != nil {
		t.Errorf("with the bundle: %v", err)
	}
}
