package gateway

import (
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/refund"
)

// TestResponsesConformToOpenAPI drives every operation through the answers
// it can give and checks each answer against openapi.yaml: the status is
// declared for the operation, and the JSON body matches the declared
// schema. Every status an operation declares is exercised at least once
// (or listed in notDriven with the reason).
func TestResponsesConformToOpenAPI(t *testing.T) {
	_, tree := parseOpenAPI(t)
	doc := tree.(map[string]any)
	seen := map[string][]string{} // "method path" → statuses answered

	check := func(t *testing.T, e *env, method, path, body string, headers ...string) {
		t.Helper()
		rec := e.do(t, method, path, body, headers...)
		pattern := routeOf(t, e, method, path)
		op := lookup(doc, "paths", pattern, strings.ToLower(method))
		if op == nil {
			t.Fatalf("%s %s: no operation %s %s in openapi.yaml", method, path, method, pattern)
		}
		status := fmt.Sprint(rec.Code)
		key := method + " " + pattern
		seen[key] = append(seen[key], status)
		resp := lookup(op.(map[string]any), "responses", status)
		if resp == nil {
			t.Fatalf("%s %s answered %d, which openapi.yaml does not declare for %s; body %s", method, path, rec.Code, key, rec.Body)
		}
		resp = deref(t, doc, resp)
		content, _ := lookup(resp.(map[string]any), "content").(map[string]any)
		if content == nil {
			return
		}
		// The answer's media type is one the response declares: an error
		// answer's is application/problem+json, never application/json.
		mt, _, _ := mime.ParseMediaType(rec.Header().Get("Content-Type"))
		schema := lookup(content, mt, "schema")
		if schema == nil {
			t.Fatalf("%s %s → %d: Content-Type %q, but openapi.yaml declares %v", method, path, rec.Code, mt, slices.Sorted(maps.Keys(content)))
		}
		if mt == "application/yaml" {
			return
		}
		var v any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
		}
		if err := conform(doc, schema, v, "body"); err != nil {
			t.Errorf("%s %s → %d: %v\nbody %s", method, path, rec.Code, err, rec.Body)
		}
	}

	running := refund.Status{OrderID: "o-1", State: statemachine.OrderReleasing, Outcome: refund.OutcomePending, Reasons: []string{},
		Steps: []refund.StepRecord{{At: testNow, Step: "requested"}}}
	fresh := func(t *testing.T) *env {
		e := newEnv(t)
		e.judge.decision = eligible
		return e
	}
	down := errs.E(errs.Unavailable, "Temporal did not answer for the refund of order o-1 within 2s; retry later")

	t.Run("meta", func(t *testing.T) {
		e := fresh(t)
		check(t, e, "GET", "/healthz", "")
		check(t, e, "GET", "/openapi.yaml", "")
	})
	t.Run("orders", func(t *testing.T) {
		e := fresh(t)
		e.orders.page = OrderPage{Orders: []OrderSummary{{Order: e.orders.orders["o-1"],
			Refund: &activities.RefundRecord{OrderID: "o-1", State: "awaiting_approval", Outcome: "awaiting_approval", Reasons: []string{}, UpdatedAt: testNow, Waiting: "GW-4: operator approval", RequestedBy: "console-backend"}}}}
		check(t, e, "GET", "/v1/orders?refund_state=awaiting_approval", "")
		check(t, e, "GET", "/v1/orders?limit=x", "")
		check(t, e, "GET", "/v1/orders?refund_state=nope", "")
		check(t, e, "GET", "/v1/orders?waiting_on=customer&escalated=false&outcome=pending", "")
		check(t, e, "GET", "/v1/orders?escalated=perhaps", "")
		check(t, e, "GET", "/v1/orders?no_such_param=1", "")
		check(t, e, "GET", "/v1/orders", "", anonymous...)
		check(t, e, "GET", "/v1/orders", "", asConsole...)
		e.orders.err = errs.E(errs.Unavailable, "database busy")
		check(t, e, "GET", "/v1/orders", "")
		e.orders.err = fmt.Errorf("disk on fire")
		check(t, e, "GET", "/v1/orders", "")
		limited := newEnvWith(t, RateLimit{Rate: 1, Burst: 1})
		check(t, limited, "GET", "/v1/orders", "")
		check(t, limited, "GET", "/v1/orders", "")
	})
	t.Run("order", func(t *testing.T) {
		e := fresh(t)
		check(t, e, "GET", "/v1/orders/o-1", "", asConsole...)
		deadline := testNow.Add(time.Hour)
		e.orders.refunds["o-1"] = activities.RefundRecord{OrderID: "o-1", State: "releasing", Outcome: "pending", UpdatedAt: testNow, Escalated: true,
			WaitingOn:  []domain.Wait{{Kind: domain.WaitCAReview, Certificate: "c-1", Since: testNow, Deadline: &deadline, Rule: "T-3"}},
			Escalation: &domain.Escalation{Rule: "T-3", Reason: "review late", At: testNow, Certificate: "c-1", Deadline: deadline},
			Audit: []domain.AuditEntry{{Action: domain.AuditRefundRequested, At: testNow, Actor: domain.Actor{Subject: "console-backend", Role: "console", IdempotencyKey: "k"}},
				{Action: domain.AuditCertificateAction, At: testNow, Actor: domain.Actor{Subject: "alice", Role: "operator"}, Certificate: "c-1", Event: "revoke"}}}
		e.orders.holders["c-1"] = "refund/o-1"
		check(t, e, "GET", "/v1/orders/o-1", "")
		check(t, e, "GET", "/v1/orders/o-1/refund", "")
		check(t, e, "GET", "/v1/orders/o-1?x=1", "")
		check(t, e, "GET", "/v1/orders/o-9", "")
		check(t, e, "GET", "/v1/orders/o-1", "", anonymous...)
		e.orders.err = errs.E(errs.Unavailable, "database busy")
		check(t, e, "GET", "/v1/orders/o-1", "")
		e.orders.err = fmt.Errorf("bug")
		check(t, e, "GET", "/v1/orders/o-1", "")
		limited := newEnvWith(t, RateLimit{Rate: 1, Burst: 1})
		check(t, limited, "GET", "/v1/orders/o-1", "")
		check(t, limited, "GET", "/v1/orders/o-1", "")
	})
	t.Run("intake", func(t *testing.T) {
		e := fresh(t)
		check(t, e, "PUT", "/v1/orders/o-new", orderJSON, asConsole...)
		check(t, e, "PUT", "/v1/orders/o-new", orderJSON, asConsole...)
		check(t, e, "PUT", "/v1/orders/o-new", strings.Replace(orderJSON, `"USD"`, `"XQX"`, 1), asConsole...)
		check(t, e, "PUT", "/v1/orders/o-new", `{"id":`, asConsole...)
		check(t, e, "PUT", "/v1/orders/o-new", orderJSON, anonymous...)
		check(t, e, "PUT", "/v1/orders/o-new", orderJSON, "Content-Type", "text/plain")
		check(t, e, "PUT", "/v1/orders/o-new", `{"id":"`+strings.Repeat("x", DefaultMaxBodyBytes)+`"}`)
		e.wf.running["o-new"] = running
		check(t, e, "PUT", "/v1/orders/o-new", orderJSON)
		e.wf.lastErr = down
		check(t, e, "PUT", "/v1/orders/o-new", orderJSON)
		e.wf.lastErr = fmt.Errorf("bug")
		check(t, e, "PUT", "/v1/orders/o-new", orderJSON)
		check(t, e, "PUT", "/v1/orders/o%00x", orderJSON)
		limited := newEnvWith(t, RateLimit{Rate: 1, Burst: 1})
		check(t, limited, "PUT", "/v1/orders/o-new", orderJSON)
		check(t, limited, "PUT", "/v1/orders/o-new", orderJSON)
	})
	t.Run("eligibility", func(t *testing.T) {
		e := fresh(t)
		e.orders.refunded["o-1"] = decimal.RequireFromString("40")
		e.orders.refunds["o-1"] = activities.RefundRecord{OrderID: "o-1", State: "cancelled", Outcome: "cancelled", Reasons: []string{}, UpdatedAt: testNow}
		e.judge.decision = policy.Decision{Profile: "aliyun-intl@1", Eligible: false, Refusals: []policy.Refusal{{Rule: "M-3", Message: "already refunded"}},
			MissingConfirmations: []policy.Confirmation{}, Steps: []policy.Step{}}
		check(t, e, "GET", "/v1/orders/o-1/refund-eligibility?consent=true", "", asConsole...)
		check(t, e, "GET", "/v1/orders/o-1/refund-eligibility?consent=maybe", "")
		check(t, e, "GET", "/v1/orders/o-1/refund-eligibility?scope=all", "")
		check(t, e, "GET", "/v1/orders/o-9/refund-eligibility", "")
		check(t, e, "GET", "/v1/orders/o-1/refund-eligibility", "", anonymous...)
		e.orders.err = errs.E(errs.Conflict, "order o-1 changed while read")
		check(t, e, "GET", "/v1/orders/o-1/refund-eligibility", "")
		e.orders.err = errs.E(errs.Unavailable, "database busy")
		check(t, e, "GET", "/v1/orders/o-1/refund-eligibility", "")
		e.orders.err = fmt.Errorf("bug")
		check(t, e, "GET", "/v1/orders/o-1/refund-eligibility", "")
		limited := newEnvWith(t, RateLimit{Rate: 1, Burst: 1})
		check(t, limited, "GET", "/v1/orders/o-1/refund-eligibility", "")
		check(t, limited, "GET", "/v1/orders/o-1/refund-eligibility", "")
	})
	t.Run("refund", func(t *testing.T) {
		e := fresh(t)
		check(t, e, "POST", "/v1/orders/o-1/refund", `{"consent":true}`, asConsole...)
		check(t, e, "GET", "/v1/orders/o-1/refund", "", asConsole...)
		check(t, e, "POST", "/v1/orders/o-1/refund", `{"consent":1}`)
		check(t, e, "POST", "/v1/orders/o-9/refund", ``)
		check(t, e, "POST", "/v1/orders/o-1/refund", `{}`, "Content-Type", "text/plain")
		check(t, e, "POST", "/v1/orders/o-1/refund", `{"scope":"`+strings.Repeat("x", DefaultMaxBodyBytes)+`"}`)
		check(t, e, "POST", "/v1/orders/o-1/refund", ``, anonymous...)
		check(t, e, "GET", "/v1/orders/o-9/refund", "")
		check(t, e, "GET", "/v1/orders/o%0D%0A/refund", "")
		check(t, e, "GET", "/v1/orders/o-1/refund", "", anonymous...)
		e.wf.statusErr = down
		check(t, e, "GET", "/v1/orders/o-1/refund?view=workflow", "")
		e.wf.statusErr = fmt.Errorf("bug")
		check(t, e, "GET", "/v1/orders/o-1/refund?view=workflow", "")
		check(t, e, "GET", "/v1/orders/o-1/refund?view=live", "")
		e2 := fresh(t)
		e2.judge.decision = policy.Decision{Refusals: []policy.Refusal{{Rule: "TC-5", Message: "consent"}}}
		check(t, e2, "POST", "/v1/orders/o-1/refund", ``)
		e2.wf.finished["o-1"] = refund.Status{OrderID: "o-1", Outcome: refund.OutcomeRefunded}
		e2.orders.refunds["o-1"] = activities.RefundRecord{OrderID: "o-1", State: "refunded", Outcome: "refunded", UpdatedAt: testNow}
		check(t, e2, "POST", "/v1/orders/o-1/refund", ``)
		e2.wf.lastErr = down
		check(t, e2, "POST", "/v1/orders/o-1/refund", ``)
		e2.wf.lastErr = fmt.Errorf("bug")
		check(t, e2, "POST", "/v1/orders/o-1/refund", ``)
		e3 := fresh(t)
		e3.orders.refunds["o-1"] = activities.RefundRecord{OrderID: "o-1", State: "refunded", Outcome: "refunded", Reasons: []string{}, Cash: "100.00", Currency: "USD", PaymentID: "pay-1", UpdatedAt: testNow}
		check(t, e3, "GET", "/v1/orders/o-1/refund", "")
		limited := newEnvWith(t, RateLimit{Rate: 1, Burst: 1})
		check(t, limited, "POST", "/v1/orders/o-1/refund", "")
		check(t, limited, "POST", "/v1/orders/o-1/refund", "")
		check(t, limited, "GET", "/v1/orders/o-1/refund", "")
	})
	t.Run("cancel and approve", func(t *testing.T) {
		for _, action := range []string{"cancel", "approve"} {
			path := "/v1/orders/o-1/refund/" + action
			e := fresh(t)
			e.wf.running["o-1"] = running
			check(t, e, "POST", path, `{}`)
			check(t, e, "POST", path, `{"x":1}`)
			check(t, e, "POST", "/v1/orders/o-9/refund/"+action, ``)
			check(t, e, "POST", path, `{}`, "Content-Type", "text/plain")
			check(t, e, "POST", path, `{"reason":"`+strings.Repeat("x", DefaultMaxBodyBytes)+`"}`)
			check(t, e, "POST", path, ``, anonymous...)
			check(t, e, "POST", path, ``, asConsole...)
			e.wf.cancelErr, e.wf.approveErr = errs.R(errs.Conflict, []string{"CAN-1"}, "no longer"), errs.R(errs.Conflict, []string{"GW-4"}, "not awaiting")
			check(t, e, "POST", path, ``)
			if action == "approve" {
				e.wf.approveErr = errs.R(errs.Forbidden, []string{"GW-4"}, "four eyes")
				check(t, e, "POST", path, ``)
			}
			e.wf.cancelErr, e.wf.approveErr = errs.E(errs.Invalid, "refused"), errs.E(errs.Invalid, "refused")
			check(t, e, "POST", path, ``)
			e.wf.cancelErr, e.wf.approveErr = down, down
			check(t, e, "POST", path, ``)
			e.wf.cancelErr, e.wf.approveErr = fmt.Errorf("bug"), fmt.Errorf("bug")
			check(t, e, "POST", path, ``)
			limited := newEnvWith(t, RateLimit{Rate: 1, Burst: 1})
			check(t, limited, "POST", path, "")
			check(t, limited, "POST", path, "")
		}
	})
	t.Run("certificates", func(t *testing.T) {
		e := fresh(t)
		check(t, e, "GET", "/v1/certificates/c-1", "", asConsole...)
		check(t, e, "POST", "/v1/certificates/c-1/actions/revoke", `{"confirm_irreversible":true}`, asConsole...)
		check(t, e, "GET", "/v1/certificates/c-1", "")
		check(t, e, "GET", "/v1/certificates/c-9", "")
		check(t, e, "GET", "/v1/certificates/c%00", "")
		check(t, e, "GET", "/v1/certificates/c-1", "", anonymous...)
		check(t, e, "POST", "/v1/certificates/c-1/actions/revoke", `{"confirm_irreversible":"yes"}`)
		check(t, e, "POST", "/v1/certificates/c-1/actions/explode", ``)
		check(t, e, "POST", "/v1/certificates/c-1/actions/submit", ``)
		check(t, e, "POST", "/v1/certificates/c-1/actions/delete", `{}`, "Content-Type", "text/plain")
		check(t, e, "POST", "/v1/certificates/c-1/actions/delete", `{"x":"`+strings.Repeat("x", DefaultMaxBodyBytes)+`"}`)
		check(t, e, "POST", "/v1/certificates/c-1/actions/delete", ``, anonymous...)
		e2 := fresh(t)
		check(t, e2, "POST", "/v1/certificates/c-1/actions/revoke", ``)
		e2.wf.certStatusErr = down
		check(t, e2, "GET", "/v1/certificates/c-9", "")
		e2.wf.certStatusErr = fmt.Errorf("bug")
		check(t, e2, "GET", "/v1/certificates/c-9", "")
		e2.wf.actionErr = down
		check(t, e2, "POST", "/v1/certificates/c-1/actions/revoke", `{"confirm_irreversible":true}`)
		e2.wf.actionErr = fmt.Errorf("bug")
		check(t, e2, "POST", "/v1/certificates/c-1/actions/revoke", `{"confirm_irreversible":true}`)
		// Held by a refund: the status from the store with held_by; an
		// action answered by the refund, or refused by it.
		e3 := fresh(t)
		e3.orders.holders["c-1"] = "refund/o-1"
		e3.wf.running["o-1"] = running
		e3.wf.held["c-1"] = statemachine.Issued
		check(t, e3, "GET", "/v1/certificates/c-1", "")
		check(t, e3, "POST", "/v1/certificates/c-1/actions/revoke", `{"confirm_irreversible":true}`)
		check(t, e3, "POST", "/v1/certificates/c-1/actions/revoke", `{"confirm_irreversible":true}`)
		e3.wf.refundActionErr = errs.R(errs.Invalid, []string{"SSL-9"}, "SSL-9: revoke cannot be undone; confirm_irreversible must be true")
		check(t, e3, "POST", "/v1/certificates/c-1/actions/revoke", ``)
		limited := newEnvWith(t, RateLimit{Rate: 1, Burst: 1})
		check(t, limited, "GET", "/v1/certificates/c-1", "")
		check(t, limited, "GET", "/v1/certificates/c-1", "")
		check(t, limited, "POST", "/v1/certificates/c-1/actions/revoke", "")
	})

	t.Run("events", func(t *testing.T) {
		e := fresh(t)
		e.events.events = []ports.Event{
			{ID: "evt-1", Type: ports.EventRefundWaitingChanged, OrderID: "o-1", OccurredAt: testNow, Cursor: "1",
				Data: json.RawMessage(`{"order_id":"o-1","state":"releasing","outcome":"pending","reasons":[],"updated_at":"2026-03-06T10:00:00Z","waiting_on":[{"kind":"customer","certificate":"c-1","since":"2026-03-06T10:00:00Z","rule":"SSL-6"}],"audit":[]}`)},
			{ID: "evt-2", Type: ports.EventCertificateStateChanged, OrderID: "o-1", CertificateID: "c-1", OccurredAt: testNow, Cursor: "2",
				Data: json.RawMessage(`{"certificate_id":"c-1","order_id":"o-1","from":"issued","state":"validating_revocation"}`)},
		}
		e.events.endpoints = []ports.EndpointStatus{{Name: "console", URL: "https://console.example/hooks", Enabled: true, Delivered: 2, LastSuccessAt: testNow},
			{Name: "gone", URL: "https://old.example/hooks", Disabled: "answered 410 Gone", Pending: 3, ConsecutiveFailures: 1, LastError: "410 Gone", LastAttemptAt: testNow, RetryAt: testNow}}
		check(t, e, "GET", "/v1/events", "", asConsole...)
		check(t, e, "GET", "/v1/events?after=2", "", asConsole...)
		check(t, e, "GET", "/v1/events?after=x", "")
		check(t, e, "GET", "/v1/events", "", anonymous...)
		check(t, e, "GET", "/v1/event-endpoints", "")
		check(t, e, "GET", "/v1/event-endpoints?x=1", "")
		check(t, e, "GET", "/v1/event-endpoints", "", anonymous...)
		check(t, e, "GET", "/v1/event-endpoints", "", asConsole...)
		check(t, e, "POST", "/v1/event-endpoints/gone/enable", "")
		check(t, e, "POST", "/v1/event-endpoints/nope/enable", "")
		check(t, e, "POST", "/v1/event-endpoints/gone/enable", `{"x":1}`)
		check(t, e, "POST", "/v1/event-endpoints/gone/enable", `{}`, "Content-Type", "text/plain")
		check(t, e, "POST", "/v1/event-endpoints/gone/enable", `{"x":"`+strings.Repeat("x", DefaultMaxBodyBytes)+`"}`)
		check(t, e, "POST", "/v1/event-endpoints/gone/enable", "", anonymous...)
		check(t, e, "POST", "/v1/event-endpoints/gone/enable", "", asConsole...)
		e.events.err = errs.E(errs.Unavailable, "database busy")
		check(t, e, "GET", "/v1/events", "")
		check(t, e, "GET", "/v1/event-endpoints", "")
		check(t, e, "POST", "/v1/event-endpoints/gone/enable", "")
		e.events.err = fmt.Errorf("bug")
		check(t, e, "GET", "/v1/events", "")
		check(t, e, "GET", "/v1/event-endpoints", "")
		check(t, e, "POST", "/v1/event-endpoints/gone/enable", "")
		limited := newEnvWith(t, RateLimit{Rate: 1, Burst: 1})
		check(t, limited, "GET", "/v1/events", "")
		check(t, limited, "GET", "/v1/events", "")
		check(t, limited, "GET", "/v1/event-endpoints", "")
		check(t, limited, "POST", "/v1/event-endpoints/gone/enable", "")
	})

	// Every declared status was answered at least once, but for these,
	// which the fakes cannot provoke.
	notDriven := map[string]string{
		"GET /healthz 500":      "the health handler has no failure path",
		"GET /openapi.yaml 500": "serving an embedded document has no failure path",
		"POST /v1/ca/callbacks": "the CA callbacks are the ca helper's (callbacks_test.go)",
	}
	paths := doc["paths"].(map[string]any)
	for path, ops := range paths {
		for method, op := range ops.(map[string]any) {
			key := strings.ToUpper(method) + " " + path
			if _, skip := notDriven[key]; skip {
				continue
			}
			for status := range op.(map[string]any)["responses"].(map[string]any) {
				if _, skip := notDriven[key+" "+status]; skip {
					continue
				}
				if !slices.Contains(seen[key], status) {
					t.Errorf("%s declares %s, which no request of this test provoked", key, status)
				}
			}
		}
	}
}

