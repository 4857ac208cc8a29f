// Package workflows is where certflow's two processes meet the worker:
// each lives in a folder of its own with its workflow, its activities'
// options and its messages —
//
//   - refund/: RefundWorkflow, one per order refund: it judges, releases
//     the order's certificates (running those it holds itself, with the
//     certificate package's Runner), waits for reviews and approvals, and
//     pays (docs/ARCHITECTURE.md walks it);
//   - certificate/: CertificateWorkflow, one per certificate that no
//     refund holds: console actions, CA results and commands of a refund
//     that does not hold it.
//
// This package registers both (Register) and names what the worker and
// the server share: the task queue and the search attributes.
// Workflows only orchestrate: every decision is a call into statemachine/
// and policy/, every side effect an activity. Workflow code is
// deterministic: no map iteration, no time.Now, no rand, no native
// goroutines.
package workflows

import "github.com/certflow/certflow/workflows/internal/calls"

// TaskQueue is the task queue the worker polls.
const TaskQueue = calls.TaskQueue

// SearchAttributeTypes lists the search attributes for server registration
// ("name=Type" as `temporal server start-dev --search-attribute` takes it):
// the keys certificate and refund declare.
var SearchAttributeTypes = []string{
	"OrderId=Keyword", "RefundStatus=Keyword", "CertificateId=KeywordList",
	"CertificateState=KeywordList", "Product=Keyword", "Escalated=Bool", "WaitingOn=KeywordList",
}
