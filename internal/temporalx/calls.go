package temporalx

import (
	"context"
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
)

// Calls to workflows from outside them (the console API's handlers, the
// CA's callbacks), with every error errs-coded: Caller answers a status
// from a running workflow's query or a completed one's result, sends
// updates and waits for them, and bounds a status by StatusTimeout.

// Client is the part of client.Client that Caller uses;
// client.Client satisfies it.
type Client interface {
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
	GetWorkflow(ctx context.Context, workflowID, runID string) client.WorkflowRun
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error
	SignalWithStartWorkflow(ctx context.Context, workflowID, signalName string, signalArg any, options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error)
	NewWithStartWorkflowOperation(options client.StartWorkflowOptions, workflow any, args ...any) client.WithStartWorkflowOperation
	UpdateWorkflow(ctx context.Context, options client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error)
	UpdateWithStartWorkflow(ctx context.Context, options client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error)
	QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...any) (converter.EncodedValue, error)
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

var _ Client = client.Client(nil)

// DefaultStatusTimeout bounds a status call to Temporal: with Temporal or
// the worker down, a status answers 503 after it, not after the client's
// 10 s.
const DefaultStatusTimeout = 2 * time.Second

// Caller makes the calls over a Client. Its zero StatusTimeout means
// DefaultStatusTimeout.
type Caller struct {
	C Client
	// StatusTimeout bounds a status answer (describe and query).
	StatusTimeout time.Duration
}

// NewCaller is a Caller over c with DefaultStatusTimeout.
func NewCaller(c Client) *Caller { return &Caller{C: c, StatusTimeout: DefaultStatusTimeout} }

// UpdateOutcome waits for an update's outcome into out, or returns the
// refusal as an errs error (h and err are UpdateWorkflow's answers).
func UpdateOutcome(ctx context.Context, h client.WorkflowUpdateHandle, err error, out any, what string) error {
	if err != nil {
		return Error(err, what)
	}
	return Error(h.Get(ctx, out), what)
}

// Status answers from a running workflow's query, or from a completed
// one's result, so a finished workflow needs no worker to answer.
func (t *Caller) Status(ctx context.Context, id, query string, out any, what string) error {
	_, err := t.StatusOf(ctx, id, query, out, what, true)
	return err
}

// StatusOf is Status, reporting whether the workflow runs; with no query
// a running workflow is only reported as running. Describe and
// query together take at most statusTimeout: past it the answer is
// Unavailable naming what did not answer (Temporal, or the worker). A
// closed run that ended otherwise than completed is Internal when strict,
// else reported with an empty status.
func (t *Caller) StatusOf(ctx context.Context, id, query string, out any, what string, strict bool) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, t.StatusTimeout)
	defer cancel()
	desc, err := t.C.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return false, t.Unavailable(err, "Temporal", what)
	}
	info := desc.GetWorkflowExecutionInfo()
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		if query == "" {
			return true, nil
		}
		v, err := t.C.QueryWorkflow(ctx, id, "", query)
		if err != nil {
			return true, t.Unavailable(err, "the worker", what)
		}
		if err := v.Get(out); err != nil {
			return true, errs.Wrap(errs.Internal, err, "decoding the status of the %s", what)
		}
		return true, nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		if err := t.C.GetWorkflow(ctx, id, info.GetExecution().GetRunId()).Get(ctx, out); err != nil {
			return false, t.Unavailable(err, "Temporal", what)
		}
		return false, nil
	}
	if !strict {
		return false, nil
	}
	return false, errs.E(errs.Internal, "the %s ended %s, without a status", what, info.GetStatus())
}

// Unavailable codes err, naming who did not answer when it is a timeout.
func (t *Caller) Unavailable(err error, who, what string) error {
	coded := Error(err, what)
	if errs.CodeOf(coded) == errs.Unavailable {
		return errs.Wrap(errs.Unavailable, err, "%s did not answer for the %s within %s; retry later", who, what, t.StatusTimeout)
	}
	return coded
}

// Update sends an update and waits for its outcome. The server answers an
// update of a closed workflow NotFound, as for one that never existed; a
// describe tells the two apart, so a finished refund is a Conflict.
func (t *Caller) Update(ctx context.Context, id, name, updateID string, arg, out any, what string) error {
	h, err := t.C.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		UpdateID:     updateID,
		WorkflowID:   id,
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			if desc, derr := t.C.DescribeWorkflowExecution(ctx, id, ""); derr == nil &&
				desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				return errs.Wrap(errs.Conflict, err, "the %s has already ended", what)
			}
		}
		return Error(err, what)
	}
	if err := h.Get(ctx, out); err != nil {
		return Error(err, what)
	}
	return nil
}

// Error codes an error of the Temporal client. A workflow's refusal
// (an application error whose type is an errs code, from an update
// validator or handler) keeps its message and its rule IDs; NotFound is not_found;
// an already-started workflow is a conflict; timeouts and an unreachable
// server are unavailable; anything else is internal.
func Error(err error, what string) error {
	if err == nil {
		return nil
	}
	var (
		coded     *errs.Error
		appErr    *temporal.ApplicationError
		notFound  *serviceerror.NotFound
		started   *serviceerror.WorkflowExecutionAlreadyStarted
		timeout   *client.WorkflowUpdateServiceTimeoutOrCanceledError
		down      *serviceerror.Unavailable
		deadline  *serviceerror.DeadlineExceeded
		exhausted *serviceerror.ResourceExhausted
		notReady  *serviceerror.WorkflowNotReady
	)
	switch {
	case errors.As(err, &coded):
		return err
	case errors.As(err, &appErr):
		// A refusal carries its errs code as the type and its rules in
		// the details (errtemporal); any other type is a failure.
		if coded, ok := errtemporal.ToCoded(err); ok {
			return coded
		}
		return errs.Wrap(errs.Internal, err, "the %s failed", what)
	case errors.As(err, &notFound):
		return errs.Wrap(errs.NotFound, err, "%s not found", what)
	case errors.As(err, &started):
		return errs.Wrap(errs.Conflict, err, "the %s already exists", what)
	case errors.As(err, &timeout), errors.As(err, &down), errors.As(err, &deadline),
		errors.As(err, &exhausted), errors.Is(err, context.DeadlineExceeded):
		return errs.Wrap(errs.Unavailable, err, "the %s did not answer in time; retry", what)
	case errors.As(err, &notReady):
		return errs.Wrap(errs.Unavailable, err, "the %s is starting; retry", what)
	case errors.Is(err, context.Canceled):
		return errs.Wrap(errs.Unavailable, err, "the request was cancelled")
	}
	return errs.Wrap(errs.Internal, err, "calling Temporal for the %s", what)
}
