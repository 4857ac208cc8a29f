package gateway

import (
	"context"

	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// A certificate has one writer, its holder, named in the store by its
// workflow ID (Orders.CertificateHolder). While a refund releases a
// certificate the refund holds it and no certificate workflow runs for
// it, so the CA's results and the console's actions go to the refund;
// otherwise they go to the certificate's workflow, which is started when
// none runs. A CA result for a certificate nobody holds is first offered
// to its order's running refund, which may be taking the hold. The owner
// and the one route of a CA result are described in one place:
// workflows/refund/hold.go.

// refundHolding returns the order whose refund holder names, if holder
// names a refund's workflow (refund.WorkflowID).
func refundHolding(holder string) (orderID string, ok bool) { return refund.OrderOfHolder(holder) }

// heldActions takes a certificate's console actions to the refund that
// holds it (certificate.Holders): the refund's certificate-action update.
type heldActions struct{ wf Workflows }

func (h heldActions) Holds(holder string) bool {
	_, ok := refundHolding(holder)
	return ok
}

func (h heldActions) HeldAction(ctx context.Context, holder, updateID, certID string, req certificate.ActionRequest) (certificate.Status, error) {
	orderID, _ := refundHolding(holder)
	return h.wf.RefundCertificateAction(ctx, orderID, updateID, refund.CertificateAction{Certificate: certID, ActionRequest: req})
}

// pendingFirst is the certificate API's store: before a certificate's
// holder is read for a console action, a refund of its order whose start
// is still pending is started (inline), so the action meets the refund
// that is about to hold the certificate rather than a certificate
// workflow started beside it.
type pendingFirst struct {
	Orders
	intake *Dispatcher
}

func (p pendingFirst) CertificateHolder(ctx context.Context, certID string) (string, error) {
	if orderID, _, err := p.GetCertificate(ctx, certID); err == nil {
		if err := p.intake.StartPending(ctx, orderID); err != nil {
			return "", err
		}
	}
	return p.Orders.CertificateHolder(ctx, certID)
}
