package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/errs"
)

// Every console route needs a known bearer token (401), the role it
// names (403); health, the OpenAPI document and the signed CA callbacks
// need none.
func TestAuthentication(t *testing.T) {
	tests := map[string]struct {
		method, path string
		headers      []string
		status       int
		code         errs.Code
		mentions     string
	}{
		"no token":                 {http.MethodGet, "/v1/orders/o-1/refund-eligibility", anonymous, 401, errs.Unauthenticated, "Authorization: Bearer"},
		"unknown token":            {http.MethodGet, "/v1/orders/o-1/refund-eligibility", []string{"Authorization", "Bearer not-a-known-token-at-all"}, 401, errs.Unauthenticated, "not known"},
		"basic auth":               {http.MethodGet, "/v1/orders/o-1/refund", []string{"Authorization", "Basic YWxpY2U6eA=="}, 401, errs.Unauthenticated, "Bearer"},
		"console lists orders":     {http.MethodGet, "/v1/orders", asConsole, 403, errs.Forbidden, "needs the operator role"},
		"console approves":         {http.MethodPost, "/v1/orders/o-1/refund/approve", asConsole, 403, errs.Forbidden, "needs the operator role"},
		"no token on intake":       {http.MethodPut, "/v1/orders/o-1", anonymous, 401, errs.Unauthenticated, "Bearer"},
		"no token on cert action":  {http.MethodPost, "/v1/certificates/c-1/actions/revoke", anonymous, 401, errs.Unauthenticated, "Bearer"},
		"no token on cancel":       {http.MethodPost, "/v1/orders/o-1/refund/cancel", anonymous, 401, errs.Unauthenticated, "Bearer"},
		"no token on order list":   {http.MethodGet, "/v1/orders", anonymous, 401, errs.Unauthenticated, "Bearer"},
		"no token on cert status":  {http.MethodGet, "/v1/certificates/c-1", anonymous, 401, errs.Unauthenticated, "Bearer"},
		"no token on refund start": {http.MethodPost, "/v1/orders/o-1/refund", anonymous, 401, errs.Unauthenticated, "Bearer"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.do(t, tc.method, tc.path, "", tc.headers...)
			wantError(t, rec, tc.status, tc.code, tc.mentions)
			if tc.status == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
			}
			if len(e.wf.starts)+len(e.wf.updateIDs)+len(e.wf.actions)+len(e.judge.reqs) != 0 {
				t.Error("a refused call reached the rules or the workflows")
			}
		})
	}
	e := newEnv(t)
	for _, p := range []string{"/healthz", "/openapi.yaml"} {
		if rec := e.do(t, http.MethodGet, p, "", anonymous...); rec.Code != 200 {
			t.Errorf("GET %s without a token: %d, want 200", p, rec.Code)
		}
	}
	// bob's token is configured by its hash only, and works.
	if rec := e.do(t, http.MethodGet, "/v1/orders", "", asBob...); rec.Code != 200 {
		t.Errorf("hash-configured token: %d %s", rec.Code, rec.Body)
	}
}

// A secret never appears in an answer or a log line.
func TestSecretsNotEchoed(t *testing.T) {
	e := newEnv(t)
	rec := e.do(t, http.MethodGet, "/v1/orders", "", "Authorization", "Bearer "+consoleToken)
	if strings.Contains(rec.Body.String(), consoleToken) {
		t.Errorf("answer echoes the token: %s", rec.Body)
	}
	for _, l := range e.logs.All() {
		for _, f := range l.Context {
			if strings.Contains(f.String, consoleToken) || strings.Contains(l.Message, consoleToken) {
				t.Errorf("log line carries the token: %+v", l)
			}
		}
	}
}

