package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"

	"github.com/certflow/certflow/paysim"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// Holds that cannot be orphaned (issue 17): a refund an operator
// terminates or resets while it holds a certificate leaves no certificate
// stuck. The CA's callback, a certificate workflow, takes the hold over
// from the terminated refund (its workflow no longer runs); a new refund
// of the order holds its certificates by the same workflow ID and goes on
// from the certificate's stored state; a reset run is the same workflow ID
// and keeps its holds. Each refund pays once.

var refundRequest = map[string]any{"consent": true, "confirm_irreversible": true, "accept_late_review_risk": true}

// A refund terminated while its certificate is under revocation review at
// the CA: the CA's result reaches the certificate (its workflow takes the
// hold over from the dead refund), and a new refund of the order deletes
// the revoked certificate and pays once. A second refund terminated at the
// review is followed by a new refund of its order at once: the new run
// holds the certificate by the same ID, watches the review the dead run
// opened (asking the CA), and pays once.
func TestTerminatedRefundHoldsTakenOver(t *testing.T) {
	s := start(t)
	ctx := context.Background()

	t.Run("the CA's callback takes the hold over", func(t *testing.T) {
		const order, cert = "o-term", "c-term"
		s.putIssuedOrder(order, cert)
		s.caBehaviour(cert, "never") // the review stays open
		s.startRefund(order)
		s.waitStored(cert, statemachine.ValidatingRevocation, refund.WorkflowID(order))
		if err := s.temporal.TerminateWorkflow(ctx, refund.WorkflowID(order), "", "e2e: an operator terminates the refund"); err != nil {
			t.Fatal(err)
		}
		// The CA decides: its callback finds the dead refund named holder,
		// starts the certificate's workflow, which takes the hold over and
		// applies the approval.
		s.caBehaviour(cert, "approve")
		s.waitStored(cert, statemachine.Revoked, certificate.WorkflowID(cert))
		s.waitQuota(order, 1)

		// A new refund of the order: the certificate's workflow (running)
		// holds it, so the refund commands the delete there, and pays.
		s.startRefund(order)
		st := s.waitRefund(order, statemachine.OrderRefunded)
		if st.Payout == nil || st.Payout.Cash != "80.00" {
			t.Fatalf("payout = %+v, want 80.00", st.Payout)
		}
		s.waitStored(cert, statemachine.Removed, "")
		s.paidOnce(order)
	})

	t.Run("a new refund goes on from the stored state", func(t *testing.T) {
		const order, cert = "o-term2", "c-term2"
		s.putIssuedOrder(order, cert)
		s.caBehaviour(cert, "never")
		s.startRefund(order)
		s.waitStored(cert, statemachine.ValidatingRevocation, refund.WorkflowID(order))
		if err := s.temporal.TerminateWorkflow(ctx, refund.WorkflowID(order), "", "e2e: an operator terminates the refund"); err != nil {
			t.Fatal(err)
		}
		// The new run takes the hold by the same ID and watches the open
		// review; the CA then decides and calls back.
		s.startRefund(order)
		s.waitRefund(order, statemachine.OrderReleasing)
		s.caBehaviour(cert, "approve")
		st := s.waitRefund(order, statemachine.OrderRefunded)
		if st.Payout == nil || st.Payout.Cash != "80.00" {
			t.Fatalf("payout = %+v, want 80.00", st.Payout)
		}
		s.waitStored(cert, statemachine.Removed, "")
		s.waitQuota(order, 1)
		s.paidOnce(order)
		if _, err := s.temporal.DescribeWorkflowExecution(ctx, certificate.WorkflowID(cert), ""); err == nil {
			t.Error("a certificate workflow ran; the new refund should have held the certificate itself")
		}
	})
}

