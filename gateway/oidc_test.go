package gateway

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ops"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/refund"
)

// testIssuer is a local OpenID Connect issuer: a discovery document and a
// JWKS whose keys the test may change (rotation), counting JWKS reads.
type testIssuer struct {
	srv       *httptest.Server
	mu        sync.Mutex
	keys      []map[string]string
	jwksReads atomic.Int32
	down      atomic.Bool
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	iss := &testIssuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if iss.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": iss.srv.URL, "jwks_uri": iss.srv.URL + "/jwks",
			"authorization_endpoint": iss.srv.URL + "/authorize", "token_endpoint": iss.srv.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		iss.jwksReads.Add(1)
		iss.mu.Lock()
		defer iss.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": iss.keys})
	})
	iss.srv = httptest.NewServer(mux)
	t.Cleanup(iss.srv.Close)
	return iss
}

// serve sets the JWKS to the public halves of keys, by kid.
func (iss *testIssuer) serve(keys map[string]crypto.Signer) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.keys = nil
	for kid, k := range keys {
		iss.keys = append(iss.keys, jwk(kid, k.Public()))
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jwk(kid string, pub crypto.PublicKey) map[string]string {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(p.N.Bytes()), "e": b64(big.NewInt(int64(p.E)).Bytes())}
	case *ecdsa.PublicKey:
		b, _ := p.Bytes()
		return map[string]string{"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256", "x": b64(b[1:33]), "y": b64(b[33:])}
	}
	panic("key type")
}

