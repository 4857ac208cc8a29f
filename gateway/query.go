package gateway

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/certflow/certflow/errs"
)

// queryOf reads r's query string strictly: a malformed one, a parameter
// not among allowed, or one given twice is 400 naming it (and, for an
// unknown one, the parameters the route takes). Silently ignoring a
// misspelt filter would answer with everything, which looks like an
// answer to the question asked.
func queryOf(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("the query string is malformed: %s", clip(err.Error()))
	}
	for name, vs := range q {
		known := false
		for _, a := range allowed {
			known = known || name == a
		}
		switch {
		case !known && len(allowed) == 0:
			return nil, badRequest("query parameter %s is not known; this call takes no query parameters", clip(name))
		case !known:
			return nil, badRequest("query parameter %s is not known; allowed: %s", clip(name), strings.Join(allowed, ", "))
		case len(vs) > 1:
			return nil, badRequest("query parameter %s is given %d times; give it once", name, len(vs))
		}
	}
	return q, nil
}

// oneOf checks the value of query parameter name against allowed ("" is
// absent, and allowed): 400 naming the parameter and the allowed values.
func oneOf[T ~string](name string, v T, allowed []T) error {
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
	return badRequest("query parameter %s: unknown value %q; allowed: %s", name, clip(string(v)), strings.Join(names, ", "))
}

// boolParam reads an optional true|false parameter (nil when absent).
func boolParam(q url.Values, name string) (*bool, error) {
	switch v := q.Get(name); v {
	case "":
		return nil, nil
	case "true", "false":
		b := v == "true"
		return &b, nil
	default:
		return nil, badRequest("query parameter %s: unknown value %q; allowed: true, false", name, clip(v))
	}
}

// limitParam reads an optional page size between 1 and max; def when
// absent.
func limitParam(q url.Values, def, max int) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, badRequest("query parameter limit: %q is not an integer between 1 and %d", clip(v), max)
	}
	return n, nil
}

// cursorError makes the store's refusal of a cursor (errs.Invalid) a 400
// naming the parameter; other errors pass.
func cursorError(name string, err error) error {
	if errs.CodeOf(err) != errs.Invalid {
		return err
	}
	return withStatus(http.StatusBadRequest, errs.E(errs.Invalid, "query parameter %s: %s", name, errs.MessageOf(err)))
}
