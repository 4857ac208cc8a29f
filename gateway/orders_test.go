package gateway

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/api"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/statemachine"
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

func TestListOrdersNewFilters(t *testing.T) {
	yes, no := true, false
	tests := map[string]struct {
		query string
		want  OrderFilter
	}{
		"waiting on the customer": {query: "waiting_on=customer", want: OrderFilter{WaitingOn: domain.WaitCustomer, Limit: DefaultPageSize}},
		"escalated":               {query: "escalated=true", want: OrderFilter{Escalated: &yes, Limit: DefaultPageSize}},
		"not escalated":           {query: "escalated=false", want: OrderFilter{Escalated: &no, Limit: DefaultPageSize}},
		"awaiting approval":       {query: "outcome=awaiting_approval", want: OrderFilter{Outcome: "awaiting_approval", Limit: DefaultPageSize}},
		"all at once": {query: "waiting_on=ca_review&escalated=true&outcome=pending&refund_state=releasing&product=ssl_certificate&limit=5&cursor=c",
			want: OrderFilter{RefundState: "releasing", Product: domain.SSLCertificate, WaitingOn: domain.WaitCAReview, Escalated: &yes, Outcome: "pending", Limit: 5, Cursor: "c"}},
		"empty values are absent": {query: "waiting_on=&escalated=&outcome=", want: OrderFilter{Limit: DefaultPageSize}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			wantStatus(t, e.do(t, http.MethodGet, "/v1/orders?"+tc.query, ""), http.StatusOK)
			if !reflect.DeepEqual(e.orders.filters, []OrderFilter{tc.want}) {
				t.Errorf("filter = %+v, want %+v", e.orders.filters, tc.want)
			}
		})
	}
}

// TestListOrdersRefusals: every bad parameter is 400 naming the parameter
// and what it allows, and reaches no store.
func TestListOrdersRefusals(t *testing.T) {
	tests := map[string]struct {
		query    string
		mentions []string
	}{
		"unknown parameter":     {query: "no_such_param=1", mentions: []string{"query parameter no_such_param is not known", "allowed: refund_state, product, waiting_on, escalated, outcome, limit, cursor"}},
		"misspelt filter":       {query: "waiting=customer", mentions: []string{"query parameter waiting is not known", "waiting_on"}},
		"repeated parameter":    {query: "outcome=pending&outcome=refunded", mentions: []string{"query parameter outcome is given 2 times"}},
		"malformed query":       {query: "refund_state=%zz", mentions: []string{"query string is malformed"}},
		"waiting_on unknown":    {query: "waiting_on=x", mentions: []string{`query parameter waiting_on: unknown value "x"`, "allowed: ca_review, customer, operator_approval, payment_provider, ca_credentials, ca_unreachable"}},
		"escalated not bool":    {query: "escalated=perhaps", mentions: []string{`query parameter escalated: unknown value "perhaps"`, "allowed: true, false"}},
		"escalated as 1":        {query: "escalated=1", mentions: []string{"query parameter escalated", "allowed: true, false"}},
		"outcome unknown":       {query: "outcome=paid", mentions: []string{`query parameter outcome: unknown value "paid"`, "allowed: pending, awaiting_approval, refunded, rejected, cancelled"}},
		"refund_state":          {query: "refund_state=done", mentions: []string{`query parameter refund_state: unknown value "done"`, "allowed: paid, refund_requested", "cancelled, none"}},
		"product unknown":       {query: "product=ssl", mentions: []string{`query parameter product: unknown value "ssl"`, "allowed: ssl_certificate, https_gateway"}},
		"limit not a number":    {query: "limit=ten", mentions: []string{"query parameter limit", "between 1 and 500"}},
		"limit zero":            {query: "limit=0", mentions: []string{"query parameter limit", "between 1 and 500"}},
		"limit too large":       {query: "limit=501", mentions: []string{"query parameter limit", "between 1 and 500"}},
		"case matters":          {query: "outcome=Pending", mentions: []string{"query parameter outcome"}},
		"long value is clipped": {query: "waiting_on=" + strings.Repeat("x", 300), mentions: []string{"..."}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.do(t, http.MethodGet, "/v1/orders?"+tc.query, "")
			for _, m := range tc.mentions {
				wantError(t, rec, http.StatusBadRequest, errs.Invalid, m)
			}
			if len(e.orders.filters) != 0 {
				t.Errorf("the store was asked: %+v", e.orders.filters)
			}
		})
	}
}

// TestListOrdersBadCursor: the store's refusal of a cursor is 400 naming
// the parameter; its other errors keep their status.
func TestListOrdersBadCursor(t *testing.T) {
	e := newEnv(t)
	e.orders.err = errs.E(errs.Invalid, "malformed cursor")
	wantError(t, e.do(t, http.MethodGet, "/v1/orders?cursor=zzz", ""), http.StatusBadRequest, errs.Invalid, "query parameter cursor: malformed cursor")
	e.orders.err = errs.E(errs.Unavailable, "database busy")
	wantError(t, e.do(t, http.MethodGet, "/v1/orders?cursor=zzz", ""), http.StatusServiceUnavailable, errs.Unavailable, "database busy")
}

