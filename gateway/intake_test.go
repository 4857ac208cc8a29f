package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// orderJSON is a valid one-year SSL order of the scenario format.
const orderJSON = `{"id":"o-new","product":"ssl_certificate","profile":"aliyun-intl","paid_at":"2026-03-05T10:00:00Z",
 "currency":"USD","price":"100.00","payment":{"cash":"80.00","voucher":"20.00","gift_card":"0","benefit_points":0},
 "promotion":null,"validity_years":1,"certificates":[{"id":"c-new","state":"issued","issued_at":"2026-03-05T11:00:00Z"}]}`

func TestPutOrder(t *testing.T) {
	e := newEnv(t)
	rec := e.do(t, http.MethodPut, "/v1/orders/o-new", orderJSON, asConsole...)
	wantStatus(t, rec, http.StatusCreated)
	if v := decodeInto[OrderView](t, rec); !v.Created || v.Order.ID != "o-new" || len(v.Order.Certificates) != 1 {
		t.Errorf("answer = %+v", v)
	}
	if loc := rec.Header().Get("Location"); loc != "/v1/orders/o-new" {
		t.Errorf("Location = %q", loc)
	}
	// Again: an update.
	rec = e.do(t, http.MethodPut, "/v1/orders/o-new", orderJSON, asConsole...)
	wantStatus(t, rec, http.StatusOK)
	if v := decodeInto[OrderView](t, rec); v.Created {
		t.Errorf("second PUT created the order again")
	}
	// Once the certificate has a workflow, intake keeps the workflow's
	// state.
	e.wf.certs["c-new"] = certificate.Status{ID: "c-new", State: statemachine.ValidatingRevocation}
	o := e.orders.orders["o-new"]
	o.Certificates[0].State = statemachine.ValidatingRevocation
	e.orders.orders["o-new"] = o
	wantStatus(t, e.do(t, http.MethodPut, "/v1/orders/o-new", orderJSON, asConsole...), http.StatusOK)
	if got := e.orders.orders["o-new"].Certificates[0].State; got != statemachine.ValidatingRevocation {
		t.Errorf("intake overwrote the workflow's state with %s", got)
	}
	if last := e.orders.owned[len(e.orders.owned)-1]; len(last) != 1 || last[0] != "c-new" {
		t.Errorf("owned = %v", last)
	}
}

