package gateway

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
)

func TestListOrders(t *testing.T) {
	e := newEnv(t)
	e.orders.page = OrderPage{
		Orders: []OrderSummary{{Order: sslOrder("o-1"), Refund: &activities.RefundRecord{OrderID: "o-1", State: "releasing"}}},
		Next:   "cur-2",
	}
	rec := e.do(t, http.MethodGet, "/v1/orders?refund_state=releasing&product=ssl_certificate&limit=10&cursor=cur-1", "")
	wantStatus(t, rec, http.StatusOK)
	got := decodeInto[OrderList](t, rec)
	if len(got.Orders) != 1 || got.Orders[0].Order.ID != "o-1" || got.Orders[0].Refund.State != "releasing" || got.NextCursor != "cur-2" {
		t.Errorf("list = %+v", got)
	}
	want := OrderFilter{RefundState: "releasing", Product: domain.SSLCertificate, Limit: 10, Cursor: "cur-1"}
	if !reflect.DeepEqual(e.orders.filters, []OrderFilter{want}) {
		t.Errorf("filter = %+v, want %+v", e.orders.filters, want)
	}
}

func TestListOrdersDefaults(t *testing.T) {
	e := newEnv(t)
	rec := e.do(t, http.MethodGet, "/v1/orders?refund_state=none", "")
	wantStatus(t, rec, http.StatusOK)
	if body := rec.Body.String(); body != "{\"orders\":[]}\n" {
		t.Errorf("empty page = %s", body)
	}
	if want := (OrderFilter{RefundState: NoRefund, Limit: DefaultPageSize}); e.orders.filters[0] != want {
		t.Errorf("filter = %+v, want %+v", e.orders.filters[0], want)
	}
}

func TestListOrdersRefusals(t *testing.T) {
	tests := map[string]struct {
		query    string
		storeErr error
		status   int
		mentions string
	}{
		"limit not a number": {query: "limit=ten", status: 400, mentions: "query parameter limit"},
		"limit zero":         {query: "limit=0", status: 422, mentions: "not between 1 and 500"},
		"limit too large":    {query: "limit=501", status: 422, mentions: "not between 1 and 500"},
		"unknown product":    {query: "product=ssl", status: 422, mentions: `unknown product "ssl"`},
		"unknown state":      {query: "refund_state=done", status: 422, mentions: `unknown state "done"`},
		"bad cursor":         {query: "cursor=zzz", storeErr: errs.E(errs.Invalid, "malformed cursor"), status: 422, mentions: "malformed cursor"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.orders.err = tc.storeErr
			wantError(t, e.do(t, http.MethodGet, "/v1/orders?"+tc.query, ""), tc.status, errs.Invalid, tc.mentions)
		})
	}
}