// `temporal workflow reset` of a paid refund to the workflow task that
// scheduled its payment: the new run pays again with the same idempotency
// key, the ledger reconciles it, and nothing is paid twice. A refund reset
// to its first workflow task while it holds a certificate under review
// takes its hold again (the same workflow ID), goes on from the stored
// state and pays once.
func TestResetRefundPaysOnce(t *testing.T) {
	s := start(t)
	ctx := context.Background()

	t.Run("reset to before the payment", func(t *testing.T) {
		const order, cert = "o-reset", "c-reset"
		id := refund.WorkflowID(order)
		s.putIssuedOrder(order, cert)
		s.startRefund(order)
		s.waitRefund(order, statemachine.OrderRefunded)
		s.paidOnce(order)
		old, err := s.temporal.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		oldRun := old.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		s.temporalCLI(ctx, "workflow", "reset", "--workflow-id", id, "--event-id", fmt.Sprint(s.taskBefore(id, oldRun, "Pay")), "--reason", "e2e: reset to before the payment")
		st := s.waitNewRun(id, oldRun)
		if st.State != statemachine.OrderRefunded || st.Payout == nil || st.Payout.Cash != "80.00" {
			t.Fatalf("the reset run ended %s with payout %+v, want refunded 80.00", st.State, st.Payout)
		}
		d, err := s.temporal.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		if n := s.scheduledAfterReset(id, d.GetWorkflowExecutionInfo().GetExecution().GetRunId(), "Pay"); n != 1 {
			t.Fatalf("the reset run scheduled Pay %d times after the reset point, want 1 (paid again, reconciled)", n)
		}
		s.paidOnce(order)
		s.waitStored(cert, statemachine.Removed, "")
		s.waitQuota(order, 1)
	})

	t.Run("reset to the first task while holding a certificate at review", func(t *testing.T) {
		const order, cert = "o-reset2", "c-reset2"
		id := refund.WorkflowID(order)
		s.putIssuedOrder(order, cert)
		s.caBehaviour(cert, "never")
		s.startRefund(order)
		s.waitStored(cert, statemachine.ValidatingRevocation, id)
		old, err := s.temporal.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		oldRun := old.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		s.temporalCLI(ctx, "workflow", "reset", "--workflow-id", id, "--type", "FirstWorkflowTask", "--reason", "e2e: reset while holding")
		// The new run runs LoadAndHold again: the hold is its own (same
		// ID), the certificate is read under review.
		s.waitStored(cert, statemachine.ValidatingRevocation, id)
		s.caBehaviour(cert, "approve")
		st := s.waitNewRun(id, oldRun)
		if st.State != statemachine.OrderRefunded || st.Payout == nil || st.Payout.Cash != "80.00" {
			t.Fatalf("the reset run ended %s with payout %+v (%v), want refunded 80.00", st.State, st.Payout, st.Reasons)
		}
		s.paidOnce(order)
		s.waitStored(cert, statemachine.Removed, "")
		s.waitQuota(order, 1)
	})
}

// startRefund asks for the order's refund over HTTP (202).
func (s *system) startRefund(orderID string) {
	s.t.Helper()
	if code := s.call("POST", s.gw.URL+"/v1/orders/"+orderID+"/refund", refundRequest, nil); code != http.StatusAccepted {
		s.t.Fatalf("POST refund of %s: %d, want 202", orderID, code)
	}
}

// caBehaviour sets the CA simulator's revocation answer for certID
// ("never" parks a review; "approve" decides a parked one).
func (s *system) caBehaviour(certID, revocation string) {
	s.t.Helper()
	if code := s.call("POST", s.ca.URL+"/admin/certificates/"+certID+"/behaviour", map[string]any{"revocation": revocation}, nil); code != http.StatusOK {
		s.t.Fatalf("CA behaviour of %s: %d", certID, code)
	}
}

// waitStored waits until the store has certID in state, held by holder.
func (s *system) waitStored(certID string, state statemachine.CertState, holder string) {
	s.t.Helper()
	ctx := context.Background()
	var got statemachine.CertState
	var h string
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		_, c, err := s.db.GetCertificate(ctx, certID)
		if err != nil {
			s.t.Fatal(err)
		}
		if h, err = s.db.CertificateHolder(ctx, certID); err != nil {
			s.t.Fatal(err)
		}
		if got = c.State; got == state && h == holder {
			return
		}
	}
	s.t.Fatalf("certificate %s is %s held by %q in the store; want %s held by %q", certID, got, h, state, holder)
}

// waitQuota waits until the order's quota returns are n (then checks they
// stay n a moment: none returned twice).
func (s *system) waitQuota(orderID string, n int) {
	s.t.Helper()
	got := 0
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end) && got != n; time.Sleep(100 * time.Millisecond) {
		got, _ = s.db.QuotaReturned(context.Background(), orderID)
	}
	if got != n {
		s.t.Fatalf("quota returned for %s: %d, want %d", orderID, got, n)
	}
}

