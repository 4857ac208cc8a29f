package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/certflow/certflow/errs"
)

// Query reads r's query string strictly: a malformed one, a parameter
// not among allowed, or one given twice is 400 naming it (and, for an
// unknown one, the parameters the route takes). Silently ignoring a
// misspelt filter would answer with everything, which looks like an
// answer to the question asked.
func Query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, BadRequest("the query string is malformed: %s", Clip(err.Error()))
	}
	for name, vs := range q {
		known := false
		for _, a := range allowed {
			known = known || name == a
		}
		switch {
		case !known && len(allowed) == 0:
			return nil, BadRequest("query parameter %s is not known; this call takes no query parameters", Clip(name))
		case !known:
			return nil, BadRequest("query parameter %s is not known; allowed: %s", Clip(name), strings.Join(allowed, ", "))
		case len(vs) > 1:
			return nil, BadRequest("query parameter %s is given %d times; give it once", name, len(vs))
		}
	}
	return q, nil
}

// OneOf checks the value of query parameter name against allowed ("" is
// absent, and allowed): 400 naming the parameter and the allowed values.
func OneOf[T ~string](name string, v T, allowed []T) error {
	if v == "" {
		return nil
	}
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return BadRequest("query parameter %s: unknown value %q; allowed: %s", name, Clip(string(v)), strings.Join(names, ", "))
}

// BoolParam reads an optional true|false parameter (nil when absent).
func BoolParam(q url.Values, name string) (*bool, error) {
	switch v := q.Get(name); v {
	case "":
		return nil, nil
	case "true", "false":
		b := v == "true"
		return &b, nil
	default:
		return nil, BadRequest("query parameter %s: unknown value %q; allowed: true, false", name, Clip(v))
	}
}

// LimitParam reads an optional page size between 1 and max; def when
// absent.
func LimitParam(q url.Values, def, max int) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, BadRequest("query parameter limit: %q is not an integer between 1 and %d", Clip(v), max)
	}
	return n, nil
}

// CursorError makes the store's refusal of a cursor (errs.Invalid) a 400
// naming the parameter; other errors pass.
func CursorError(name string, err error) error {
	if errs.CodeOf(err) != errs.Invalid {
		return err
	}
	return WithStatus(http.StatusBadRequest, errs.E(errs.Invalid, "query parameter %s: %s", name, errs.MessageOf(err)))
}
