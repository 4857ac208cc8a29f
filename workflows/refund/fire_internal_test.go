package refund

import (
	"strings"
	"testing"

	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/statemachine"
)

// An event the order machine refuses fails the workflow task loudly (a
// panic the SDK reports), so a bug cannot walk a refund into a state the
// machine never allowed with only a log line to show for it.
func TestIllegalOrderEventFailsTheTask(t *testing.T) {
	illegal := func(ctx workflow.Context) error {
		r := &refund{in: Input{OrderID: "o-1"}, st: Status{OrderID: "o-1", State: statemachine.OrderRefunded}}
		r.fire(ctx, statemachine.OrderRequest)
		return nil
	}
	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	env.SetWorkerOptions(testenv.WorkerOptions())
	env.RegisterWorkflowWithOptions(illegal, workflow.RegisterOptions{Name: "illegal"})
	env.ExecuteWorkflow("illegal")
	err := env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "illegal order event") {
		t.Fatalf("workflow error %v, want the illegal order event to fail the task", err)
	}
}

// The refund keeps no lifecycle flag beside the order machine: whether it
// has ended, has been judged, is past its first irreversible step (CAN-1)
// and its outcome all follow from the order state.
func TestRefundLifecycleIsTheOrderState(t *testing.T) {
	tests := map[string]struct {
		state                       statemachine.OrderState
		outcome                     Outcome
		ended, judged, irreversible bool
	}{
		"GEN-1 paid (not judged yet)": {statemachine.OrderPaid, OutcomePending, false, false, false},
		"CAN-1 refund_requested":      {statemachine.OrderRefundRequested, OutcomePending, false, true, false},
		"SSL-6 releasing":             {statemachine.OrderReleasing, OutcomePending, false, true, false},
		"SSL-9 committed":             {statemachine.OrderCommitted, OutcomePending, false, true, true},
		"GW-4 awaiting_approval":      {statemachine.OrderAwaitingApproval, OutcomeAwaitingApproval, false, true, false},
		"M-4 paying":                  {statemachine.OrderPaying, OutcomePending, false, true, true},
		"M-4 refunded":                {statemachine.OrderRefunded, OutcomeRefunded, true, true, true},
		"GEN-1 rejected":              {statemachine.OrderRejected, OutcomeRejected, true, true, false},
		"CAN-1 cancelled":             {statemachine.OrderCancelled, OutcomeCancelled, true, true, false},
	}
	if len(tests) != len(statemachine.OrderStates()) {
		t.Fatalf("%d states tested, the machine has %d", len(tests), len(statemachine.OrderStates()))
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &refund{st: Status{State: tc.state}}
			if got := OutcomeOf(tc.state); got != tc.outcome {
				t.Errorf("OutcomeOf(%s) = %s, want %s", tc.state, got, tc.outcome)
			}
			if r.ended() != tc.ended || r.judged() != tc.judged || r.irreversible() != tc.irreversible {
				t.Errorf("%s: ended %v judged %v irreversible %v, want %v %v %v", tc.state,
					r.ended(), r.judged(), r.irreversible(), tc.ended, tc.judged, tc.irreversible)
			}
		})
	}
}
