package temporalx

import (
	"context"
	"errors"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/errs"
)

// WorkflowRuns tells whether a workflow runs, by workflow ID, through
// DescribeWorkflowExecution of its current run (activities.Runs: the
// take-over of a hold whose holder no longer runs).
type WorkflowRuns struct {
	Client client.Client
	// Timeout bounds one question (zero: 5 s).
	Timeout time.Duration
}

// Running reports whether workflowID's current run is open. A workflow
// Temporal does not know (never started, or closed and past retention) is
// not running ("not found"); a closed one is not running, status naming how
// it closed ("terminated", "failed"…). A Temporal that does not answer is
// errs.Unavailable.
func (w WorkflowRuns) Running(ctx context.Context, workflowID string) (bool, string, error) {
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	desc, err := w.Client.DescribeWorkflowExecution(ctx, workflowID, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return false, "not found", nil
	case err != nil:
		return false, "", errs.Wrap(errs.Unavailable, err, "Temporal did not say whether workflow %s runs", workflowID)
	}
	st := desc.GetWorkflowExecutionInfo().GetStatus()
	return st == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, StatusName(st), nil
}

// StatusName is a workflow execution status as the CLI shows it, lower
// case ("running", "terminated"…).
func StatusName(st enumspb.WorkflowExecutionStatus) string {
	return strings.ToLower(strings.TrimPrefix(st.String(), "WORKFLOW_EXECUTION_STATUS_"))
}
