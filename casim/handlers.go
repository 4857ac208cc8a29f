package casim

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/statemachine"
)

// The error codes of the protocol's {"error":{"code","message"}} body.
const (
	CodeUnauthorized         = "unauthorized"
	CodeNotFound             = "not_found"
	CodeInvalidRequest       = "invalid_request"
	CodeResubmissionRejected = "resubmission_rejected"
	CodeCertificateRemoved   = "certificate_removed"
	CodeIdempotencyKeyReused = "idempotency_key_reused"
	CodeCallbackFailed       = "callback_failed"
	CodeInternal             = "internal"
)

// maxRequestBytes bounds every request body.
const maxRequestBytes = 64 << 10

// actions are the console actions POST .../actions/{action} accepts.
// Revoke is not among them: it is a review, POST .../revocations.
var actions = []statemachine.CertEvent{
	statemachine.Submit, statemachine.Withdraw, statemachine.Cancel,
	statemachine.Resubmit, statemachine.Delete, statemachine.Activate,
}

// Handler returns the simulator's HTTP handler.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/certificates/{id}/actions/{action}", s.handleAction)
	mux.HandleFunc("POST /v1/certificates/{id}/revocations", s.handleRevoke)
	mux.HandleFunc("GET /v1/certificates/{id}/revocation", s.handleRevocation)
	mux.HandleFunc("POST /v1/orders/{id}/reset", s.handleReset)
	mux.HandleFunc("POST /admin/certificates/{id}/behaviour", s.handleBehaviour)
	mux.HandleFunc("GET /admin/certificates/{id}", s.handleInspect)
	mux.HandleFunc("POST /admin/callbacks/{event_id}/resend", s.handleResend)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such endpoint")
	})
	api := s.idempotency(mux)

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	root.Handle("/", s.authenticate(api))
	return root
}

