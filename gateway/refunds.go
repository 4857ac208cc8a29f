package gateway

import "github.com/certflow/certflow/api"

// The refund's routes are workflows/refund's (refund.API, mounted in
// routes); their answers are the API's wire types (package api).
type (
	// Eligibility is the answer of GET /v1/orders/{id}/refund-eligibility.
	Eligibility = api.Eligibility
	// RefundAccepted is the answer of POST /v1/orders/{id}/refund.
	RefundAccepted = api.RefundAccepted
	// RefundView is the answer of GET /v1/orders/{id}/refund and of the
	// cancel and approve updates.
	RefundView = api.RefundView
)

// The sources of a status answer (RefundView.Source, CertificateView.Source).
const (
	SourceWorkflow = "workflow"
	SourceStore    = "store"
)
