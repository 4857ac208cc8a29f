package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpapi"
)

// Operator identity from an OpenID Connect provider (issue 19): besides
// its static tokens, the gateway accepts JWTs signed by one issuer. The
// issuer's keys come from its discovery document's jwks_uri and are re-read
// when a token names a key ID (kid) not yet seen, so the IdP may rotate its
// keys without a gateway restart. A token is accepted when its signature
// verifies with an asymmetric algorithm (RS*, PS*, ES*, EdDSA; never none
// nor HS*), its iss is the issuer, its aud includes the audience, it has
// not expired, and its roles claim names a value mapped to a certflow role.
//
// The principal's subject is OIDCSubjectPrefix + the sub claim: a static
// token's subject cannot contain a colon, so an IdP user never shares a
// subject, and so a four-eyes identity, with a static token.

// OIDCSubjectPrefix starts the subject of every principal an OIDC token
// authenticates: "oidc:" + its sub claim.
const OIDCSubjectPrefix = "oidc:"

// Environment variables that configure OIDC tokens.
const (
	// EnvOIDCIssuer is the issuer URL; empty turns OIDC off.
	EnvOIDCIssuer = "CERTFLOW_OIDC_ISSUER"
	// EnvOIDCAudience is the value the tokens' aud claim must include.
	EnvOIDCAudience = "CERTFLOW_OIDC_AUDIENCE"
	// EnvOIDCRolesClaim names the claim holding the user's roles.
	EnvOIDCRolesClaim = "CERTFLOW_OIDC_ROLES_CLAIM"
	// EnvOIDCRoleMap maps the claim's values to certflow roles.
	EnvOIDCRoleMap = "CERTFLOW_OIDC_ROLE_MAP"
)

// Defaults of the OIDC settings.
const (
	DefaultOIDCRolesClaim = "roles"
	DefaultOIDCRoleMap    = "certflow-operator=operator"
	// DefaultOIDCTimeout bounds one request to the issuer (discovery,
	// JWKS).
	DefaultOIDCTimeout = 10 * time.Second
	// DefaultOIDCRetry is how long after a failed discovery the next
	// token may try again.
	DefaultOIDCRetry = 10 * time.Second
)

// maxJWTLen bounds a bearer JWT; longer ones are refused unparsed.
const maxJWTLen = 16 << 10

// oidcAlgs are the signature algorithms accepted: asymmetric only, so a
// public key can never be used as an HMAC secret.
var oidcAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.ES256, oidc.ES384, oidc.ES512, oidc.EdDSA,
}

// OIDCConfig configures OIDC tokens.
type OIDCConfig struct {
	// Issuer is the issuer URL: https, or http on a loopback address
	// (tests, a local IdP). Its /.well-known/openid-configuration must
	// name the same issuer.
	Issuer string
	// Audience must be among a token's aud values (a client ID or an API
	// identifier, as the IdP puts it in the tokens).
	Audience string
	// RolesClaim names the claim holding the roles (default "roles"). A
	// dotted name reaches into objects ("realm_access.roles") when no
	// top-level claim has that exact name. The claim may be an array of
	// strings or one space-separated string.
	RolesClaim string
	// RoleMap maps role values of the claim to certflow roles. A token
	// with several gets the strongest (operator over console).
	RoleMap map[string]Role
	// HTTPClient fetches discovery and keys; nil means a client with
	// DefaultOIDCTimeout.
	HTTPClient *http.Client
	// Now is the clock for exp and nbf; nil means time.Now.
	Now func() time.Time
	// Retry is how long a failed discovery is remembered before a token
	// tries again (default DefaultOIDCRetry).
	Retry time.Duration
}

// OIDC verifies OIDC tokens. Build it with NewOIDC; it discovers the
// issuer on first use (or Discover), and again after a failure once Retry
// has passed.
type OIDC struct {
	cfg OIDCConfig

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	failedAt time.Time
	failure  error
}