// authenticate refuses requests without the configured bearer token.
func (s *Sim) authenticate(next http.Handler) http.Handler {
	want := []byte("Bearer " + s.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="casim"`)
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// idempotency records each POST's Idempotency-Key and refuses a key reused
// on another path (a client deriving keys wrongly). Repeating a request is
// safe without a key too: the CA is idempotent per certificate and action.
func (s *Sim) idempotency(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if r.Method == http.MethodPost && key != "" {
			s.mu.Lock()
			first, seen := s.idemKeys[key]
			var err error
			if !seen {
				s.idemKeys[key] = r.URL.Path
				err = s.journal(func(j *journal) error { return j.saveIdemKey(key, r.URL.Path) })
			}
			s.mu.Unlock()
			if err != nil {
				writeError(w, http.StatusInternalServerError, CodeInternal, "the simulator could not record the request")
				return
			}
			if seen && first != r.URL.Path {
				writeError(w, http.StatusConflict, CodeIdempotencyKeyReused, "Idempotency-Key was used for another request")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// handleAction performs a console action. An action accepted once is
// accepted again (idempotency); a removed certificate refuses everything
// but cancel and delete; a resubmission is refused when the certificate's
// behaviour says so (SSL-6).
func (s *Sim) handleAction(w http.ResponseWriter, r *http.Request) {
	id, action := r.PathValue("id"), statemachine.CertEvent(r.PathValue("action"))
	if action == statemachine.Revoke {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "revoke is POST /v1/certificates/{id}/revocations")
		return
	}
	if !slices.Contains(actions, action) {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "unknown action")
		return
	}
	s.mu.Lock()
	c := s.certLocked(id)
	status, code, msg := s.actLocked(c, action)
	jerr := s.journal(func(j *journal) error { return j.saveCertificate(c) })
	s.mu.Unlock()
	if jerr != nil {
		writeError(w, http.StatusInternalServerError, CodeInternal, "the simulator could not record the action")
		return
	}
	log := s.log.With(zap.String("certificate", id), zap.String("action", string(action)))
	if code != "" {
		log.Info("action refused", zap.String("code", code), zap.String("reason", msg))
		writeError(w, status, code, msg)
		return
	}
	log.Info("action accepted")
	writeJSON(w, http.StatusOK, map[string]string{"status": "accepted"})
}

// actLocked decides an action; code is empty when it is accepted.
func (s *Sim) actLocked(c *certificate, action statemachine.CertEvent) (status int, code, msg string) {
	switch {
	case c.accepted[string(action)]:
		return http.StatusOK, "", ""
	case c.removed && action != statemachine.Cancel && action != statemachine.Delete:
		return http.StatusConflict, CodeCertificateRemoved, "the certificate was removed"
	case action == statemachine.Resubmit && s.behaviours[c.id].ResubmitRejected != "":
		return http.StatusConflict, CodeResubmissionRejected, s.behaviours[c.id].ResubmitRejected
	}
	c.accepted[string(action)] = true
	if action == statemachine.Cancel || action == statemachine.Delete {
		c.removed = true
	}
	return http.StatusOK, "", ""
}

// revocationRequest is the body of POST .../revocations.
type revocationRequest struct {
	Reason string `json:"reason"`
}

// handleRevoke opens a revocation review, or returns the one already open
// (idempotent per certificate).
func (s *Sim) handleRevoke(w http.ResponseWriter, r *http.Request) {
	var req revocationRequest
	if !decodeBody(w, r, &req, true) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	c := s.certLocked(id)
	if c.removed {
		s.mu.Unlock()
		writeError(w, http.StatusConflict, CodeCertificateRemoved, "the certificate was removed")
		return
	}
	// One review per revocation; a rejected review may be asked again.
	created := c.rev == nil || c.rev.status == statusRejected
	if created {
		c.rev = &revocation{
			reviewID:    "rev_" + s.cfg.NewID(),
			reason:      req.Reason,
			requestedAt: s.cfg.Clock.Now(),
			status:      statusPending,
		}
	}
	resp := revocationOpened{ReviewID: c.rev.reviewID, Status: c.rev.status, RequestedAt: c.rev.requestedAt}
	var jerr error
	if created {
		jerr = s.journal(func(j *journal) error { return j.saveCertificate(c) })
	}
	s.mu.Unlock()
	if jerr != nil {
		writeError(w, http.StatusInternalServerError, CodeInternal, "the simulator could not record the revocation")
		return
	}
	if created {
		s.log.Info("revocation review opened", zap.String("certificate", id),
			zap.String("review_id", resp.ReviewID), zap.Duration("delay", s.cfg.ReviewDelay))
		s.scheduleReview(id, s.cfg.ReviewDelay)
	}
	writeJSON(w, http.StatusAccepted, resp)
}

// revocationOpened is the answer to POST .../revocations.
type revocationOpened struct {
	ReviewID    string    `json:"review_id"`
	Status      string    `json:"status"`
	RequestedAt time.Time `json:"requested_at"`
}

// revocationView is the body of GET .../revocation.
type revocationView struct {
	ReviewID    string     `json:"review_id"`
	Status      string     `json:"status"`
	EventID     string     `json:"event_id,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	RequestedAt time.Time  `json:"requested_at"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
	// Parked is admin-only: see revocation.parked.
	Parked bool `json:"parked,omitempty"`
}

func (rv *revocation) view(admin bool) *revocationView {
	v := &revocationView{
		ReviewID:    rv.reviewID,
		Status:      rv.status,
		EventID:     rv.eventID,
		Reason:      rv.result,
		RequestedAt: rv.requestedAt,
		Parked:      admin && rv.parked,
	}
	if rv.status != statusPending {
		at := rv.decidedAt
		v.DecidedAt = &at
	}
	return v
}

// handleRevocation reports where a certificate's revocation review stands.
func (s *Sim) handleRevocation(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	c, ok := s.certs[r.PathValue("id")]
	var v *revocationView
	if ok && c.rev != nil {
		v = c.rev.view(false)
	}
	s.mu.Unlock()
	if v == nil {
		writeError(w, http.StatusNotFound, CodeNotFound, "no revocation for this certificate")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// resetRequest is the body of POST /v1/orders/{id}/reset.
type resetRequest struct {
	Product domain.Product `json:"product"`
}

// handleReset resets a gateway instance (GW-3) or a private CA (PCA-3).
// Repeating it is harmless.
func (s *Sim) handleReset(w http.ResponseWriter, r *http.Request) {
	var req resetRequest
	if !decodeBody(w, r, &req, false) {
		return
	}
	if req.Product != domain.HTTPSGateway && req.Product != domain.PrivateCA {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "only https_gateway and private_ca can be reset")
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	s.resets[id] = string(req.Product)
	jerr := s.journal(func(j *journal) error { return j.saveReset(id, string(req.Product)) })
	s.mu.Unlock()
	if jerr != nil {
		writeError(w, http.StatusInternalServerError, CodeInternal, "the simulator could not record the reset")
		return
	}
	s.log.Info("order reset", zap.String("order", id), zap.String("product", string(req.Product)))
	writeJSON(w, http.StatusOK, map[string]string{"status": "accepted"})
}

// handleBehaviour replaces a certificate's behaviour. A review parked by
// RevocationNever is scheduled again, ReviewDelay from now.
func (s *Sim) handleBehaviour(w http.ResponseWriter, r *http.Request) {
	var b Behaviour
	if !decodeBody(w, r, &b, false) {
		return
	}
	if b.Validate() != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "revocation must be approve, reject or never")
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	s.behaviours[id] = b
	c := s.certLocked(id)
	rearm := c.rev != nil && c.rev.parked && b.Revocation != RevocationNever
	if rearm {
		c.rev.parked = false
	}
	jerr := s.journal(func(j *journal) error {
		if err := j.saveBehaviour(id, b); err != nil {
			return err
		}
		return j.saveCertificate(c)
	})
	s.mu.Unlock()
	if jerr != nil {
		writeError(w, http.StatusInternalServerError, CodeInternal, "the simulator could not record the behaviour")
		return
	}
	s.log.Info("behaviour set", zap.String("certificate", id), zap.Any("behaviour", b))
	if rearm {
		s.scheduleReview(id, s.cfg.ReviewDelay)
	}
	writeJSON(w, http.StatusOK, b)
}

// certificateView is the body of GET /admin/certificates/{id}.
type certificateView struct {
	ID         string          `json:"id"`
	Known      bool            `json:"known"`
	Removed    bool            `json:"removed"`
	Accepted   []string        `json:"accepted"`
	Behaviour  Behaviour       `json:"behaviour"`
	Revocation *revocationView `json:"revocation,omitempty"`
}

// handleInspect shows what the CA knows of a certificate.
func (s *Sim) handleInspect(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	v := certificateView{ID: id, Behaviour: s.behaviours[id], Accepted: []string{}}
	if c, ok := s.certs[id]; ok {
		v.Known, v.Removed = true, c.removed
		for a := range c.accepted {
			v.Accepted = append(v.Accepted, a)
		}
		if c.rev != nil {
			v.Revocation = c.rev.view(true)
		}
	}
	s.mu.Unlock()
	slices.Sort(v.Accepted)
	writeJSON(w, http.StatusOK, v)
}

// resendResult is the body of a resend's answer.
type resendResult struct {
	EventID    string `json:"event_id"`
	StatusCode int    `json:"status_code"`
	Delivered  bool   `json:"delivered"`
}

// handleResend posts a past callback once more, same event ID and body, to
// demonstrate duplicate delivery. It makes one attempt and reports the
// receiver's status.
func (s *Sim) handleResend(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("event_id")
	s.mu.Lock()
	ev, ok := s.events[id]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such event")
		return
	}
	if s.cfg.CallbackURL == "" {
		writeError(w, http.StatusConflict, CodeCallbackFailed, "no callback URL is configured")
		return
	}
	status, _, err := s.post(r.Context(), ev)
	if err != nil {
		s.log.Warn("resend failed", zap.String("event_id", id), zap.Error(err))
		writeError(w, http.StatusBadGateway, CodeCallbackFailed, "callback delivery failed")
		return
	}
	s.log.Info("callback resent", zap.String("event_id", id), zap.Int("status", status))
	writeJSON(w, http.StatusOK, resendResult{EventID: id, StatusCode: status, Delivered: status/100 == 2})
}

// decodeBody decodes a bounded JSON body into v, tolerating unknown
// fields. It answers 400 itself and reports false on a bad body.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
	err := json.NewDecoder(r.Body).Decode(v)
	if err == nil || (emptyOK && errors.Is(err, io.EOF)) {
		return true
	}
	msg := "malformed JSON body"
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		msg = "request body too large"
	} else if errors.Is(err, io.EOF) {
		msg = "a JSON body is required"
	}
	writeError(w, http.StatusBadRequest, CodeInvalidRequest, msg)
	return false
}

// errorBody is the protocol's error envelope.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}
