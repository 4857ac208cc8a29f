package outbound

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
)

var _ ports.Outbox = (*fakeOutbox)(nil)

// fakeOutbox is an in-memory ports.Outbox with the documented semantics:
// per endpoint and order only the oldest undelivered event is leased, and
// only when its retry time, the endpoint's retry time and any live lease
// allow; leases expire; a failure by a dispatcher that lost its lease is
// ignored.
type fakeOutbox struct {
	mu        sync.Mutex
	now       func() time.Time
	events    []ports.Event
	endpoints map[string]*fakeEndpoint
	// leased counts live leases right now; maxLeased the most at once.
	maxLeased int
	// claimErr, when set, fails ClaimDeliveries.
	claimErr error
}

type fakeEndpoint struct {
	ep       ports.Endpoint
	enabled  bool
	reason   string
	retryAt  time.Time
	from     int // index of the first event it receives
	state    map[string]*fakeDelivery
	failures int
	lastErr  string
}

type fakeDelivery struct {
	delivered   bool
	attempts    int
	retryAt     time.Time
	owner       string
	leaseUntil  time.Time
	failedCalls int
}

func newFakeOutbox(now func() time.Time) *fakeOutbox {
	return &fakeOutbox{now: now, endpoints: map[string]*fakeEndpoint{}}
}

// add appends an event for order (its ID and cursor follow the position).
func (f *fakeOutbox) add(order string, typ ports.EventType) ports.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.events) + 1
	e := ports.Event{ID: fmt.Sprintf("evt_%06d", n), Type: typ, OrderID: order, OccurredAt: f.now().UTC().Truncate(time.Second),
		Data: []byte(fmt.Sprintf(`{"seq":%d}`, n)), Cursor: fmt.Sprintf("%d", n)}
	f.events = append(f.events, e)
	return e
}

func (f *fakeOutbox) ListEvents(_ context.Context, _ string, _ int) (ports.EventPage, error) {
	return ports.EventPage{}, errs.E(errs.Internal, "not used")
}

func (f *fakeOutbox) SyncEndpoints(_ context.Context, eps []ports.Endpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range eps {
		cur := f.endpoints[e.Name]
		switch {
		case cur == nil:
			// The tests add their events after the dispatcher is built
			// but may sync late: a new endpoint receives them all here.
			f.endpoints[e.Name] = &fakeEndpoint{ep: e, enabled: true, state: map[string]*fakeDelivery{}}
		case cur.ep.URL != e.URL:
			cur.ep, cur.enabled, cur.reason = e, true, ""
		}
	}
	return nil
}

func (f *fakeOutbox) ClaimDeliveries(_ context.Context, owner string, endpoints []string, limit int, lease time.Duration) ([]ports.Delivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.claimErr != nil {
		return nil, f.claimErr
	}
	now := f.now()
	var out []ports.Delivery
	for _, name := range endpoints {
		ep := f.endpoints[name]
		if ep == nil || !ep.enabled || ep.retryAt.After(now) {
			continue
		}
		blocked := map[string]bool{}
		for _, e := range f.events[ep.from:] {
			if len(out) >= limit {
				break
			}
			st := ep.stateOf(e.ID)
			if st.delivered || blocked[e.OrderID] {
				continue
			}
			blocked[e.OrderID] = true // only the oldest undelivered of an order
			if st.leaseUntil.After(now) || st.retryAt.After(now) {
				continue
			}
			st.attempts++
			st.owner, st.leaseUntil = owner, now.Add(lease)
			out = append(out, ports.Delivery{Endpoint: name, Event: e, Attempt: st.attempts, LeaseUntil: st.leaseUntil})
		}
	}
	f.maxLeased = max(f.maxLeased, f.liveLeases(now))
	return out, nil
}

func (f *fakeOutbox) liveLeases(now time.Time) int {
	n := 0
	for _, ep := range f.endpoints {
		for _, st := range ep.state {
			if !st.delivered && st.leaseUntil.After(now) {
				n++
			}
		}
	}
	return n
}

func (ep *fakeEndpoint) stateOf(id string) *fakeDelivery {
	st := ep.state[id]
	if st == nil {
		st = &fakeDelivery{}
		ep.state[id] = st
	}
	return st
}

func (f *fakeOutbox) DeliverySucceeded(_ context.Context, owner string, d ports.Delivery) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ep := f.endpoints[d.Endpoint]
	if ep == nil {
		return errs.E(errs.NotFound, "no endpoint %s", d.Endpoint)
	}
	st := ep.stateOf(d.Event.ID)
	st.delivered, st.leaseUntil = true, time.Time{}
	ep.failures, ep.retryAt = 0, time.Time{}
	return nil
}

func (f *fakeOutbox) DeliveryFailed(_ context.Context, owner string, d ports.Delivery, reason string, retryAt, endpointRetryAt time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ep := f.endpoints[d.Endpoint]
	if ep == nil {
		return errs.E(errs.NotFound, "no endpoint %s", d.Endpoint)
	}
	st := ep.stateOf(d.Event.ID)
	if st.delivered || st.owner != owner {
		return nil // the lease passed to another dispatcher
	}
	st.failedCalls++
	st.retryAt, st.leaseUntil = retryAt, time.Time{}
	ep.failures++
	ep.lastErr = reason
	if endpointRetryAt.After(ep.retryAt) {
		ep.retryAt = endpointRetryAt
	}
	return nil
}

func (f *fakeOutbox) DisableEndpoint(_ context.Context, name, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ep := f.endpoints[name]
	if ep == nil {
		return errs.E(errs.NotFound, "no endpoint %s", name)
	}
	ep.enabled, ep.reason = false, reason
	return nil
}

func (f *fakeOutbox) EnableEndpoint(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ep := f.endpoints[name]
	if ep == nil {
		return errs.E(errs.NotFound, "no endpoint %s", name)
	}
	ep.enabled, ep.reason = true, ""
	return nil
}

func (f *fakeOutbox) EndpointStatuses(context.Context) ([]ports.EndpointStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ports.EndpointStatus
	for _, ep := range f.endpoints {
		s := ports.EndpointStatus{Name: ep.ep.Name, URL: ep.ep.URL, Enabled: ep.enabled, Disabled: ep.reason,
			ConsecutiveFailures: ep.failures, RetryAt: ep.retryAt, LastError: ep.lastErr}
		for _, e := range f.events[ep.from:] {
			if ep.stateOf(e.ID).delivered {
				s.Delivered++
			} else {
				s.Pending++
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// status is one endpoint's status.
func (f *fakeOutbox) status(name string) ports.EndpointStatus {
	st, _ := f.EndpointStatuses(context.Background())
	for _, s := range st {
		if s.Name == name {
			return s
		}
	}
	return ports.EndpointStatus{}
}

// failedCalls is how many DeliveryFailed calls an event's delivery to ep
// got.
func (f *fakeOutbox) failedCalls(ep, id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.endpoints[ep].stateOf(id).failedCalls
}
