package gateway

import (
	"bytes"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
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
