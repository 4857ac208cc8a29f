// Package workflows holds certflow's durable workflows: one per certificate
// (the single writer of its state) and one per order refund. Workflows only
// orchestrate: every decision is a call into statemachine/ and policy/,
// every side effect an activity. Workflow code is deterministic: no map
// iteration, no time.Now, no rand, no native goroutines.
package workflows

import (
	"errors"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/errs/errtemporal"
)

// a is the typed handle workflows use to name activities.
var a *activities.Activities

// Activity options, chosen per kind of call.
var (
	// storeOptions: the local store answers in milliseconds; a failure is an
	// outage worth retrying for as long as it lasts (the workflow waits).
	storeOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
	}
	// caOptions: CA calls are idempotent per certificate and action; the CA
	// can be slow or down for hours, so retry with backoff for a day, then
	// fail the step (the refund reports it; an operator looks).
	caOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        10 * time.Minute,
			NonRetryableErrorTypes: errtemporal.NonRetryable(),
		},
	}
	// payOptions: money. A timeout may hide a payout that went through, so
	// every retry reconciles by idempotency key before paying (M-4); keep
	// trying for three days, never treating a timeout as a failure.
	payOptions = workflow.ActivityOptions{
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

// The first attempt of a CA action and of a payout runs as a local
// activity, alone (firstAttempt): on the happy path that is one marker in
// the history and no workflow task of its own, where an activity costs
// three events and a task (three more). A failure worth retrying (an
// outage, a timeout: what caOptions and payOptions would retry) goes on as
// a durable activity with those options, so an outage of hours is waited
// out exactly as before; the call is idempotent either way (the CA per
// certificate and action, the payout by its idempotency key, M-4). A
// refusal ends it as it would end the activity.
var (
	// caFirstOptions: a CA call answers in well under a second; 20 s
	// covers a slow one (the SDK keeps the workflow task alive meanwhile).
	caFirstOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout: 20 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	}
	// payFirstOptions: the first attempt of a payout; its failure shows
	// the refund waiting on the payment provider at once, and payOptions
	// take over (the same idempotency key, so nothing is paid twice).
	payFirstOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	}
)

// firstAttempt runs activity fn once as a local activity with first; when
// that fails in a way the durable options would retry, it runs fn as a
// durable activity with then and returns that outcome.
func firstAttempt(ctx workflow.Context, first workflow.LocalActivityOptions, then workflow.ActivityOptions, fn, in, out any) error {
	err := workflow.ExecuteLocalActivity(withLocalOptions(ctx, first), fn, in).Get(ctx, out)
	if err == nil || !worthRetrying(err) {
		return err
	}
	return workflow.ExecuteActivity(withOptions(ctx, then), fn, in).Get(ctx, out)
}

// worthRetrying reports whether an attempt's failure is one Temporal
// would retry under caOptions or payOptions: not a non-retryable
// application error, and not one of the codes errtemporal.NonRetryable
// lists (answers, refusals, Misconfigured); outages, timeouts and
// internal errors are.
func worthRetrying(err error) bool {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return !appErr.NonRetryable() && !slices.Contains(errtemporal.NonRetryable(), appErr.Type())
	}
	return true
}

// recordOptions: the refund's read model in the store, written by a local
// activity at every state change; a store outage holds the refund for up
// to ten minutes per write, then the write is given up (logged) and the
// next change writes the whole record again.
var recordOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout:    10 * time.Second,
	ScheduleToCloseTimeout: 10 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: errtemporal.NonRetryable(),
	},
}

// localStoreOptions: millisecond-long reads and writes of the local store,
// run as local activities (one marker in history, no task round trip). A
// store outage is retried for as long as it lasts (the workflow waits), as
// storeOptions does for regular activities.
var localStoreOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout: 10 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: errtemporal.NonRetryable(),
	},
}

func withLocalOptions(ctx workflow.Context, o workflow.LocalActivityOptions) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, o)
}

func withOptions(ctx workflow.Context, o workflow.ActivityOptions) workflow.Context {
	return workflow.WithActivityOptions(ctx, o)
}
