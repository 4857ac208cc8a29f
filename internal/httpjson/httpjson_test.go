package httpjson_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpjson"
	"github.com/certflow/certflow/internal/tlsfiles/tlstest"
)

func TestDo(t *testing.T) {
	var gotKey, gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotKey, gotAuth = r.Header.Get("Idempotency-Key"), r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(`{"id":"x"}`))
		case "/big":
			w.Write([]byte(`"` + strings.Repeat("a", 64) + `"`))
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		default:
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error":{"code":"taken","message":"reused"}}`))
		}
	}))
	defer srv.Close()
	var mapped *httpjson.APIError
	c, err := httpjson.New(httpjson.Config{Service: "svc", BaseURL: srv.URL + "/", Token: "t", MaxResponseBytes: 48,
		MapError: func(op string, e *httpjson.APIError) error { mapped = e; return errs.Wrap(errs.Conflict, e, "%s", op) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out struct{ ID string }
	if err := c.Do(ctx, "op", http.MethodPost, "/ok", "k1", map[string]int{"a": 1}, &out); err != nil || out.ID != "x" {
		t.Fatalf("ok: %v, %+v", err, out)
	}
	if gotKey != "k1" || gotAuth != "Bearer t" {
		t.Errorf("headers: key %q, auth %q", gotKey, gotAuth)
	}
	if err := c.Do(ctx, "op", http.MethodGet, "/big", "", nil, nil); errs.CodeOf(err) != errs.Internal {
		t.Errorf("oversized answer: %v, want internal", err)
	}
	if err := c.Do(ctx, "op", http.MethodGet, "/redirect", "", nil, nil); errs.CodeOf(err) != errs.Conflict || mapped.Status != http.StatusFound {
		t.Errorf("redirect: %v, want the 302 mapped as an error answer", err)
	}
	err = c.Do(ctx, "op", http.MethodGet, "/taken", "", nil, nil)
	var ae *httpjson.APIError
	if !errors.As(err, &ae) || ae.Code != "taken" || ae.Message != "reused" || ae.Status != http.StatusConflict {
		t.Errorf("error answer: %v (%+v)", err, ae)
	}
	if _, err := httpjson.New(httpjson.Config{Service: "svc", BaseURL: "relative", Token: "t", MapError: func(string, *httpjson.APIError) error { return nil }}); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("relative URL: %v, want invalid", err)
	}
}

// An https service of a private CA: refused (retryable, the error naming
// the certificate) with the system's roots, reached with the CA's bundle;
// a transport skipping verification is refused outright.
func TestTransportVerifiesWithTheBundle(t *testing.T) {
	ca := tlstest.NewCA(t, "private CA")
	srv := ca.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"id":"x"}`)) }))
	client := func(caFile string) *httpjson.Client {
		tr, err := httpjson.Transport(caFile)
		if err != nil {
			t.Fatal(err)
		}
		c, err := httpjson.New(httpjson.Config{Service: "svc", BaseURL: srv.URL, Token: "tok", HTTPClient: &http.Client{Transport: tr},
			MapError: func(op string, e *httpjson.APIError) error { return e }})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var out struct{ ID string }
	err := client("").Do(context.Background(), "get", http.MethodGet, "/", "", nil, &out)
	if errs.CodeOf(err) != errs.Unavailable || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("with the system's roots: %v, want unavailable: unknown authority", err)
	}
	if err := client(ca.WriteCA(t, t.TempDir(), "ca.pem")).Do(context.Background(), "get", http.MethodGet, "/", "", nil, &out); err != nil || out.ID != "x" {
		t.Errorf("with the bundle: %+v, %v", out, err)
	}
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	_, err = httpjson.New(httpjson.Config{Service: "svc", BaseURL: srv.URL, Token: "tok", HTTPClient: insecure,
		MapError: func(op string, e *httpjson.APIError) error { return e }})
	if errs.CodeOf(err) != errs.Invalid || !strings.Contains(err.Error(), "skips verifying") {
		t.Errorf("a transport skipping verification: %v, want refused", err)
	}
}
