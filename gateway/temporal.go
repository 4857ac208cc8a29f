package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// The workflow type names the gateway starts; the worker registers the
// workflow functions under them (their function names).
const (
	RefundWorkflowName      = "RefundWorkflow"
	CertificateWorkflowName = "CertificateWorkflow"
)

// TemporalClient is the part of client.Client that Temporal uses;
// client.Client satisfies it.
type TemporalClient interface {
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

var _ TemporalClient = client.Client(nil)

// Temporal implements Workflows over a Temporal client. Every error it
// returns is errs-coded (see temporalError).
type Temporal struct {
	c TemporalClient
	// statusTimeout bounds a status answer (describe and query).
	statusTimeout time.Duration
}

var _ Workflows = (*Temporal)(nil)

// DefaultStatusTimeout bounds a status call to Temporal: with Temporal or
// the worker down, a status answers 503 after it, not after the client's
// 10 s.
const DefaultStatusTimeout = 2 * time.Second

// NewTemporal adapts c.
func NewTemporal(c TemporalClient) *Temporal {
	return &Temporal{c: c, statusTimeout: DefaultStatusTimeout}
}

// WithStatusTimeout sets the bound of status calls (zero keeps the
// default).
func (t *Temporal) WithStatusTimeout(d time.Duration) *Temporal {
	if d > 0 {
		t.statusTimeout = d
	}
	return t
}

// StartRefund starts the refund workflow of o, or joins the running one.
// The conflict policy USE_EXISTING makes a request for an order whose
// refund runs join it (one workflow, one payment, however many concurrent
// requests). The reuse policy is ALLOW_DUPLICATE only when the gateway
// judged a finished run not to block a new one (cancelled, or refused for
// a reason that can change); otherwise REJECT_DUPLICATE, so a run that
// closed between the gateway's look and this start (another request's
// refund, paid) refuses the start instead of being followed by a second.
func (t *Temporal) StartRefund(ctx context.Context, o domain.Order, in refund.Input, afterFinished bool) (string, error) {
	reuse := enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
	if afterFinished {
		reuse = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	}
	opts := client.StartWorkflowOptions{
		ID:                       refund.WorkflowID(o.ID),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    reuse,
		// A start refused by the reuse policy is an error, not the closed
		// run handed back as if it were this request's; joining a running
		// refund (USE_EXISTING) is not an error either way.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            fmt.Sprintf("Refund of order %s (%s)", o.ID, o.Product),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			certificate.OrderIDKey.ValueSet(o.ID),
			refund.ProductKey.ValueSet(string(o.Product)),
			refund.RefundStatusKey.ValueSet(string(statemachine.OrderRefundRequested)),
		),
	}
	run, err := t.c.ExecuteWorkflow(ctx, opts, RefundWorkflowName, in)
	if err != nil {
		return "", temporalError(err, refundWhat(o.ID))
	}
	return run.GetRunID(), nil
}

// LastRefund describes the order's latest refund run: whether it runs
// (then without its status: no worker is needed to know it), or its result
// once it finished. An order without a refund is NotFound.
func (t *Temporal) LastRefund(ctx context.Context, orderID string) (refund.Status, bool, error) {
	var st refund.Status
	running, err := t.statusOf(ctx, refund.WorkflowID(orderID), "", &st, refundWhat(orderID), false)
	return st, running, err
}

// CertificateWorkflows returns the IDs of certIDs that have a workflow
// (running or closed): their state is the workflow's, not intake's.
func (t *Temporal) CertificateWorkflows(ctx context.Context, certIDs []string) ([]string, error) {
	var out []string
	for _, id := range certIDs {
		ctx, cancel := context.WithTimeout(ctx, t.statusTimeout)
		_, err := t.c.DescribeWorkflowExecution(ctx, certificate.WorkflowID(id), "")
		cancel()
		var notFound *serviceerror.NotFound
		switch {
		case errors.As(err, &notFound):
		case err != nil:
			return nil, t.unavailable(err, "Temporal", certificateWhat(id))
		default:
			out = append(out, id)
		}
	}
	return out, nil
}

// CertificateRunning reports whether the certificate's workflow runs.
func (t *Temporal) CertificateRunning(ctx context.Context, certID string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, t.statusTimeout)
	defer cancel()
	desc, err := t.c.DescribeWorkflowExecution(ctx, certificate.WorkflowID(certID), "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return false, nil
	case err != nil:
		return false, t.unavailable(err, "Temporal", certificateWhat(certID))
	}
	return desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}

