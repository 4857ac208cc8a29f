package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/policy"
)

// TestRequestBodyRefusals sends unreadable bodies to every console POST:
// each is refused before any workflow is touched.
func TestRequestBodyRefusals(t *testing.T) {
	paths := map[string]struct{ wrongType, mentions string }{
		"/v1/orders/o-1/refund":               {`{"confirm_irreversible":"yes"}`, "field confirm_irreversible: expected a boolean, got a JSON string"},
		"/v1/orders/o-1/refund/cancel":        {`{"reason":42}`, "field reason: expected a string, got a JSON number"},
		"/v1/orders/o-1/refund/approve":       {`{"note":{"text":"x"}}`, "field note: expected a string, got a JSON object"},
		"/v1/certificates/c-1/actions/revoke": {`{"confirm_irreversible":1}`, "field confirm_irreversible: expected a boolean, got a JSON number"},
	}
	tests := map[string]struct {
		body     string
		headers  []string
		status   int
		mentions string
	}{
		"unknown field":        {body: `{"consnt":true}`, status: 400, mentions: `unknown field "consnt"`},
		"wrong type":           {status: 400},
		"bad JSON":             {body: `{"consent":`, status: 400, mentions: "malformed JSON"},
		"syntax error":         {body: `{consent: true}`, status: 400, mentions: "malformed JSON at byte 2"},
		"trailing data":        {body: `{} {"consent":true}`, status: 400, mentions: "data after the JSON object"},
		"trailing garbage":     {body: `{}x`, status: 400, mentions: "data after the JSON object"},
		"array":                {body: `[]`, status: 400, mentions: "must be a JSON object"},
		"null":                 {body: `null`, status: 400, mentions: "must be a JSON object"},
		"invalid UTF-8":        {body: "{\"scope\":\"\xff\xfe\"}", status: 400, mentions: "not valid UTF-8"},
		"too large":            {body: `{"requested_by":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}`, status: 413, mentions: "larger than 65536 bytes"},
		"missing content type": {body: `{}`, headers: []string{"Content-Type", ""}, status: 415, mentions: "Content-Type application/json is required"},
		"wrong content type":   {body: `{}`, headers: []string{"Content-Type", "text/plain"}, status: 415, mentions: `"text/plain" is not application/json`},
		"bad idempotency key":  {body: `{}`, headers: []string{"Idempotency-Key", "has spaces"}, status: 400, mentions: "Idempotency-Key"},
	}
	for path, p := range paths {
		for name, tc := range tests {
			t.Run(path+"/"+name, func(t *testing.T) {
				if tc.body == "" {
					tc.body, tc.mentions = p.wrongType, p.mentions
				}
				e := newEnv(t)
				rec := e.do(t, http.MethodPost, path, tc.body, tc.headers...)
				wantError(t, rec, tc.status, errs.Invalid, tc.mentions)
				if len(e.wf.starts)+len(e.wf.updateIDs)+len(e.wf.actions) != 0 {
					t.Error("a refused request reached the workflows")
				}
			})
		}
	}
}

