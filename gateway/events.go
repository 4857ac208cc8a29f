package gateway

import (
	"net/http"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpapi"
	"github.com/certflow/certflow/ports"
)

// EndpointList is the answer of GET /v1/event-endpoints.
type EndpointList struct {
	Endpoints []ports.EndpointStatus `json:"endpoints"`
}

// outbox is the configured Events, or the 503 of a gateway without one.
func (s *Server) outbox() (Events, error) {
	if s.events == nil {
		return nil, errs.E(errs.Unavailable, "the event outbox is not configured on this gateway")
	}
	return s.events, nil
}

// listEvents pages through the outbox after a cursor, oldest first: the
// console's catch-up after it was down. It answers the store's page as
// is; next is the cursor to pass as after, the given one on an empty page.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q, err := httpapi.Query(r, "after", "limit")
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	limit, err := httpapi.LimitParam(q, ports.DefaultEventPage, ports.MaxEventPage)
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	ev, err := s.outbox()
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	after := q.Get("after")
	page, err := ev.ListEvents(r.Context(), after, limit)
	if err != nil {
		s.http.Error(w, r, httpapi.CursorError("after", err))
		return
	}
	if page.Events == nil {
		page.Events = []ports.Event{}
	}
	if page.Next == "" {
		page.Next = after
	}
	httpapi.JSON(w, http.StatusOK, page)
}

// endpointStatuses lists each endpoint's delivery status.
func (s *Server) endpointStatuses(w http.ResponseWriter, r *http.Request) {
	if _, err := httpapi.Query(r); err != nil {
		s.http.Error(w, r, err)
		return
	}
	ev, err := s.outbox()
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	eps, err := ev.EndpointStatuses(r.Context())
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	if eps == nil {
		eps = []ports.EndpointStatus{}
	}
	httpapi.JSON(w, http.StatusOK, EndpointList{Endpoints: eps})
}

// enableEndpoint enables an endpoint the dispatcher disabled (it answered
// 410 Gone) and answers its status; 404 for an unknown endpoint. Enabling
// an enabled endpoint changes nothing, so a retry is harmless.
func (s *Server) enableEndpoint(w http.ResponseWriter, r *http.Request) {
	if _, err := httpapi.Query(r); err != nil {
		s.http.Error(w, r, err)
		return
	}
	if err := s.http.Decode(w, r, &struct{}{}); err != nil {
		s.http.Error(w, r, err)
		return
	}
	ev, err := s.outbox()
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	ctx, name := r.Context(), r.PathValue("name")
	if err := ev.EnableEndpoint(ctx, name); err != nil {
		s.http.Error(w, r, err)
		return
	}
	eps, err := ev.EndpointStatuses(ctx)
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	for _, ep := range eps {
		if ep.Name == name {
			httpapi.JSON(w, http.StatusOK, ep)
			return
		}
	}
	s.http.Error(w, r, errs.E(errs.NotFound, "event endpoint %s not found", httpapi.Clip(name)))
}
