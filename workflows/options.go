// Package workflows holds certflow's durable workflows: one per certificate
// (the single writer of its state) and one per order refund. Workflows only
// orchestrate: every decision is a call into statemachine/ and policy/,
// every side effect an activity. Workflow code is deterministic: no map
// iteration, no time.Now, no rand, no native goroutines.
package workflows

import (
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
	// payFirstOptions: the first attempt of a payout, alone: a failure
	// returns to the workflow at once, which shows the refund waiting on
	// the payment provider from then on and goes on with payOptions (the
	// same idempotency key, so nothing is paid twice, M-4). On the happy
	// path it is the one activity payOptions would have run.
	payFirstOptions = workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
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
