package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/certflow/certflow/ports"
)

// TestOpenAPICopyIsCurrent holds the embedded copy to api/openapi.yaml.
func TestOpenAPICopyIsCurrent(t *testing.T) {
	src, err := os.ReadFile("../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src, openAPIDoc) {
		t.Fatal("gateway/openapi.yaml differs from api/openapi.yaml: run `go generate ./gateway/`")
	}
}

type openAPIDocument struct {
	OpenAPI string                               `yaml:"openapi"`
	Paths   map[string]map[string]map[string]any `yaml:"paths"`
}

func parseOpenAPI(t *testing.T) (openAPIDocument, any) {
	t.Helper()
	var doc openAPIDocument
	if err := yaml.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := yaml.Unmarshal(openAPIDoc, &tree); err != nil {
		t.Fatal(err)
	}
	return doc, tree
}

// TestOpenAPICoversRoutes: every route of the mux is documented, and every
// documented operation is served.
func TestOpenAPICoversRoutes(t *testing.T) {
	doc, _ := parseOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi = %q, want 3.1", doc.OpenAPI)
	}
	e := newEnv(t)
	s, _ := New(Config{Workflows: e.wf, Orders: e.orders, Judge: e.judge.judge, WebhookSecrets: [][]byte{testSecret}})
	var served []string
	for _, rt := range s.routes() {
		op := strings.ToLower(rt.method)
		served = append(served, op+" "+rt.path)
		if _, ok := doc.Paths[rt.path][op]; !ok {
			t.Errorf("route %s %s is not in openapi.yaml", rt.method, rt.path)
		}
	}
	for path, ops := range doc.Paths {
		for op := range ops {
			if op == "parameters" {
				continue
			}
			if !slices.Contains(served, op+" "+path) {
				t.Errorf("openapi.yaml documents %s %s, which is not served", strings.ToUpper(op), path)
			}
		}
	}
}

// TestOpenAPIRefsResolve: every $ref points at a component that exists.
func TestOpenAPIRefsResolve(t *testing.T) {
	_, tree := parseOpenAPI(t)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if k == "$ref" {
					if !resolves(tree, c.(string)) {
						t.Errorf("$ref %s does not resolve", c)
					}
					continue
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(tree)
}

func resolves(tree any, ref string) bool {
	path, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	node := tree
	for _, part := range strings.Split(path, "/") {
		m, ok := node.(map[string]any)
		if !ok {
			return false
		}
		if node, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

func TestServeOpenAPI(t *testing.T) {
	e := newEnv(t)
	rec := e.do(t, http.MethodGet, "/openapi.yaml", "")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/yaml" || !bytes.Equal(rec.Body.Bytes(), openAPIDoc) {
		t.Fatalf("GET /openapi.yaml = %d %q, %d bytes", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
}

// TestOpenAPIWebhooksCoverEventTypes: each outbound event type is a
// webhook with the Standard Webhooks headers, its type as a constant and
// the data its events carry; EventType lists exactly ports.EventTypes.
func TestOpenAPIWebhooksCoverEventTypes(t *testing.T) {
	_, tree := parseOpenAPI(t)
	doc := tree.(map[string]any)
	hooks, _ := doc["webhooks"].(map[string]any)
	if len(hooks) != len(ports.EventTypes) {
		t.Errorf("%d webhooks, want one for each of %v", len(hooks), ports.EventTypes)
	}
	var enum []string
	for _, v := range lookup(doc, "components", "schemas", "EventType", "enum").([]any) {
		enum = append(enum, v.(string))
	}
	for _, typ := range ports.EventTypes {
		t.Run(string(typ), func(t *testing.T) {
			if !slices.Contains(enum, string(typ)) {
				t.Errorf("EventType does not list %s", typ)
			}
			op, ok := lookup(hooks, string(typ), "post").(map[string]any)
			if !ok {
				t.Fatalf("no webhook %s", typ)
			}
			var headers []string
			for _, p := range op["parameters"].([]any) {
				headers = append(headers, deref(t, doc, p).(map[string]any)["name"].(string))
			}
			if want := []string{"webhook-id", "webhook-timestamp", "webhook-signature"}; !slices.Equal(headers, want) {
				t.Errorf("headers %v, want %v", headers, want)
			}
			all := lookup(op, "requestBody", "content", "application/json", "schema", "allOf").([]any)
			wantData := "#/components/schemas/RefundRecord"
			if !strings.HasPrefix(string(typ), "refund.") {
				wantData = "#/components/schemas/CertificateChange"
			}
			if all[0].(map[string]any)["$ref"] != "#/components/schemas/Event" ||
				lookup(all[1], "properties", "type", "const") != string(typ) ||
				lookup(all[1], "properties", "data", "$ref") != wantData {
				t.Errorf("body schema %v, want an Event of type %s with data %s", all, typ, wantData)
			}
		})
	}
}

// TestOpenAPIEventSchemaHoldsEvents: the Event JSON as the store writes it
// (both kinds of data) conforms to the Event schema.
func TestOpenAPIEventSchemaHoldsEvents(t *testing.T) {
	_, tree := parseOpenAPI(t)
	doc := tree.(map[string]any)
	for name, ev := range map[string]ports.Event{
		"refund":      {ID: "evt-1", Type: ports.EventRefundPaid, OrderID: "o-1", OccurredAt: testNow, Cursor: "1", Data: json.RawMessage(`{"order_id":"o-1"}`)},
		"certificate": {ID: "evt-2", Type: ports.EventCertificateStateChanged, OrderID: "o-1", CertificateID: "c-1", OccurredAt: testNow, Cursor: "2", Data: json.RawMessage(`{}`)},
	} {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		if err := conform(doc, map[string]any{"$ref": "#/components/schemas/Event"}, v, name); err != nil {
			t.Error(err)
		}
	}
}
