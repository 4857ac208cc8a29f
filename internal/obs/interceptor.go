package obs

import (
	"context"
	"errors"
	"slices"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/errs/errtemporal"
)

// NewWorkerInterceptor returns the worker interceptor that observes every
// activity in one place:
//   - an attempt after the first counts on MetricActivityRetries (the
//     infrastructure being retried: a CA, the store, the payment side);
//   - an application error whose type is one of designed (an outcome the
//     workflow branches on, such as a resubmission the CA refuses) is
//     logged once as a WARN, counted on MetricDesignedDetours, and passed
//     on with the benign category, so the SDK neither logs it as an ERROR
//     nor counts it as a failed activity. Its type, message, retryability
//     and cause are kept, so the workflow branches on it as before.
func NewWorkerInterceptor(designed ...string) interceptor.WorkerInterceptor {
	return &workerInterceptor{designed: designed}
}

type workerInterceptor struct {
	interceptor.WorkerInterceptorBase
	designed []string
}

func (w *workerInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	a := &activityInbound{designed: w.designed}
	a.Next = next
	return a
}

type activityInbound struct {
	interceptor.ActivityInboundInterceptorBase
	designed []string
}

func (a *activityInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	info := activity.GetInfo(ctx)
	if info.Attempt > 1 {
		ActivityRetried(activity.GetMetricsHandler(ctx), info.ActivityType.Name)
	}
	res, err := a.Next.ExecuteActivity(ctx, in)
	var appErr *temporal.ApplicationError
	if err == nil || !errors.As(err, &appErr) || !slices.Contains(a.designed, appErr.Type()) {
		return res, err
	}
	opts := temporal.ApplicationErrorOptions{
		NonRetryable: appErr.NonRetryable(),
		Cause:        errors.Unwrap(appErr),
		Category:     temporal.ApplicationErrorCategoryBenign,
	}
	if appErr.HasDetails() {
		// The coded errors' details (errtemporal.Details: the rules) are
		// carried over; details of another shape pass the error unchanged.
		var d errtemporal.Details
		if appErr.Details(&d) != nil {
			return res, err
		}
		opts.Details = []any{d}
	}
	DesignedDetour(activity.GetMetricsHandler(ctx), appErr.Type())
	activity.GetLogger(ctx).Warn("designed detour", "error_type", appErr.Type(), "detail", appErr.Message(),
		"workflow_id", info.WorkflowExecution.ID, "activity", info.ActivityType.Name)
	return res, temporal.NewApplicationErrorWithOptions(appErr.Message(), appErr.Type(), opts)
}
