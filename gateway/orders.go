package gateway

import (
	"net/http"
	"strconv"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/statemachine"
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
		s.writeError(w, r, err)
		return
	}
	list := OrderList{Orders: page.Orders, NextCursor: page.Next}
	if list.Orders == nil {
		list.Orders = []OrderSummary{}
	}
	writeJSON(w, http.StatusOK, list)
}

// orderFilter reads and checks the query parameters of GET /v1/orders.
func orderFilter(r *http.Request) (OrderFilter, error) {
	q := r.URL.Query()
	f := OrderFilter{
		RefundState: q.Get("refund_state"),
		Product:     domain.Product(q.Get("product")),
		Limit:       DefaultPageSize,
		Cursor:      q.Get("cursor"),
	}
	if f.RefundState != "" && f.RefundState != NoRefund && !statemachine.ValidOrderState(statemachine.OrderState(f.RefundState)) {
		return f, errs.E(errs.Invalid, "query parameter refund_state: unknown state %q (an order state, or %q)", clip(f.RefundState), NoRefund)
	}
	if f.Product != "" && !f.Product.Valid() {
		return f, errs.E(errs.Invalid, "query parameter product: unknown product %q", clip(string(f.Product)))
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return f, badRequest("query parameter limit: %q is not an integer", clip(v))
		}
		if n < 1 || n > MaxPageSize {
			return f, errs.E(errs.Invalid, "query parameter limit: %d is not between 1 and %d", n, MaxPageSize)
		}
		f.Limit = n
	}
	return f, nil
}
