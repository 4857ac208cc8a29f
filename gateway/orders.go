package gateway

import (
	"net/http"

	"github.com/certflow/certflow/api"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpapi"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/refund"
)

// OrderList is the answer of GET /v1/orders: one page of orders with
// their refund records; NextCursor, when set, is the cursor parameter of
// the next page.
type OrderList = api.OrderList

// listOrders pages through the store's orders, newest payment first.
func (s *Server) listOrders(w http.ResponseWriter, r *http.Request) {
	f, err := orderFilter(r)
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	page, err := s.orders.ListOrders(r.Context(), f)
	if err != nil {
		s.http.Error(w, r, httpapi.CursorError("cursor", err))
		return
	}
	list := OrderList{Orders: make([]api.OrderSummary, 0, len(page.Orders)), NextCursor: page.Next}
	for _, o := range page.Orders {
		item := api.OrderSummary{Order: o.Order}
		if rec := o.Refund; rec != nil {
			r := *rec
			r.Steps = nil // a page lists states, not timelines
			item.Refund = refund.WireRecord(r)
		}
		list.Orders = append(list.Orders, item)
	}
	httpapi.JSON(w, http.StatusOK, list)
}

// orderParams are the query parameters of GET /v1/orders.
var orderParams = []string{"refund_state", "product", "waiting_on", "escalated", "outcome", "limit", "cursor"}

// refundOutcomes are the values of a refund's outcome (refund.Outcome*).
var refundOutcomes = []refund.Outcome{refund.OutcomePending, refund.OutcomeAwaitingApproval,
	refund.OutcomeRefunded, refund.OutcomeRejected, refund.OutcomeCancelled}

// refundStates are the values of refund_state: an order state, or NoRefund.
func refundStates() []statemachine.OrderState {
	return append(statemachine.OrderStates(), NoRefund)
}

// orderFilter reads and checks the query parameters of GET /v1/orders:
// an unknown or repeated parameter, or an unknown value, is 400 naming the
// parameter and what it allows.
func orderFilter(r *http.Request) (OrderFilter, error) {
	q, err := httpapi.Query(r, orderParams...)
	if err != nil {
		return OrderFilter{}, err
	}
	f := OrderFilter{
		RefundState: q.Get("refund_state"),
		Product:     domain.Product(q.Get("product")),
		WaitingOn:   domain.WaitKind(q.Get("waiting_on")),
		Outcome:     q.Get("outcome"),
		Cursor:      q.Get("cursor"),
	}
	if err := httpapi.OneOf("refund_state", statemachine.OrderState(f.RefundState), refundStates()); err != nil {
		return f, err
	}
	if err := httpapi.OneOf("product", f.Product, domain.Products); err != nil {
		return f, err
	}
	if err := httpapi.OneOf("waiting_on", f.WaitingOn, domain.WaitKinds); err != nil {
		return f, err
	}
	if err := httpapi.OneOf("outcome", refund.Outcome(f.Outcome), refundOutcomes); err != nil {
		return f, err
	}
	if f.Escalated, err = httpapi.BoolParam(q, "escalated"); err != nil {
		return f, err
	}
	if f.Limit, err = httpapi.LimitParam(q, DefaultPageSize, MaxPageSize); err != nil {
		return f, err
	}
	return f, nil
}

// OrderDetail is the answer of GET /v1/orders/{id}: the order as
// registered, its certificates' current states (HeldBy naming the refund
// that holds one while it releases it), and its latest refund's record
// (null when it never had one).
type OrderDetail = api.OrderDetail

// CertificateSummary is a certificate's current state as the store has
// it, and the refund that holds it, if one does.
type CertificateSummary = api.CertificateSummary

// getOrder answers an order with its certificates and its latest refund.
// It reads the store only: the workflows write their states there.
func (s *Server) getOrder(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if _, err := httpapi.Query(r); err != nil {
		s.http.Error(w, r, err)
		return
	}
	o, err := s.orders.GetOrder(ctx, r.PathValue("id"))
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	d := OrderDetail{Order: o, Certificates: make([]CertificateSummary, 0, len(o.Certificates))}
	for _, c := range o.Certificates {
		cs := CertificateSummary{ID: c.ID, State: c.State}
		holder, err := s.orders.CertificateHolder(ctx, c.ID)
		if err != nil && errs.CodeOf(err) != errs.NotFound {
			s.http.Error(w, r, err)
			return
		}
		if refund.IsHolder(holder) {
			cs.HeldBy = holder
		}
		d.Certificates = append(d.Certificates, cs)
	}
	switch rec, err := s.orders.GetRefund(ctx, o.ID); {
	case err == nil:
		d.Refund = refund.WireRecord(rec)
	case errs.CodeOf(err) != errs.NotFound:
		s.http.Error(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, d)
}
