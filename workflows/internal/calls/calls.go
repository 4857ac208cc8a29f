// Package calls is how certflow's two workflows (refund and certificate)
// call out and wait: the options per kind of activity, reading an
// activity's error, and the waits and helpers both use. It holds no
// process logic.
package calls

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
)

// Activity options, chosen per kind of call.
var (
	// Store: the local store answers in milliseconds; a failure is an
	// outage worth retrying for as long as it lasts (the workflow waits).
	Store = workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
	}
	// CA: CA calls are idempotent per certificate and action; the CA
	// can be slow or down for hours, so retry with backoff for a day, then
	// fail the step (the refund reports it; an operator looks).
	CA = workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        10 * time.Minute,
			NonRetryableErrorTypes: errtemporal.NonRetryable(),
		},
	}
	// PayFirst: the first attempt of a payout, alone: a failure
	// returns to the workflow at once, which shows the refund waiting on
	// the payment provider from then on and goes on with Pay (the
	// same idempotency key, so nothing is paid twice, M-4). On the happy
	// path it is the one activity Pay would have run.
	PayFirst = workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	}
	// Pay: money. A timeout may hide a payout that went through, so
	// every retry reconciles by idempotency key before paying (M-4); keep
	// trying for three days, never treating a timeout as a failure.
	Pay = workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: 72 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        15 * time.Minute,
			NonRetryableErrorTypes: errtemporal.NonRetryable(),
		},
	}
)

// Record: the refund's read model in the store, written by a local
// activity at every state change; a store outage holds the refund for up
// to ten minutes per write, then the write is given up (logged) and the
// next change writes the whole record again.
var Record = workflow.LocalActivityOptions{
	StartToCloseTimeout:    10 * time.Second,
	ScheduleToCloseTimeout: 10 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: errtemporal.NonRetryable(),
	},
}

// LocalStore: millisecond-long reads and writes of the local store,
// run as local activities (one marker in history, no task round trip). A
// store outage is retried for as long as it lasts (the workflow waits), as
// Store does for regular activities: up to LocalStoreOutage. The total
// bound must be set: a local activity without one gets its attempt's
// (10 s), which once refused refunds whose store was slow for longer.
var LocalStore = workflow.LocalActivityOptions{
	StartToCloseTimeout:    10 * time.Second,
	ScheduleToCloseTimeout: LocalStoreOutage,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: errtemporal.NonRetryable(),
	},
}

// LocalStoreOutage is how long a workflow waits for its store through
// LocalStore's retries: thirty days, the longest refund window (a refund
// waiting that long for its store is past every rule's deadline anyway,
// and an operator has long been alerted).
const LocalStoreOutage = 30 * 24 * time.Hour

// PayFirstLocal is PayFirst as a local activity (a marker in the
// history, no activity task round trip: on the happy path the payout, the
// outcome's upsert and the close are one workflow task), for a refund
// whose every path from the payout's task pays or finds the payout never
// made (refund's committedDurably and judgedInThisTask): a worker lost
// during the task runs it again, and with it the attempt, which finds the
// payout by its key (M-4) or is refused by the ledger's judgement fence.
var PayFirstLocal = workflow.LocalActivityOptions{
	StartToCloseTimeout:    PayFirst.StartToCloseTimeout,
	ScheduleToCloseTimeout: PayFirst.StartToCloseTimeout,
	RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
}

// WithLocal applies local activity options o to ctx.
func WithLocal(ctx workflow.Context, o workflow.LocalActivityOptions) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, o)
}

// With applies activity options o to ctx.
func With(ctx workflow.Context, o workflow.ActivityOptions) workflow.Context {
	return workflow.WithActivityOptions(ctx, o)
}

// Poll: one look at a review. A failure returns to the workflow, which
// shows it and looks again later; it never ends the refund.
var Poll = workflow.ActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: 5 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        2 * time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: []string{string(errs.Misconfigured), string(errs.Invalid), string(errs.NotFound)},
	},
}

// ErrorType is the type of an activity's application error ("" for
// another error): an errs.Code for certflow's own.
func ErrorType(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type()
	}
	return ""
}

// ErrorMessage is an activity error's message without the SDK's wrapping.
func ErrorMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}

// IsInfraFailure tells whether an error type is an infrastructure failure
// (the CA, the payment provider or the store unreachable): waited out,
// never a refusal.
func IsInfraFailure(errType string) bool { return errs.Code(errType).Infrastructure() }

// AwaitWithTimeout is workflow.AwaitWithTimeout that cancels its timer as
// soon as the condition is met first. A timer left running when the run
// closes shows as "Started" in the Web UI forever after, on a refund long
// paid. The cancel is one TimerCanceled event when the timer started in an
// earlier workflow task (none in the same task); the SDK would do the same
// behind its CancelAwaitTimerOnCondition flag, off by default.
func AwaitWithTimeout(ctx workflow.Context, d time.Duration, cond func() bool) (bool, error) {
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	return workflow.AwaitWithTimeout(tctx, d, cond)
}

// CalendarFor builds the calendar recorded in a policy bundle.
func CalendarFor(spec calendar.Spec) (*calendar.Calendar, error) {
	cal, err := calendar.FromSpec(spec)
	if err != nil {
		return nil, errtemporal.From(errs.Wrap(errs.Invalid, err, "%s", errs.MessageOf(err)))
	}
	return cal, nil
}

// Tail is the last n of s (a copy when shortened).
func Tail[T any](s []T, n int) []T {
	if len(s) <= n {
		return s
	}
	return append([]T(nil), s[len(s)-n:]...)
}

// TaskQueue is the task queue the worker polls and both processes start
// their workflows on (workflows.TaskQueue).
const TaskQueue = "certflow"
