package certificate

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/workflows/internal/calls"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// The certificate's client: how the console API and the CA's callbacks
// reach a certificate's workflow in Temporal (actions with start, status,
// CA results). Every error is errs-coded (temporalx.Error).

// Client reaches certificate workflows over a Temporal client.
type Client struct {
	*temporalx.Caller
}

// NewClient is the certificate's client over c.
func NewClient(c temporalx.Client) *Client { return &Client{Caller: temporalx.NewCaller(c)} }

func what(certID string) string { return "workflow of certificate " + certID }

// CertificateWorkflows returns the IDs of certIDs that have a workflow
// (running or closed): their state is the workflow's, not intake's.
func (t *Client) CertificateWorkflows(ctx context.Context, certIDs []string) ([]string, error) {
	var out []string
	for _, id := range certIDs {
		ctx, cancel := context.WithTimeout(ctx, t.StatusTimeout)
		_, err := t.C.DescribeWorkflowExecution(ctx, WorkflowID(id), "")
		cancel()
		var notFound *serviceerror.NotFound
		switch {
		case errors.As(err, &notFound):
		case err != nil:
			return nil, t.Unavailable(err, "Temporal", what(id))
		default:
			out = append(out, id)
		}
	}
	return out, nil
}

// CertificateRunning reports whether the certificate's workflow runs.
func (t *Client) CertificateRunning(ctx context.Context, certID string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, t.StatusTimeout)
	defer cancel()
	desc, err := t.C.DescribeWorkflowExecution(ctx, WorkflowID(certID), "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return false, nil
	case err != nil:
		return false, t.Unavailable(err, "Temporal", what(certID))
	}
	return desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}

// CertificateAction sends the action as an update-with-start: the
// certificate's workflow is started from in when none runs.
func (t *Client) CertificateAction(ctx context.Context, in Input, updateID string, req ActionRequest) (Status, error) {
	what := what(in.Certificate.ID)
	op := t.C.NewWithStartWorkflowOperation(startOptions(in), WorkflowName, in)
	h, err := t.C.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID:     updateID,
			UpdateName:   UpdateAction,
			Args:         []any{req},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var st Status
	return st, temporalx.UpdateOutcome(ctx, h, err, &st, what)
}

// CertificateStatus queries the certificate's workflow, or reads its result
// once it ended.
func (t *Client) CertificateStatus(ctx context.Context, certID string) (Status, error) {
	var st Status
	err := t.Status(ctx, WorkflowID(certID), QueryStatus, &st, what(certID))
	return st, err
}

// SignalCAResult signals the result to the certificate's running workflow.
func (t *Client) SignalCAResult(ctx context.Context, res CAResult) error {
	err := t.C.SignalWorkflow(ctx, WorkflowID(res.Certificate), "", SignalCAResult, res)
	return temporalx.Error(err, what(res.Certificate))
}

// DeliverCAResult signals the result with start: the certificate's workflow
// is started from in when none runs.
func (t *Client) DeliverCAResult(ctx context.Context, in Input, res CAResult) error {
	id := WorkflowID(in.Certificate.ID)
	_, err := t.C.SignalWithStartWorkflow(ctx, id, SignalCAResult, res, startOptions(in), WorkflowName, in)
	return temporalx.Error(err, what(in.Certificate.ID))
}

// startOptions starts a certificate's workflow. A certificate
// workflow ends when its certificate is removed; starting a new one is
// allowed (the default reuse policy) and begins from the store's record, so
// a late action on a removed certificate is refused by the validator as an
// illegal transition rather than by Temporal.
func startOptions(in Input) client.StartWorkflowOptions {
	c := in.Certificate
	return client.StartWorkflowOptions{
		ID:                       WorkflowID(c.ID),
		TaskQueue:                calls.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            fmt.Sprintf("Certificate %s of order %s", c.ID, in.OrderID),
		TypedSearchAttributes:    StartAttributes(in),
	}
}