// RefundStatus queries the running refund, or reads the finished one's
// result.
func (t *Temporal) RefundStatus(ctx context.Context, orderID string) (refund.Status, error) {
	var st refund.Status
	err := t.status(ctx, refund.WorkflowID(orderID), refund.QueryStatus, &st, refundWhat(orderID))
	return st, err
}

// CancelRefund sends the cancel update and waits for its outcome.
func (t *Temporal) CancelRefund(ctx context.Context, orderID, updateID string, req refund.CancelRequest) (refund.Status, error) {
	var st refund.Status
	err := t.update(ctx, refund.WorkflowID(orderID), refund.UpdateCancel, updateID, req, &st, refundWhat(orderID))
	return st, err
}

// ApproveRefund sends the approve update and waits for its outcome.
func (t *Temporal) ApproveRefund(ctx context.Context, orderID, updateID string, req refund.ApproveRequest) (refund.Status, error) {
	var st refund.Status
	err := t.update(ctx, refund.WorkflowID(orderID), refund.UpdateApprove, updateID, req, &st, refundWhat(orderID))
	return st, err
}

// CertificateAction sends the action as an update-with-start: the
// certificate's workflow is started from in when none runs.
func (t *Temporal) CertificateAction(ctx context.Context, in certificate.Input, updateID string, req certificate.ActionRequest) (certificate.Status, error) {
	what := certificateWhat(in.Certificate.ID)
	op := t.c.NewWithStartWorkflowOperation(certificateOptions(in), CertificateWorkflowName, in)
	h, err := t.c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID:     updateID,
			UpdateName:   certificate.UpdateAction,
			Args:         []any{req},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	return certificateOutcome(ctx, h, err, what)
}

// certificateOutcome waits for a certificate action's update to complete
// and returns the certificate's status, or the refusal as an errs error.
func certificateOutcome(ctx context.Context, h client.WorkflowUpdateHandle, err error, what string) (certificate.Status, error) {
	if err != nil {
		return certificate.Status{}, temporalError(err, what)
	}
	var st certificate.Status
	if err := h.Get(ctx, &st); err != nil {
		return certificate.Status{}, temporalError(err, what)
	}
	return st, nil
}

// CertificateStatus queries the certificate's workflow, or reads its result
// once it ended.
func (t *Temporal) CertificateStatus(ctx context.Context, certID string) (certificate.Status, error) {
	var st certificate.Status
	err := t.status(ctx, certificate.WorkflowID(certID), certificate.QueryStatus, &st, certificateWhat(certID))
	return st, err
}

// SignalCAResult signals the result to the certificate's running workflow.
func (t *Temporal) SignalCAResult(ctx context.Context, res certificate.CAResult) error {
	err := t.c.SignalWorkflow(ctx, certificate.WorkflowID(res.Certificate), "", certificate.SignalCAResult, res)
	return temporalError(err, certificateWhat(res.Certificate))
}

// DeliverCAResult signals the result with start: the certificate's workflow
// is started from in when none runs.
func (t *Temporal) DeliverCAResult(ctx context.Context, in certificate.Input, res certificate.CAResult) error {
	id := certificate.WorkflowID(in.Certificate.ID)
	_, err := t.c.SignalWithStartWorkflow(ctx, id, certificate.SignalCAResult, res, certificateOptions(in), CertificateWorkflowName, in)
	return temporalError(err, certificateWhat(in.Certificate.ID))
}

// SignalRefundCAResult signals the result to the refund of orderID, which
// holds the certificate. A refund that does not run (never ran, or ended)
// is NotFound: the server answers a signal to a closed workflow as to an
// unknown one.
func (t *Temporal) SignalRefundCAResult(ctx context.Context, orderID string, res certificate.CAResult) error {
	err := t.c.SignalWorkflow(ctx, refund.WorkflowID(orderID), "", certificate.SignalCAResult, res)
	return temporalError(err, refundWhat(orderID))
}

// OfferRefundCAResult sends the result as the refund's CA-result update
// and waits for its outcome; the update ID is the event's, so a
// redelivered event joins the first offer. A refund that does not run, or
// refuses the result (it does not hold the certificate), is NotFound.
func (t *Temporal) OfferRefundCAResult(ctx context.Context, orderID string, res certificate.CAResult) error {
	what := refundWhat(orderID)
	h, err := t.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		UpdateID:     "ca/" + res.EventID,
		WorkflowID:   refund.WorkflowID(orderID),
		UpdateName:   refund.UpdateCAResult,
		Args:         []any{res},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return temporalError(err, what)
	}
	return temporalError(h.Get(ctx, nil), what)
}

