package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// fakeClient records what Temporal asks of the client and answers with
// canned values.
type fakeClient struct {
	startOpts  client.StartWorkflowOptions
	workflow   any
	args       []any
	startErr   error
	updateOpts client.UpdateWorkflowOptions
	updateErr  error
	// outcome is what an update handle's Get decodes, or fails with.
	outcome     any
	outcomeErr  error
	signalName  string
	signalArg   any
	signalID    string
	signalErr   error
	status      enumspb.WorkflowExecutionStatus
	describeErr error
	queried     string
	result      any
}

var _ TemporalClient = (*fakeClient)(nil)

func (f *fakeClient) ExecuteWorkflow(ctx context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	f.startOpts, f.workflow, f.args = o, wf, args
	if f.startErr != nil {
		return nil, f.startErr
	}
	return fakeRun{id: o.ID, runID: "run-1"}, nil
}

func (f *fakeClient) GetWorkflow(ctx context.Context, id, runID string) client.WorkflowRun {
	return fakeRun{id: id, runID: runID, result: f.result}
}

func (f *fakeClient) SignalWorkflow(ctx context.Context, id, runID, name string, arg any) error {
	f.signalID, f.signalName, f.signalArg = id, name, arg
	return f.signalErr
}

func (f *fakeClient) SignalWithStartWorkflow(ctx context.Context, id, name string, arg any, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	f.signalName, f.signalArg, f.startOpts, f.workflow, f.args = name, arg, o, wf, args
	return fakeRun{id: id}, f.startErr
}

type fakeStartOp struct {
	opts client.StartWorkflowOptions
	wf   any
	args []any
}

func (fakeStartOp) Get(ctx context.Context) (client.WorkflowRun, error) { return nil, nil }

func (f *fakeClient) NewWithStartWorkflowOperation(o client.StartWorkflowOptions, wf any, args ...any) client.WithStartWorkflowOperation {
	return fakeStartOp{opts: o, wf: wf, args: args}
}

func (f *fakeClient) UpdateWorkflow(ctx context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	f.updateOpts = o
	if f.updateErr != nil {
		return nil, f.updateErr
	}
	return fakeHandle{v: f.outcome, err: f.outcomeErr}, nil
}

func (f *fakeClient) UpdateWithStartWorkflow(ctx context.Context, o client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	op := o.StartWorkflowOperation.(fakeStartOp)
	f.startOpts, f.workflow, f.args, f.updateOpts = op.opts, op.wf, op.args, o.UpdateOptions
	if f.updateErr != nil {
		return nil, f.updateErr
	}
	return fakeHandle{v: f.outcome, err: f.outcomeErr}, nil
}

func (f *fakeClient) QueryWorkflow(ctx context.Context, id, runID, query string, args ...any) (converter.EncodedValue, error) {
	f.queried = query
	return fakeValue{v: f.outcome}, f.outcomeErr
}

func (f *fakeClient) DescribeWorkflowExecution(ctx context.Context, id, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: "run-1"},
		Status:    f.status,
	}}, nil
}

type fakeRun struct {
	client.WorkflowRun
	id, runID string
	result    any
}

func (r fakeRun) GetID() string    { return r.id }
func (r fakeRun) GetRunID() string { return r.runID }
func (r fakeRun) Get(ctx context.Context, v any) error {
	return roundTrip(r.result, v)
}

type fakeHandle struct {
	client.WorkflowUpdateHandle
	v   any
	err error
}

func (h fakeHandle) Get(ctx context.Context, v any) error {
	if h.err != nil {
		return h.err
	}
	return roundTrip(h.v, v)
}

type fakeValue struct{ v any }

func (v fakeValue) HasValue() bool    { return v.v != nil }
func (v fakeValue) Get(ptr any) error { return roundTrip(v.v, ptr) }

func roundTrip(from, to any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, to)
}