// TestListOrdersListsAreArrays: a record's waiting_on, audit and reasons
// are arrays even when the store has none.
func TestListOrdersListsAreArrays(t *testing.T) {
	e := newEnv(t)
	e.orders.page = OrderPage{Orders: []OrderSummary{{Order: sslOrder("o-1"), Refund: &activities.RefundRecord{OrderID: "o-1", State: "releasing"}}}}
	rec := e.do(t, http.MethodGet, "/v1/orders", "")
	wantStatus(t, rec, http.StatusOK)
	for _, want := range []string{`"waiting_on":[]`, `"audit":[]`, `"reasons":[]`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("body %s lacks %s", rec.Body, want)
		}
	}
}

func TestGetOrder(t *testing.T) {
	refund := activities.RefundRecord{OrderID: "o-1", State: "releasing", Outcome: "pending", Reasons: []string{}, UpdatedAt: testNow,
		WaitingOn: []domain.Wait{{Kind: domain.WaitCAReview, Certificate: "c-1", Since: testNow, Rule: "SSL-6"}},
		Audit:     []domain.AuditEntry{{Action: domain.AuditRefundRequested, At: testNow, Actor: domain.Actor{Subject: "console-backend", Role: "console"}}}}
	// The same record as the API shows it.
	wire := api.RefundRecord{OrderID: "o-1", State: statemachine.OrderReleasing, Outcome: "pending", Reasons: []string{}, UpdatedAt: testNow,
		WaitingOn: refund.WaitingOn, Audit: refund.Audit}
	tests := map[string]struct {
		setup   func(e *env)
		as      []string
		certs   []CertificateSummary
		refund  *api.RefundRecord
		noQuery bool
	}{
		"no refund": {
			certs: []CertificateSummary{{ID: "c-1", State: statemachine.Issued}},
		},
		"a refund holds its certificate": {
			setup: func(e *env) {
				e.orders.refunds["o-1"] = refund
				e.orders.holders["c-1"] = "refund/o-1"
				o := e.orders.orders["o-1"]
				o.Certificates[0].State = statemachine.ValidatingRevocation
			},
			as:     asConsole,
			certs:  []CertificateSummary{{ID: "c-1", State: statemachine.ValidatingRevocation, HeldBy: "refund/o-1"}},
			refund: &wire,
		},
		"its own workflow holds it: no held_by": {
			setup: func(e *env) { e.orders.holders["c-1"] = "certificate/c-1" },
			certs: []CertificateSummary{{ID: "c-1", State: statemachine.Issued}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if tc.setup != nil {
				tc.setup(e)
			}
			rec := e.do(t, http.MethodGet, "/v1/orders/o-1", "", tc.as...)
			wantStatus(t, rec, http.StatusOK)
			got := decodeInto[OrderDetail](t, rec)
			if got.Order.ID != "o-1" || got.Order.Product != domain.SSLCertificate || len(got.Order.Certificates) != 1 {
				t.Errorf("order = %+v", got.Order)
			}
			if !reflect.DeepEqual(got.Certificates, tc.certs) {
				t.Errorf("certificates = %+v, want %+v", got.Certificates, tc.certs)
			}
			if !reflect.DeepEqual(got.Refund, tc.refund) {
				t.Errorf("refund = %+v, want %+v", got.Refund, tc.refund)
			}
			if tc.refund == nil && !strings.Contains(rec.Body.String(), `"refund":null`) {
				t.Errorf("no refund is not null: %s", rec.Body)
			}
		})
	}
}

func TestGetOrderRefusals(t *testing.T) {
	tests := map[string]struct {
		path     string
		storeErr error
		status   int
		code     errs.Code
		mentions string
	}{
		"unknown order":   {path: "/v1/orders/o-9", status: 404, code: errs.NotFound, mentions: "order o-9 not found"},
		"a query":         {path: "/v1/orders/o-1?refund_state=releasing", status: 400, code: errs.Invalid, mentions: "query parameter refund_state is not known; this call takes no query parameters"},
		"store down":      {path: "/v1/orders/o-1", storeErr: errs.E(errs.Unavailable, "database busy"), status: 503, code: errs.Unavailable, mentions: "database busy"},
		"bad id":          {path: "/v1/orders/o%00", status: 400, code: errs.Invalid, mentions: "path id"},
		"internal errors": {path: "/v1/orders/o-1", storeErr: errs.E(errs.Internal, "disk on fire"), status: 500, code: errs.Internal, mentions: "internal error"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.orders.err = tc.storeErr
			wantError(t, e.do(t, http.MethodGet, tc.path, ""), tc.status, tc.code, tc.mentions)
		})
	}
	e := newEnv(t)
	wantError(t, e.do(t, http.MethodGet, "/v1/orders/o-1", "", anonymous...), 401, errs.Unauthenticated, "Authorization")
}
