package gateway

import (
	"strings"

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
func refundHolding(holder string) (orderID string, ok bool) {
	if !refund.IsHolder(holder) {
		return "", false
	}
	orderID, ok = strings.CutPrefix(holder, refund.WorkflowID(""))
	return orderID, ok && orderID != "" && refund.WorkflowID(orderID) == holder
}
