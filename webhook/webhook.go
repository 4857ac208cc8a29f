// Package webhook signs and verifies the CA's review callbacks in the
// Standard Webhooks style. It owns the wire format of the three headers and
// the secret format, and guarantees that Verify accepts a request only when
// its timestamp is within the tolerance of the injected clock and one of its
// signatures is an HMAC-SHA256 of "id.timestamp.body" under one of the
// configured secrets, compared in constant time. Every refusal is an
// errs.Invalid error whose message names the problem and whose cause is one
// of the Err* sentinels, so callers can branch with errors.Is.
//
// Wire format:
//
//	webhook-id:        the message ID (1–256 visible ASCII characters)
//	webhook-timestamp: unix seconds, decimal digits only
//	webhook-signature: space-separated "v1,<base64 HMAC-SHA256>" entries
//
// Entries of other versions are ignored, so a sender can add a new scheme
// beside v1; a sender rotating secrets sends one v1 entry per secret, and a
// receiver rotating secrets configures both (Verifier.Secrets).
//
// Secrets are written "whsec_<base64>" (the Standard Webhooks form); a value
// without the prefix is taken as the raw secret bytes (see ParseSecret).
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/errs"
)

// The header names, in their canonical form.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// SecretPrefix marks a base64-encoded secret.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a timestamp may be from now, either way, when
// Verifier.Tolerance is zero.
const DefaultTolerance = 5 * time.Minute

// maxIDLen bounds the webhook-id a receiver accepts.
const maxIDLen = 256

// The causes of a refusal. Verify wraps exactly one of them in its
// errs.Invalid error.
var (
	ErrMissingHeader      = errors.New("missing webhook header")
	ErrMalformedID        = errors.New("malformed webhook id")
	ErrMalformedTimestamp = errors.New("malformed webhook timestamp")
	ErrStaleTimestamp     = errors.New("webhook timestamp too old")
	ErrFutureTimestamp    = errors.New("webhook timestamp in the future")
	ErrMalformedSignature = errors.New("no well-formed v1 signature")
	ErrSignatureMismatch  = errors.New("webhook signature mismatch")
	// ErrNoSecrets is a configuration error, not a refusal of the sender:
	// its code is errs.Internal.
	ErrNoSecrets = errors.New("no webhook secrets configured")
)

// Sign returns the v1 signature ("v1,<base64>") of a message: the
// HMAC-SHA256 under secret of id + "." + unix seconds of ts + "." + body.
func Sign(secret []byte, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(secret, id, strconv.FormatInt(ts.Unix(), 10), body))
}

// Headers returns the three headers a sender sets on a message signed with
// secret.
func Headers(secret []byte, id string, ts time.Time, body []byte) http.Header {
	h := make(http.Header, 3)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, Sign(secret, id, ts, body))
	return h
}

// ParseSecret decodes a configured secret: "whsec_<base64>" yields the
// decoded bytes, any other non-empty value its raw bytes. Surrounding
// whitespace is ignored.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errs.E(errs.Invalid, "webhook secret: empty")
	}
	enc, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return []byte(s), nil
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "webhook secret: %s prefix but not valid base64", SecretPrefix)
	}
	if len(b) == 0 {
		return nil, errs.E(errs.Invalid, "webhook secret: empty after %s", SecretPrefix)
	}
	return b, nil
}

// Verifier checks signed messages. Its zero Tolerance means
// DefaultTolerance and its nil Now means time.Now. A Verifier is safe for
// concurrent use once configured.
type Verifier struct {
	// Secrets are all accepted at once, so a secret can be rotated without
	// a window in which either side's messages are refused.
	Secrets   [][]byte
	Tolerance time.Duration
	Now       func() time.Time
}

// Verify checks the headers h of a message with body and returns its
// webhook-id. A refusal is an errs.Invalid error naming the problem, with
// one of the Err* sentinels as its cause.
func (v *Verifier) Verify(h http.Header, body []byte) (string, error) {
	if len(v.Secrets) == 0 {
		return "", &errs.Error{Code: errs.Internal, Message: "webhook verifier has no secrets", Err: ErrNoSecrets}
	}
	id, tsText, sigs, err := headers(h)
	if err != nil {
		return "", err
	}
	if err := v.checkTime(tsText); err != nil {
		return "", err
	}
	if err := v.checkSignature(id, tsText, sigs, body); err != nil {
		return "", err
	}
	return id, nil
}

func headers(h http.Header) (id, ts, sigs string, err error) {
	for _, name := range []string{HeaderID, HeaderTimestamp, HeaderSignature} {
		if strings.TrimSpace(h.Get(name)) == "" {
			return "", "", "", refuse(ErrMissingHeader, "missing header %s", strings.ToLower(name))
		}
	}
	id = h.Get(HeaderID)
	if len(id) > maxIDLen || strings.IndexFunc(id, notVisibleASCII) >= 0 {
		return "", "", "", refuse(ErrMalformedID, "webhook-id must be 1 to %d visible ASCII characters", maxIDLen)
	}
	return id, h.Get(HeaderTimestamp), h.Get(HeaderSignature), nil
}

func notVisibleASCII(r rune) bool { return r <= ' ' || r > '~' }

func (v *Verifier) checkTime(text string) error {
	sec, ok := parseUnix(text)
	if !ok {
		return refuse(ErrMalformedTimestamp, "webhook-timestamp %q is not unix seconds", clip(text))
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	// Compare in whole seconds so a far-off value cannot overflow a Duration.
	skew := sec - now().Unix()
	limit := int64(tol / time.Second)
	switch {
	case skew < -limit:
		return refuse(ErrStaleTimestamp, "webhook-timestamp is %ds old; tolerance is %s", -skew, tol)
	case skew > limit:
		return refuse(ErrFutureTimestamp, "webhook-timestamp is %ds in the future; tolerance is %s", skew, tol)
	}
	return nil
}

// parseUnix accepts 1 to 18 decimal digits (no sign, no spaces).
func parseUnix(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func (v *Verifier) checkSignature(id, ts, header string, body []byte) error {
	var given [][]byte
	for _, f := range strings.Fields(header) {
		enc, ok := strings.CutPrefix(f, "v1,")
		if !ok {
			continue // another scheme: not ours to judge
		}
		if sig, err := base64.StdEncoding.DecodeString(enc); err == nil && len(sig) == sha256.Size {
			given = append(given, sig)
		}
	}
	if len(given) == 0 {
		return refuse(ErrMalformedSignature, "webhook-signature has no well-formed v1 signature")
	}
	for _, secret := range v.Secrets {
		want := mac(secret, id, ts, body)
		for _, sig := range given {
			if hmac.Equal(sig, want) {
				return nil
			}
		}
	}
	return refuse(ErrSignatureMismatch, "webhook-signature matches no configured secret")
}

func mac(secret []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

func refuse(cause error, format string, args ...any) error {
	e := errs.E(errs.Invalid, format, args...)
	e.Err = cause
	return e
}

// clip shortens an echoed header value so a refusal stays one short line.
func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
