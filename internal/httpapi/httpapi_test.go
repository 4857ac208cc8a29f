package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/certflow/certflow/errs"
)

type body struct {
	Scope   string `json:"scope"`
	Consent bool   `json:"consent"`
}

// Decode: an empty body is no body; a body must be one JSON object of
// known fields, declared application/json, within the size bound; each
// refusal has its status and names what is wrong without echoing the body.
func TestDecode(t *testing.T) {
	tests := map[string]struct {
		ct, body string
		max      int64
		status   int
		detail   string
	}{
		"object":            {ct: "application/json", body: `{"scope":"all","consent":true}`},
		"charset parameter": {ct: "application/json; charset=utf-8", body: `{"scope":"all"}`},
		"empty body":        {body: ""},
		"blank body":        {body: " \n"},
		"no content type":   {body: `{"scope":"all"}`, status: 415, detail: "Content-Type application/json is required"},
		"other media type":  {ct: "text/plain", body: `{"scope":"all"}`, status: 415, detail: `Content-Type "text/plain" is not application/json`},
		"array":             {ct: "application/json", body: `["all"]`, status: 400, detail: "request body must be a JSON object"},
		"unknown field":     {ct: "application/json", body: `{"scop":"all"}`, status: 400, detail: `unknown field "scop"`},
		"wrong type":        {ct: "application/json", body: `{"consent":"yes"}`, status: 400, detail: "field consent: expected a boolean, got a JSON string"},
		"syntax":            {ct: "application/json", body: `{"scope":}`, status: 400, detail: "malformed JSON at byte 10"},
		"truncated":         {ct: "application/json", body: `{"scope":"all"`, status: 400, detail: "malformed JSON: unexpected end of input"},
		"two objects":       {ct: "application/json", body: `{"scope":"all"} {}`, status: 400, detail: "request body has data after the JSON object"},
		"invalid UTF-8":     {ct: "application/json", body: "{\"scope\":\"\xff\"}", status: 400, detail: "request body is not valid UTF-8"},
		"too large":         {ct: "application/json", body: `{"scope":"` + strings.Repeat("a", 64) + `"}`, max: 32, status: 413, detail: "request body is larger than 32 bytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/orders/o-1/refund", strings.NewReader(tc.body))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			w := httptest.NewRecorder()
			s := &Responder{MaxBody: tc.max}
			var dst body
			err := s.Decode(w, r, &dst)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode accepted %q", tc.body)
			}
			s.Error(w, r, err)
			p := problemOf(t, w)
			if p.Status != tc.status || w.Code != tc.status || p.Code != errs.Invalid || p.Detail != tc.detail {
				t.Fatalf("got %d %s %q, want %d invalid %q", p.Status, p.Code, p.Detail, tc.status, tc.detail)
			}
		})
	}
}

