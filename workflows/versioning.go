package workflows

import "go.temporal.io/sdk/workflow"

// Worker Versioning behaviours (docs/orchestration.md, "Worker versioning").
// They apply only on a worker with Worker Versioning on; elsewhere they
// are ignored.
const (
	// RefundVersioning pins a refund to the build it started on: it runs
	// to its end there, however long its reviews and approvals take, so
	// a new build never replays an old refund's history and a change to
	// the refund needs no GetVersion patch. The old build's workers stay
	// up until its refunds have drained.
	RefundVersioning = workflow.VersioningBehaviorPinned
	// CertificateVersioning moves a certificate workflow to the current
	// build at its next task: a certificate's workflow lives until the
	// certificate is removed, which may be never, so pinned it would keep
	// an old build up forever. A change to it must replay its old
	// histories (GetVersion, the replay test).
	CertificateVersioning = workflow.VersioningBehaviorAutoUpgrade
)

// Registry is what takes workflow registrations: a worker, a replayer.
type Registry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// Register registers CertificateWorkflow and RefundWorkflow under their
// function names with their versioning behaviours.
func Register(r Registry) {
	r.RegisterWorkflowWithOptions(CertificateWorkflow, workflow.RegisterOptions{VersioningBehavior: CertificateVersioning})
	r.RegisterWorkflowWithOptions(RefundWorkflow, workflow.RegisterOptions{VersioningBehavior: RefundVersioning})
}
