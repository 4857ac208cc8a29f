package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/certflow/certflow/internal/obs"
)

// CallbackRoute is the route of the CA's review callbacks.
const CallbackRoute = "POST /v1/ca/callbacks"

// Route returns the pattern of the route r matches, such as
// "POST /v1/orders/{id}/refund", or "" when none does. It labels request
// metrics and names spans: bounded, unlike the path.
func (s *Server) Route(r *http.Request) string {
	_, pattern := s.mux.Handler(r)
	return pattern
}

// CallbackOutcomes wraps h (the gateway's handler) so that each CA
// callback's outcome is passed to record: result "accepted" with reason
// "ok", or "refused" with a reason: "unauthenticated" for a signature or
// timestamp refused (401), otherwise the error code answered (invalid for
// a malformed event, unavailable when Temporal cannot be reached, ...). Other routes pass
// through untouched.
func (s *Server) CallbackOutcomes(h http.Handler, record func(result, reason string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Route(r) != CallbackRoute {
			h.ServeHTTP(w, r)
			return
		}
		cw := &obs.StatusWriter{ResponseWriter: w, KeepErrorBody: 4096} // the error shape is small
		h.ServeHTTP(cw, r)
		if cw.Status == 0 || cw.Status < 300 {
			record("accepted", "ok")
			return
		}
		var body Problem
		reason := "unknown"
		switch {
		case cw.Status == http.StatusUnauthorized:
			reason = "unauthenticated" // signature or timestamp refused
		case json.Unmarshal(cw.ErrorBody.Bytes(), &body) == nil && body.Code != "":
			reason = string(body.Code)
		}
		record("refused", reason)
	})
}
