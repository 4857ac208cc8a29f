package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// call reads both error shapes it meets: the gateway's RFC 9457 problem
// and casim's {"error":{...}}.
func TestCallReadsBothErrorShapes(t *testing.T) {
	bodies := map[string]string{
		"/gateway": `{"type":"https://certflow.dev/problems/not_refundable","title":"Not refundable","status":422,"detail":"SSL-9: confirm first","instance":"/gateway","code":"not_refundable","rules":["SSL-9"]}`,
		"/casim":   `{"error":{"code":"not_found","message":"no certificate c-9"}}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte(bodies[r.URL.Path]))
	}))
	defer srv.Close()
	d := &demo{hc: srv.Client()}
	for path, want := range map[string]string{
		"/gateway": "422 not_refundable: SSL-9: confirm first [SSL-9]",
		"/casim":   "422 not_found: no certificate c-9",
	} {
		_, err := d.call(context.Background(), http.MethodGet, srv.URL+path, nil, nil)
		var ae *apiErr
		if !errors.As(err, &ae) || ae.Error() != want {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
		if path == "/gateway" && (ae == nil || !slices.Equal(ae.rules, []string{"SSL-9"})) {
			t.Errorf("rules of the problem: %+v", ae)
		}
	}
}
