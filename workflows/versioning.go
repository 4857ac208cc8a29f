package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// Registry is what takes workflow registrations: a worker, a replayer.
type Registry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// Register registers CertificateWorkflow and RefundWorkflow with their
// versioning behaviours (docs/orchestration.md, "Worker versioning").
func Register(r Registry) {
	r.RegisterWorkflowWithOptions(certificate.Workflow, workflow.RegisterOptions{Name: certificate.WorkflowName, VersioningBehavior: certificate.Versioning})
	r.RegisterWorkflowWithOptions(refund.Workflow, workflow.RegisterOptions{Name: refund.WorkflowName, VersioningBehavior: refund.Versioning})
}
