package paysim

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// maxBody bounds a request body.
const maxBody = 64 << 10

// Handler serves the protocol of PROTOCOL.md.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.db.PingContext(r.Context()); err != nil {
			s.fail500(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /v1/refunds", s.auth(s.createRefund))
	mux.HandleFunc("GET /v1/refunds", s.auth(s.findRefund))
	mux.HandleFunc("GET /v1/refunds/{id}", s.auth(s.getRefund))
	mux.HandleFunc("GET /admin/refunds", s.auth(s.listRefunds))
	mux.HandleFunc("PUT /admin/orders/{id}/fail-original-method", s.auth(s.setFailing))
	return mux
}

func (s *Sim) auth(next http.HandlerFunc) http.HandlerFunc {
	want := []byte("Bearer " + s.cfg.Token)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			writeError(w, apiErr(http.StatusUnauthorized, "unauthorized", "a valid bearer token is required"))
			return
		}
		next(w, r)
	}
}

func (s *Sim) createRefund(w http.ResponseWriter, r *http.Request) {
	var req RefundRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, apiErr(http.StatusBadRequest, "invalid_request", "the body is not a refund request: %s", strings.TrimPrefix(err.Error(), "json: ")))
		return
	}
	ref, created, err := s.Create(r.Context(), r.Header.Get("Idempotency-Key"), req)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, ref)
}

func (s *Sim) findRefund(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("idempotency_key")
	if key == "" {
		writeError(w, apiErr(http.StatusBadRequest, "invalid_request", "the idempotency_key query parameter is required"))
		return
	}
	ref, err := s.Get(r.Context(), key, true)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ref)
}

func (s *Sim) getRefund(w http.ResponseWriter, r *http.Request) {
	ref, err := s.Get(r.Context(), r.PathValue("id"), false)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ref)
}

func (s *Sim) listRefunds(w http.ResponseWriter, r *http.Request) {
	order := r.URL.Query().Get("order_id")
	if order == "" {
		writeError(w, apiErr(http.StatusBadRequest, "invalid_request", "the order_id query parameter is required"))
		return
	}
	refs, err := s.List(r.Context(), order)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"refunds": refs})
}

func (s *Sim) setFailing(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Fail *bool `json:"fail"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Fail == nil {
		writeError(w, apiErr(http.StatusBadRequest, "invalid_request", `the body must be {"fail": true|false}`))
		return
	}
	s.FailOriginalMethod(r.PathValue("id"), *body.Fail)
	writeJSON(w, http.StatusOK, map[string]any{"order_id": r.PathValue("id"), "fail": *body.Fail})
}

func (s *Sim) writeErr(w http.ResponseWriter, err error) {
	var ae *APIError
	if errors.As(err, &ae) {
		writeError(w, ae)
		return
	}
	s.fail500(w, err)
}

func (s *Sim) fail500(w http.ResponseWriter, err error) {
	s.log.Error("request failed", zap.Error(err))
	writeError(w, apiErr(http.StatusInternalServerError, "internal", "the payment simulator failed; see its log"))
}

func writeError(w http.ResponseWriter, e *APIError) {
	writeJSON(w, e.Status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
