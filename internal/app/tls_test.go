package app

import (
	"context"
	"crypto/tls"
	"io"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/internal/tlsfiles/tlstest"
)

// mTLS to Temporal comes from the SDK's environment configuration: with
// TEMPORAL_TLS_CLIENT_CERT_PATH, _KEY_PATH and _SERVER_CA_CERT_PATH set, the
// client's options carry a TLS configuration presenting the client
// certificate and trusting only that CA, and a frontend requiring a client
// certificate of its own CA completes the handshake with it.
func TestTemporalMTLSFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA := tlstest.NewCA(t, "temporal server CA"), tlstest.NewCA(t, "temporal client CA")
	serverLeaf := serverCA.Server(t)
	clientLeaf := clientCA.Client(t, "certflow-worker").Write(t, dir, "client")

	// A frontend stand-in: it requires and verifies a client certificate,
	// and reports whose it got. (It speaks no gRPC: the dial fails after
	// the handshake, which is what the test looks at.)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverLeaf.TLS(t)}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: clientCA.Pool(), NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peers := make(chan string, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if err := tc.Handshake(); err != nil {
					peers <- "handshake failed: " + err.Error()
					return
				}
				peers <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()

	v, err := Parse("test", CommonSettings, nil, []string{
		"CERTFLOW_DB=/tmp/unused.db",
		"TEMPORAL_CONFIG_FILE=" + dir + "/no-such.toml",
		"TEMPORAL_ADDRESS=" + ln.Addr().String(),
		"TEMPORAL_TLS_CLIENT_CERT_PATH=" + clientLeaf.CertFile,
		"TEMPORAL_TLS_CLIENT_KEY_PATH=" + clientLeaf.KeyFile,
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH=" + serverCA.WriteCA(t, dir, "server-ca.pem"),
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCommon(v)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Temporal.TLS() {
		t.Error("TLS() is false with TEMPORAL_TLS_* set")
	}
	opts, err := c.Temporal.Options(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc := opts.ConnectionOptions.TLS
	if tc == nil {
		t.Fatal("no TLS configuration in the client's options")
	}
	if len(tc.Certificates) != 1 || tc.RootCAs == nil || tc.InsecureSkipVerify || tc.MinVersion < tls.VersionTLS12 {
		t.Fatalf("TLS configuration: %d client certificates, roots %v, insecure %v, min version %x", len(tc.Certificates), tc.RootCAs != nil, tc.InsecureSkipVerify, tc.MinVersion)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	dialled := make(chan struct{})
	go func() {
		defer close(dialled)
		if cl, err := temporalx.Dial(ctx, opts, 200*time.Millisecond); err == nil {
			cl.Close()
		}
	}()
	defer func() { cancel(); <-dialled }()
	select {
	case got := <-peers:
		if got != "certflow-worker" {
			t.Errorf("the frontend saw %q, want the client certificate certflow-worker", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the client never completed a TLS handshake with the frontend")
	}
	cancel()
	<-dialled

	// Without the server's CA the client does not trust the frontend.
	opts.ConnectionOptions.TLS = &tls.Config{Certificates: tc.Certificates, MinVersion: tls.VersionTLS12}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if cl, err := temporalx.Dial(ctx2, opts, 200*time.Millisecond); err == nil {
		cl.Close()
		t.Error("dialled a frontend whose CA the client does not trust")
	}
	drain := time.After(time.Second)
	for {
		select {
		case got := <-peers:
			if got == "certflow-worker" {
				t.Errorf("a handshake completed without the server's CA")
			}
		case <-drain:
			return
		}
	}
}
