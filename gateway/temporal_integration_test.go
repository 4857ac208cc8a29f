package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
)

// TestTemporalAgainstServer checks the adapter's Temporal semantics (join a
// running refund, a new run after a finished one, update refusals with
// their rules, result after close, signal-with-start, 503 naming the
// worker when none answers) against a real dev server, with stand-in
// workflows registered under the production names. It needs the Temporal
// CLI that `make temporal` builds (CERTFLOW_TEMPORAL_BIN, default
// ../bin/temporal); under CERTFLOW_REQUIRE_E2E (make test) its absence
// fails the test.
func TestTemporalAgainstServer(t *testing.T) {
	bin := testenv.TemporalBin(t)
	var extra []string
	for _, sa := range workflows.SearchAttributeTypes {
		extra = append(extra, "--search-attribute", sa)
	}
	quiet := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv, err := testsuite.StartDevServer(context.Background(), testsuite.DevServerOptions{ExistingPath: bin, ExtraArgs: extra, LogLevel: "error",
		ClientOptions: &client.Options{Logger: quiet}, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatalf("dev server: %v", err)
	}
	defer func() { _ = srv.Stop() }()
	c := srv.Client()
	w := worker.New(c, workflows.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(standInRefund, workflow.RegisterOptions{Name: refund.WorkflowName})
	w.RegisterWorkflowWithOptions(standInCertificate, workflow.RegisterOptions{Name: certificate.WorkflowName})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tp := NewTemporal(c)
	suffix := fmt.Sprint(time.Now().UnixNano())
	order := domain.Order{ID: "o-" + suffix, Product: domain.SSLCertificate}
	in := refund.Input{OrderID: order.ID, Request: domain.RefundRequest{OrderID: order.ID, RequestedAt: time.Now().UTC()}}

	run1, err := tp.StartRefund(ctx, order, in, false)
	mustNot(t, "start", err)
	run2, err := tp.StartRefund(ctx, order, in, false)
	mustNot(t, "second start", err)
	if run1 != run2 {
		t.Errorf("second start ran %s, want it to join %s", run2, run1)
	}
	st, err := tp.RefundStatus(ctx, order.ID)
	mustNot(t, "status", err)
	if st.State != statemachine.OrderRefundRequested {
		t.Errorf("state = %s", st.State)
	}
	_, err = tp.CancelRefund(ctx, order.ID, "", refund.CancelRequest{Actor: "me"})
	wantCode(t, "cancel refused", err, errs.Conflict, "CAN-1")
	// The refund holds certificate held-<suffix>: console actions and CA
	// results for it reach the refund while it runs.
	heldCert := "held-" + suffix
	revoke := refund.CertificateAction{Certificate: heldCert,
		ActionRequest: certificate.ActionRequest{Action: statemachine.Revoke, ConfirmIrreversible: true}}
	cs, err := tp.RefundCertificateAction(ctx, order.ID, "act-1", revoke)
	mustNot(t, "action on a held certificate", err)
	if cs.ID != heldCert || cs.State != statemachine.ValidatingRevocation {
		t.Errorf("held certificate after revoke = %+v", cs)
	}
	_, err = tp.RefundCertificateAction(ctx, order.ID, "", refund.CertificateAction{Certificate: heldCert,
		ActionRequest: certificate.ActionRequest{Action: statemachine.Submit}})
	wantCode(t, "illegal action on a held certificate", err, errs.IllegalTransition, "submit")
	_, err = tp.RefundCertificateAction(ctx, order.ID, "", refund.CertificateAction{Certificate: "other-" + suffix, ActionRequest: revoke.ActionRequest})
	wantCode(t, "action on a certificate the refund does not hold", err, errs.NotFound, "does not hold")
	heldRes := certificate.CAResult{EventID: "evt-held-" + suffix, Certificate: heldCert, Result: statemachine.RevocationApproved}
	mustNot(t, "CA result to the holding refund", tp.SignalRefundCAResult(ctx, order.ID, heldRes))
	st, err = tp.RefundStatus(ctx, order.ID)
	mustNot(t, "status after the CA result", err)
	if !slices.ContainsFunc(st.Steps, func(s refund.StepRecord) bool { return s.Step == "ca-result" && s.Detail == heldRes.EventID }) {
		t.Errorf("the refund did not get the CA result: steps %+v", st.Steps)
	}
	st, err = tp.ApproveRefund(ctx, order.ID, "approve-1", refund.ApproveRequest{Operator: "op"})
	mustNot(t, "approve", err)
	if st.State != statemachine.OrderRefunded {
		t.Errorf("approved state = %s", st.State)
	}
	// The stand-in ends after approval: the status now comes from its result.
	waitClosed(ctx, t, c, refund.WorkflowID(order.ID))
	st, err = tp.RefundStatus(ctx, order.ID)
	mustNot(t, "status after close", err)
	if st.Outcome != refund.OutcomeRefunded {
		t.Errorf("closed outcome = %s", st.Outcome)
	}
	_, err = tp.CancelRefund(ctx, order.ID, "", refund.CancelRequest{})
	wantCode(t, "cancel after close", err, errs.Conflict, "already ended")
	// An ended refund holds nothing: NotFound sends the gateway to the
	// certificate's workflow.
	_, err = tp.RefundCertificateAction(ctx, order.ID, "act-2", revoke)
	wantCode(t, "action via an ended refund", err, errs.NotFound, "not found")
	wantCode(t, "CA result to an ended refund", tp.SignalRefundCAResult(ctx, order.ID, heldRes), errs.NotFound, "not found")
	wantCode(t, "CA result to a refund never run", tp.SignalRefundCAResult(ctx, "nope-"+suffix, heldRes), errs.NotFound, "not found")
	// Offered to a refund that ended or never ran: NotFound, so the
	// gateway signals the certificate's workflow with start.
	wantCode(t, "CA result offered to an ended refund", tp.OfferRefundCAResult(ctx, order.ID, heldRes), errs.NotFound, "not found")
	wantCode(t, "CA result offered to a refund never run", tp.OfferRefundCAResult(ctx, "nope-"+suffix, heldRes), errs.NotFound, "not found")
	last, running, err := tp.LastRefund(ctx, order.ID)
	mustNot(t, "last refund", err)
	if running || last.Outcome != refund.OutcomeRefunded {
		t.Errorf("last refund = %+v, running %v; want the closed run's result", last, running)
	}
	// REJECT_DUPLICATE unless the caller judged the finished run: a
	// request judged before the run closed starts nothing.
	_, err = tp.StartRefund(ctx, order, in, false)
	wantCode(t, "start after an unseen close", err, errs.Conflict, "")
	// The dispatcher's decision on a closed run (refund.StartRecorded):
	// the run the request itself started (its "started" mark lost) is its
	// start, never followed by a second run; for another request, the paid
	// run refuses the start with M-3.
	lastRun, err := tp.LastRun(ctx, order.ID)
	mustNot(t, "last run", err)
	if lastRun.ID != run1 || lastRun.Running || lastRun.Status.Outcome != refund.OutcomeRefunded {
		t.Errorf("last run = %+v, want the closed run %s, refunded", lastRun, run1)
	}
	for _, afterFinished := range []bool{false, true} {
		id, refused, err := refund.StartRecorded(ctx, tp, order, in, afterFinished, true)
		if err != nil || refused != nil || id != run1 {
			t.Errorf("own closed run (afterFinished %v): %q, refused %v, %v; want its run %s", afterFinished, id, refused, err, run1)
		}
	}
	another := in
	another.Request.RequestedAt = in.Request.RequestedAt.Add(time.Second)
	_, refused, err := refund.StartRecorded(ctx, tp, order, another, false, false)
	if err != nil || errs.CodeOf(refused) != errs.Conflict || !slices.Equal(errs.RulesOf(refused), []string{"M-3"}) {
		t.Errorf("another's paid run: refused %v, %v; want a conflict under M-3", refused, err)
	}
	if r, err := tp.LastRun(ctx, order.ID); err != nil || r.ID != run1 {
		t.Errorf("after the decisions: last run %+v, %v; want still %s", r, err, run1)
	}
	// ALLOW_DUPLICATE: a new run may follow a finished one the gateway
	// judged (from LastRefund) not to block it.
	run3, err := tp.StartRefund(ctx, order, in, true)
	mustNot(t, "start after close", err)
	if run3 == run1 {
		t.Errorf("start after close joined the closed run %s", run1)
	}
	if _, running, err := tp.LastRefund(ctx, order.ID); err != nil || !running {
		t.Errorf("after the new start: running %v, %v", running, err)
	}
	_, err = tp.ApproveRefund(ctx, order.ID, "approve-3", refund.ApproveRequest{Operator: "op"})
	mustNot(t, "approve the new run", err)
	waitClosed(ctx, t, c, refund.WorkflowID(order.ID))
	// Concurrent requests after a finished refund: one new run, all join it.
	runs := make(chan string, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			id, err := tp.StartRefund(ctx, order, in, true)
			if err != nil {
				t.Errorf("concurrent start: %v", err)
			}
			runs <- id
		})
	}
	wg.Wait()
	close(runs)
	distinct := map[string]bool{}
	for id := range runs {
		distinct[id] = true
	}
	if len(distinct) != 1 || distinct[run3] {
		t.Errorf("8 concurrent starts gave runs %v, want one new run", distinct)
	}
	_, err = tp.ApproveRefund(ctx, order.ID, "approve-4", refund.ApproveRequest{Operator: "op"})
	mustNot(t, "approve the concurrent run", err)
	_, _, err = tp.LastRefund(ctx, "nope-"+suffix)
	wantCode(t, "last refund of an order without one", err, errs.NotFound, "not found")
	_, err = tp.RefundStatus(ctx, "nope-"+suffix)
	wantCode(t, "unknown refund", err, errs.NotFound, "not found")
	_, err = tp.CancelRefund(ctx, "nope-"+suffix, "", refund.CancelRequest{})
	wantCode(t, "cancel unknown", err, errs.NotFound, "not found")

	cert := certificate.Input{OrderID: order.ID, Certificate: domain.Certificate{ID: "c-" + suffix, State: statemachine.PendingApplication}}
	cs, err = tp.CertificateAction(ctx, cert, "", certificate.ActionRequest{Action: statemachine.Submit})
	mustNot(t, "submit", err)
	if cs.State != statemachine.ValidatingApplication {
		t.Errorf("state after submit = %s", cs.State)
	}
	_, err = tp.CertificateAction(ctx, cert, "", certificate.ActionRequest{Action: statemachine.Delete})
	wantCode(t, "illegal delete", err, errs.IllegalTransition, "delete")
	res := certificate.CAResult{EventID: "evt-" + suffix, Certificate: cert.Certificate.ID, Result: statemachine.ValidationPassed}
	mustNot(t, "signal", tp.DeliverCAResult(ctx, cert, res))
	mustNot(t, "signal again", tp.DeliverCAResult(ctx, cert, res))
	cs, err = tp.CertificateStatus(ctx, cert.Certificate.ID)
	mustNot(t, "certificate status", err)
	if len(cs.Transitions) != 2 {
		t.Errorf("transitions = %+v, want submit and one CA result", cs.Transitions)
	}
	other := certificate.Input{OrderID: order.ID, Certificate: domain.Certificate{ID: "c2-" + suffix, State: statemachine.ValidatingApplication}}
	mustNot(t, "signal-with-start", tp.DeliverCAResult(ctx, other, res))
	cs, err = tp.CertificateStatus(ctx, other.Certificate.ID)
	mustNot(t, "status of signal-started certificate", err)
	if cs.OrderID != order.ID || len(cs.Transitions) != 1 {
		t.Errorf("signal-started status = %+v", cs)
	}
	if owned, err := tp.CertificateWorkflows(ctx, []string{cert.Certificate.ID, "never-" + suffix}); err != nil || !slices.Equal(owned, []string{cert.Certificate.ID}) {
		t.Errorf("CertificateWorkflows = %v, %v", owned, err)
	}
	if running, err := tp.CertificateRunning(ctx, cert.Certificate.ID); err != nil || !running {
		t.Errorf("CertificateRunning = %v, %v", running, err)
	}

	// With no worker polling, a status query is 503 naming the worker,
	// after the status timeout instead of the client's own.
	w.Stop()
	order2 := domain.Order{ID: "o2-" + suffix, Product: domain.SSLCertificate}
	_, err = tp.StartRefund(ctx, order2, refund.Input{OrderID: order2.ID}, false)
	mustNot(t, "start without a worker", err)
	_, err = NewTemporal(c).WithStatusTimeout(300*time.Millisecond).RefundStatus(ctx, order2.ID)
	wantCode(t, "status without a worker", err, errs.Unavailable, "the worker did not answer")
}

