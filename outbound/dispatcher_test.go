package outbound

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/webhook"
)

// newSecret returns a fresh whsec_ secret and its bytes.
func newSecret(t *testing.T) (string, []byte) {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return webhook.SecretPrefix + base64.StdEncoding.EncodeToString(b), b
}

// received is one request a test receiver answered 2xx.
type received struct {
	id    string
	event ports.Event
}

// receiver is a console endpoint for tests. It checks every request with
// the Standard Webhooks project's own Go library (one verifier per
// configured secret, so each secret's signature must be present), answers
// as behave says, and records what it accepted.
type receiver struct {
	t        *testing.T
	verifier []*standardwebhooks.Webhook
	// behave answers the n-th attempt (1-based) of an event: a status,
	// and a delay before answering (cut short when the caller gives up).
	behave func(id string, n int) (status int, delay time.Duration)

	mu          sync.Mutex
	attempts    map[string]int
	accepted    []received
	inFlight    int
	maxInFlight int
	srv         *httptest.Server
	release     chan struct{} // closed to end every delay at once
}

func newReceiver(t *testing.T, secrets []string, behave func(id string, n int) (int, time.Duration)) *receiver {
	t.Helper()
	r := &receiver{t: t, behave: behave, attempts: map[string]int{}, release: make(chan struct{})}
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatalf("standardwebhooks.NewWebhook: %v", err)
		}
		r.verifier = append(r.verifier, wh)
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() { r.unblock(); r.srv.Close() })
	return r
}

func (r *receiver) unblock() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.release:
	default:
		close(r.release)
	}
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.inFlight++
	r.maxInFlight = max(r.maxInFlight, r.inFlight)
	r.mu.Unlock()
	defer func() { r.mu.Lock(); r.inFlight--; r.mu.Unlock() }()

	body, _ := io.ReadAll(req.Body)
	for i, wh := range r.verifier {
		if err := wh.Verify(body, req.Header); err != nil {
			r.t.Errorf("secret %d: standardwebhooks refuses the delivery: %v", i+1, err)
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
	}
	var e ports.Event
	if err := json.Unmarshal(body, &e); err != nil {
		r.t.Errorf("body is not an event: %v", err)
	}
	id := req.Header.Get("webhook-id")
	if id != e.ID {
		r.t.Errorf("webhook-id %q, want the event's ID %q", id, e.ID)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		r.t.Errorf("Content-Type %q", ct)
	}
	if req.Header.Get("User-Agent") != UserAgent {
		r.t.Errorf("User-Agent %q", req.Header.Get("User-Agent"))
	}
	r.mu.Lock()
	r.attempts[id]++
	n := r.attempts[id]
	r.mu.Unlock()
	status, delay := r.behave(id, n)
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return // the dispatcher gave up: no answer
		case <-r.release:
		}
	}
	if status == 0 {
		status = http.StatusNoContent
	}
	if status >= 200 && status < 300 {
		r.mu.Lock()
		r.accepted = append(r.accepted, received{id: id, event: e})
		r.mu.Unlock()
	}
	w.WriteHeader(status)
}

func (r *receiver) snapshot() (accepted []received, attempts map[string]int, maxInFlight int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	attempts = make(map[string]int, len(r.attempts))
	for k, v := range r.attempts {
		attempts[k] = v
	}
	return append([]received(nil), r.accepted...), attempts, r.maxInFlight
}

// testConfig is a configuration with quick polls and retries.
func testConfig(eps ...EndpointConfig) Config {
	return Config{Endpoints: eps, MaxInFlight: 8, Timeout: 2 * time.Second, Lease: 5 * time.Second,
		Poll: 5 * time.Millisecond, RetryBase: time.Millisecond, RetryMax: 20 * time.Millisecond}
}

