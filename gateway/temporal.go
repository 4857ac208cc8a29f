package gateway

import (
	"time"

	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// TemporalClient is the part of client.Client the processes' clients use;
// client.Client satisfies it.
type TemporalClient = temporalx.Client

// Temporal implements Workflows with the two processes' clients over one
// Temporal client: refund.Client and certificate.Client, each in its
// process's folder. Every error they return is errs-coded
// (temporalx.Error).
type Temporal struct {
	*refundClient
	*certificateClient
}

// The embedded clients' names (both types are called Client).
type (
	refundClient      = refund.Client
	certificateClient = certificate.Client
)

var _ Workflows = (*Temporal)(nil)

// DefaultStatusTimeout bounds a status call to Temporal: with Temporal or
// the worker down, a status answers 503 after it, not after the client's
// 10 s.
const DefaultStatusTimeout = temporalx.DefaultStatusTimeout

// NewTemporal adapts c.
func NewTemporal(c TemporalClient) *Temporal {
	return &Temporal{refundClient: refund.NewClient(c), certificateClient: certificate.NewClient(c)}
}

// WithStatusTimeout sets the bound of status calls (zero keeps the
// default).
func (t *Temporal) WithStatusTimeout(d time.Duration) *Temporal {
	if d > 0 {
		t.refundClient.StatusTimeout = d
		t.certificateClient.StatusTimeout = d
	}
	return t
}