// routeOf is the mux pattern that serves method path.
func routeOf(t *testing.T, e *env, method, path string) string {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for _, rt := range (&Server{}).routes() {
		if rt.method != method {
			continue
		}
		if matchPattern(rt.path, r.URL.Path) {
			return rt.path
		}
	}
	t.Fatalf("no route for %s %s", method, path)
	return ""
}

// matchPattern matches a path against a mux pattern segment by segment.
func matchPattern(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if !strings.HasPrefix(ps[i], "{") && ps[i] != xs[i] {
			return false
		}
	}
	return true
}

// lookup walks a YAML tree by keys.
func lookup(node any, keys ...string) any {
	for _, k := range keys {
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		if node, ok = m[k]; !ok {
			return nil
		}
	}
	return node
}

// deref follows a $ref to its node.
func deref(t *testing.T, doc map[string]any, node any) any {
	t.Helper()
	for {
		m, ok := node.(map[string]any)
		if !ok {
			return node
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return node
		}
		node = lookup(doc, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...)
		if node == nil {
			t.Fatalf("$ref %s does not resolve", ref)
		}
	}
}

// conform checks v against the subset of JSON Schema openapi.yaml uses:
// $ref, type (one or a list), properties, required, additionalProperties
// false, items, enum, const, minLength.
func conform(doc map[string]any, schema, v any, at string) error {
	s, ok := schema.(map[string]any)
	if !ok {
		return nil
	}
	if ref, ok := s["$ref"].(string); ok {
		target := lookup(doc, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...)
		if target == nil {
			return fmt.Errorf("%s: $ref %s does not resolve", at, ref)
		}
		if err := conform(doc, target, v, at); err != nil {
			return err
		}
	}
	if typ, ok := s["type"]; ok {
		var types []string
		switch x := typ.(type) {
		case string:
			types = []string{x}
		case []any:
			for _, y := range x {
				types = append(types, fmt.Sprint(y))
			}
		}
		if !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
			return fmt.Errorf("%s: a JSON %s, want %v", at, jsonType(v), types)
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		return fmt.Errorf("%s: %v is not one of %v", at, v, enum)
	}
	if c, ok := s["const"]; ok && fmt.Sprint(c) != fmt.Sprint(v) {
		return fmt.Errorf("%s: %v is not %v", at, v, c)
	}
	if n, ok := s["minLength"].(int); ok {
		if str, ok := v.(string); ok && len(str) < n {
			return fmt.Errorf("%s: %q shorter than %d", at, str, n)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if _, ok := x[r.(string)]; !ok {
					return fmt.Errorf("%s: required %s is missing", at, r)
				}
			}
		}
		for k, val := range x {
			ps, declared := props[k]
			if !declared {
				if ap, ok := s["additionalProperties"].(bool); ok && !ap {
					return fmt.Errorf("%s: %s is not declared", at, k)
				}
				if ap, ok := s["additionalProperties"].(map[string]any); ok {
					if err := conform(doc, ap, val, at+"."+k); err != nil {
						return err
					}
				}
				continue
			}
			if err := conform(doc, ps, val, at+"."+k); err != nil {
				return err
			}
		}
	case []any:
		for i, it := range x {
			if err := conform(doc, s["items"], it, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}