func TestStartRefundOptions(t *testing.T) {
	fc := &fakeClient{}
	o := domain.Order{ID: "o-1", Product: domain.SSLCertificate}
	in := refund.Input{OrderID: "o-1", Request: domain.RefundRequest{OrderID: "o-1", Consent: true}}
	runID, err := NewTemporal(fc).StartRefund(context.Background(), o, in, false)
	if err != nil || runID != "run-1" {
		t.Fatalf("StartRefund = %q, %v", runID, err)
	}
	opts := fc.startOpts
	if opts.ID != "refund/o-1" || opts.TaskQueue != workflows.TaskQueue ||
		opts.WorkflowIDConflictPolicy != enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING ||
		opts.WorkflowIDReusePolicy != enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE || !opts.WorkflowExecutionErrorWhenAlreadyStarted {
		t.Errorf("start options = %+v", opts)
	}
	if opts.StaticSummary != "Refund of order o-1 (ssl_certificate)" {
		t.Errorf("summary = %q", opts.StaticSummary)
	}
	wantKeyword(t, opts.TypedSearchAttributes, certificate.OrderIDKey, "o-1")
	wantKeyword(t, opts.TypedSearchAttributes, refund.ProductKey, "ssl_certificate")
	wantKeyword(t, opts.TypedSearchAttributes, refund.RefundStatusKey, "refund_requested")
	if fc.workflow != "RefundWorkflow" || !reflect.DeepEqual(fc.args, []any{in}) {
		t.Errorf("started %v with %+v", fc.workflow, fc.args)
	}
}

func wantKeyword(t *testing.T, sa temporal.SearchAttributes, key temporal.SearchAttributeKeyKeyword, want string) {
	t.Helper()
	if got, ok := sa.GetKeyword(key); !ok || got != want {
		t.Errorf("search attribute %s = %q, %v; want %q", key.GetName(), got, ok, want)
	}
}

func wantKeywordList(t *testing.T, sa temporal.SearchAttributes, key temporal.SearchAttributeKeyKeywordList, want ...string) {
	t.Helper()
	if got, ok := sa.GetKeywordList(key); !ok || !slices.Equal(got, want) {
		t.Errorf("search attribute %s = %q, %v; want %q", key.GetName(), got, ok, want)
	}
}

func TestCertificateActionOptions(t *testing.T) {
	fc := &fakeClient{outcome: certificate.Status{ID: "c-1", State: statemachine.ValidatingRevocation}}
	in := certificate.Input{OrderID: "o-1", Certificate: domain.Certificate{ID: "c-1", State: statemachine.Issued}}
	req := certificate.ActionRequest{Action: statemachine.Revoke, ConfirmIrreversible: true}
	st, err := NewTemporal(fc).CertificateAction(context.Background(), in, "u-1", req)
	if err != nil || st.State != statemachine.ValidatingRevocation {
		t.Fatalf("CertificateAction = %+v, %v", st, err)
	}
	wantCertificateStart(t, fc, in)
	u := fc.updateOpts
	if u.UpdateName != certificate.UpdateAction || u.UpdateID != "u-1" ||
		u.WaitForStage != client.WorkflowUpdateStageCompleted || !reflect.DeepEqual(u.Args, []any{req}) {
		t.Errorf("update options = %+v", u)
	}
}

func TestDeliverCAResultOptions(t *testing.T) {
	fc := &fakeClient{}
	in := certificate.Input{OrderID: "o-1", Certificate: domain.Certificate{ID: "c-1", State: statemachine.ValidatingRevocation}}
	res := certificate.CAResult{EventID: "evt-1", Certificate: "c-1", Result: statemachine.RevocationApproved}
	if err := NewTemporal(fc).DeliverCAResult(context.Background(), in, res); err != nil {
		t.Fatal(err)
	}
	if fc.signalName != certificate.SignalCAResult || !reflect.DeepEqual(fc.signalArg, res) {
		t.Errorf("signalled %s with %+v", fc.signalName, fc.signalArg)
	}
	wantCertificateStart(t, fc, in)
}

