package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/errs"
)

var (
	now    = time.Date(2026, 3, 6, 10, 0, 0, 0, time.UTC)
	secret = []byte("current-secret-of-thirty-two-byt")
	body   = []byte(`{"event_id":"evt-1","type":"issued","certificate":"c-1"}`)
)

func fixedNow() time.Time { return now }

func verifier(secrets ...[]byte) *Verifier {
	return &Verifier{Secrets: secrets, Now: fixedNow}
}

// TestStandardWebhooksVector checks interoperability with the published
// Standard Webhooks reference example.
func TestStandardWebhooksVector(t *testing.T) {
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerifyAccepts(t *testing.T) {
	tests := map[string]struct {
		ts  time.Time
		mod func(http.Header)
	}{
		"fresh":                   {ts: now},
		"exactly tolerance old":   {ts: now.Add(-DefaultTolerance)},
		"exactly tolerance ahead": {ts: now.Add(DefaultTolerance)},
		"other schemes ignored":   {ts: now, mod: func(h http.Header) { h.Set(HeaderSignature, "v2,abc "+h.Get(HeaderSignature)+" v1a,xyz") }},
		"one of several v1 matches": {ts: now, mod: func(h http.Header) {
			h.Set(HeaderSignature, Sign([]byte("other"), "evt-1", now, body)+" "+h.Get(HeaderSignature))
		}},
		"undecodable entry tolerated": {ts: now, mod: func(h http.Header) { h.Set(HeaderSignature, "v1,!!! "+h.Get(HeaderSignature)) }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := Headers(secret, "evt-1", tc.ts, body)
			if tc.mod != nil {
				tc.mod(h)
			}
			id, err := verifier(secret).Verify(h, body)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id != "evt-1" {
				t.Errorf("id = %q, want evt-1", id)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	tests := map[string]struct {
		mod      func(http.Header)
		body     []byte
		v        *Verifier
		cause    error
		code     errs.Code
		mentions string
	}{
		"missing id":        {mod: del(HeaderID), cause: ErrMissingHeader, mentions: "webhook-id"},
		"missing timestamp": {mod: del(HeaderTimestamp), cause: ErrMissingHeader, mentions: "webhook-timestamp"},
		"missing signature": {mod: del(HeaderSignature), cause: ErrMissingHeader, mentions: "webhook-signature"},
		"blank signature":   {mod: set(HeaderSignature, "   "), cause: ErrMissingHeader, mentions: "webhook-signature"},
		"id with space":     {mod: set(HeaderID, "evt 1"), cause: ErrMalformedID, mentions: "webhook-id"},
		"id too long":       {mod: set(HeaderID, strings.Repeat("x", 257)), cause: ErrMalformedID, mentions: "webhook-id"},
		"timestamp letters": {mod: set(HeaderTimestamp, "yesterday"), cause: ErrMalformedTimestamp, mentions: "yesterday"},
		"timestamp signed":  {mod: set(HeaderTimestamp, "+"+unix(now)), cause: ErrMalformedTimestamp, mentions: "unix seconds"},
		"timestamp negative": {
			mod: set(HeaderTimestamp, "-5"), cause: ErrMalformedTimestamp, mentions: "unix seconds",
		},
		"timestamp millis overflow": {mod: set(HeaderTimestamp, "1234567890123456789012"), cause: ErrMalformedTimestamp, mentions: "unix seconds"},
		"timestamp fractional":      {mod: set(HeaderTimestamp, unix(now)+".5"), cause: ErrMalformedTimestamp, mentions: "unix seconds"},
		"stale":                     {mod: resign(now.Add(-DefaultTolerance - time.Second)), cause: ErrStaleTimestamp, mentions: "301s old"},
		"future":                    {mod: resign(now.Add(DefaultTolerance + time.Second)), cause: ErrFutureTimestamp, mentions: "301s in the future"},
		"stale under custom tolerance": {
			mod: resign(now.Add(-2 * time.Minute)), v: &Verifier{Secrets: [][]byte{secret}, Now: fixedNow, Tolerance: time.Minute},
			cause: ErrStaleTimestamp, mentions: "tolerance is 1m0s",
		},
		"no v1 entry":           {mod: set(HeaderSignature, "v2,"+strings.Repeat("A", 44)), cause: ErrMalformedSignature, mentions: "no well-formed v1"},
		"v1 not base64":         {mod: set(HeaderSignature, "v1,not-base64!"), cause: ErrMalformedSignature, mentions: "no well-formed v1"},
		"v1 wrong length":       {mod: set(HeaderSignature, "v1,AAAA"), cause: ErrMalformedSignature, mentions: "no well-formed v1"},
		"forged with other key": {mod: set(HeaderSignature, Sign([]byte("attacker"), "evt-1", now, body)), cause: ErrSignatureMismatch, mentions: "matches no"},
		"body changed":          {body: []byte(`{"event_id":"evt-1","type":"revocation_approved","certificate":"c-1"}`), cause: ErrSignatureMismatch, mentions: "matches no"},
		"id changed":            {mod: set(HeaderID, "evt-2"), cause: ErrSignatureMismatch, mentions: "matches no"},
		"timestamp changed":     {mod: set(HeaderTimestamp, unix(now.Add(time.Second))), cause: ErrSignatureMismatch, mentions: "matches no"},
		"no secrets": {
			v: &Verifier{Now: fixedNow}, cause: ErrNoSecrets, code: errs.Internal, mentions: "no secrets",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := Headers(secret, "evt-1", now, body)
			if tc.mod != nil {
				tc.mod(h)
			}
			b := body
			if tc.body != nil {
				b = tc.body
			}
			v := tc.v
			if v == nil {
				v = verifier(secret)
			}
			id, err := v.Verify(h, b)
			if err == nil {
				t.Fatal("Verify accepted the message")
			}
			if id != "" {
				t.Errorf("id = %q on refusal, want empty", id)
			}
			if !errors.Is(err, tc.cause) {
				t.Errorf("err = %v, want cause %v", err, tc.cause)
			}
			want := tc.code
			if want == "" {
				want = errs.Invalid
			}
			if got := errs.CodeOf(err); got != want {
				t.Errorf("code = %s, want %s", got, want)
			}
			if msg := errs.MessageOf(err); !strings.Contains(msg, tc.mentions) {
				t.Errorf("message %q does not mention %q", msg, tc.mentions)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := []byte("old-secret"), []byte("new-secret")
	v := verifier(newKey, oldKey)
	for name, key := range map[string][]byte{"old": oldKey, "new": newKey} {
		t.Run(name+" secret accepted", func(t *testing.T) {
			if _, err := v.Verify(Headers(key, "evt-1", now, body), body); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
	t.Run("retired secret refused", func(t *testing.T) {
		_, err := verifier(newKey).Verify(Headers(oldKey, "evt-1", now, body), body)
		if !errors.Is(err, ErrSignatureMismatch) {
			t.Fatalf("err = %v, want ErrSignatureMismatch", err)
		}
	})
}

func TestParseSecret(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    string
		invalid bool
	}{
		"prefixed base64":      {in: "whsec_c2VjcmV0", want: "secret"},
		"raw":                  {in: "plain-secret", want: "plain-secret"},
		"surrounding spaces":   {in: "  whsec_c2VjcmV0\n", want: "secret"},
		"empty":                {in: "", invalid: true},
		"blank":                {in: "  ", invalid: true},
		"prefix, bad base64":   {in: "whsec_***", invalid: true},
		"prefix, nothing more": {in: "whsec_", invalid: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseSecret(tc.in)
			if tc.invalid {
				if errs.CodeOf(err) != errs.Invalid {
					t.Fatalf("err = %v, want errs.Invalid", err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("ParseSecret(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// FuzzOneByteChange is the property: a message signed by Sign verifies, and
// changing any one byte of its body, id or timestamp makes it fail.
func FuzzOneByteChange(f *testing.F) {
	f.Add([]byte("k"), "evt-1", int64(0), []byte(`{"a":1}`), uint(0), byte(1), uint8(0))
	f.Add([]byte("another key"), "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", int64(-299), []byte(`{}`), uint(7), byte(0x80), uint8(1))
	f.Add([]byte{0}, "x", int64(300), []byte{}, uint(3), byte(0xff), uint8(2))
	f.Fuzz(func(t *testing.T, key []byte, id string, offset int64, msg []byte, pos uint, delta byte, field uint8) {
		if len(id) == 0 || len(id) > maxIDLen || strings.IndexFunc(id, notVisibleASCII) >= 0 {
			t.Skip("not a valid webhook id")
		}
		if delta == 0 {
			delta = 1
		}
		offset %= int64(DefaultTolerance / time.Second)
		ts := now.Add(time.Duration(offset) * time.Second)
		v := verifier(key)
		h := Headers(key, id, ts, msg)
		if _, err := v.Verify(h, msg); err != nil {
			t.Fatalf("valid message refused: %v", err)
		}
		switch field % 3 {
		case 0:
			if len(msg) == 0 {
				t.Skip("no body byte to change")
			}
			changed := append([]byte(nil), msg...)
			changed[pos%uint(len(changed))] += delta
			msg = changed
		case 1:
			h.Set(HeaderID, flip(id, pos, delta))
		case 2:
			h.Set(HeaderTimestamp, flip(h.Get(HeaderTimestamp), pos, delta))
		}
		if _, err := v.Verify(h, msg); err == nil {
			t.Fatalf("changed message accepted (field %d, pos %d, delta %d)", field%3, pos, delta)
		}
	})
}

func flip(s string, pos uint, delta byte) string {
	b := []byte(s)
	b[pos%uint(len(b))] += delta
	return string(b)
}

func del(name string) func(http.Header) { return func(h http.Header) { h.Del(name) } }

func set(name, value string) func(http.Header) {
	return func(h http.Header) { h.Set(name, value) }
}

// resign replaces the message's timestamp with ts and signs it correctly,
// so only the time check can refuse it.
func resign(ts time.Time) func(http.Header) {
	return func(h http.Header) {
		for k, v := range Headers(secret, h.Get(HeaderID), ts, body) {
			h[k] = v
		}
	}
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
