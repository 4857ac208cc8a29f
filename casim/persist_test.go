package casim_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/certflow/certflow/casim"
)

// durable is a simulator over a SQLite file that a test restarts: the
// clock, the receiver and the file outlive each run.
type durable struct {
	path  string
	clock *casim.FakeClock
	rc    *receiver
	retry casim.Retry
	ids   atomic.Int64
	f     *fixture
}

func newDurable(t *testing.T, retry casim.Retry, statuses ...int) *durable {
	t.Helper()
	d := &durable{path: filepath.Join(t.TempDir(), "casim.db"), clock: casim.NewFakeClock(start), rc: newReceiver(t, statuses...), retry: retry}
	d.start(t)
	return d
}

// start runs a new simulator over the file.
func (d *durable) start(t *testing.T) {
	t.Helper()
	sim, err := casim.New(casim.Config{
		Token: token, CallbackURL: d.rc.srv.URL, WebhookSecret: secret, ReviewDelay: reviewDelay,
		Clock: d.clock, Logger: zaptest.NewLogger(t), Retry: d.retry, DBPath: d.path,
		NewID: func() string {
			return "r" + strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.FormatInt(d.ids.Add(1), 10)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); sim.Close() })
	d.f = &fixture{sim: sim, clock: d.clock, srv: srv, rc: d.rc}
}

// restart stops the running simulator, as a crash between two writes
// would, and starts another over the same file.
func (d *durable) restart(t *testing.T) {
	t.Helper()
	d.f.srv.Close()
	d.f.sim.Close()
	d.start(t)
}

// An open review survives a restart: it is decided ReviewDelay after it
// was requested, by the new run, and its callback names the same review.
func TestRestartKeepsOpenReviews(t *testing.T) {
	d := newDurable(t, casim.Retry{})
	opened := d.f.do(t, http.MethodPost, "/v1/certificates/c1/revocations", `{"reason":"refund"}`)
	if opened.status != http.StatusAccepted {
		t.Fatalf("revoke: %+v", opened)
	}
	reviewID, _ := opened.body["review_id"].(string)
	d.f.waitTimers(t, 1)
	d.clock.Advance(reviewDelay / 2)

	d.restart(t)
	if g := d.f.do(t, http.MethodGet, "/v1/certificates/c1/revocation", ""); g.status != http.StatusOK || g.body["status"] != "pending" || g.body["review_id"] != reviewID {
		t.Fatalf("after restart: %+v", g)
	}
	d.f.waitTimers(t, 1)
	d.clock.Advance(reviewDelay / 2)
	cb := d.f.verify(t, d.rc.next(t))
	if cb.ReviewID != reviewID || cb.Type != casim.EventRevocationApproved || !cb.OccurredAt.Equal(start.Add(reviewDelay)) {
		t.Fatalf("callback %+v, want review %s approved at %v", cb, reviewID, start.Add(reviewDelay))
	}
	if g := d.f.do(t, http.MethodGet, "/v1/certificates/c1/revocation", ""); g.body["status"] != "approved" || g.body["event_id"] != cb.EventID {
		t.Fatalf("status after the decision: %+v", g)
	}
}

// A callback still being retried when the simulator stops is retried by
// the next run, same event ID and body; once delivered it is not sent
// again by a later run.
func TestRestartRetriesUndeliveredCallbacks(t *testing.T) {
	d := newDurable(t, casim.Retry{Initial: time.Minute, Max: time.Minute, Attempts: 10}, http.StatusServiceUnavailable, http.StatusNoContent)
	d.f.do(t, http.MethodPost, "/v1/certificates/c1/revocations", `{}`)
	d.f.waitTimers(t, 1)
	d.clock.Advance(reviewDelay)
	first := d.rc.next(t) // 503: retried in a minute
	d.f.waitTimers(t, 1)

	d.restart(t)
	second := d.rc.next(t) // resumed at once: 204
	if first.header.Get("webhook-id") != second.header.Get("webhook-id") || string(first.body) != string(second.body) {
		t.Fatalf("redelivery changed: %s / %s", first.body, second.body)
	}
	time.Sleep(200 * time.Millisecond) // the 204 reaches the simulator
	d.restart(t)
	time.Sleep(50 * time.Millisecond)
	d.rc.none(t)
}

// A callback given up after the retry budget is not sent again after a
// restart (a lost callback stays lost; the status query still answers).
func TestRetryBudgetGivesUp(t *testing.T) {
	d := newDurable(t, casim.Retry{Initial: time.Second, Max: time.Second, Attempts: 2}, http.StatusBadGateway)
	d.f.do(t, http.MethodPost, "/v1/certificates/c1/revocations", `{}`)
	d.f.waitTimers(t, 1)
	d.clock.Advance(reviewDelay)
	d.rc.next(t)
	d.f.waitTimers(t, 1)
	d.clock.Advance(time.Second)
	d.rc.next(t) // the second and last attempt
	// Let the attempt's answer reach the simulator: a stop in the middle
	// of an attempt leaves the callback pending, to be sent again.
	time.Sleep(200 * time.Millisecond)
	d.restart(t)
	time.Sleep(50 * time.Millisecond)
	d.rc.none(t)
	if g := d.f.do(t, http.MethodGet, "/v1/certificates/c1/revocation", ""); g.body["status"] != "approved" {
		t.Fatalf("status: %+v", g)
	}
}