func wantCertificateStart(t *testing.T, fc *fakeClient, in certificate.Input) {
	t.Helper()
	o := fc.startOpts
	if o.ID != "certificate/c-1" || o.TaskQueue != workflows.TaskQueue ||
		o.WorkflowIDConflictPolicy != enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING ||
		o.StaticSummary != "Certificate c-1 of order o-1" {
		t.Errorf("start options = %+v", o)
	}
	wantKeywordList(t, o.TypedSearchAttributes, certificate.CertificateIDsKey, "c-1")
	wantKeyword(t, o.TypedSearchAttributes, certificate.OrderIDKey, "o-1")
	wantKeywordList(t, o.TypedSearchAttributes, certificate.CertificateStatesKey, string(in.Certificate.State))
	if fc.workflow != "CertificateWorkflow" || !reflect.DeepEqual(fc.args, []any{in}) {
		t.Errorf("start of %v with %+v", fc.workflow, fc.args)
	}
}

func TestRefundUpdates(t *testing.T) {
	tests := map[string]struct {
		fc       fakeClient
		code     errs.Code
		mentions string
	}{
		"applied": {fc: fakeClient{outcome: refund.Status{OrderID: "o-1", Outcome: refund.OutcomeCancelled}}},
		"refused by the validator": {
			fc:   fakeClient{outcomeErr: errtemporal.New(errs.Conflict, []string{"CAN-1"}, "the refund of order o-1 can no longer be cancelled (committed)")},
			code: errs.Conflict, mentions: "CAN-1",
		},
		"workflow closed": {
			fc:   fakeClient{updateErr: serviceerror.NewNotFound("workflow execution already completed"), status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED},
			code: errs.Conflict, mentions: "the refund of order o-1 has already ended",
		},
		"no workflow": {
			fc:   fakeClient{updateErr: serviceerror.NewNotFound("not found"), describeErr: serviceerror.NewNotFound("not found")},
			code: errs.NotFound, mentions: "refund of order o-1 not found",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fc := tc.fc
			st, err := NewTemporal(&fc).CancelRefund(context.Background(), "o-1", "k", refund.CancelRequest{Actor: "u"})
			if fc.updateOpts.WorkflowID != "refund/o-1" || fc.updateOpts.UpdateName != refund.UpdateCancel ||
				fc.updateOpts.UpdateID != "k" || fc.updateOpts.WaitForStage != client.WorkflowUpdateStageCompleted {
				t.Errorf("update options = %+v", fc.updateOpts)
			}
			if tc.code == "" {
				if err != nil || st.Outcome != refund.OutcomeCancelled {
					t.Fatalf("CancelRefund = %+v, %v", st, err)
				}
				return
			}
			if errs.CodeOf(err) != tc.code || !(strings.Contains(errs.MessageOf(err), tc.mentions) || slices.Contains(errs.RulesOf(err), tc.mentions)) {
				t.Errorf("err = %v, want %s mentioning %q", err, tc.code, tc.mentions)
			}
		})
	}
}

func TestStatusRunningOrClosed(t *testing.T) {
	running := refund.Status{OrderID: "o-1", State: statemachine.OrderReleasing}
	done := refund.Status{OrderID: "o-1", State: statemachine.OrderRefunded}
	tests := map[string]struct {
		fc      fakeClient
		want    statemachine.OrderState
		queried bool
		code    errs.Code
	}{
		"running: query":     {fc: fakeClient{status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, outcome: running, result: done}, want: statemachine.OrderReleasing, queried: true},
		"completed: result":  {fc: fakeClient{status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, outcome: running, result: done}, want: statemachine.OrderRefunded},
		"terminated":         {fc: fakeClient{status: enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED}, code: errs.Internal},
		"unknown":            {fc: fakeClient{describeErr: serviceerror.NewNotFound("no such workflow")}, code: errs.NotFound},
		"server unreachable": {fc: fakeClient{describeErr: serviceerror.NewUnavailable("connection refused")}, code: errs.Unavailable},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fc := tc.fc
			st, err := NewTemporal(&fc).RefundStatus(context.Background(), "o-1")
			if tc.code != "" {
				if errs.CodeOf(err) != tc.code {
					t.Fatalf("err = %v, want %s", err, tc.code)
				}
				return
			}
			if err != nil || st.State != tc.want {
				t.Fatalf("RefundStatus = %+v, %v; want state %s", st, err, tc.want)
			}
			if (fc.queried == refund.QueryStatus) != tc.queried {
				t.Errorf("queried %q", fc.queried)
			}
		})
	}
}

