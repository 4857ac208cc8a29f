package obs

import (
	"context"
	"errors"
	"slices"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
)

// A designed detour keeps its code, message, retryability and rules (the
// errs taxonomy's details) and is marked benign; other errors pass as they
// are.
func TestWorkerInterceptorMarksDesignedDetoursBenign(t *testing.T) {
	for name, tc := range map[string]struct {
		err        error
		wantBenign bool
	}{
		"designed, with rules": {errtemporal.From(&errs.Error{Code: errs.OriginalMethodFailed, Message: "card closed", Rules: []string{"GEN-4"}}), true},
		"not designed":         {errtemporal.From(&errs.Error{Code: errs.NotFound, Message: "no order", Rules: []string{"GEN-1"}}), false},
	} {
		t.Run(name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestActivityEnvironment()
			env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{NewWorkerInterceptor(string(errs.OriginalMethodFailed))}})
			env.RegisterActivityWithOptions(func(context.Context) error { return tc.err }, activity.RegisterOptions{Name: "Pay"})
			_, err := env.ExecuteActivity("Pay")
			var app *temporal.ApplicationError
			if !errors.As(err, &app) {
				t.Fatalf("error %v is not an application error", err)
			}
			if benign := app.Category() == temporal.ApplicationErrorCategoryBenign; benign != tc.wantBenign {
				t.Errorf("benign = %v, want %v", benign, tc.wantBenign)
			}
			coded, ok := errtemporal.ToCoded(err)
			if !ok || coded.Code != errs.Code(app.Type()) || !app.NonRetryable() {
				t.Fatalf("coded %+v ok %v non-retryable %v", coded, ok, app.NonRetryable())
			}
			want, _ := errtemporal.ToCoded(tc.err)
			if coded.Message != want.Message || !slices.Equal(coded.Rules, want.Rules) {
				t.Errorf("message %q rules %q, want %q %q", coded.Message, coded.Rules, want.Message, want.Rules)
			}
		})
	}
}
