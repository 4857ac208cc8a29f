package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpapi"
)

// TestProblemCoversEveryCode: every code has its own title, and the
// Problem schema of openapi.yaml lists exactly the codes.
func TestProblemCoversEveryCode(t *testing.T) {
	seen := map[string]errs.Code{}
	for _, c := range errs.Codes {
		title := ProblemTitle(c)
		if title == "" || (c != errs.Internal && title == ProblemTitle(errs.Internal)) {
			t.Errorf("code %s has no problem title", c)
		}
		if other, dup := seen[title]; dup {
			t.Errorf("codes %s and %s share the title %q", other, c, title)
		}
		seen[title] = c
	}
	if ProblemTitle("no_such_code") != ProblemTitle(errs.Internal) {
		t.Error("an unknown code does not get internal's title")
	}
	_, tree := parseOpenAPI(t)
	enum, _ := lookup(tree, "components", "schemas", "Problem", "properties", "code", "enum").([]any)
	var got []string
	for _, v := range enum {
		got = append(got, fmt.Sprint(v))
	}
	var want []string
	for _, c := range errs.Codes {
		want = append(want, string(c))
	}
	if !slices.Equal(got, want) {
		t.Errorf("Problem.code enum %v, want errs.Codes %v", got, want)
	}
}

// TestProblemBody pins the exact body of an answer the mux refuses.
func TestProblemBody(t *testing.T) {
	e := newEnv(t)
	rec := e.do(t, http.MethodGet, "/v1/nothing", "")
	wantError(t, rec, 404, errs.NotFound, "")
	want := `{"type":"https://certflow.dev/problems/not_found","title":"Not found","status":404,"detail":"no route GET /v1/nothing","instance":"/v1/nothing","code":"not_found","rules":[]}` + "\n"
	if rec.Body.String() != want {
		t.Errorf("body\n%s\nwant\n%s", rec.Body, want)
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", rec.Header().Get("X-Content-Type-Options"))
	}
}

// TestProblemInstanceIsBounded: the instance is the escaped path, cut
// without splitting an escape.
func TestProblemInstanceIsBounded(t *testing.T) {
	e := newEnv(t)
	for _, seg := range []string{strings.Repeat("%C3%A9", 200), "x" + strings.Repeat("%C3%A9", 200), "xx" + strings.Repeat("%C3%A9", 200)} {
		p := wantError(t, e.do(t, http.MethodGet, "/v1/nothing/"+seg, ""), 404, errs.NotFound, "no route")
		if len(p.Instance) > httpapi.MaxInstanceLen || len(p.Instance) < httpapi.MaxInstanceLen-2 || !strings.HasPrefix(p.Instance, "/v1/nothing/") {
			t.Errorf("instance %d bytes: %q", len(p.Instance), p.Instance)
		}
		if _, err := url.PathUnescape(p.Instance); err != nil {
			t.Errorf("instance %q: %v", p.Instance, err)
		}
	}
}
