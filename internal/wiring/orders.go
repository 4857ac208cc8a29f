// Package wiring holds the adapters that connect certflow's packages where
// their ports differ only in type names; the main packages and the
// end-to-end tests assemble the application with them.
package wiring

import (
	"context"

	"github.com/certflow/certflow/gateway"
	"github.com/certflow/certflow/store"
)

var _ gateway.Orders = StoreOrders{}

// StoreOrders serves the gateway's Orders port from the store (SQLite or
// PostgreSQL): the gateway's filter and page types have the store's
// fields, so they convert. Once the store implements ports.Outbox, the
// methods it promotes make StoreOrders a gateway.Events too, and
// gateway.New serves GET /v1/events and the event-endpoint routes from it
// without further wiring (the types are ports' own: nothing converts).
type StoreOrders struct{ *store.DB }

// ListOrders lists orders with their refund records.
func (s StoreOrders) ListOrders(ctx context.Context, f gateway.OrderFilter) (gateway.OrderPage, error) {
	p, err := s.DB.ListOrders(ctx, store.OrderFilter(f))
	if err != nil {
		return gateway.OrderPage{}, err
	}
	out := gateway.OrderPage{Next: p.Next, Orders: make([]gateway.OrderSummary, len(p.Orders))}
	for i, o := range p.Orders {
		out.Orders[i] = gateway.OrderSummary(o)
	}
	return out, nil
}
