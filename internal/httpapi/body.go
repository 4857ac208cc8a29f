package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/certflow/certflow/errs"
)

// DefaultMaxBodyBytes bounds a request body when Config.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 64 << 10

// ReadBody reads the whole body, refusing one larger than the limit (413).
func (s *Responder) ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody()))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, WithStatus(http.StatusRequestEntityTooLarge, errs.E(errs.Invalid, "request body is larger than %d bytes", tooLarge.Limit))
	case err != nil:
		return nil, BadRequest("reading the request body failed")
	}
	return body, nil
}

// Decode decodes a JSON object body into dst. An empty body leaves dst
// as it is (every body field is optional or checked by the workflow), so a
// bodiless POST needs no Content-Type; a body must be application/json,
// hold exactly one object, and name only fields dst has.
func (s *Responder) Decode(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := s.ReadBody(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := RequireJSON(r); err != nil {
		return err
	}
	return DecodeJSON(body, dst)
}

// RequireJSON refuses a body that is not declared application/json (415).
func RequireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return WithStatus(http.StatusUnsupportedMediaType, errs.E(errs.Invalid, "Content-Type application/json is required"))
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return WithStatus(http.StatusUnsupportedMediaType, errs.E(errs.Invalid, "Content-Type %q is not application/json", Clip(ct)))
	}
	return nil
}

// DecodeJSON decodes exactly one JSON object into dst, strictly. Its errors
// are 400s naming the field or the byte offset at fault.
func DecodeJSON(body []byte, dst any) error {
	if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || trimmed[0] != '{' {
		return BadRequest("request body must be a JSON object")
	}
	// encoding/json would replace invalid UTF-8 silently.
	if !utf8.Valid(body) {
		return BadRequest("request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return BadRequest("%s", JSONProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return BadRequest("request body has data after the JSON object")
	}
	return nil
}

// JSONProblem describes a decoding error for the client: which field, or
// where the syntax broke. It never echoes the body.
func JSONProblem(err error) string {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("malformed JSON at byte %d", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of input"
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return fmt.Sprintf("field %s: expected %s, got a JSON %s", field, jsonKind(typ.Type), typ.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + name
	}
	return "malformed JSON"
}

// jsonKind names a Go type as the JSON value it accepts.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + t.String()
}

// JSON writes v with status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing left to tell it
}

// maxKeyLen bounds an Idempotency-Key.
const maxKeyLen = 255

// IdempotencyKey returns the optional Idempotency-Key header, refusing a
// malformed one (400).
func IdempotencyKey(r *http.Request) (string, error) {
	k := r.Header.Get("Idempotency-Key")
	if k == "" {
		return "", nil
	}
	if len(k) > maxKeyLen || strings.IndexFunc(k, func(c rune) bool { return c <= ' ' || c > '~' }) >= 0 {
		return "", BadRequest("Idempotency-Key must be 1 to %d visible ASCII characters", maxKeyLen)
	}
	return k, nil
}

// Clip shortens an echoed value so an error message stays one short line.
func Clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
