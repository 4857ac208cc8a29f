package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"

	"github.com/certflow/certflow/api"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpapi"
)

// OrderView is the answer of PUT /v1/orders/{id}: the order as stored
// (certificates whose workflows exist keep the state the workflow gave
// them) and whether the call created it.
type OrderView = api.OrderView

// putOrder registers or updates an order with its certificates (the
// scenario format's "order" object). The body's id must be the path's;
// the intake validator names the field at fault (422). While a refund of
// the order runs, or after one paid out, the order is not changed (409).
// A certificate that has a workflow keeps the workflow's state: its state
// changes only through that workflow. 201 when created, 200 when updated.
func (s *Server) putOrder(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	body, err := s.http.ReadBody(w, r)
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	if err := httpapi.RequireJSON(r); err != nil {
		s.http.Error(w, r, err)
		return
	}
	// The amounts first: the decimal decoder would take some forms the
	// API does not (and refuse others with a vaguer message).
	if json.Valid(body) {
		if err := checkAmounts(body); err != nil {
			s.http.Error(w, r, err)
			return
		}
	}
	var o domain.Order
	if err := httpapi.DecodeJSON(body, &o); err != nil {
		s.http.Error(w, r, err)
		return
	}
	if o.ID != id {
		s.http.Error(w, r, errs.E(errs.Invalid, "order.id: %q is not the order of the path, %q", httpapi.Clip(o.ID), httpapi.Clip(id)))
		return
	}
	if err := s.valid(o, s.now()); err != nil {
		s.http.Error(w, r, err)
		return
	}
	// Temporal is the truth about a running refund: the store's record
	// follows the workflow's first step.
	switch _, running, err := s.wf.LastRefund(ctx, o.ID); {
	case err == nil && running:
		s.http.Error(w, r, errs.E(errs.Conflict, "order %s cannot be changed while its refund runs", o.ID))
		return
	case err != nil && errs.CodeOf(err) != errs.NotFound:
		s.http.Error(w, r, err)
		return
	}
	ids := make([]string, len(o.Certificates))
	for i, c := range o.Certificates {
		ids[i] = c.ID
	}
	owned, err := s.wf.CertificateWorkflows(ctx, ids)
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	created, err := s.orders.IntakeOrder(ctx, o, owned)
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	stored, err := s.orders.GetOrder(ctx, o.ID)
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/orders/"+url.PathEscape(o.ID))
	}
	httpapi.JSON(w, status, OrderView{Order: stored, Created: created})
}

// amountText is how the API writes an amount: a decimal string, digits
// with an optional fraction ("100", "80.00"); no sign, no exponent.
var amountText = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// checkAmounts holds an order body's amounts to the documented form, which
// the decimal decoder is lenient about: a JSON number (100.0) or a string
// with an exponent ("1e2") would otherwise be taken. Run on valid JSON;
// 422 naming the field.
func checkAmounts(body []byte) error {
	var raw struct {
		Price           json.RawMessage `json:"price"`
		AlreadyRefunded json.RawMessage `json:"already_refunded"`
		Payment         struct {
			Cash     json.RawMessage `json:"cash"`
			Voucher  json.RawMessage `json:"voucher"`
			GiftCard json.RawMessage `json:"gift_card"`
		} `json:"payment"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return httpapi.BadRequest("%s", httpapi.JSONProblem(err))
	}
	for _, f := range []struct {
		field string
		v     json.RawMessage
	}{
		{"order.price", raw.Price},
		{"order.already_refunded", raw.AlreadyRefunded},
		{"order.payment.cash", raw.Payment.Cash},
		{"order.payment.voucher", raw.Payment.Voucher},
		{"order.payment.gift_card", raw.Payment.GiftCard},
	} {
		if len(f.v) == 0 || string(f.v) == "null" {
			continue
		}
		var text string
		if err := json.Unmarshal(f.v, &text); err != nil {
			return errs.E(errs.Invalid, "%s: %s is a JSON %s; amounts are decimal strings such as \"80.00\"", f.field, httpapi.Clip(string(f.v)), rawKind(f.v))
		}
		if !amountText.MatchString(text) {
			return errs.E(errs.Invalid, "%s: %q is not a decimal string such as \"80.00\" (digits, an optional fraction; no sign or exponent)", f.field, httpapi.Clip(text))
		}
	}
	return nil
}

// rawKind names the kind of a JSON value by its first byte.
func rawKind(v json.RawMessage) string {
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	default:
		return "number"
	}
}
