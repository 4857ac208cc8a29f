package gateway

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
)

// outboxOf is an outbox of n events of order o-1, cursors "1" to "n".
func outboxOf(n int) []ports.Event {
	evs := make([]ports.Event, n)
	for i := range evs {
		evs[i] = ports.Event{ID: "evt-" + strconv.Itoa(i+1), Type: ports.EventRefundWaitingChanged, OrderID: "o-1",
			OccurredAt: testNow.Add(time.Duration(i) * time.Second), Data: json.RawMessage(`{"order_id":"o-1"}`), Cursor: strconv.Itoa(i + 1)}
	}
	return evs
}

func TestListEvents(t *testing.T) {
	tests := map[string]struct {
		query    string
		as       []string
		ids      []string
		next     string
		wantCall string
	}{
		"from the first":         {query: "", as: asConsole, ids: []string{"evt-1", "evt-2", "evt-3"}, next: "3", wantCall: "/100"},
		"after a cursor":         {query: "?after=1", as: asConsole, ids: []string{"evt-2", "evt-3"}, next: "3", wantCall: "1/100"},
		"a page":                 {query: "?after=1&limit=1", ids: []string{"evt-2"}, next: "2", wantCall: "1/1"},
		"caught up: next stays":  {query: "?after=3", ids: []string{}, next: "3", wantCall: "3/100"},
		"the largest page":       {query: "?limit=1000", ids: []string{"evt-1", "evt-2", "evt-3"}, next: "3", wantCall: "/1000"},
		"operators may read too": {query: "?after=2", as: asAlice, ids: []string{"evt-3"}, next: "3", wantCall: "2/100"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.events.events = outboxOf(3)
			rec := e.do(t, http.MethodGet, "/v1/events"+tc.query, "", tc.as...)
			wantStatus(t, rec, http.StatusOK)
			page := decodeInto[ports.EventPage](t, rec)
			ids := []string{}
			for _, ev := range page.Events {
				ids = append(ids, ev.ID)
			}
			if !reflect.DeepEqual(ids, tc.ids) || page.Next != tc.next {
				t.Errorf("page = %v next %q, want %v next %q", ids, page.Next, tc.ids, tc.next)
			}
			if !reflect.DeepEqual(e.events.calls, []string{tc.wantCall}) {
				t.Errorf("store asked %q, want %q", e.events.calls, tc.wantCall)
			}
		})
	}
}

func TestListEventsRefusals(t *testing.T) {
	tests := map[string]struct {
		query    string
		storeErr error
		as       []string
		status   int
		code     errs.Code
		mentions string
	}{
		"malformed cursor":   {query: "?after=zz", status: 400, code: errs.Invalid, mentions: `query parameter after: malformed cursor "zz"`},
		"limit zero":         {query: "?limit=0", status: 400, code: errs.Invalid, mentions: "query parameter limit: \"0\" is not an integer between 1 and 1000"},
		"limit too large":    {query: "?limit=1001", status: 400, code: errs.Invalid, mentions: "between 1 and 1000"},
		"limit not a number": {query: "?limit=all", status: 400, code: errs.Invalid, mentions: "query parameter limit"},
		"unknown parameter":  {query: "?since=1", status: 400, code: errs.Invalid, mentions: "query parameter since is not known; allowed: after, limit"},
		"repeated after":     {query: "?after=1&after=2", status: 400, code: errs.Invalid, mentions: "query parameter after is given 2 times"},
		"store down":         {storeErr: errs.E(errs.Unavailable, "database busy"), status: 503, code: errs.Unavailable, mentions: "database busy"},
		"no token":           {as: anonymous, status: 401, code: errs.Unauthenticated, mentions: "Authorization"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.events.events = outboxOf(3)
			e.events.err = tc.storeErr
			wantError(t, e.do(t, http.MethodGet, "/v1/events"+tc.query, "", tc.as...), tc.status, tc.code, tc.mentions)
		})
	}
}

