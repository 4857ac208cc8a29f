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

// One classification serves every boundary: each code's class, and what
// the Temporal retry, the worker's detour log and a workflow's "wait, do
// not refuse" derive from it.
func TestClass(t *testing.T) {
	tests := map[errs.Code]struct {
		class                               errs.Class
		retryable, designed, infrastructure bool
	}{
		errs.Invalid:                 {errs.ClassInvalid, false, false, false},
		errs.NotFound:                {errs.ClassNotFound, false, false, false},
		errs.Conflict:                {errs.ClassConflict, false, false, false},
		errs.IllegalTransition:       {errs.ClassConflict, false, false, false},
		errs.NotRefundable:           {errs.ClassRefusal, false, true, false},
		errs.ResubmissionRejected:    {errs.ClassRefusal, false, true, false},
		errs.OriginalMethodFailed:    {errs.ClassRefusal, false, true, false},
		errs.Unauthenticated:         {errs.ClassRefusal, false, true, false},
		errs.Forbidden:               {errs.ClassRefusal, false, true, false},
		errs.Unavailable:             {errs.ClassRetryable, true, false, true},
		errs.RateLimited:             {errs.ClassRetryable, true, false, true},
		errs.Internal:                {errs.ClassInfrastructure, true, false, true},
		errs.Misconfigured:           {errs.ClassInfrastructure, false, false, true},
		errs.Code("ScheduleToClose"): {errs.ClassInfrastructure, true, false, true},
	}
	for code, tc := range tests {
		if got := code.Class(); got != tc.class {
			t.Errorf("%s: class %s, want %s", code, got, tc.class)
		}
		if got := code.Retryable(); got != tc.retryable {
			t.Errorf("%s: retryable %v, want %v", code, got, tc.retryable)
		}
		if got := code.Designed(); got != tc.designed {
			t.Errorf("%s: designed %v, want %v", code, got, tc.designed)
		}
		if got := code.Infrastructure(); got != tc.infrastructure {
			t.Errorf("%s: infrastructure %v, want %v", code, got, tc.infrastructure)
		}
	}
	for _, c := range errs.Codes {
		if _, ok := tests[c]; !ok {
			t.Errorf("code %s is not classified here: add it", c)
		}
	}
}