func mustNot(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantCode(t *testing.T, what string, err error, code errs.Code, mentions string) {
	t.Helper()
	if errs.CodeOf(err) != code || !(strings.Contains(errs.MessageOf(err), mentions) || slices.Contains(errs.RulesOf(err), mentions)) {
		t.Errorf("%s: err = %v, want %s mentioning %q", what, err, code, mentions)
	}
}

func waitClosed(ctx context.Context, t *testing.T, c client.Client, id string) {
	t.Helper()
	if err := c.GetWorkflow(ctx, id, "").Get(ctx, nil); err != nil {
		t.Fatalf("waiting for %s: %v", id, err)
	}
}

// standInRefund answers like the refund workflow: cancel is refused
// (CAN-1), approve pays and ends it.
func standInRefund(ctx workflow.Context, in refund.Input) (refund.Status, error) {
	// The request opens the audit, at its own time, as in the workflow.
	st := refund.Status{OrderID: in.OrderID, State: statemachine.OrderRefundRequested, Outcome: refund.OutcomePending,
		Audit: []domain.AuditEntry{{Action: domain.AuditRefundRequested, At: in.Request.RequestedAt}}}
	if err := workflow.SetQueryHandler(ctx, refund.QueryStatus, func() (refund.Status, error) { return st, nil }); err != nil {
		return st, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, refund.UpdateCancel,
		func(ctx workflow.Context, _ refund.CancelRequest) (refund.Status, error) { return st, nil },
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, _ refund.CancelRequest) error {
			return errtemporal.New(errs.Conflict, []string{"CAN-1"}, "the refund can no longer be cancelled")
		}}); err != nil {
		return st, err
	}
	// It holds the certificate "held-" + the order ID's suffix, issued.
	heldID := "held-" + strings.TrimPrefix(in.OrderID, "o-")
	held := certificate.Status{ID: heldID, OrderID: in.OrderID, State: statemachine.Issued}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, refund.UpdateCertificateAction,
		func(ctx workflow.Context, req refund.CertificateAction) (certificate.Status, error) {
			held.State, _ = statemachine.CertTransition(held.State, req.Action)
			return held, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req refund.CertificateAction) error {
			if req.Certificate != heldID {
				return errtemporal.New(errs.NotFound, nil, "the refund does not hold certificate %s", req.Certificate)
			}
			if _, err := statemachine.CertTransition(held.State, req.Action); err != nil {
				return errtemporal.From(err)
			}
			return nil
		}}); err != nil {
		return st, err
	}
	results := workflow.GetSignalChannel(ctx, certificate.SignalCAResult)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var r certificate.CAResult
			results.Receive(ctx, &r)
			st.Steps = append(st.Steps, refund.StepRecord{Step: "ca-result", Detail: r.EventID})
		}
	})
	approved := false
	if err := workflow.SetUpdateHandler(ctx, refund.UpdateApprove,
		func(ctx workflow.Context, _ refund.ApproveRequest) (refund.Status, error) {
			approved = true
			st.State, st.Outcome = statemachine.OrderRefunded, refund.OutcomeRefunded
			return st, nil
		}); err != nil {
		return st, err
	}
	err := workflow.Await(ctx, func() bool { return approved && workflow.AllHandlersFinished(ctx) })
	return st, err
}

