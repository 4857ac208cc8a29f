package ops

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
)

// cookieName is the session cookie; its value is the session ID only.
const cookieName = "certflow_ops"

// session is one operator's login. It holds the token's subject, never
// the token.
type session struct {
	id       string
	Subject  string
	Role     string
	CSRF     string
	lastSeen time.Time
}

// sessions are kept in memory: a gateway restart logs everyone out, which
// for an 8-hour operator session is acceptable and keeps no secret on disk.
type sessions struct {
	mu     sync.Mutex
	byID   map[string]*session
	now    func() time.Time
	random io.Reader
	idle   time.Duration
}

func newSessions(now func() time.Time, random io.Reader, idle time.Duration) *sessions {
	return &sessions{byID: map[string]*session{}, now: now, random: random, idle: idle}
}

// randomString returns n random bytes, base64url-encoded.
func randomString(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// create starts a session for subject, dropping the expired ones.
func (s *sessions) create(subject, role string) (*session, error) {
	id, err := randomString(s.random, 32)
	if err != nil {
		return nil, err
	}
	csrf, err := randomString(s.random, 32)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, x := range s.byID {
		if now.Sub(x.lastSeen) >= s.idle {
			delete(s.byID, k)
		}
	}
	ss := &session{id: id, Subject: subject, Role: role, CSRF: csrf, lastSeen: now}
	s.byID[id] = ss
	return ss, nil
}

// get returns the live session of id; touch renews its idle timeout (a
// page the operator opened, not the counts a background tab polls).
func (s *sessions) get(id string, touch bool) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.byID[id]
	if !ok {
		return session{}, false
	}
	now := s.now()
	if now.Sub(ss.lastSeen) >= s.idle {
		delete(s.byID, id)
		return session{}, false
	}
	if touch {
		ss.lastSeen = now
	}
	return *ss, true
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}

type sessionKey struct{}

func sessionOf(ctx context.Context) session {
	s, _ := ctx.Value(sessionKey{}).(session)
	return s
}

// lookup finds the request's live session.
func (h *Handler) lookup(r *http.Request, touch bool) (session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return session{}, false
	}
	return h.sessions.get(c.Value, touch)
}

// withSession lets a request with a live session through to next, with
// the session in its context; without one it goes to the login page. A
// POST must also carry the session's CSRF token: without it, 403 and
// nothing is done.
func (h *Handler) withSession(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := h.lookup(r, true)
		if !ok {
			to := "/ops/login"
			if r.Method == http.MethodGet {
				to += "?next=" + url.QueryEscape(r.URL.RequestURI())
			} else {
				to += "?expired=1"
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			got := r.PostFormValue("csrf")
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) != 1 {
				h.log.Info("ops form refused: CSRF token missing or wrong", zap.String("subject", s.Subject), zap.String("path", r.URL.Path))
				h.refuse(w, r, http.StatusForbidden, "This form's security token (CSRF) is missing or does not belong to your session. Nothing was changed; reload the page and try again.")
				return
			}
		}
		next(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
	}
}

func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: "/ops/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || h.cfg.SecureCookie,
	})
}

type loginData struct {
	Error   string
	Notice  string
	Next    string
	Session *session
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	d := loginData{Next: safeNext(r.URL.Query().Get("next"))}
	if r.URL.Query().Get("expired") != "" {
		d.Notice = "Your session ended. Log in again."
	}
	if r.URL.Query().Get("out") != "" {
		d.Notice = "You are logged out."
	}
	h.render(w, r, http.StatusOK, "login", d)
}

// login checks an operator token and starts a session. Only the operator
// role may log in; the console role is told so.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	token := strings.TrimSpace(r.PostFormValue("token"))
	next := safeNext(r.PostFormValue("next"))
	addr := remoteAddr(r)
	if wait := h.logins.wait(addr); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		h.log.Info("ops login refused: too many failed logins", zap.String("remote", addr), zap.Int("retry_after_s", secs))
		h.render(w, r, http.StatusTooManyRequests, "login", loginData{
			Error: fmt.Sprintf("429 too many requests — too many failed logins from this address; try again in %d s.", secs), Next: next})
		return
	}
	subject, role, err := "", "", error(errs.E(errs.Unauthenticated, "paste a token to log in"))
	if token != "" {
		subject, role, err = h.cfg.Authenticate(r.Context(), token)
	}
	if err != nil || role != domain.RoleOperator {
		h.logins.failed(addr)
	}
	switch {
	case err != nil:
		// The refusal says why (unknown, expired, wrong issuer or
		// audience, no certflow role…), never the token.
		h.log.Info("ops login refused", zap.String("remote", r.RemoteAddr), zap.String("code", string(errs.CodeOf(err))), zap.String("reason", errs.MessageOf(err)))
		h.render(w, r, statusFor(err), "login", loginData{Error: refusal(err) + ".", Next: next})
		return
	case role != domain.RoleOperator:
		h.log.Info("ops login refused: not an operator", zap.String("subject", subject), zap.String("role", role))
		h.render(w, r, http.StatusForbidden, "login", loginData{
			Error: fmt.Sprintf("403 forbidden — %s has the %s role; only operators may use these pages.", subject, role), Next: next})
		return
	}
	// A new login gets a new session ID; the one the browser had ends.
	if c, err := r.Cookie(cookieName); err == nil {
		h.sessions.end(c.Value)
	}
	s, err := h.sessions.create(subject, role)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("ops login", zap.String("subject", subject))
	h.setCookie(w, r, s.id, 0)
	if next == "" {
		next = "/ops/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r.Context())
	h.sessions.end(s.id)
	h.setCookie(w, r, "", -1)
	h.log.Info("ops logout", zap.String("subject", s.Subject))
	http.Redirect(w, r, "/ops/login?out=1", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect within these pages.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ops/") || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "/ops/login") {
		return ""
	}
	return next
}
