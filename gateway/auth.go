package gateway

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpapi"
)

// Role is what a console API token may do; Principal is who a request
// acts as (package httpapi, where handlers read it).
type (
	Role      = httpapi.Role
	Principal = httpapi.Principal
)

// The roles. An operator may do everything the console may, plus approve
// refunds and list orders.
const (
	RoleConsole  = httpapi.RoleConsole
	RoleOperator = httpapi.RoleOperator
)

// Tokens holds the console API's bearer tokens by SHA-256 hash only: the
// secrets themselves are never kept, logged or echoed.
type Tokens struct {
	byHash map[[sha256.Size]byte]Principal
}

// tokenHashPrefix marks a token given by its hash rather than its secret.
const tokenHashPrefix = "sha256:"

// minTokenLen bounds a plain token secret from below.
const minTokenLen = 16

// NewTokens builds a token set. Each entry is "subject:role:secret" or
// "subject:role:sha256:<64 hex digits>" (the hash of the secret, so no
// secret needs to be written down where the gateway runs).
func NewTokens(entries ...string) (*Tokens, error) {
	t := &Tokens{byHash: map[[sha256.Size]byte]Principal{}}
	for i, e := range entries {
		if err := t.add(e); err != nil {
			return nil, fmt.Errorf("token %d: %w", i+1, err)
		}
	}
	return t, nil
}

func (t *Tokens) add(entry string) error {
	subject, rest, ok1 := strings.Cut(strings.TrimSpace(entry), ":")
	role, secret, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 {
		return errs.E(errs.Invalid, "want subject:role:secret or subject:role:sha256:HEX")
	}
	p := Principal{Subject: subject, Role: Role(role)}
	switch {
	case subject == "" || strings.ContainsFunc(subject, func(c rune) bool { return c <= ' ' || c > '~' }):
		return errs.E(errs.Invalid, "subject %q must be visible ASCII without spaces", httpapi.Clip(subject))
	case p.Role != RoleConsole && p.Role != RoleOperator:
		return errs.E(errs.Invalid, "subject %s: role %q is not %s or %s", subject, httpapi.Clip(role), RoleConsole, RoleOperator)
	}
	var h [sha256.Size]byte
	if hx, ok := strings.CutPrefix(secret, tokenHashPrefix); ok {
		b, err := hex.DecodeString(hx)
		if err != nil || len(b) != sha256.Size {
			return errs.E(errs.Invalid, "subject %s: sha256: wants 64 hex digits", subject)
		}
		copy(h[:], b)
	} else {
		if len(secret) < minTokenLen || strings.ContainsFunc(secret, func(c rune) bool { return c <= ' ' || c > '~' }) {
			return errs.E(errs.Invalid, "subject %s: the secret must be at least %d visible ASCII characters", subject, minTokenLen)
		}
		h = sha256.Sum256([]byte(secret))
	}
	if _, dup := t.byHash[h]; dup {
		return errs.E(errs.Invalid, "subject %s: the same secret is configured twice", subject)
	}
	for _, q := range t.byHash {
		if q.Subject == subject {
			return errs.E(errs.Invalid, "subject %s is configured twice", subject)
		}
	}
	t.byHash[h] = p
	return nil
}

// Len is the number of tokens.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.byHash)
}

// Authenticate finds the subject and role of a static token.
func (t *Tokens) Authenticate(secret string) (subject, role string, ok bool) {
	p, ok := t.lookup(secret)
	return p.Subject, string(p.Role), ok
}

// lookup finds the principal of a bearer secret.
func (t *Tokens) lookup(secret string) (Principal, bool) {
	if t == nil {
		return Principal{}, false
	}
	// The lookup compares hashes, not secrets: its timing says nothing
	// about how close a guess came.
	p, ok := t.byHash[sha256.Sum256([]byte(secret))]
	return p, ok
}

// HashToken is the "sha256:<hex>" form of a secret, for a token file.
func HashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return tokenHashPrefix + hex.EncodeToString(h[:])
}