// TestPutOrderRefusals: a table of bad orders, each refused naming the
// field, and the states in which an order cannot change.
func TestPutOrderRefusals(t *testing.T) {
	edit := func(from, to string) string {
		if !strings.Contains(orderJSON, from) {
			panic("test order lacks " + from)
		}
		return strings.Replace(orderJSON, from, to, 1)
	}
	tests := map[string]struct {
		path     string
		body     string
		setup    func(*env)
		status   int
		code     errs.Code
		mentions string
	}{
		"id differs from path": {body: edit(`"id":"o-new"`, `"id":"o-other"`), status: 422, code: errs.Invalid, mentions: "order.id"},
		"unknown product":      {body: edit(`"ssl_certificate"`, `"toaster"`), status: 422, code: errs.Invalid, mentions: "order.product"},
		"unknown profile":      {body: edit(`"aliyun-intl"`, `"acme"`), status: 422, code: errs.Invalid, mentions: "order.profile"},
		"unknown currency":     {body: edit(`"USD"`, `"XQX"`), status: 422, code: errs.Invalid, mentions: "order.currency"},
		"unknown state":        {body: edit(`"state":"issued"`, `"state":"lost"`), status: 422, code: errs.Invalid, mentions: "order.certificates[0].state"},
		"negative amount":      {body: edit(`"cash":"80.00"`, `"cash":"-80.00"`), status: 422, code: errs.Invalid, mentions: "order.payment.cash"},
		"sub-cent amount":      {body: edit(`"cash":"80.00"`, `"cash":"80.001"`), status: 422, code: errs.Invalid, mentions: "order.payment.cash"},
		"parts not the price":  {body: edit(`"voucher":"20.00"`, `"voucher":"25.00"`), status: 422, code: errs.Invalid, mentions: "order.payment"},
		"99-year validity":     {body: edit(`"validity_years":1`, `"validity_years":99`), status: 422, code: errs.Invalid, mentions: "order.validity_years"},
		"certs on a gateway":   {body: edit(`"ssl_certificate"`, `"https_gateway"`), status: 422, code: errs.Invalid, mentions: "order.validity_years"},
		"issued before paid":   {body: edit(`"issued_at":"2026-03-05T11:00:00Z"`, `"issued_at":"2026-03-01T11:00:00Z"`), status: 422, code: errs.Invalid, mentions: "order.certificates[0].issued_at"},
		"paid in the future":   {body: strings.ReplaceAll(orderJSON, "2026-03-05", "2027-03-05"), status: 422, code: errs.Invalid, mentions: "order.paid_at"},
		"1e400":                {body: edit(`"price":"100.00"`, `"price":1e400`), status: 422, code: errs.Invalid, mentions: "order.price"},
		"unknown field":        {body: edit(`"promotion":null`, `"promo":null`), status: 400, code: errs.Invalid, mentions: `unknown field "promo"`},
		"no body":              {body: "", status: 415, code: errs.Invalid, mentions: "Content-Type"},
		"invalid UTF-8":        {body: edit(`"c-new"`, "\"c-\xff\""), status: 400, code: errs.Invalid, mentions: "UTF-8"},
		"certificate elsewhere": {body: orderJSON, setup: func(e *env) {
			e.orders.err = errs.E(errs.Conflict, "certificate c-new belongs to order o-1, not o-new")
		}, status: 409, code: errs.Conflict, mentions: "belongs to order o-1"},
		"refund running (store)": {body: orderJSON, setup: func(e *env) {
			e.orders.refunds["o-new"] = activities.RefundRecord{OrderID: "o-new", State: "releasing"}
		}, status: 409, code: errs.Conflict, mentions: "while its refund runs"},
		"refund running (Temporal)": {body: orderJSON, setup: func(e *env) {
			e.wf.running["o-new"] = refund.Status{OrderID: "o-new", State: statemachine.OrderRefundRequested}
		}, status: 409, code: errs.Conflict, mentions: "while its refund runs"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if tc.setup != nil {
				tc.setup(e)
			}
			wantError(t, e.do(t, http.MethodPut, "/v1/orders/o-new", tc.body, asConsole...), tc.status, tc.code, tc.mentions)
		})
	}
}

// The answer is the scenario format's order: what PUT takes, GET gives.
func TestPutOrderRoundTrip(t *testing.T) {
	e := newEnv(t)
	rec := e.do(t, http.MethodPut, "/v1/orders/o-new", orderJSON, asConsole...)
	var v struct {
		Order map[string]any `json:"order"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.Order["profile"] != "aliyun-intl" || v.Order["currency"] != "USD" {
		t.Fatalf("answer %s: %v", rec.Body, err)
	}
}

// Amounts are decimal strings: a JSON number or a string with an exponent
// or a sign is 422 naming the field, and nothing is stored.
func TestPutOrderAmountsAreDecimalStrings(t *testing.T) {
	tests := map[string]struct{ from, to, mentions string }{
		"number":          {`"price":"100.00"`, `"price":100.0`, `order.price: 100.0 is a JSON number`},
		"exponent":        {`"price":"100.00"`, `"price":"1e2"`, `order.price: "1e2" is not a decimal string`},
		"sign":            {`"cash":"80.00"`, `"cash":"+80.00"`, `order.payment.cash: "+80.00" is not a decimal string`},
		"boolean voucher": {`"voucher":"20.00"`, `"voucher":true`, `order.payment.voucher: true is a JSON boolean`},
		"blank gift card": {`"gift_card":"0"`, `"gift_card":" 0"`, `order.payment.gift_card: " 0" is not a decimal string`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			body := strings.Replace(orderJSON, tc.from, tc.to, 1)
			if body == orderJSON {
				t.Fatalf("%s not in the order", tc.from)
			}
			wantError(t, e.do(t, http.MethodPut, "/v1/orders/o-new", body, asConsole...), http.StatusUnprocessableEntity, errs.Invalid, tc.mentions)
			if _, ok := e.orders.orders["o-new"]; ok {
				t.Error("the order was stored")
			}
		})
	}
}
