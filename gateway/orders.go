package gateway

import (
	"net/http"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
)

// OrderList is the answer of GET /v1/orders.
type OrderList struct {
	Orders []OrderSummary `json:"orders"`
	// NextCursor, when set, is the cursor parameter of the next page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// listOrders pages through the store's orders, newest payment first.
func (s *Server) listOrders(w http.ResponseWriter, r *http.Request) {
	f, err := orderFilter(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.orders.ListOrders(r.Context(), f)
	if err != nil {
		s.writeError(w, r, cursorError("cursor", err))
		return
	}
	list := OrderList{Orders: page.Orders, NextCursor: page.Next}
	if list.Orders == nil {
		list.Orders = []OrderSummary{}
	}
	for i := range list.Orders {
		if rec := list.Orders[i].Refund; rec != nil {
			list.Orders[i].Refund = recordView(*rec)
		}
	}
	writeJSON(w, http.StatusOK, list)
}

// orderParams are the query parameters of GET /v1/orders.
var orderParams = []string{"refund_state", "product", "waiting_on", "escalated", "outcome", "limit", "cursor"}

// refundOutcomes are the values of a refund's outcome (workflows.Outcome*).
var refundOutcomes = []workflows.Outcome{workflows.OutcomePending, workflows.OutcomeAwaitingApproval,
	workflows.OutcomeRefunded, workflows.OutcomeRejected, workflows.OutcomeCancelled}

// refundStates are the values of refund_state: an order state, or NoRefund.
func refundStates() []statemachine.OrderState {
	return append(statemachine.OrderStates(), NoRefund)
}

// orderFilter reads and checks the query parameters of GET /v1/orders:
// an unknown or repeated parameter, or an unknown value, is 400 naming the
// parameter and what it allows.
func orderFilter(r *http.Request) (OrderFilter, error) {
	q, err := queryOf(r, orderParams...)
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
	if err := oneOf("refund_state", statemachine.OrderState(f.RefundState), refundStates()); err != nil {
		return f, err
	}
	if err := oneOf("product", f.Product, domain.Products); err != nil {
		return f, err
	}
	if err := oneOf("waiting_on", f.WaitingOn, domain.WaitKinds); err != nil {
		return f, err
	}
	if err := oneOf("outcome", workflows.Outcome(f.Outcome), refundOutcomes); err != nil {
		return f, err
	}
	if f.Escalated, err = boolParam(q, "escalated"); err != nil {
		return f, err
	}
	if f.Limit, err = limitParam(q, DefaultPageSize, MaxPageSize); err != nil {
		return f, err
	}
	return f, nil
}

// recordView is rec as the API shows it: its lists are arrays, never null.
func recordView(rec activities.RefundRecord) *activities.RefundRecord {
	if rec.Reasons == nil {
		rec.Reasons = []string{}
	}
	if rec.WaitingOn == nil {
		rec.WaitingOn = []domain.Wait{}
	}
	if rec.Audit == nil {
		rec.Audit = []domain.AuditEntry{}
	}
	return &rec
}