// ParseTokenFile reads a token file: one "subject role secret-or-sha256:HEX"
// per line, separated by blanks; empty lines and lines starting with # are
// skipped. Errors name the line, never the secret.
func ParseTokenFile(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, errs.E(errs.Invalid, "token file line %d: want 3 fields (subject role secret), got %d", n, len(f))
		}
		out = append(out, f[0]+":"+f[1]+":"+f[2])
	}
	if err := sc.Err(); err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "reading the token file")
	}
	return out, nil
}

// Environment variables that configure the console API's tokens.
const (
	// EnvTokensFile names a token file (ParseTokenFile).
	EnvTokensFile = "CERTFLOW_TOKENS_FILE"
	// EnvTokens holds comma-separated subject:role:secret (or
	// subject:role:sha256:HEX) entries.
	EnvTokens = "CERTFLOW_TOKENS"
)

// TokensFromEnv builds the token set from CERTFLOW_TOKENS_FILE and
// CERTFLOW_TOKENS (both may be set; a subject must appear once). getenv is
// os.Getenv in a main package. No token at all is an error: the console API
// never runs open (a gateway with CERTFLOW_OIDC_ISSUER may do without
// static tokens: cmd/gateway does not call this then).
func TokensFromEnv(getenv func(string) string) (*Tokens, error) {
	var entries []string
	if path := getenv(EnvTokensFile); path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, errs.Wrap(errs.Invalid, err, "%s: cannot open %s", EnvTokensFile, path)
		}
		defer f.Close()
		e, err := ParseTokenFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", EnvTokensFile, path, err)
		}
		entries = append(entries, e...)
	}
	if v := getenv(EnvTokens); v != "" {
		for _, e := range strings.Split(v, ",") {
			if strings.TrimSpace(e) != "" {
				entries = append(entries, e)
			}
		}
	}
	if len(entries) == 0 {
		return nil, errs.E(errs.Invalid, "no console API tokens: set %s or %s (or %s, for identities from an OIDC provider)", EnvTokensFile, EnvTokens, EnvOIDCIssuer)
	}
	return NewTokens(entries...)
}

// Authenticate finds who a bearer token belongs to: a static token
// (Tokens), else, when OIDC is configured, a JWT of its issuer. The error
// is errs-coded and says what is wrong without echoing the token:
// Unauthenticated (unknown, expired, wrong issuer or audience, bad
// signature…), Forbidden (a valid OIDC token without a certflow role),
// Unavailable (the issuer cannot be reached). The operator pages' login
// (ops.Authenticator) checks tokens with it, so a session is the same
// identity as the API's.
func (s *Server) Authenticate(ctx context.Context, token string) (subject, role string, err error) {
	p, err := s.identify(ctx, token)
	return p.Subject, string(p.Role), err
}

// errUnknownToken is the refusal of a token that is neither a static
// token nor a JWT the gateway could check.
var errUnknownToken = errs.E(errs.Unauthenticated, "the bearer token is not known")

func (s *Server) identify(ctx context.Context, token string) (Principal, error) {
	if p, ok := s.tokens.lookup(token); ok {
		return p, nil
	}
	if s.oidc == nil || !looksLikeJWT(token) {
		return Principal{}, errUnknownToken
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultOIDCTimeout)
	defer cancel()
	return s.oidc.authenticate(ctx, token)
}

