package refund

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/internal/calls"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// The refund's client: how the console API and the CA's callbacks reach a
// refund in Temporal (start or join, status, cancel, approve, a CA result,
// an action on a certificate it holds). Every error is errs-coded
// (temporalx.Error): NotFound when the refund does not exist, Conflict for
// a finished refund or a refusal in the current state, Invalid and the
// rules' codes for the workflow's refusals, Unavailable when Temporal or
// the worker does not answer.

// Client reaches refunds over a Temporal client.
type Client struct {
	*temporalx.Caller
}

// NewClient is the refund's client over c (temporalx.DefaultStatusTimeout
// bounds a status; set Caller.StatusTimeout to change it).
func NewClient(c temporalx.Client) *Client { return &Client{Caller: temporalx.NewCaller(c)} }

func what(orderID string) string { return "refund of order " + orderID }

// StartRefund starts the refund workflow of o, or joins the running one.
// The conflict policy USE_EXISTING makes a request for an order whose
// refund runs join it (one workflow, one payment, however many concurrent
// requests). The reuse policy is ALLOW_DUPLICATE only when the gateway
// judged a finished run not to block a new one (cancelled, or refused for
// a reason that can change); otherwise REJECT_DUPLICATE, so a run that
// closed between the gateway's look and this start (another request's
// refund, paid) refuses the start instead of being followed by a second.
func (t *Client) StartRefund(ctx context.Context, o domain.Order, in Input, afterFinished bool) (string, error) {
	reuse := enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
	if afterFinished {
		reuse = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	}
	opts := client.StartWorkflowOptions{
		ID:                       WorkflowID(o.ID),
		TaskQueue:                calls.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    reuse,
		// A start refused by the reuse policy is an error, not the closed
		// run handed back as if it were this request's; joining a running
		// refund (USE_EXISTING) is not an error either way.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            fmt.Sprintf("Refund of order %s (%s)", o.ID, o.Product),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			certificate.OrderIDKey.ValueSet(o.ID),
			ProductKey.ValueSet(string(o.Product)),
			RefundStatusKey.ValueSet(string(statemachine.OrderRefundRequested)),
		),
	}
	run, err := t.C.ExecuteWorkflow(ctx, opts, WorkflowName, in)
	if err != nil {
		return "", temporalx.Error(err, what(o.ID))
	}
	return run.GetRunID(), nil
}

// LastRefund describes the order's latest refund run: whether it runs
// (then without its status: no worker is needed to know it), or its result
// once it finished. An order without a refund is NotFound.
func (t *Client) LastRefund(ctx context.Context, orderID string) (Status, bool, error) {
	var st Status
	running, err := t.StatusOf(ctx, WorkflowID(orderID), "", &st, what(orderID), false)
	return st, running, err
}

// Run is an order's latest refund run as Temporal describes it: its run
// ID, whether it runs, and once it completed, its result (a run that
// ended otherwise, terminated or timed out, has an empty Status).
type Run struct {
	ID      string
	Running bool
	Status  Status
}

// LastRun describes the order's latest refund run, with its run ID (the
// dispatcher of recorded requests tells its own run from another's by it
// and by the request's time in the result's audit). No worker is needed.
// An order without a refund is NotFound.
func (t *Client) LastRun(ctx context.Context, orderID string) (Run, error) {
	what := what(orderID)
	ctx, cancel := context.WithTimeout(ctx, t.StatusTimeout)
	defer cancel()
	desc, err := t.C.DescribeWorkflowExecution(ctx, WorkflowID(orderID), "")
	if err != nil {
		return Run{}, t.Unavailable(err, "Temporal", what)
	}
	info := desc.GetWorkflowExecutionInfo()
	run := Run{ID: info.GetExecution().GetRunId()}
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		run.Running = true
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		if err := t.C.GetWorkflow(ctx, WorkflowID(orderID), run.ID).Get(ctx, &run.Status); err != nil {
			return Run{}, t.Unavailable(err, "Temporal", what)
		}
	}
	return run, nil
}

// RefundStatus queries the running refund, or reads the finished one's
// result.
func (t *Client) RefundStatus(ctx context.Context, orderID string) (Status, error) {
	var st Status
	err := t.Status(ctx, WorkflowID(orderID), QueryStatus, &st, what(orderID))
	return st, err
}

// CancelRefund sends the cancel update and waits for its outcome.
func (t *Client) CancelRefund(ctx context.Context, orderID, updateID string, req CancelRequest) (Status, error) {
	var st Status
	err := t.Update(ctx, WorkflowID(orderID), UpdateCancel, updateID, req, &st, what(orderID))
	return st, err
}

// ApproveRefund sends the approve update and waits for its outcome.
func (t *Client) ApproveRefund(ctx context.Context, orderID, updateID string, req ApproveRequest) (Status, error) {
	var st Status
	err := t.Update(ctx, WorkflowID(orderID), UpdateApprove, updateID, req, &st, what(orderID))
	return st, err
}

// SignalRefundCAResult signals the result to the refund of orderID, which
// holds the certificate. A refund that does not run (never ran, or ended)
// is NotFound: the server answers a signal to a closed workflow as to an
// unknown one.
func (t *Client) SignalRefundCAResult(ctx context.Context, orderID string, res certificate.CAResult) error {
	err := t.C.SignalWorkflow(ctx, WorkflowID(orderID), "", certificate.SignalCAResult, res)
	return temporalx.Error(err, what(orderID))
}

// OfferRefundCAResult sends the result as the refund's CA-result update
// and waits for its outcome; the update ID is the event's, so a
// redelivered event joins the first offer. A refund that does not run, or
// refuses the result (it does not hold the certificate), is NotFound.
func (t *Client) OfferRefundCAResult(ctx context.Context, orderID string, res certificate.CAResult) error {
	what := what(orderID)
	h, err := t.C.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		UpdateID:     "ca/" + res.EventID,
		WorkflowID:   WorkflowID(orderID),
		UpdateName:   UpdateCAResult,
		Args:         []any{res},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	return temporalx.UpdateOutcome(ctx, h, err, nil, what)
}

// RefundCertificateAction sends the action as the refund's
// certificate-action update and waits for its outcome. Unlike the refund's
// own updates (update), a refund that has ended stays NotFound rather than
// Conflict: the certificate is no longer the refund's, and the caller
// goes to the certificate's workflow.
func (t *Client) RefundCertificateAction(ctx context.Context, orderID, updateID string, req CertificateAction) (certificate.Status, error) {
	what := what(orderID)
	h, err := t.C.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		UpdateID:     updateID,
		WorkflowID:   WorkflowID(orderID),
		UpdateName:   UpdateCertificateAction,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var st certificate.Status
	return st, temporalx.UpdateOutcome(ctx, h, err, &st, what)
}