// Query: unknown, repeated and malformed parameters are 400s naming them.
func TestQuery(t *testing.T) {
	tests := map[string]struct {
		raw     string
		allowed []string
		detail  string // "" when accepted
	}{
		"known":            {raw: "view=record", allowed: []string{"view"}},
		"none":             {raw: ""},
		"unknown":          {raw: "veiw=record", allowed: []string{"view", "limit"}, detail: "query parameter veiw is not known; allowed: view, limit"},
		"takes none":       {raw: "x=1", detail: "query parameter x is not known; this call takes no query parameters"},
		"twice":            {raw: "view=a&view=b", allowed: []string{"view"}, detail: "query parameter view is given 2 times; give it once"},
		"malformed escape": {raw: "view=%zz", allowed: []string{"view"}, detail: "the query string is malformed"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/v1/orders?"+tc.raw, nil)
			_, err := Query(r, tc.allowed...)
			if tc.detail == "" {
				if err != nil {
					t.Fatalf("Query: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(errs.MessageOf(err), tc.detail) || errs.CodeOf(err) != errs.Invalid {
				t.Fatalf("Query error %v, want invalid containing %q", err, tc.detail)
			}
		})
	}
}

// The typed parameters: absent is the default; a bad value is a 400 that
// names the parameter and what it takes.
func TestParameters(t *testing.T) {
	if err := OneOf("view", "workflow", []string{"record", "workflow"}); err != nil {
		t.Errorf("OneOf accepted value: %v", err)
	}
	if err := OneOf("view", "", []string{"record"}); err != nil {
		t.Errorf("OneOf absent: %v", err)
	}
	if err := OneOf("view", "live", []string{"record", "workflow"}); err == nil || errs.MessageOf(err) != `query parameter view: unknown value "live"; allowed: record, workflow` {
		t.Errorf("OneOf refusal: %v", err)
	}
	for raw, want := range map[string]string{"": "<nil>", "true": "true", "false": "false", "yes": "error"} {
		b, err := BoolParam(map[string][]string{"held": {raw}}, "held")
		got := "<nil>"
		switch {
		case err != nil:
			got = "error"
		case b != nil:
			got = map[bool]string{true: "true", false: "false"}[*b]
		}
		if got != want {
			t.Errorf("BoolParam(%q) = %s, want %s", raw, got, want)
		}
	}
	for raw, want := range map[string]int{"": 50, "1": 1, "200": 200, "0": -1, "201": -1, "ten": -1} {
		n, err := LimitParam(map[string][]string{"limit": {raw}}, 50, 200)
		if err != nil {
			n = -1
		}
		if n != want {
			t.Errorf("LimitParam(%q) = %d (%v), want %d", raw, n, err, want)
		}
	}
	if err := CursorError("cursor", errs.E(errs.Invalid, "not a cursor")); errs.MessageOf(err) != "query parameter cursor: not a cursor" {
		t.Errorf("CursorError: %v", err)
	}
	if down := errs.E(errs.Unavailable, "store down"); CursorError("cursor", down) != down {
		t.Error("CursorError changed an error that is not the cursor's")
	}
}

// IdempotencyKey: optional; 1 to 255 visible ASCII characters.
func TestIdempotencyKey(t *testing.T) {
	for key, ok := range map[string]bool{"": true, "k-1": true, strings.Repeat("k", 255): true,
		strings.Repeat("k", 256): false, "two words": false, "ключ": false, "tab\t": false} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		if key != "" {
			r.Header.Set("Idempotency-Key", key)
		}
		got, err := IdempotencyKey(r)
		if (err == nil) != ok || (ok && got != key) {
			t.Errorf("IdempotencyKey(%.20q) = %q, %v; want accepted=%v", key, got, err, ok)
		}
	}
	if UpdateID("/v1/orders/o-1/refund/cancel", "") != "" || UpdateID("/p", "k") != "/p#k" {
		t.Error("UpdateID: scoped by path, empty without a key")
	}
}

