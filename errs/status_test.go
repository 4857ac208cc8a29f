package errs_test

import (
	"testing"

	"github.com/certflow/certflow/errs"
)

// Every code has its status; a caller's mistake is 4xx, an outage 503,
// and a code outside the taxonomy 500.
func TestHTTPStatus(t *testing.T) {
	want := map[errs.Code]int{
		errs.Invalid: 422, errs.NotFound: 404, errs.Conflict: 409, errs.IllegalTransition: 409,
		errs.NotRefundable: 422, errs.Unavailable: 503, errs.Internal: 500, errs.Unauthenticated: 401,
		errs.Forbidden: 403, errs.RateLimited: 429, errs.ResubmissionRejected: 422,
		errs.OriginalMethodFailed: 422, errs.Misconfigured: 503,
		errs.Code("no_such_code"): 500,
	}
	for code, status := range want {
		if got := code.HTTPStatus(); got != status {
			t.Errorf("%s: HTTPStatus %d, want %d", code, got, status)
		}
	}
	for _, c := range errs.Codes {
		if _, ok := want[c]; !ok {
			t.Errorf("code %s has no expected status here: add it", c)
		}
	}
}
