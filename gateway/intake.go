package gateway

import (
	"net/http"
	"net/url"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
)

// OrderView is the answer of PUT /v1/orders/{id}: the order as stored
// (certificates whose workflows exist keep the state the workflow gave
// them) and whether the call created it.
type OrderView struct {
	Order   domain.Order `json:"order"`
	Created bool         `json:"created"`
}

// putOrder registers or updates an order with its certificates (the
// scenario format's "order" object). The body's id must be the path's;
// the intake validator names the field at fault (422). While a refund of
// the order runs, or after one paid out, the order is not changed (409).
// A certificate that has a workflow keeps the workflow's state: its state
// changes only through that workflow. 201 when created, 200 when updated.
func (s *Server) putOrder(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := requireJSON(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	var o domain.Order
	if err := decodeJSON(body, &o); err != nil {
		s.writeError(w, r, err)
		return
	}
	if o.ID != id {
		s.writeError(w, r, errs.E(errs.Invalid, "order.id: %q is not the order of the path, %q", clip(o.ID), clip(id)))
		return
	}
	if err := s.valid(o, s.now()); err != nil {
		s.writeError(w, r, err)
		return
	}
	// Temporal is the truth about a running refund: the store's record
	// follows the workflow's first step.
	switch _, running, err := s.wf.LastRefund(ctx, o.ID); {
	case err == nil && running:
		s.writeError(w, r, errs.E(errs.Conflict, "order %s cannot be changed while its refund runs", o.ID))
		return
	case err != nil && errs.CodeOf(err) != errs.NotFound:
		s.writeError(w, r, err)
		return
	}
	ids := make([]string, len(o.Certificates))
	for i, c := range o.Certificates {
		ids[i] = c.ID
	}
	owned, err := s.wf.CertificateWorkflows(ctx, ids)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	created, err := s.orders.IntakeOrder(ctx, o, owned)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	stored, err := s.orders.GetOrder(ctx, o.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/orders/"+url.PathEscape(o.ID))
	}
	writeJSON(w, status, OrderView{Order: stored, Created: created})
}