// start runs a dispatcher until the test ends and returns it.
func start(t *testing.T, ob ports.Outbox, cfg Config, log *zap.Logger) *Dispatcher {
	t.Helper()
	if log == nil {
		log = zap.NewNop()
	}
	d, err := New(ob, cfg, Options{Logger: log})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

// waitFor polls cond until it holds; the limit only keeps a broken test
// from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// addOrders queues perOrder events for each of n orders, interleaved
// (order 1's first, order 2's first, …, order 1's second, …).
func addOrders(f *fakeOutbox, n, perOrder int) []ports.Event {
	var out []ports.Event
	for k := range perOrder {
		for i := range n {
			typ := ports.EventRefundRequested
			if k > 0 {
				typ = ports.EventRefundWaitingChanged
			}
			out = append(out, f.add(fmt.Sprintf("order-%04d", i), typ))
		}
	}
	return out
}

// checkAllDelivered asserts that every event arrived under its own ID
// with its own body, and that each order's events were first accepted in
// the order they were written.
func checkAllDelivered(t *testing.T, events []ports.Event, got []received) {
	t.Helper()
	want := map[string]ports.Event{}
	pos := map[string]int{}
	for i, e := range events {
		want[e.ID] = e
		pos[e.ID] = i
	}
	first := map[string]bool{}
	lastOf := map[string]int{}
	for _, g := range got {
		e, ok := want[g.id]
		if !ok {
			t.Errorf("received unknown webhook-id %q", g.id)
			continue
		}
		if !bytes.Equal(g.event.Data, e.Data) || g.event.Type != e.Type || g.event.OrderID != e.OrderID {
			t.Errorf("event %s arrived as %+v, want %+v", g.id, g.event, e)
		}
		if first[g.id] {
			continue // a duplicate under the same ID is allowed (at least once)
		}
		first[g.id] = true
		if p, seen := lastOf[e.OrderID]; seen && p > pos[g.id] {
			t.Errorf("order %s: %s arrived after a later event", e.OrderID, g.id)
		}
		lastOf[e.OrderID] = pos[g.id]
	}
	if len(first) != len(events) {
		t.Errorf("%d of %d events arrived", len(first), len(events))
	}
}

func TestDeliveriesVerifyWithTheStandardWebhooksLibrary(t *testing.T) {
	newS, newB := newSecret(t)
	oldS, oldB := newSecret(t)
	var (
		mu      sync.Mutex
		headers []http.Header
	)
	rcv := newReceiver(t, []string{newS, oldS}, func(string, int) (int, time.Duration) { return http.StatusOK, 0 })
	inner := rcv.srv.Config.Handler
	rcv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		headers = append(headers, r.Header.Clone())
		mu.Unlock()
		inner.ServeHTTP(w, r)
	})
	f := newFakeOutbox(time.Now)
	events := addOrders(f, 3, 2)
	start(t, f, testConfig(EndpointConfig{Name: "console", URL: rcv.srv.URL + "/hooks", Secrets: [][]byte{newB, oldB}}), nil)
	waitFor(t, "every event", func() bool {
		return f.status("console").Pending == 0 && f.status("console").Delivered == int64(len(events))
	})

	got, _, _ := rcv.snapshot()
	checkAllDelivered(t, events, got)
	mu.Lock()
	defer mu.Unlock()
	for _, h := range headers {
		sigs := strings.Fields(h.Get("webhook-signature"))
		if len(sigs) != 2 || !strings.HasPrefix(sigs[0], "v1,") || !strings.HasPrefix(sigs[1], "v1,") {
			t.Errorf("webhook-signature %q, want one v1 entry per secret", h.Get("webhook-signature"))
		}
		if _, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64); err != nil {
			t.Errorf("webhook-timestamp %q", h.Get("webhook-timestamp"))
		}
	}
}