// Error: one status per code, the rules carried, internal causes logged
// and never shown, unknown codes answered as internal, and an abandoned
// request answered 499 without a body.
func TestErrorAnswersProblems(t *testing.T) {
	tests := map[string]struct {
		err           error
		status        int
		code          errs.Code
		detail        string
		rules         []string
		logged, level string
	}{
		"not refundable": {err: errs.R(errs.NotRefundable, []string{"SSL-3"}, "combined"), status: 422, code: errs.NotRefundable, detail: "combined", rules: []string{"SSL-3"}},
		"not found":      {err: errs.E(errs.NotFound, "order o-1 has no refund"), status: 404, code: errs.NotFound, detail: "order o-1 has no refund", rules: []string{}},
		"unavailable":    {err: errs.E(errs.Unavailable, "temporal down"), status: 503, code: errs.Unavailable, detail: "temporal down", rules: []string{}, logged: "request failed", level: "warn"},
		"internal":       {err: errs.E(errs.Internal, "secret dsn in here"), status: 500, code: errs.Internal, detail: InternalMessage, rules: []string{}, logged: "request failed", level: "error"},
		"uncoded":        {err: errors.New("boom"), status: 500, code: errs.Internal, detail: InternalMessage, rules: []string{}, logged: "request failed", level: "error"},
		"own status":     {err: WithStatus(http.StatusRequestEntityTooLarge, errs.R(errs.Invalid, []string{"X-1"}, "too big")), status: 413, code: errs.Invalid, detail: "too big", rules: []string{"X-1"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			s := &Responder{Log: zap.New(core)}
			r := httptest.NewRequest(http.MethodPost, "/v1/orders/o%201/refund", nil)
			w := httptest.NewRecorder()
			w.Header().Set("Retry-After", "1")
			s.Error(w, r, tc.err)
			p := problemOf(t, w)
			if p.Status != tc.status || p.Code != tc.code || p.Detail != tc.detail || strings.Join(p.Rules, ",") != strings.Join(tc.rules, ",") || p.Rules == nil {
				t.Fatalf("problem %+v, want %d %s %q rules %v", p, tc.status, tc.code, tc.detail, tc.rules)
			}
			if p.Type != ProblemTypeBase+string(tc.code) || p.Title != ProblemTitle(tc.code) || p.Instance != "/v1/orders/o%201/refund" {
				t.Fatalf("problem type %q title %q instance %q", p.Type, p.Title, p.Instance)
			}
			if w.Header().Get("Retry-After") != "1" {
				t.Error("a header set before the problem was dropped")
			}
			if tc.logged != "" {
				entries := logs.FilterMessage(tc.logged).All()
				if len(entries) != 1 || entries[0].Level.String() != tc.level {
					t.Fatalf("logged %v, want one %s %q", logs.All(), tc.level, tc.logged)
				}
			}
		})
	}
	t.Run("abandoned", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r := httptest.NewRequest(http.MethodGet, "/v1/orders/o-1/refund", nil).WithContext(ctx)
		w := httptest.NewRecorder()
		(&Responder{}).Error(w, r, errs.E(errs.Unavailable, "temporal: context canceled"))
		if w.Code != StatusClientClosedRequest || w.Body.Len() != 0 {
			t.Fatalf("answered %d %q, want 499 and no body", w.Code, w.Body.String())
		}
	})
}

// A long path is cut for the instance without splitting an escape.
func TestInstanceIsBounded(t *testing.T) {
	path := "/v1/orders/" + strings.Repeat("%C3%A9", 200)
	r := httptest.NewRequest(http.MethodGet, path, nil)
	got := instance(r)
	if len(got) > MaxInstanceLen || !strings.HasPrefix(path, got) || strings.HasSuffix(got, "%") || strings.HasSuffix(got[:len(got)-1], "%") {
		t.Fatalf("instance %d bytes ending %q", len(got), got[len(got)-6:])
	}
}

// Roles: an operator may do what the console may, not the reverse.
func TestRoles(t *testing.T) {
	for _, tc := range []struct {
		have, need Role
		ok         bool
	}{{RoleConsole, RoleConsole, true}, {RoleOperator, RoleConsole, true}, {RoleOperator, RoleOperator, true},
		{RoleConsole, RoleOperator, false}, {"", RoleConsole, false}, {RoleOperator, "admin", false}} {
		if got := tc.have.Allows(tc.need); got != tc.ok {
			t.Errorf("%q.Allows(%q) = %v, want %v", tc.have, tc.need, got, tc.ok)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("Idempotency-Key", "k-9")
	r = WithPrincipal(r, Principal{Subject: "ops-1", Role: RoleOperator})
	if a := ActorOf(r); a.Subject != "ops-1" || a.Role != "operator" || a.IdempotencyKey != "k-9" {
		t.Fatalf("ActorOf = %+v", a)
	}
}

func problemOf(t *testing.T, w *httptest.ResponseRecorder) Problem {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != ProblemContentType {
		t.Fatalf("Content-Type %q, want %s", ct, ProblemContentType)
	}
	var p Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", w.Body.String(), err)
	}
	return p
}