// authenticate checks the bearer token, the rate limit and the role a route
// needs, and returns the request with its principal. Missing or unknown
// token: 401 (rate-limited per client address); an OIDC token refused:
// 401 or 403 saying why; wrong role: 403 naming the role needed; too many
// requests: 429 with Retry-After.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, need Role) (*http.Request, error) {
	secret, ok := bearer(r)
	p, err := Principal{}, error(nil)
	if !ok {
		err = errs.E(errs.Unauthenticated, "an Authorization: Bearer <token> header is required")
	} else if _, static := s.tokens.lookup(secret); !static && s.oidc != nil && looksLikeJWT(secret) {
		// A JWT costs a signature check and may make the gateway
		// re-read the issuer's keys: an address whose failures used up
		// its bucket is refused before that.
		if wait, out := s.limiter.exhausted("addr:"+clientAddr(r), s.now()); out {
			return nil, tooMany(w, wait)
		}
	}
	if err == nil {
		p, err = s.identify(r.Context(), secret)
	}
	if err != nil {
		if errs.CodeOf(err) == errs.Unavailable {
			return nil, err
		}
		if lerr := s.limit(w, "addr:"+clientAddr(r)); lerr != nil {
			return nil, lerr
		}
		if errs.CodeOf(err) == errs.Unauthenticated {
			w.Header().Set("WWW-Authenticate", `Bearer realm="certflow"`)
		}
		if ok && err != errUnknownToken {
			// An OIDC token refused: say why in the log too (an IdP
			// misconfiguration shows here first), never the token.
			s.log.Info("console API token refused", zap.String("remote", clientAddr(r)), zap.String("reason", errs.MessageOf(err)))
		}
		return nil, err
	}
	if err := s.limit(w, "subject:"+p.Subject); err != nil {
		return nil, err
	}
	if !p.Role.Allows(need) {
		return nil, errs.E(errs.Forbidden, "this call needs the %s role; %s has the %s role", need, p.Subject, p.Role)
	}
	return httpapi.WithPrincipal(r, p), nil
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// clientAddr is the request's remote IP (no port).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limit takes one request from key's bucket; an empty bucket is 429 with
// Retry-After (whole seconds, at least 1).
func (s *Server) limit(w http.ResponseWriter, key string) error {
	wait, ok := s.limiter.take(key, s.now())
	if ok {
		return nil
	}
	return tooMany(w, wait)
}

// tooMany is the 429 of an empty bucket, with Retry-After.
func tooMany(w http.ResponseWriter, wait time.Duration) error {
	secs := int((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return errs.E(errs.RateLimited, "too many requests; retry in %d s", secs)
}

// RateLimit is a token bucket: Rate requests a second on average, Burst at
// once.
type RateLimit struct {
	Rate  float64
	Burst int
}

// DefaultRateLimit applies per token and per client address when
// Config.RateLimit is zero.
var DefaultRateLimit = RateLimit{Rate: 50, Burst: 100}

// DefaultCallbackRateLimit applies to CA callbacks per client address when
// Config.CallbackRateLimit is zero: a CA's bursts (thousands of results
// queued while the gateway was away) pass at 500 a second, and a sender
// past it is told when to come back.
var DefaultCallbackRateLimit = RateLimit{Rate: 500, Burst: 1000}

// maxBuckets bounds the limiter's memory: past it, full (idle) buckets are
// forgotten.
const maxBuckets = 10000

// limiter is a set of token buckets by key.
type limiter struct {
	mu      sync.Mutex
	rl      RateLimit
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rl RateLimit) *limiter {
	return &limiter{rl: rl, buckets: map[string]*bucket{}}
}

// take removes one token from key's bucket at now; when none is left it
// returns how long until one is.
func (l *limiter) take(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: float64(l.rl.Burst), at: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(float64(l.rl.Burst), b.tokens+el.Seconds()*l.rl.Rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.rl.Rate * float64(time.Second)), false
}

// exhausted reports, without taking, whether key's bucket is empty at
// now, and how long until it holds a token again.
func (l *limiter) exhausted(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		return 0, false
	}
	tokens := min(float64(l.rl.Burst), b.tokens+max(0, now.Sub(b.at).Seconds())*l.rl.Rate)
	if tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - tokens) / l.rl.Rate * float64(time.Second)), true
}

// prune forgets the buckets that would be full by now.
func (l *limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rl.Rate >= float64(l.rl.Burst) {
			delete(l.buckets, k)
		}
	}
}