func TestTemporalError(t *testing.T) {
	tests := map[string]struct {
		err     error
		code    errs.Code
		message string
	}{
		"illegal transition": {errtemporal.New(errs.IllegalTransition, nil, "cannot submit an issued certificate"), errs.IllegalTransition, "cannot submit an issued certificate"},
		"conflict":           {errtemporal.New(errs.Conflict, []string{"CAN-1"}, "no longer cancellable"), errs.Conflict, "no longer cancellable"},
		"invalid":            {errtemporal.New(errs.Invalid, nil, "operator is required"), errs.Invalid, "operator is required"},
		"not found type":     {errtemporal.New(errs.NotFound, nil, "certificate c-1 unknown"), errs.NotFound, "certificate c-1 unknown"},
		"errs code as type":  {temporal.NewApplicationError("GEN-1: too late", string(errs.NotRefundable)), errs.NotRefundable, "GEN-1: too late"},
		"four-eyes":          {errtemporal.New(errs.Forbidden, []string{"GW-4"}, "same subject"), errs.Forbidden, "same subject"},
		"wrapped refusal":    {fmt.Errorf("update: %w", errtemporal.New(errs.Conflict, nil, "no")), errs.Conflict, "no"},
		"unknown type":       {temporal.NewApplicationError("nil pointer in handler", "PanicError"), errs.Internal, "the thing failed"},
		"not found":          {serviceerror.NewNotFound("workflow not found"), errs.NotFound, "thing not found"},
		"already started":    {serviceerror.NewWorkflowExecutionAlreadyStarted("x", "r", "run"), errs.Conflict, "the thing already exists"},
		"update timeout":     {client.NewWorkflowUpdateServiceTimeoutOrCanceledError(errors.New("deadline")), errs.Unavailable, "retry"},
		"unavailable":        {serviceerror.NewUnavailable("connection refused"), errs.Unavailable, "retry"},
		"resource exhausted": {serviceerror.NewResourceExhausted(enumspb.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT, "slow down"), errs.Unavailable, "retry"},
		"deadline":           {fmt.Errorf("query: %w", context.DeadlineExceeded), errs.Unavailable, "retry"},
		"not ready":          {serviceerror.NewWorkflowNotReady("first task pending"), errs.Unavailable, "starting"},
		"query failed":       {serviceerror.NewQueryFailed("handler panicked: secret"), errs.Internal, "calling Temporal"},
		"coded passes":       {errs.E(errs.Conflict, "already coded"), errs.Conflict, "already coded"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := temporalx.Error(tc.err, "thing")
			if errs.CodeOf(err) != tc.code || !strings.Contains(errs.MessageOf(err), tc.message) {
				t.Errorf("temporalError = %s / %q, want %s / %q", errs.CodeOf(err), errs.MessageOf(err), tc.code, tc.message)
			}
			if !errors.Is(err, tc.err) {
				t.Error("the cause is not kept for the log")
			}
		})
	}
	if temporalx.Error(nil, "thing") != nil {
		t.Error("nil error coded")
	}
}

