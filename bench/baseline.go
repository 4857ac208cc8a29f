package bench

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"
)

// BaselineTaskQueue is the baseline's own task queue, polled by the
// harness's in-process worker, so the baseline never competes with
// certflow's worker for tasks (it does compete for the same server).
const BaselineTaskQueue = "certflow-bench-baseline"

// SignalBaselineReview is the baseline's one signal: the stand-in for the
// CA's review result.
const SignalBaselineReview = "review"

// BaselineInput starts a baseline workflow.
type BaselineInput struct {
	// SelfSignal makes the "revoke" activity signal its own workflow, as a
	// CA with no review delay answers at once (throughput mode). Without
	// it the workflow parks at the signal wait until the harness signals
	// it (waiting mode).
	SelfSignal bool `json:"self_signal"`
}

// BaselineWorkflow has the shape of a refund of one issued certificate at
// its leanest: four no-op activities (load, revoke, delete, pay) and one
// signal wait (the CA's review) after the second. With SelfSignal its
// history is 30 events: the signal lands with the revoke activity's
// completion in one workflow task.
func BaselineWorkflow(ctx workflow.Context, in BaselineInput) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	var a *BaselineActivities
	if err := workflow.ExecuteActivity(ctx, a.Load).Get(ctx, nil); err != nil {
		return err
	}
	if err := workflow.ExecuteActivity(ctx, a.Revoke, in).Get(ctx, nil); err != nil {
		return err
	}
	workflow.GetSignalChannel(ctx, SignalBaselineReview).Receive(ctx, nil)
	if err := workflow.ExecuteActivity(ctx, a.Delete).Get(ctx, nil); err != nil {
		return err
	}
	return workflow.ExecuteActivity(ctx, a.Pay).Get(ctx, nil)
}

// Signaler is the part of client.Client the baseline's activities use.
type Signaler interface {
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error
}

var _ Signaler = client.Client(nil)

// BaselineActivities are the baseline's activities: no work, except that
// Revoke answers for the CA when asked to, and counts the workflows parked
// at the review.
type BaselineActivities struct {
	Client Signaler
	// Parked, if set, is called once per Revoke that leaves its workflow
	// waiting for the harness's signal.
	Parked func()
}

// Load does nothing.
func (a *BaselineActivities) Load(context.Context) error { return nil }

// Revoke signals the review result to its own workflow (SelfSignal), or
// reports the workflow parked.
func (a *BaselineActivities) Revoke(ctx context.Context, in BaselineInput) error {
	if !in.SelfSignal {
		if a.Parked != nil {
			a.Parked()
		}
		return nil
	}
	if a.Client == nil {
		return errors.New("baseline: no client to signal with")
	}
	info := activity.GetInfo(ctx)
	return a.Client.SignalWorkflow(ctx, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, SignalBaselineReview, nil)
}

// Delete does nothing.
func (a *BaselineActivities) Delete(context.Context) error { return nil }

// Pay does nothing.
func (a *BaselineActivities) Pay(context.Context) error { return nil }