// NewOIDC checks cfg and builds the verifier; it does not reach the
// issuer yet.
func NewOIDC(cfg OIDCConfig) (*OIDC, error) {
	if err := checkIssuer(cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.Audience == "" {
		return nil, errs.E(errs.Invalid, "%s is required with %s: the audience tokens must be issued for", EnvOIDCAudience, EnvOIDCIssuer)
	}
	if cfg.RolesClaim == "" {
		cfg.RolesClaim = DefaultOIDCRolesClaim
	}
	if len(cfg.RoleMap) == 0 {
		return nil, errs.E(errs.Invalid, "%s maps no role value to a certflow role", EnvOIDCRoleMap)
	}
	for v, r := range cfg.RoleMap {
		if r != RoleOperator && r != RoleConsole {
			return nil, errs.E(errs.Invalid, "%s: %q maps to %q, not %s or %s", EnvOIDCRoleMap, httpapi.Clip(v), httpapi.Clip(string(r)), RoleOperator, RoleConsole)
		}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultOIDCTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Retry <= 0 {
		cfg.Retry = DefaultOIDCRetry
	}
	return &OIDC{cfg: cfg}, nil
}

// checkIssuer accepts an absolute https URL, or http on a loopback host.
func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return errs.E(errs.Invalid, "%s %q is not an absolute URL without query or fragment", EnvOIDCIssuer, httpapi.Clip(issuer))
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return errs.E(errs.Invalid, "%s %q must be https (http only on a loopback address)", EnvOIDCIssuer, httpapi.Clip(issuer))
}

// Issuer is the configured issuer URL.
func (o *OIDC) Issuer() string { return o.cfg.Issuer }

// Discover reads the issuer's discovery document now, so a gateway can say
// at start whether its IdP answers. A failure is not fatal: tokens try
// again later.
func (o *OIDC) Discover(ctx context.Context) error {
	_, err := o.discover(ctx, true)
	return err
}

// discover returns the verifier, reading the discovery document when
// there is none yet (at most once per Retry after a failure unless force).
func (o *OIDC) discover(ctx context.Context, force bool) (*oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.verifier != nil {
		return o.verifier, nil
	}
	if !force && o.failure != nil && time.Since(o.failedAt) < o.cfg.Retry {
		return nil, o.failure
	}
	// The key set keeps this context for its fetches: no cancellation,
	// the configured client (and its timeout).
	kctx := oidc.ClientContext(context.WithoutCancel(ctx), o.cfg.HTTPClient)
	p, err := oidc.NewProvider(kctx, o.cfg.Issuer)
	var jwks struct {
		URL string `json:"jwks_uri"`
	}
	if err == nil {
		err = p.Claims(&jwks)
	}
	if err == nil && jwks.URL == "" {
		err = errors.New("the discovery document names no jwks_uri")
	}
	if err != nil {
		o.failedAt = time.Now()
		o.failure = errs.Wrap(errs.Unavailable, err, "the identity provider %s cannot be reached to verify the token (its discovery failed); retry later", o.cfg.Issuer)
		return nil, o.failure
	}
	ks := &noteKeySet{remote: oidc.NewRemoteKeySet(kctx, jwks.URL)}
	o.verifier = oidc.NewVerifier(o.cfg.Issuer, ks, &oidc.Config{
		ClientID:             o.cfg.Audience,
		SupportedSigningAlgs: oidcAlgs,
		Now:                  o.cfg.Now,
	})
	o.failure = nil
	return o.verifier, nil
}

// noteKeySet is the issuer's remote key set (go-oidc re-reads it when a
// token's kid is not among the keys it holds) that notes its failure in
// the request's context, so the refusal can say it was the signature.
type noteKeySet struct{ remote *oidc.RemoteKeySet }

type sigNoteKey struct{}

type sigNote struct{ err error }

func (k *noteKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.remote.VerifySignature(ctx, jwt)
	if n, ok := ctx.Value(sigNoteKey{}).(*sigNote); ok && err != nil {
		n.err = err
	}
	return payload, err
}

// looksLikeJWT reports whether a bearer token has a JWT's shape (three
// base64url parts); a static token never has dots.
func looksLikeJWT(tok string) bool {
	return strings.Count(tok, ".") == 2 && len(tok) <= maxJWTLen
}

// jwtParts are a token's header and claims read without verification:
// only to say what is wrong with a token that did not verify.
type jwtParts struct {
	Alg, Kid string
	Issuer   string
	Audience []string
}

func unverified(tok string) (jwtParts, error) {
	var p jwtParts
	segs := strings.Split(tok, ".")
	if len(segs) != 3 {
		return p, errors.New("not three parts")
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	b, err := base64.RawURLEncoding.DecodeString(segs[0])
	if err != nil || json.Unmarshal(b, &h) != nil {
		return p, errors.New("its header is not base64url JSON")
	}
	p.Alg, p.Kid = h.Alg, h.Kid
	var c struct {
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
	}
	b, err = base64.RawURLEncoding.DecodeString(segs[1])
	if err != nil || json.Unmarshal(b, &c) != nil {
		return p, errors.New("its claims are not base64url JSON")
	}
	p.Issuer = c.Iss
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		p.Audience = []string{one}
	} else {
		_ = json.Unmarshal(c.Aud, &p.Audience)
	}
	return p, nil
}

// authenticate verifies an OIDC token and maps it to a principal. The
// refusal says what is wrong (algorithm, signature, issuer, audience,
// expiry, subject, roles) without echoing the token: 401, 403 for a valid
// token without a certflow role, 503 when the issuer cannot be reached.
func (o *OIDC) authenticate(ctx context.Context, tok string) (Principal, error) {
	parts, err := unverified(tok)
	if err != nil {
		return Principal{}, errs.E(errs.Unauthenticated, "the bearer token is not a well-formed JWT: %v", err)
	}
	if !slices.Contains(oidcAlgs, parts.Alg) {
		return Principal{}, errs.E(errs.Unauthenticated, "the token's signing algorithm %q is not accepted (only %s)", httpapi.Clip(parts.Alg), strings.Join(oidcAlgs, ", "))
	}
	v, err := o.discover(ctx, false)
	if err != nil {
		return Principal{}, err
	}
	note := &sigNote{}
	idt, err := v.Verify(context.WithValue(ctx, sigNoteKey{}, note), tok)
	if err != nil && note.err != nil && !strings.HasPrefix(note.err.Error(), "fetching keys") && ctx.Err() == nil {
		// go-oidc's key set hands a refresh asked for just after another
		// ended that other's (older) keys until it clears it: a key the
		// issuer added in between is missed once. Asked again a moment
		// later, the refresh is a new read. A forged token costs one more
		// read; refusals are rate-limited per address.
		time.Sleep(50 * time.Millisecond)
		note = &sigNote{}
		idt, err = v.Verify(context.WithValue(ctx, sigNoteKey{}, note), tok)
	}
	if err != nil {
		return Principal{}, o.refusal(err, note, parts)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Principal{}, errs.E(errs.Unauthenticated, "the token's claims are not a JSON object")
	}
	if !visibleASCII(idt.Subject) || len(idt.Subject) > 255 {
		return Principal{}, errs.E(errs.Unauthenticated, "the token's sub claim is missing or not 1 to 255 visible ASCII characters")
	}
	subject := OIDCSubjectPrefix + idt.Subject
	role, err := o.role(claims, subject)
	if err != nil {
		return Principal{}, err
	}
	return Principal{Subject: subject, Role: role}, nil
}

// refusal explains a failed verification.
func (o *OIDC) refusal(err error, note *sigNote, parts jwtParts) error {
	var expired *oidc.TokenExpiredError
	switch {
	case note.err != nil && strings.HasPrefix(note.err.Error(), "fetching keys"):
		return errs.Wrap(errs.Unavailable, note.err, "the identity provider's keys (JWKS) cannot be read to verify the token; retry later")
	case parts.Issuer != o.cfg.Issuer:
		return errs.E(errs.Unauthenticated, "the token was issued by %q, not by this gateway's issuer %q", httpapi.Clip(parts.Issuer), o.cfg.Issuer)
	case note.err != nil:
		return errs.Wrap(errs.Unauthenticated, err, "the token's signature does not verify with any key the issuer publishes (kid %q, after re-reading its JWKS)", httpapi.Clip(parts.Kid))
	case errors.As(err, &expired):
		return errs.E(errs.Unauthenticated, "the token expired at %s", expired.Expiry.UTC().Format(time.RFC3339))
	case !slices.Contains(parts.Audience, o.cfg.Audience):
		aud := make([]string, 0, len(parts.Audience))
		for _, a := range parts.Audience {
			aud = append(aud, httpapi.Clip(a))
		}
		if len(aud) > 5 {
			aud = append(aud[:5], "...")
		}
		return errs.E(errs.Unauthenticated, "the token's audience %q does not include %q", aud, o.cfg.Audience)
	case strings.Contains(err.Error(), "nbf"):
		return errs.E(errs.Unauthenticated, "the token is not valid yet (nbf is in the future)")
	}
	return errs.Wrap(errs.Unauthenticated, err, "the token could not be verified")
}

// role maps the roles claim to the strongest certflow role it names.
func (o *OIDC) role(claims map[string]any, subject string) (Role, error) {
	name := o.cfg.RolesClaim
	raw, ok := claimAt(claims, name)
	if !ok {
		return "", errs.E(errs.Forbidden, "%s's token has no %q claim, so no certflow role (%s maps %s)", subject, name, EnvOIDCRoleMap, o.mapped())
	}
	var values []string
	switch x := raw.(type) {
	case string:
		values = strings.Fields(x)
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				values = append(values, s)
			}
		}
	default:
		return "", errs.E(errs.Forbidden, "%s's token has a %q claim that is neither a list of strings nor a string", subject, name)
	}
	var best Role
	for _, v := range values {
		switch o.cfg.RoleMap[v] {
		case RoleOperator:
			best = RoleOperator
		case RoleConsole:
			if best == "" {
				best = RoleConsole
			}
		}
	}
	if best == "" {
		return "", errs.E(errs.Forbidden, "%s's %q claim names no value mapped to a certflow role (%s maps %s)", subject, name, EnvOIDCRoleMap, o.mapped())
	}
	return best, nil
}