// standInCertificate applies console actions by the state machine and CA
// results once per event ID.
func standInCertificate(ctx workflow.Context, in certificate.Input) (certificate.Status, error) {
	st := certificate.Status{ID: in.Certificate.ID, OrderID: in.OrderID, State: in.Certificate.State, Transitions: []certificate.Transition{}}
	if err := workflow.SetQueryHandler(ctx, certificate.QueryStatus, func() (certificate.Status, error) { return st, nil }); err != nil {
		return st, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, certificate.UpdateAction,
		func(ctx workflow.Context, req certificate.ActionRequest) (certificate.Status, error) {
			to, _ := statemachine.CertTransition(st.State, req.Action)
			st.Transitions = append(st.Transitions, certificate.Transition{From: st.State, To: to, Event: req.Action})
			st.State = to
			return st, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req certificate.ActionRequest) error {
			if _, err := statemachine.CertTransition(st.State, req.Action); err != nil {
				return errtemporal.From(err)
			}
			return nil
		}}); err != nil {
		return st, err
	}
	var seen []string
	results := workflow.GetSignalChannel(ctx, certificate.SignalCAResult)
	for {
		var r certificate.CAResult
		results.Receive(ctx, &r)
		if slices.Contains(seen, r.EventID) {
			continue
		}
		seen = append(seen, r.EventID)
		st.Transitions = append(st.Transitions, certificate.Transition{From: st.State, To: st.State, Event: r.Result, EventID: r.EventID})
	}
}