// paidOnce checks M-4: one paid payout in the ledger, none pending, and
// the provider paid the order once, the ledger's refund.
func (s *system) paidOnce(orderID string) {
	s.t.Helper()
	ctx := context.Background()
	ps, err := s.db.Payouts(ctx, orderID)
	if err != nil {
		s.t.Fatal(err)
	}
	var paid []ports.Payout
	for _, p := range ps {
		switch p.Status {
		case ports.PayoutPaid:
			paid = append(paid, p)
		case ports.PayoutPending:
			s.t.Fatalf("%s: a payout is still pending: %+v", orderID, p)
		}
	}
	if len(paid) != 1 {
		s.t.Fatalf("M-4: %s has %d paid payouts in the ledger, want 1: %+v", orderID, len(paid), ps)
	}
	refs, err := s.pay.List(ctx, orderID)
	if err != nil {
		s.t.Fatal(err)
	}
	succeeded := 0
	for _, r := range refs {
		if r.Status == paysim.StatusSucceeded {
			succeeded++
			if r.ID != paid[0].ProviderID {
				s.t.Errorf("%s: provider refund %s is not the ledger's %s", orderID, r.ID, paid[0].ProviderID)
			}
		}
	}
	if succeeded != 1 || len(refs) != 1 {
		s.t.Fatalf("M-4: the provider has %d refunds of %s, %d succeeded; want one: %+v", len(refs), orderID, succeeded, refs)
	}
}

// taskBefore returns the ID of the WorkflowTaskCompleted event that
// scheduled the run's first activity of type activity: the reset point
// that runs that task again.
func (s *system) taskBefore(workflowID, runID, activity string) int64 {
	s.t.Helper()
	it := s.temporal.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var lastCompleted int64
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			s.t.Fatal(err)
		}
		switch {
		case ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			lastCompleted = ev.GetEventId()
		case runs(s.t, ev, activity):
			if lastCompleted == 0 {
				s.t.Fatalf("%s: activity %s ran before any workflow task completed", workflowID, activity)
			}
			return lastCompleted
		}
	}
	s.t.Fatalf("%s run %s never scheduled %s", workflowID, runID, activity)
	return 0
}

// runs reports whether ev runs the activity named activity: its
// scheduling as an activity, or its marker as a local activity (the
// first attempt of a payout or a CA action is one).
func runs(t *testing.T, ev *historypb.HistoryEvent, activity string) bool {
	t.Helper()
	switch ev.GetEventType() {
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		return ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == activity
	case enumspb.EVENT_TYPE_MARKER_RECORDED:
		m := ev.GetMarkerRecordedEventAttributes()
		if m.GetMarkerName() != "LocalActivity" {
			return false
		}
		for _, p := range m.GetDetails()["data"].GetPayloads() {
			var d struct{ ActivityType string }
			if err := json.Unmarshal(p.GetData(), &d); err != nil {
				t.Fatalf("local activity marker %d: %v", ev.GetEventId(), err)
			}
			if d.ActivityType == activity {
				return true
			}
		}
	}
	return false
}

// scheduledAfterReset counts the runs of activity (scheduled, or local
// activity markers) a reset run made after its reset point (the workflow
// task failed for the reset).
func (s *system) scheduledAfterReset(workflowID, runID, activity string) int {
	s.t.Helper()
	it := s.temporal.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	reset, n := false, 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			s.t.Fatal(err)
		}
		switch {
		case ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED &&
			ev.GetWorkflowTaskFailedEventAttributes().GetCause() == enumspb.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW:
			reset = true
		case reset && runs(s.t, ev, activity):
			n++
		}
	}
	if !reset {
		s.t.Fatalf("%s run %s has no reset point", workflowID, runID)
	}
	return n
}

// waitNewRun waits for the run of workflowID that followed oldRun (a
// reset) and returns its result.
func (s *system) waitNewRun(workflowID, oldRun string) refund.Status {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var run string
	for run == "" || run == oldRun {
		d, err := s.temporal.DescribeWorkflowExecution(ctx, workflowID, "")
		if err != nil {
			s.t.Fatal(err)
		}
		run = d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		time.Sleep(100 * time.Millisecond)
	}
	var st refund.Status
	if err := s.temporal.GetWorkflow(ctx, workflowID, run).Get(ctx, &st); err != nil {
		s.t.Fatalf("the reset run %s of %s: %v", run, workflowID, err)
	}
	return st
}