// mapped describes the role map: "certflow-operator→operator, …", sorted.
func (o *OIDC) mapped() string {
	var out []string
	for v, r := range o.cfg.RoleMap {
		out = append(out, v+"→"+string(r))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// claimAt finds a claim by its name, or by a dotted path into objects
// when no top-level claim has that name.
func claimAt(claims map[string]any, name string) (any, bool) {
	if v, ok := claims[name]; ok {
		return v, true
	}
	if !strings.Contains(name, ".") {
		return nil, false
	}
	var cur any = claims
	for _, part := range strings.Split(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func visibleASCII(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(c rune) bool { return c <= ' ' || c > '~' })
}

// ParseRoleMap reads "value=role,value=role" (CERTFLOW_OIDC_ROLE_MAP).
func ParseRoleMap(s string) (map[string]Role, error) {
	m := map[string]Role{}
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		v, r, ok := strings.Cut(e, "=")
		v, r = strings.TrimSpace(v), strings.TrimSpace(r)
		if !ok || v == "" {
			return nil, errs.E(errs.Invalid, "%s: %q is not value=role", EnvOIDCRoleMap, httpapi.Clip(e))
		}
		if Role(r) != RoleOperator && Role(r) != RoleConsole {
			return nil, errs.E(errs.Invalid, "%s: %q maps to %q, not %s or %s", EnvOIDCRoleMap, httpapi.Clip(v), httpapi.Clip(r), RoleOperator, RoleConsole)
		}
		if _, dup := m[v]; dup {
			return nil, errs.E(errs.Invalid, "%s: %q is mapped twice", EnvOIDCRoleMap, httpapi.Clip(v))
		}
		m[v] = Role(r)
	}
	if len(m) == 0 {
		return nil, errs.E(errs.Invalid, "%s maps no role value to a certflow role", EnvOIDCRoleMap)
	}
	return m, nil
}

// OIDCFromEnv builds the OIDC verifier from CERTFLOW_OIDC_*; nil (and no
// error) when CERTFLOW_OIDC_ISSUER is empty. getenv is os.Getenv in a
// main package. Errors name the setting at fault.
func OIDCFromEnv(getenv func(string) string) (*OIDC, error) {
	issuer := strings.TrimSpace(getenv(EnvOIDCIssuer))
	if issuer == "" {
		if getenv(EnvOIDCAudience) != "" {
			return nil, errs.E(errs.Invalid, "%s is set but %s is not: set the issuer too, or neither", EnvOIDCAudience, EnvOIDCIssuer)
		}
		return nil, nil
	}
	rm := getenv(EnvOIDCRoleMap)
	if strings.TrimSpace(rm) == "" {
		rm = DefaultOIDCRoleMap
	}
	roles, err := ParseRoleMap(rm)
	if err != nil {
		return nil, err
	}
	claim := strings.TrimSpace(getenv(EnvOIDCRolesClaim))
	return NewOIDC(OIDCConfig{Issuer: issuer, Audience: strings.TrimSpace(getenv(EnvOIDCAudience)), RolesClaim: claim, RoleMap: roles})
}

// String says how the verifier is configured, for the start-up log.
func (o *OIDC) String() string {
	return fmt.Sprintf("issuer %s, audience %s, roles claim %q (%s)", o.cfg.Issuer, o.cfg.Audience, o.cfg.RolesClaim, o.mapped())
}