func TestFailedDeliveriesAreRetriedUnderTheSameID(t *testing.T) {
	tests := map[string]struct {
		behave   func(id string, n int) (int, time.Duration)
		failures int // failed attempts per event
		timeout  time.Duration
	}{
		"500 twice": {
			behave:   func(_ string, n int) (int, time.Duration) { return map[bool]int{true: 500, false: 200}[n <= 2], 0 },
			failures: 2,
		},
		"503 then 429 then 400": {
			behave: func(_ string, n int) (int, time.Duration) {
				return [...]int{0, 503, 429, 400, 202}[min(n, 4)], 0
			},
			failures: 3,
		},
		"timeout once": {
			behave: func(_ string, n int) (int, time.Duration) {
				if n == 1 {
					return 200, time.Minute // longer than the timeout: the dispatcher gives up
				}
				return 200, 0
			},
			failures: 1,
			timeout:  100 * time.Millisecond,
		},
		"slow but in time": {
			behave:   func(string, int) (int, time.Duration) { return 200, 30 * time.Millisecond },
			failures: 0,
		},
		"redirect is not followed": {
			behave: func(_ string, n int) (int, time.Duration) {
				return map[bool]int{true: http.StatusTemporaryRedirect, false: 200}[n == 1], 0
			},
			failures: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, b := newSecret(t)
			rcv := newReceiver(t, []string{s}, tc.behave)
			f := newFakeOutbox(time.Now)
			events := addOrders(f, 4, 3)
			cfg := testConfig(EndpointConfig{Name: "console", URL: rcv.srv.URL, Secrets: [][]byte{b}})
			if tc.timeout > 0 {
				cfg.Timeout = tc.timeout
			}
			start(t, f, cfg, nil)
			waitFor(t, "every event", func() bool { return f.status("console").Delivered == int64(len(events)) })

			got, attempts, _ := rcv.snapshot()
			checkAllDelivered(t, events, got)
			for _, e := range events {
				if attempts[e.ID] != tc.failures+1 {
					t.Errorf("event %s: %d attempts reached the receiver, want %d", e.ID, attempts[e.ID], tc.failures+1)
				}
				if n := f.failedCalls("console", e.ID); n != tc.failures {
					t.Errorf("event %s: %d failures recorded, want %d", e.ID, n, tc.failures)
				}
			}
		})
	}
}