func TestEndpointStatuses(t *testing.T) {
	e := newEnv(t)
	e.events.endpoints = []ports.EndpointStatus{
		{Name: "console", URL: "https://console.example/hooks", Enabled: true, Pending: 2, Delivered: 40, LastSuccessAt: testNow},
		{Name: "gone", URL: "https://old.example/hooks", Enabled: false, Disabled: "answered 410 Gone", ConsecutiveFailures: 1, LastError: "410 Gone", LastAttemptAt: testNow},
	}
	rec := e.do(t, http.MethodGet, "/v1/event-endpoints", "")
	wantStatus(t, rec, http.StatusOK)
	if got := decodeInto[EndpointList](t, rec); !reflect.DeepEqual(got.Endpoints, e.events.endpoints) {
		t.Errorf("endpoints = %+v", got.Endpoints)
	}
	wantError(t, e.do(t, http.MethodGet, "/v1/event-endpoints", "", asConsole...), 403, errs.Forbidden, "needs the operator role")
	wantError(t, e.do(t, http.MethodGet, "/v1/event-endpoints?name=x", ""), 400, errs.Invalid, "this call takes no query parameters")

	empty := newEnv(t)
	if rec := empty.do(t, http.MethodGet, "/v1/event-endpoints", ""); rec.Body.String() != "{\"endpoints\":[]}\n" {
		t.Errorf("no endpoints = %s", rec.Body)
	}
}

func TestEnableEndpoint(t *testing.T) {
	e := newEnv(t)
	e.events.endpoints = []ports.EndpointStatus{{Name: "gone", URL: "https://old.example/hooks", Disabled: "answered 410 Gone"}}
	rec := e.do(t, http.MethodPost, "/v1/event-endpoints/gone/enable", "")
	wantStatus(t, rec, http.StatusOK)
	if got := decodeInto[ports.EndpointStatus](t, rec); got.Name != "gone" || !got.Enabled || got.Disabled != "" {
		t.Errorf("status = %+v", got)
	}
	// Again: nothing to do, the same answer.
	wantStatus(t, e.do(t, http.MethodPost, "/v1/event-endpoints/gone/enable", `{}`), http.StatusOK)
	if !reflect.DeepEqual(e.events.enabled, []string{"gone", "gone"}) {
		t.Errorf("enabled %v", e.events.enabled)
	}

	tests := map[string]struct {
		path, body string
		as         []string
		status     int
		code       errs.Code
		mentions   string
	}{
		"unknown endpoint": {path: "/v1/event-endpoints/nope/enable", status: 404, code: errs.NotFound, mentions: "event endpoint nope not found"},
		"console role":     {path: "/v1/event-endpoints/gone/enable", as: asConsole, status: 403, code: errs.Forbidden, mentions: "needs the operator role"},
		"a body field":     {path: "/v1/event-endpoints/gone/enable", body: `{"force":true}`, status: 400, code: errs.Invalid, mentions: "force"},
		"bad name":         {path: "/v1/event-endpoints/g%00/enable", status: 400, code: errs.Invalid, mentions: "path name"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			wantError(t, e.do(t, http.MethodPost, tc.path, tc.body, tc.as...), tc.status, tc.code, tc.mentions)
		})
	}
}

// ordersWithOutbox is an Orders that offers Events too, as the store does.
type ordersWithOutbox struct {
	*fakeOrders
	*fakeEvents
}

// TestEventsFromOrders: without Config.Events, an Orders that offers
// Events serves them; without either, the event routes answer 503.
func TestEventsFromOrders(t *testing.T) {
	base := newEnv(t)
	base.events.events = outboxOf(1)
	tokens, err := NewTokens(testTokens...)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		orders Orders
		status int
	}{
		"orders offer events": {orders: ordersWithOutbox{base.orders, base.events}, status: http.StatusOK},
		"no outbox":           {orders: base.orders, status: http.StatusServiceUnavailable},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := New(Config{Workflows: base.wf, Orders: tc.orders, Judge: base.judge.judge, Tokens: tokens,
				Validate: base.orders.validateNothing, WebhookSecrets: [][]byte{testSecret}, Now: func() time.Time { return testNow }})
			if err != nil {
				t.Fatal(err)
			}
			e := &env{h: s.Handler()}
			for _, path := range []string{"/v1/events", "/v1/event-endpoints"} {
				if rec := e.do(t, http.MethodGet, path, ""); rec.Code != tc.status {
					t.Errorf("GET %s = %d, want %d: %s", path, rec.Code, tc.status, rec.Body)
				}
			}
		})
	}
}
