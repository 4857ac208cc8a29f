package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
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

// ActivityRegistry is what takes activity registrations: a worker, a test
// environment.
type ActivityRegistry interface {
	RegisterActivity(a any)
}

// RegisterActivities registers both processes' activities with the
// clients d (method names are the activity types).
func RegisterActivities(r ActivityRegistry, d activities.Deps) {
	r.RegisterActivity(&certificate.Activities{Deps: d})
	r.RegisterActivity(&refund.Activities{Deps: d})
}