func TestConnectionErrorsAreRetried(t *testing.T) {
	s, b := newSecret(t)
	rcv := newReceiver(t, []string{s}, func(string, int) (int, time.Duration) { return 200, 0 })
	// The endpoint first points at a closed port; the receiver "returns"
	// when the test swaps the transport's target.
	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	f := newFakeOutbox(time.Now)
	events := addOrders(f, 5, 2)
	var (
		mu sync.Mutex
		up bool
	)
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		isUp := up
		mu.Unlock()
		if isUp {
			r.URL.Host = strings.TrimPrefix(rcv.srv.URL, "http://")
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	d, err := New(f, testConfig(EndpointConfig{Name: "console", URL: url, Secrets: [][]byte{b}}), Options{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "failed attempts", func() bool { return f.status("console").ConsecutiveFailures >= 5 })
	mu.Lock()
	up = true
	mu.Unlock()
	waitFor(t, "every event", func() bool { return f.status("console").Delivered == int64(len(events)) })
	got, _, _ := rcv.snapshot()
	checkAllDelivered(t, events, got)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestGoneDisablesTheEndpointAndLogs(t *testing.T) {
	s, b := newSecret(t)
	gone := newReceiver(t, []string{s}, func(string, int) (int, time.Duration) { return http.StatusGone, 0 })
	ok := newReceiver(t, []string{s}, func(string, int) (int, time.Duration) { return 200, 0 })
	f := newFakeOutbox(time.Now)
	events := addOrders(f, 10, 1)
	core, logs := observer.New(zapcore.InfoLevel)
	cfg := testConfig(EndpointConfig{Name: "old-console", URL: gone.srv.URL, Secrets: [][]byte{b}},
		EndpointConfig{Name: "console", URL: ok.srv.URL, Secrets: [][]byte{b}})
	start(t, f, cfg, zap.New(core))
	waitFor(t, "console's events", func() bool { return f.status("console").Delivered == int64(len(events)) })
	waitFor(t, "old-console disabled", func() bool { return !f.status("old-console").Enabled })

	if st := f.status("old-console"); !strings.Contains(st.Disabled, "410") {
		t.Errorf("disabled reason %q, want it to say 410", st.Disabled)
	}
	if l := logs.FilterMessageSnippet("410").FilterField(zap.String("endpoint", "old-console")).All(); len(l) != 1 || l[0].Level != zapcore.WarnLevel {
		t.Errorf("want one WARN line naming old-console's disabling; got %v", logs.All())
	}
	_, attempts, _ := gone.snapshot()
	total := 0
	for _, n := range attempts {
		total += n
	}
	// Only the attempts already in flight when it answered 410 reach it.
	if total > cfg.withDefaults().PerEndpoint {
		t.Errorf("old-console got %d attempts, want at most its in-flight cap %d", total, cfg.withDefaults().PerEndpoint)
	}
	got, _, _ := ok.snapshot()
	checkAllDelivered(t, events, got)
}

func TestADeadOrSlowEndpointDoesNotDelayAnother(t *testing.T) {
	// Each returns the dead endpoint's URL and what ends its hanging
	// attempts, so the dispatcher can stop at the end of the test.
	tests := map[string]func(t *testing.T) (string, func()){
		"hanging": func(t *testing.T) (string, func()) {
			r := newReceiver(t, nil, func(string, int) (int, time.Duration) { return 200, time.Hour })
			return r.srv.URL, r.unblock
		},
		"refusing connections": func(t *testing.T) (string, func()) {
			srv := httptest.NewServer(http.NotFoundHandler())
			srv.Close()
			return srv.URL, func() {}
		},
		"answering 500": func(t *testing.T) (string, func()) {
			r := newReceiver(t, nil, func(string, int) (int, time.Duration) { return 500, 0 })
			return r.srv.URL, r.unblock
		},
	}
	for name, deadURL := range tests {
		t.Run(name, func(t *testing.T) {
			s, b := newSecret(t)
			live := newReceiver(t, []string{s}, func(string, int) (int, time.Duration) { return 200, 0 })
			f := newFakeOutbox(time.Now)
			events := addOrders(f, 50, 2)
			url, unblock := deadURL(t)
			cfg := testConfig(EndpointConfig{Name: "dead", URL: url, Secrets: [][]byte{b}},
				EndpointConfig{Name: "live", URL: live.srv.URL, Secrets: [][]byte{b}})
			cfg.MaxInFlight = 4
			cfg.Timeout = time.Hour // a hanging attempt holds its slot all along
			cfg.Lease = 2 * time.Hour
			d := start(t, f, cfg, nil)
			t.Cleanup(unblock) // runs before the dispatcher stops
			waitFor(t, "live's events", func() bool { return f.status("live").Delivered == int64(len(events)) })
			got, _, _ := live.snapshot()
			checkAllDelivered(t, events, got)
			if n := f.status("dead").Delivered; n != 0 {
				t.Errorf("dead endpoint got %d events", n)
			}
			if m := d.MaxInFlightSeen(); m > cfg.MaxInFlight {
				t.Errorf("%d attempts in flight at once, bound %d", m, cfg.MaxInFlight)
			}
		})
	}
}

func TestEventsQueuedWhileTheReceiverIsDownAreAllDeliveredWithBoundedMemory(t *testing.T) {
	s, b := newSecret(t)
	var (
		mu   sync.Mutex
		down = true
	)
	rcv := newReceiver(t, []string{s}, func(string, int) (int, time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return http.StatusServiceUnavailable, 0
		}
		return http.StatusOK, 0
	})
	f := newFakeOutbox(time.Now)
	events := addOrders(f, 2000, 2)
	cfg := testConfig(EndpointConfig{Name: "console", URL: rcv.srv.URL, Secrets: [][]byte{b}})
	d := start(t, f, cfg, nil)
	waitFor(t, "failed attempts while down", func() bool { return f.status("console").ConsecutiveFailures >= 50 })
	mu.Lock()
	down = false
	mu.Unlock()
	waitFor(t, "all 4,000 events", func() bool { return f.status("console").Delivered == int64(len(events)) })

	got, _, maxAtReceiver := rcv.snapshot()
	checkAllDelivered(t, events, got)
	f.mu.Lock()
	maxLeased := f.maxLeased
	f.mu.Unlock()
	for what, n := range map[string]int{"at the receiver": maxAtReceiver, "in the dispatcher": d.MaxInFlightSeen(), "leased": maxLeased} {
		if n > cfg.MaxInFlight {
			t.Errorf("%d deliveries %s at once, bound %d", n, what, cfg.MaxInFlight)
		}
	}
}

func TestStoppingLetsAttemptsInFlightFinish(t *testing.T) {
	s, b := newSecret(t)
	entered := make(chan struct{}, 1)
	rcv := newReceiver(t, []string{s}, func(string, int) (int, time.Duration) {
		select {
		case entered <- struct{}{}:
		default:
		}
		return 200, 50 * time.Millisecond
	})
	f := newFakeOutbox(time.Now)
	addOrders(f, 1, 1)
	d, err := New(f, testConfig(EndpointConfig{Name: "console", URL: rcv.srv.URL, Secrets: [][]byte{b}}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	<-entered
	cancel()
	<-done
	if st := f.status("console"); st.Delivered != 1 {
		t.Errorf("the attempt in flight at stop was not recorded: %+v", st)
	}
}

func TestSecretsFileIsReloadedForRotation(t *testing.T) {
	oldS, oldB := newSecret(t)
	newS, newB := newSecret(t)
	path := t.TempDir() + "/secrets"
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("# console's secrets\nconsole=" + oldS + "\n")
	cfg, err := ParseConfig(env(map[string]string{EnvEndpoints: "console=http://127.0.0.1:1/hooks", EnvSecretsFile: path}))
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	d, err := New(newFakeOutbox(time.Now), cfg, Options{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reload := make(chan os.Signal)
	go d.WatchSecrets(ctx, time.Hour, reload)

	secrets := func() [][]byte { return (*d.secrets.Load())["console"] }
	if got := secrets(); len(got) != 1 || !bytes.Equal(got[0], oldB) {
		t.Fatalf("secrets at start: %d", len(got))
	}
	steps := []struct {
		content string
		want    [][]byte
	}{
		{"console=" + newS + "|" + oldS, [][]byte{newB, oldB}},
		{"console=whsec_short", [][]byte{newB, oldB}}, // refused: kept
		{"console=" + newS, [][]byte{newB}},
	}
	for i, st := range steps {
		write(st.content)
		reload <- syscall.SIGHUP
		// Each reload logs one line, taken or refused.
		waitFor(t, fmt.Sprintf("step %d", i+1), func() bool { return logs.FilterMessageSnippet("reloaded").Len() == i+1 })
		if got := secrets(); len(got) != len(st.want) || !bytes.Equal(got[0], st.want[0]) {
			t.Errorf("step %d: %d secrets in use, want %d", i+1, len(got), len(st.want))
		}
	}
	for _, e := range logs.All() {
		for _, v := range e.ContextMap() {
			if s := fmt.Sprint(v); strings.Contains(s, strings.TrimPrefix(newS, "whsec_")) || strings.Contains(s, strings.TrimPrefix(oldS, "whsec_")) {
				t.Errorf("a log line holds a secret: %s", e.Message)
			}
		}
	}
	if len(logs.FilterMessageSnippet("not reloaded").All()) != 1 {
		t.Errorf("the refused file was not logged once: %v", logs.All())
	}
}

func TestBackoff(t *testing.T) {
	tests := map[string]struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		"first failure, no jitter":  {1, 0, 500 * time.Millisecond},
		"first failure, top jitter": {1, 0.999999999, time.Second},
		"fourth failure":            {4, 0.5, 6 * time.Second},
		"capped":                    {20, 0, 150 * time.Second},
		"far past the cap":          {10000, 1, 5 * time.Minute},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Backoff(time.Second, 5*time.Minute, tc.n, tc.jitter)
			if got.Round(time.Millisecond) != tc.want {
				t.Errorf("Backoff(1s, 5m, %d, %v) = %s, want %s", tc.n, tc.jitter, got, tc.want)
			}
		})
	}
}
