package workflows

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
		r := &refund{in: RefundInput{OrderID: "o-1"}, st: RefundStatus{OrderID: "o-1", State: statemachine.OrderRefunded}}
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