// RefundCertificateAction sends the action as the refund's
// certificate-action update and waits for its outcome. Unlike the refund's
// own updates (update), a refund that has ended stays NotFound rather than
// Conflict: the certificate is no longer the refund's, and the caller
// goes to the certificate's workflow.
func (t *Temporal) RefundCertificateAction(ctx context.Context, orderID, updateID string, req refund.CertificateAction) (certificate.Status, error) {
	what := refundWhat(orderID)
	h, err := t.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		UpdateID:     updateID,
		WorkflowID:   refund.WorkflowID(orderID),
		UpdateName:   refund.UpdateCertificateAction,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	return certificateOutcome(ctx, h, err, what)
}

// certificateOptions starts a certificate's workflow. A certificate
// workflow ends when its certificate is removed; starting a new one is
// allowed (the default reuse policy) and begins from the store's record, so
// a late action on a removed certificate is refused by the validator as an
// illegal transition rather than by Temporal.
func certificateOptions(in certificate.Input) client.StartWorkflowOptions {
	c := in.Certificate
	return client.StartWorkflowOptions{
		ID:                       certificate.WorkflowID(c.ID),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            fmt.Sprintf("Certificate %s of order %s", c.ID, in.OrderID),
		TypedSearchAttributes:    certificate.StartAttributes(in),
	}
}

// status answers from a running workflow's query, or from a completed
// one's result, so a finished workflow needs no worker to answer.
func (t *Temporal) status(ctx context.Context, id, query string, out any, what string) error {
	_, err := t.statusOf(ctx, id, query, out, what, true)
	return err
}

// statusOf is status, reporting whether the workflow runs; with no query
// a running workflow is only reported as running. Describe and
// query together take at most statusTimeout: past it the answer is
// Unavailable naming what did not answer (Temporal, or the worker). A
// closed run that ended otherwise than completed is Internal when strict,
// else reported with an empty status.
func (t *Temporal) statusOf(ctx context.Context, id, query string, out any, what string, strict bool) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, t.statusTimeout)
	defer cancel()
	desc, err := t.c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return false, t.unavailable(err, "Temporal", what)
	}
	info := desc.GetWorkflowExecutionInfo()
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		if query == "" {
			return true, nil
		}
		v, err := t.c.QueryWorkflow(ctx, id, "", query)
		if err != nil {
			return true, t.unavailable(err, "the worker", what)
		}
		if err := v.Get(out); err != nil {
			return true, errs.Wrap(errs.Internal, err, "decoding the status of the %s", what)
		}
		return true, nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		if err := t.c.GetWorkflow(ctx, id, info.GetExecution().GetRunId()).Get(ctx, out); err != nil {
			return false, t.unavailable(err, "Temporal", what)
		}
		return false, nil
	}
	if !strict {
		return false, nil
	}
	return false, errs.E(errs.Internal, "the %s ended %s, without a status", what, info.GetStatus())
}

// unavailable codes err, naming who did not answer when it is a timeout.
func (t *Temporal) unavailable(err error, who, what string) error {
	coded := temporalError(err, what)
	if errs.CodeOf(coded) == errs.Unavailable {
		return errs.Wrap(errs.Unavailable, err, "%s did not answer for the %s within %s; retry later", who, what, t.statusTimeout)
	}
	return coded
}

// update sends an update and waits for its outcome. The server answers an
// update of a closed workflow NotFound, as for one that never existed; a
// describe tells the two apart, so a finished refund is a Conflict.
func (t *Temporal) update(ctx context.Context, id, name, updateID string, arg, out any, what string) error {
	h, err := t.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		UpdateID:     updateID,
		WorkflowID:   id,
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			if desc, derr := t.c.DescribeWorkflowExecution(ctx, id, ""); derr == nil &&
				desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				return errs.Wrap(errs.Conflict, err, "the %s has already ended", what)
			}
		}
		return temporalError(err, what)
	}
	if err := h.Get(ctx, out); err != nil {
		return temporalError(err, what)
	}
	return nil
}

func refundWhat(orderID string) string     { return "refund of order " + orderID }
func certificateWhat(certID string) string { return "workflow of certificate " + certID }

// temporalError codes an error of the Temporal client. A workflow's refusal
// (an application error whose type is an errs code, from an update
// validator or handler) keeps its message and its rule IDs; NotFound is not_found;
// an already-started workflow is a conflict; timeouts and an unreachable
// server are unavailable; anything else is internal.
func temporalError(err error, what string) error {
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