// Per token, and per client address for calls without a known token:
// 429 with Retry-After once the burst is spent; the bucket refills.
func TestRateLimit(t *testing.T) {
	e := newEnvWith(t, RateLimit{Rate: 2, Burst: 3})
	for i := range 3 {
		if rec := e.do(t, http.MethodGet, "/v1/orders", "", asAlice...); rec.Code != 200 {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
	rec := e.do(t, http.MethodGet, "/v1/orders", "", asAlice...)
	wantError(t, rec, 429, errs.RateLimited, "too many requests")
	if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After = %q", rec.Header().Get("Retry-After"))
	}
	// Another token has its own bucket.
	if rec := e.do(t, http.MethodGet, "/v1/orders", "", asBob...); rec.Code != 200 {
		t.Errorf("bob limited by alice's calls: %d", rec.Code)
	}
	// Unauthenticated calls are limited per address, then refused 429
	// instead of 401.
	for range 3 {
		e.do(t, http.MethodGet, "/v1/orders", "", anonymous...)
	}
	wantError(t, e.do(t, http.MethodGet, "/v1/orders", "", anonymous...), 429, errs.RateLimited, "retry in")
	*e.clock = testNow.Add(time.Second)
	if rec := e.do(t, http.MethodGet, "/v1/orders", "", asAlice...); rec.Code != 200 {
		t.Errorf("after a second (rate 2/s): %d, want 200", rec.Code)
	}
}

// The default limit refuses a flood: 1,000 requests at one instant.
func TestDefaultRateLimitRefusesAFlood(t *testing.T) {
	e := newEnv(t)
	refused := 0
	for range 1000 {
		if e.do(t, http.MethodGet, "/healthz", "", asAlice...).Code == 200 &&
			e.do(t, http.MethodGet, "/v1/orders", "", asAlice...).Code == 429 {
			refused++
		}
	}
	if refused != 1000-DefaultRateLimit.Burst {
		t.Errorf("%d of 1000 refused, want %d", refused, 1000-DefaultRateLimit.Burst)
	}
}

func TestTokenConfiguration(t *testing.T) {
	file := "# certflow console tokens\n\nconsole-backend console s3cr3t-console-0123456789\nops-1 operator " + HashToken("ops-secret-0123456789") + "\n"
	entries, err := ParseTokenFile(strings.NewReader(file))
	if err != nil || len(entries) != 2 {
		t.Fatalf("ParseTokenFile = %v, %v", entries, err)
	}
	env := map[string]string{EnvTokens: "ops-2:operator:ops2-secret-0123456789"}
	tokens, err := TokensFromEnv(func(k string) string { return env[k] })
	if err != nil || tokens.Len() != 1 {
		t.Fatalf("TokensFromEnv = %v, %v", tokens, err)
	}
	if p, ok := tokens.lookup("ops2-secret-0123456789"); !ok || p.Subject != "ops-2" || p.Role != RoleOperator {
		t.Errorf("lookup = %+v, %v", p, ok)
	}
	bad := map[string]string{
		"no role":          "alice::secret-0123456789abc",
		"unknown role":     "alice:admin:secret-0123456789abc",
		"short secret":     "alice:operator:short",
		"bad hash":         "alice:operator:sha256:abcd",
		"subject twice":    "alice:operator:secret-0123456789abc,alice:console:other-secret-0123456789",
		"no fields":        "just-a-secret",
		"secret with tabs": "alice:operator:secret\t0123456789abc",
	}
	for name, v := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := TokensFromEnv(func(k string) string {
				if k == EnvTokens {
					return v
				}
				return ""
			})
			if errs.CodeOf(err) != errs.Invalid {
				t.Fatalf("err = %v, want invalid", err)
			}
			if strings.Contains(err.Error(), "0123456789") {
				t.Errorf("error echoes the secret: %v", err)
			}
		})
	}
	if _, err := TokensFromEnv(func(string) string { return "" }); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("no tokens at all: %v, want invalid", err)
	}
	if _, err := ParseTokenFile(strings.NewReader("alice operator\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("short line: %v", err)
	}
}

// Path IDs no order or certificate can have are 400, not 500; dot
// segments are 400, not a redirect.
func TestBadPathIDs(t *testing.T) {
	for name, path := range map[string]string{
		"non-ASCII":     "/v1/orders/%E8%AE%A2%E5%8D%95/refund",
		"NUL":           "/v1/orders/o-1%00/refund",
		"CR LF":         "/v1/orders/o-1%0D%0AX-Injected:%201/refund",
		"space":         "/v1/orders/o%201/refund",
		"cert NUL":      "/v1/certificates/c-1%00",
		"dot dot":       "/v1/orders/../orders/o-1/refund",
		"encoded dots":  "/v1/orders/%2E%2E/refund",
		"dot":           "/v1/orders/./o-1/refund",
		"empty segment": "/v1/orders//refund",
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.do(t, http.MethodGet, path, "", asConsole...)
			wantError(t, rec, 400, errs.Invalid, "")
			if len(e.judge.reqs)+len(e.wf.starts) != 0 {
				t.Error("a bad path reached the rules or the workflows")
			}
		})
	}
}