// TestSignalCAResult: a plain signal to the certificate's workflow; a
// workflow that does not run is errs.NotFound, the gateway's cue to start
// one.
func TestSignalCAResult(t *testing.T) {
	fc := &fakeClient{}
	tp := NewTemporal(fc)
	res := certificate.CAResult{EventID: "e-1", Certificate: "c-1", Result: statemachine.RevocationApproved}
	if err := tp.SignalCAResult(context.Background(), res); err != nil {
		t.Fatal(err)
	}
	if fc.signalID != certificate.WorkflowID("c-1") || fc.signalName != certificate.SignalCAResult || fc.signalArg != res {
		t.Errorf("signalled %s %s %+v", fc.signalID, fc.signalName, fc.signalArg)
	}
	fc.signalErr = serviceerror.NewNotFound("workflow not found")
	if err := tp.SignalCAResult(context.Background(), res); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("no workflow: %v, want not found", err)
	}
}

// TestSignalRefundCAResult: a plain signal of the result to the holding
// refund's workflow; a refund that does not run is errs.NotFound, the
// gateway's cue to start the certificate's workflow instead.
func TestSignalRefundCAResult(t *testing.T) {
	fc := &fakeClient{}
	tp := NewTemporal(fc)
	res := certificate.CAResult{EventID: "e-1", Certificate: "c-1", Result: statemachine.RevocationApproved}
	if err := tp.SignalRefundCAResult(context.Background(), "o-1", res); err != nil {
		t.Fatal(err)
	}
	if fc.signalID != refund.WorkflowID("o-1") || fc.signalName != certificate.SignalCAResult || fc.signalArg != res {
		t.Errorf("signalled %s %s %+v", fc.signalID, fc.signalName, fc.signalArg)
	}
	fc.signalErr = serviceerror.NewNotFound("workflow execution already completed")
	if err := tp.SignalRefundCAResult(context.Background(), "o-1", res); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("refund ended: %v, want not found", err)
	}
}

// TestRefundCertificateAction: the refund's certificate-action update,
// waited for; refusals keep their code and rules; a refund that ended is
// NotFound (not Conflict, as for the refund's own updates), so the
// gateway goes to the certificate's workflow.
func TestRefundCertificateAction(t *testing.T) {
	tests := map[string]struct {
		fc       fakeClient
		code     errs.Code
		mentions string
	}{
		"applied": {fc: fakeClient{outcome: certificate.Status{ID: "c-1", State: statemachine.ValidatingRevocation}}},
		"refused by the validator": {
			fc:   fakeClient{outcomeErr: errtemporal.New(errs.Invalid, []string{"SSL-9"}, "SSL-9: revoke cannot be undone")},
			code: errs.Invalid, mentions: "SSL-9",
		},
		"refund ended": {
			fc:   fakeClient{updateErr: serviceerror.NewNotFound("workflow execution already completed"), status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED},
			code: errs.NotFound, mentions: "refund of order o-1 not found",
		},
		"temporal down": {
			fc:   fakeClient{updateErr: serviceerror.NewUnavailable("connection refused")},
			code: errs.Unavailable, mentions: "retry",
		},
	}
	req := refund.CertificateAction{Certificate: "c-1",
		ActionRequest: certificate.ActionRequest{Action: statemachine.Revoke, Actor: "u", ConfirmIrreversible: true}}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fc := tc.fc
			st, err := NewTemporal(&fc).RefundCertificateAction(context.Background(), "o-1", "u-1", req)
			u := fc.updateOpts
			if u.WorkflowID != "refund/o-1" || u.UpdateName != refund.UpdateCertificateAction || u.UpdateID != "u-1" ||
				u.WaitForStage != client.WorkflowUpdateStageCompleted || !reflect.DeepEqual(u.Args, []any{req}) {
				t.Errorf("update options = %+v", u)
			}
			if tc.code == "" {
				if err != nil || st.State != statemachine.ValidatingRevocation {
					t.Fatalf("RefundCertificateAction = %+v, %v", st, err)
				}
				return
			}
			if errs.CodeOf(err) != tc.code || !(strings.Contains(errs.MessageOf(err), tc.mentions) || slices.Contains(errs.RulesOf(err), tc.mentions)) {
				t.Errorf("err = %v, want %s mentioning %q", err, tc.code, tc.mentions)
			}
		})
	}
}