func TestRequestBodyAccepted(t *testing.T) {
	tests := map[string]struct {
		body    string
		headers []string
	}{
		"empty body, no content type": {},
		"whitespace body":             {body: " \n", headers: []string{"Content-Type", ""}},
		"charset parameter":           {body: `{"consent":true}`, headers: []string{"Content-Type", "application/json; charset=utf-8"}},
		"trailing whitespace":         {body: "{\"consent\":true}\n\n"},
		"exactly the limit":           {body: `{"scope":"order"` + strings.Repeat(" ", DefaultMaxBodyBytes-17) + `}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.judge.decision = eligible
			rec := e.do(t, http.MethodPost, "/v1/orders/o-2/refund", tc.body, tc.headers...)
			wantStatus(t, rec, http.StatusAccepted)
		})
	}
}

func TestErrorStatusTable(t *testing.T) {
	want := map[errs.Code]int{
		errs.Invalid:              422,
		errs.NotFound:             404,
		errs.Conflict:             409,
		errs.IllegalTransition:    409,
		errs.NotRefundable:        422,
		errs.Unavailable:          503,
		errs.Internal:             500,
		errs.Unauthenticated:      401,
		errs.Forbidden:            403,
		errs.RateLimited:          429,
		errs.ResubmissionRejected: 422,
		errs.OriginalMethodFailed: 422,
		errs.Misconfigured:        503,
	}
	for code, status := range want {
		t.Run(string(code), func(t *testing.T) {
			e := newEnv(t)
			e.orders.err = errs.E(code, "the store says %s", code)
			rec := e.do(t, http.MethodGet, "/v1/orders/o-1/refund-eligibility", "")
			mentions := "the store says"
			if code == errs.Internal {
				mentions = "internal error"
			}
			wantError(t, rec, status, code, mentions)
		})
	}
	if len(errs.Codes) != len(want) {
		t.Errorf("errs has %d codes, the test %d: keep them in step", len(errs.Codes), len(want))
	}
}

// TestInternalErrorNotLeaked: an uncoded error is internal; its text is
// logged at error level and never sent.
func TestInternalErrorNotLeaked(t *testing.T) {
	secret := "sqlite: disk I/O error on /var/lib/certflow/secret.db"
	for name, err := range map[string]error{
		"uncoded":        errors.New(secret),
		"coded internal": errs.Wrap(errs.Internal, errors.New(secret), "reading order: %s", secret),
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.orders.err = err
			rec := e.do(t, http.MethodGet, "/v1/orders/o-1/refund-eligibility", "")
			d := wantError(t, rec, 500, errs.Internal, "internal error")
			if d.Detail != "internal error" || strings.Contains(rec.Body.String(), "sqlite") {
				t.Errorf("internal text leaked: %s", rec.Body)
			}
			logged := e.logs.FilterMessage("request failed").All()
			if len(logged) != 1 || logged[0].Level.String() != "error" || !strings.Contains(logged[0].ContextMap()["error"].(string), secret) {
				t.Errorf("internal error not logged at error level with its cause: %+v", logged)
			}
		})
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	e := newEnv(t)
	wantError(t, e.do(t, http.MethodGet, "/v1/nothing", ""), 404, errs.NotFound, "no route GET /v1/nothing")
	rec := e.do(t, http.MethodDelete, "/v1/orders/o-1/refund", "")
	wantError(t, rec, 405, errs.Invalid, "method DELETE is not allowed")
	if allow := rec.Header().Get("Allow"); !strings.Contains(allow, "POST") || !strings.Contains(allow, "GET") {
		t.Errorf("Allow = %q", allow)
	}
}

func TestPanicAnsweredAsInternal(t *testing.T) {
	e := newEnv(t)
	tokens, _ := NewTokens(testTokens...)
	s, err := New(Config{Workflows: e.wf, Orders: e.orders, WebhookSecrets: [][]byte{testSecret}, Tokens: tokens,
		Validate: func(domain.Order, time.Time) error { return nil },
		Judge: func(context.Context, domain.Order, domain.RefundRequest, time.Time) (policy.Decision, error) {
			panic("policy exploded")
		}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v1/orders/o-1/refund-eligibility", nil)
	req.Header.Set("Authorization", "Bearer "+consoleToken)
	s.Handler().ServeHTTP(rec, req)
	wantError(t, rec, 500, errs.Internal, "internal error")
	if strings.Contains(rec.Body.String(), "exploded") {
		t.Errorf("panic text leaked: %s", rec.Body)
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	e := newEnv(t)
	tokens, _ := NewTokens(testTokens...)
	full := Config{Workflows: e.wf, Orders: e.orders, Judge: e.judge.judge, WebhookSecrets: [][]byte{testSecret}, Tokens: tokens,
		Validate: func(domain.Order, time.Time) error { return nil }}
	tests := map[string]func(*Config){
		"no validator":    func(c *Config) { c.Validate = nil },
		"no tokens":       func(c *Config) { c.Tokens = nil },
		"no workflows":    func(c *Config) { c.Workflows = nil },
		"no orders":       func(c *Config) { c.Orders = nil },
		"no judge":        func(c *Config) { c.Judge = nil },
		"no secrets":      func(c *Config) { c.WebhookSecrets = nil },
		"an empty secret": func(c *Config) { c.WebhookSecrets = [][]byte{testSecret, {}} },
	}
	for name, mod := range tests {
		t.Run(name, func(t *testing.T) {
			c := full
			mod(&c)
			if _, err := New(c); errs.CodeOf(err) != errs.Invalid {
				t.Fatalf("New = %v, want errs.Invalid", err)
			}
		})
	}
	if _, err := New(full); err != nil {
		t.Fatalf("complete config refused: %v", err)
	}
}

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	rec := e.do(t, http.MethodGet, "/healthz", "")
	wantStatus(t, rec, 200)
	if got := decodeInto[map[string]string](t, rec); got["status"] != "ok" {
		t.Errorf("body = %v", got)
	}
}
