package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
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
		cw := &codeWriter{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		if cw.status == 0 || cw.status < 300 {
			record("accepted", "ok")
			return
		}
		var body errorBody
		reason := "unknown"
		switch {
		case cw.status == http.StatusUnauthorized:
			reason = "unauthenticated" // signature or timestamp refused
		case json.Unmarshal(cw.body.Bytes(), &body) == nil && body.Error.Code != "":
			reason = string(body.Error.Code)
		}
		record("refused", reason)
	})
}

// codeWriter keeps the status and, for an error, the body's start (the
// error shape is small).
type codeWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *codeWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *codeWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.status >= 300 && c.body.Len() < 4096 {
		c.body.Write(b)
	}
	return c.ResponseWriter.Write(b)
}