// signJWT makes a compact JWT. key is an *rsa.PrivateKey (RS256), an
// *ecdsa.PrivateKey (ES256), []byte (HS256) or nil (alg none).
func signJWT(t *testing.T, alg, kid string, key any, claims map[string]any) string {
	t.Helper()
	h := map[string]string{"alg": alg, "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(claims)
	input := b64(hb) + "." + b64(cb)
	sum := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch k := key.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, sum[:])
		sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	case []byte:
		m := hmac.New(sha256.New, k)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	case nil:
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

// oidcEnv is a gateway env that also accepts the tokens of a local issuer
// signing with rsaKey as kid "k1".
type oidcEnv struct {
	*env
	iss    *testIssuer
	rsaKey *rsa.PrivateKey
	// server is built like env's handler, with the same fakes (for
	// Server.Authenticate).
	server *Server
}

const testAudience = "certflow-api"

func newOIDCEnv(t *testing.T) *oidcEnv {
	t.Helper()
	return newOIDCEnvWith(t, RateLimit{})
}

func newOIDCEnvWith(t *testing.T, rl RateLimit) *oidcEnv {
	t.Helper()
	iss := newTestIssuer(t)
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss.serve(map[string]crypto.Signer{"k1": k})
	o, err := NewOIDC(OIDCConfig{Issuer: iss.srv.URL, Audience: testAudience,
		RoleMap: map[string]Role{"certflow-operator": RoleOperator, "certflow-console": RoleConsole},
		Now:     func() time.Time { return testNow }, Retry: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var cfg *Config
	e := newEnvWith(t, rl, func(c *Config) { c.OIDC = o; cfg = c })
	s, err := New(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &oidcEnv{env: e, iss: iss, rsaKey: k, server: s}
}

// claims are a valid operator token's claims for sub, as of testNow.
func (o *oidcEnv) claims(sub string) map[string]any {
	return map[string]any{"iss": o.iss.srv.URL, "aud": []string{testAudience, "other"}, "sub": sub,
		"iat": testNow.Add(-time.Minute).Unix(), "exp": testNow.Add(time.Hour).Unix(),
		"roles": []string{"staff", "certflow-operator"}}
}

func (o *oidcEnv) token(t *testing.T, claims map[string]any) string {
	return signJWT(t, "RS256", "k1", o.rsaKey, claims)
}

func bearerOf(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// A token of the issuer with an operator role lists orders and approves a
// refund as "oidc:" + its sub: never the same subject as a static token's
// (alice's static token is "alice"; the IdP's alice is "oidc:alice").
func TestOIDCOperator(t *testing.T) {
	o := newOIDCEnv(t)
	tok := o.token(t, o.claims("alice"))
	if rec := o.do(t, http.MethodGet, "/v1/orders", "", bearerOf(tok)...); rec.Code != 200 {
		t.Fatalf("list orders with an OIDC operator token: %d %s", rec.Code, rec.Body)
	}
	o.wf.running["o-1"] = refund.Status{OrderID: "o-1", State: statemachine.OrderAwaitingApproval}
	rec := o.do(t, http.MethodPost, "/v1/orders/o-1/refund/approve", `{"note":"checked"}`, bearerOf(tok)...)
	wantStatus(t, rec, 200)
	if len(o.wf.approves) != 1 || o.wf.approves[0].Operator != "oidc:alice" || o.wf.approves[0].By.Role != "operator" {
		t.Fatalf("approvals %+v, want one by oidc:alice (operator)", o.wf.approves)
	}
	// The static alice is another subject: the workflow's four-eyes check
	// (requester ≠ approver) tells them apart.
	o.do(t, http.MethodPost, "/v1/orders/o-1/refund/approve", `{"note":"me too"}`, asAlice...)
	if len(o.wf.approves) != 2 || o.wf.approves[1].Operator != "alice" {
		t.Fatalf("approvals %+v", o.wf.approves)
	}
	// A console-mapped role may do console calls, not operator ones; a
	// token with both roles is an operator.
	c := o.claims("console-svc")
	c["roles"] = "certflow-console"
	ctok := o.token(t, c)
	if rec := o.do(t, http.MethodGet, "/v1/orders/o-1", "", bearerOf(ctok)...); rec.Code != 200 {
		t.Errorf("console call with a console-mapped token: %d %s", rec.Code, rec.Body)
	}
	wantError(t, o.do(t, http.MethodGet, "/v1/orders", "", bearerOf(ctok)...), 403, errs.Forbidden, "needs the operator role; oidc:console-svc has the console role")
	c["roles"] = "certflow-console certflow-operator"
	if rec := o.do(t, http.MethodGet, "/v1/orders", "", bearerOf(o.token(t, c))...); rec.Code != 200 {
		t.Errorf("token with both roles: %d %s", rec.Code, rec.Body)
	}
	// Static tokens still work beside OIDC.
	if rec := o.do(t, http.MethodGet, "/v1/orders", "", asBob...); rec.Code != 200 {
		t.Errorf("static token beside OIDC: %d", rec.Code)
	}
	if n := o.iss.jwksReads.Load(); n != 1 {
		t.Errorf("JWKS read %d times, want once (keys cached)", n)
	}
}

// Every bad token is refused with a message naming what is wrong, never
// echoing the token.
func TestOIDCRefusals(t *testing.T) {
	o := newOIDCEnv(t)
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubDER, _ := x509.MarshalPKIXPublicKey(&o.rsaKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	with := func(change func(map[string]any)) map[string]any {
		c := o.claims("op-1")
		change(c)
		return c
	}
	tests := map[string]struct {
		token    func() string
		status   int
		code     errs.Code
		mentions string
	}{
		"expired": {func() string {
			return o.token(t, with(func(c map[string]any) { c["exp"] = testNow.Add(-time.Minute).Unix() }))
		}, 401, errs.Unauthenticated, "the token expired at " + testNow.Add(-time.Minute).UTC().Format(time.RFC3339)},
		"wrong audience": {func() string {
			return o.token(t, with(func(c map[string]any) { c["aud"] = "someone-else" }))
		}, 401, errs.Unauthenticated, `audience ["someone-else"] does not include "certflow-api"`},
		"wrong issuer": {func() string {
			return o.token(t, with(func(c map[string]any) { c["iss"] = "https://evil.example" }))
		}, 401, errs.Unauthenticated, `issued by "https://evil.example", not by this gateway's issuer`},
		"alg none": {func() string {
			return signJWT(t, "none", "k1", nil, o.claims("op-1"))
		}, 401, errs.Unauthenticated, `signing algorithm "none" is not accepted`},
		"HS256 with the public key as secret": {func() string {
			return signJWT(t, "HS256", "k1", pubPEM, o.claims("op-1"))
		}, 401, errs.Unauthenticated, `signing algorithm "HS256" is not accepted`},
		"unknown kid": {func() string {
			return signJWT(t, "RS256", "k-unknown", otherKey, o.claims("op-1"))
		}, 401, errs.Unauthenticated, `signature does not verify with any key the issuer publishes (kid "k-unknown"`},
		"known kid, another key": {func() string {
			return signJWT(t, "RS256", "k1", otherKey, o.claims("op-1"))
		}, 401, errs.Unauthenticated, `signature does not verify`},
		"missing role claim": {func() string {
			return o.token(t, with(func(c map[string]any) { delete(c, "roles") }))
		}, 403, errs.Forbidden, `oidc:op-1's token has no "roles" claim, so no certflow role (CERTFLOW_OIDC_ROLE_MAP maps certflow-console→console, certflow-operator→operator)`},
		"no mapped role": {func() string {
			return o.token(t, with(func(c map[string]any) { c["roles"] = []string{"staff"} }))
		}, 403, errs.Forbidden, `"roles" claim names no value mapped to a certflow role`},
		"no sub": {func() string {
			return o.token(t, with(func(c map[string]any) { delete(c, "sub") }))
		}, 401, errs.Unauthenticated, "sub claim is missing"},
		"not a JWT": {func() string { return "abc.def.ghi" }, 401, errs.Unauthenticated, "not a well-formed JWT"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tok := tc.token()
			reads := o.iss.jwksReads.Load()
			rec := o.do(t, http.MethodGet, "/v1/orders", "", bearerOf(tok)...)
			p := wantError(t, rec, tc.status, tc.code, tc.mentions)
			t.Logf("%d %s", rec.Code, p.Detail)
			if tc.status == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
			}
			sig := tok[strings.LastIndex(tok, ".")+1:]
			if strings.Contains(rec.Body.String(), tok) || (len(sig) > 8 && strings.Contains(rec.Body.String(), sig)) {
				t.Errorf("the answer echoes the token: %s", rec.Body)
			}
			for _, l := range o.logs.All() {
				if strings.Contains(l.Message, tok) || strings.Contains(fieldsText(l.ContextMap()), tok) {
					t.Errorf("a log line carries the token: %+v", l)
				}
			}
			if name == "unknown kid" && o.iss.jwksReads.Load() <= reads && reads > 0 {
				t.Errorf("an unknown kid did not re-read the JWKS (%d reads before, %d after)", reads, o.iss.jwksReads.Load())
			}
		})
	}
	if len(o.wf.approves)+len(o.wf.starts) != 0 {
		t.Error("a refused token reached the workflows")
	}
}

// Refused JWTs spend their address's bucket; past it, the next JWT is
// refused (429) before its signature is checked, so bad tokens cannot make
// the gateway re-read the issuer's keys at will. A valid token of another
// address still works.
func TestOIDCRefusalsAreRateLimited(t *testing.T) {
	o := newOIDCEnvWith(t, RateLimit{Rate: 1, Burst: 2})
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	forged := signJWT(t, "RS256", "k-forged", otherKey, o.claims("op-1"))
	for range 2 {
		wantError(t, o.do(t, http.MethodGet, "/v1/orders", "", bearerOf(forged)...), 401, errs.Unauthenticated, "signature")
	}
	reads := o.iss.jwksReads.Load()
	rec := o.do(t, http.MethodGet, "/v1/orders", "", bearerOf(forged)...)
	wantError(t, rec, 429, errs.RateLimited, "too many requests")
	if n := o.iss.jwksReads.Load(); n != reads {
		t.Errorf("a rate-limited JWT was verified: JWKS reads %d → %d", reads, n)
	}
	r := httptest.NewRequest(http.MethodGet, "/v1/orders", nil)
	r.RemoteAddr = "192.0.2.7:4242"
	r.Header.Set("Authorization", "Bearer "+o.token(t, o.claims("op-2")))
	w := httptest.NewRecorder()
	o.h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("another address's valid token: %d %s", w.Code, w.Body)
	}
}

func fieldsText(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// The issuer rotates its key: a token signed with a new kid makes the
// gateway re-read the JWKS, without a restart; the retired key's tokens
// are refused once the JWKS no longer has it.
func TestOIDCKeyRotation(t *testing.T) {
	o := newOIDCEnv(t)
	old := o.token(t, o.claims("op-1"))
	if rec := o.do(t, http.MethodGet, "/v1/orders", "", bearerOf(old)...); rec.Code != 200 {
		t.Fatalf("first key: %d %s", rec.Code, rec.Body)
	}
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	o.iss.serve(map[string]crypto.Signer{"k2": k2})
	fresh := signJWT(t, "ES256", "k2", k2, o.claims("op-2"))
	if rec := o.do(t, http.MethodGet, "/v1/orders", "", bearerOf(fresh)...); rec.Code != 200 {
		t.Fatalf("rotated key k2: %d %s", rec.Code, rec.Body)
	}
	if n := o.iss.jwksReads.Load(); n != 2 {
		t.Errorf("JWKS read %d times, want 2 (first token, then the new kid)", n)
	}
	// k1 is retired: its tokens no longer verify, once the key set's
	// cache holds k2's read. go-oidc hands a read's keys to the request
	// that waited for them before it stores them in its cache, so a
	// request right after may still find k1 there, for a moment.
	rec := o.do(t, http.MethodGet, "/v1/orders", "", bearerOf(old)...)
	for deadline := time.Now().Add(2 * time.Second); rec.Code == http.StatusOK && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		rec = o.do(t, http.MethodGet, "/v1/orders", "", bearerOf(old)...)
	}
	wantError(t, rec, 401, errs.Unauthenticated, `kid "k1"`)
}

// An issuer that does not answer: OIDC tokens are 503 (retry later),
// static tokens work; once it answers, OIDC tokens work.
func TestOIDCIssuerDown(t *testing.T) {
	o := newOIDCEnv(t)
	o.iss.down.Store(true)
	tok := o.token(t, o.claims("op-1"))
	wantError(t, o.do(t, http.MethodGet, "/v1/orders", "", bearerOf(tok)...), 503, errs.Unavailable, "cannot be reached")
	if rec := o.do(t, http.MethodGet, "/v1/orders", "", asBob...); rec.Code != 200 {
		t.Errorf("static token while the IdP is down: %d", rec.Code)
	}
	o.iss.down.Store(false)
	time.Sleep(5 * time.Millisecond) // past Retry
	if rec := o.do(t, http.MethodGet, "/v1/orders", "", bearerOf(tok)...); rec.Code != 200 {
		t.Errorf("after the IdP came back: %d %s", rec.Code, rec.Body)
	}
}

// Server.Authenticate, which the operator pages' login calls, is the same
// identity as the API's.
func TestOIDCAuthenticateForOps(t *testing.T) {
	o := newOIDCEnv(t)
	s := o.server
	sub, role, err := s.Authenticate(context.Background(), o.token(t, o.claims("op-1")))
	if err != nil || sub != "oidc:op-1" || role != "operator" {
		t.Errorf("Authenticate = %q, %q, %v", sub, role, err)
	}
	c := o.claims("op-1")
	c["exp"] = testNow.Add(-time.Second).Unix()
	if _, _, err := s.Authenticate(context.Background(), o.token(t, c)); errs.CodeOf(err) != errs.Unauthenticated || !strings.Contains(errs.MessageOf(err), "expired") {
		t.Errorf("expired: %v", err)
	}
	if sub, role, err := s.Authenticate(context.Background(), operatorToken); err != nil || sub != "alice" || role != "operator" {
		t.Errorf("static: %q %q %v", sub, role, err)
	}
	if _, _, err := s.Authenticate(context.Background(), "nobody-knows-this-0123456789"); errs.CodeOf(err) != errs.Unauthenticated {
		t.Errorf("unknown: %v", err)
	}
}

func TestOIDCRoleClaims(t *testing.T) {
	o := &OIDC{cfg: OIDCConfig{RolesClaim: "realm_access.roles", RoleMap: map[string]Role{"ops": RoleOperator}}}
	r, err := o.role(map[string]any{"realm_access": map[string]any{"roles": []any{"x", "ops"}}}, "oidc:s")
	if err != nil || r != RoleOperator {
		t.Errorf("nested: %v %v", r, err)
	}
	o.cfg.RolesClaim = "https://certflow.example/roles"
	r, err = o.role(map[string]any{"https://certflow.example/roles": "ops"}, "oidc:s")
	if err != nil || r != RoleOperator {
		t.Errorf("namespaced claim with dots: %v %v", r, err)
	}
	if _, err := o.role(map[string]any{"https://certflow.example/roles": 7.0}, "oidc:s"); errs.CodeOf(err) != errs.Forbidden {
		t.Errorf("a number: %v", err)
	}
}

func TestOIDCConfiguration(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if o, err := OIDCFromEnv(env(nil)); o != nil || err != nil {
		t.Errorf("unset: %v %v, want off", o, err)
	}
	o, err := OIDCFromEnv(env(map[string]string{EnvOIDCIssuer: "https://idp.example/realms/certflow", EnvOIDCAudience: "certflow"}))
	if err != nil || o.cfg.RolesClaim != "roles" || o.cfg.RoleMap["certflow-operator"] != RoleOperator {
		t.Errorf("defaults: %+v %v", o, err)
	}
	bad := map[string]struct {
		env  map[string]string
		want string
	}{
		"audience without issuer": {map[string]string{EnvOIDCAudience: "x"}, "CERTFLOW_OIDC_AUDIENCE is set but CERTFLOW_OIDC_ISSUER is not"},
		"no audience":             {map[string]string{EnvOIDCIssuer: "https://idp.example"}, "CERTFLOW_OIDC_AUDIENCE is required"},
		"plain http":              {map[string]string{EnvOIDCIssuer: "http://idp.example", EnvOIDCAudience: "x"}, "CERTFLOW_OIDC_ISSUER \"http://idp.example\" must be https"},
		"not a URL":               {map[string]string{EnvOIDCIssuer: "idp.example", EnvOIDCAudience: "x"}, "CERTFLOW_OIDC_ISSUER"},
		"role map unknown role":   {map[string]string{EnvOIDCIssuer: "https://idp.example", EnvOIDCAudience: "x", EnvOIDCRoleMap: "admins=admin"}, `CERTFLOW_OIDC_ROLE_MAP: "admins" maps to "admin"`},
		"role map not pairs":      {map[string]string{EnvOIDCIssuer: "https://idp.example", EnvOIDCAudience: "x", EnvOIDCRoleMap: "operators"}, `CERTFLOW_OIDC_ROLE_MAP: "operators" is not value=role`},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := OIDCFromEnv(env(tc.env))
			if errs.CodeOf(err) != errs.Invalid || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want invalid mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := OIDCFromEnv(env(map[string]string{EnvOIDCIssuer: "http://127.0.0.1:9/", EnvOIDCAudience: "x"})); err != nil {
		t.Errorf("http on loopback: %v", err)
	}
}

// emptyReader is a store with no order, for the operator pages.
type emptyReader struct{}

func (emptyReader) ListOrders(context.Context, ports.OrderFilter) (ports.OrderPage, error) {
	return ports.OrderPage{}, nil
}
func (emptyReader) GetOrder(_ context.Context, id string) (domain.Order, error) {
	return domain.Order{}, errs.E(errs.NotFound, "order %s not found", id)
}
func (emptyReader) GetRefund(_ context.Context, id string) (ports.RefundRecord, error) {
	return ports.RefundRecord{}, errs.E(errs.NotFound, "refund of %s not found", id)
}
func (emptyReader) ListEvents(_ context.Context, after string, _ int) (ports.EventPage, error) {
	return ports.EventPage{Next: after}, nil
}

// The operator pages log in with an OIDC token through Server.Authenticate
// (as cmd/gateway wires them): the session is the token's identity,
// oidc:<sub>; a refused token shows the gateway's reason.
func TestOIDCOpsLogin(t *testing.T) {
	o := newOIDCEnv(t)
	h, err := ops.New(ops.Config{Reader: emptyReader{}, Actions: o.wf, Authenticate: o.server.Authenticate, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := func(tok string) (*http.Response, string) {
		t.Helper()
		res, err := hc.PostForm(srv.URL+"/ops/login", url.Values{"token": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	expired := o.claims("alice")
	expired["exp"] = testNow.Add(-time.Minute).Unix()
	noRole := o.claims("alice")
	delete(noRole, "roles")
	for _, tc := range []struct {
		tok    string
		status int
		says   string
	}{
		{o.token(t, expired), 401, "401 unauthenticated — the token expired at"},
		{o.token(t, noRole), 403, "403 forbidden — oidc:alice&#39;s token has no &#34;roles&#34; claim"},
		{signJWT(t, "none", "k1", nil, o.claims("alice")), 401, "401 unauthenticated — the token&#39;s signing algorithm &#34;none&#34; is not accepted"},
	} {
		res, body := login(tc.tok)
		if res.StatusCode != tc.status || !strings.Contains(body, tc.says) || res.Header.Get("Set-Cookie") != "" {
			t.Errorf("login: %d (cookie %q), want %d saying %q\n%s", res.StatusCode, res.Header.Get("Set-Cookie"), tc.status, tc.says, body)
		}
		if strings.Contains(body, tc.tok) {
			t.Error("the login page repeats the token")
		}
	}
	res, body := login(o.token(t, o.claims("alice")))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ops/" {
		t.Fatalf("login with an OIDC operator token: %d → %q\n%s", res.StatusCode, res.Header.Get("Location"), body)
	}
	q, err := hc.Get(srv.URL + "/ops/")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Body.Close()
	b, _ := io.ReadAll(q.Body)
	if q.StatusCode != 200 || !strings.Contains(string(b), "Logged in as <strong>oidc:alice</strong>") {
		t.Errorf("queue: %d\n%s", q.StatusCode, b)
	}
}
