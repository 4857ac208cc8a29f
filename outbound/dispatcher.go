// Package outbound delivers the outbox's events to the console's
// endpoints as Standard Webhooks (docs/event-delivery.md). It owns the
// dispatcher: the loop that leases deliveries from a ports.Outbox, POSTs
// each event signed with every secret of its endpoint (package webhook's
// signing), and records the answer back in the outbox.
//
// It guarantees: delivery at least once, retried forever with exponential
// backoff and jitter; the same webhook-id (the event's ID) on every
// attempt; in order per order and endpoint (the outbox leases an order's
// next event only after the previous one was delivered); a bounded number
// of attempts in flight, with a cap per endpoint so a dead or slow
// endpoint never takes the slots of another; an endpoint answering 410
// Gone is disabled and logged. Several dispatchers may share one outbox:
// the outbox's leases keep each delivery with one of them at a time.
// Secrets are never logged.
package outbound

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/webhook"
)

// UserAgent is sent with every delivery.
const UserAgent = "certflow-events/1 (+https://github.com/certflow/certflow/blob/main/docs/event-delivery.md)"

// statusEvery is how often endpoint statuses are read into the metrics,
// and failingLogEvery how often a still-failing endpoint is logged again.
const (
	statusEvery     = 30 * time.Second
	failingLogEvery = time.Minute
)

// Dispatcher delivers events from Outbox to the configured endpoints.
// Build it with New; Run delivers until its context ends.
type Dispatcher struct {
	outbox  ports.Outbox
	cfg     Config
	client  *http.Client
	now     func() time.Time
	jitter  func() float64
	log     *zap.Logger
	metrics *Metrics
	owner   string

	secrets atomic.Pointer[map[string][][]byte]

	mu       sync.Mutex
	inFlight int
	perEP    map[string]int
	health   map[string]*epHealth
	maxSeen  int // the most attempts in flight at once, for tests
	wake     chan struct{}
	next     int // round-robin start among endpoints
}

// epHealth is what this dispatcher saw of an endpoint lately: it drives
// the endpoint's backoff and keeps the logs to transitions.
type epHealth struct {
	goneAt    time.Time // when a 410 was last logged
	enabled   *bool     // as the outbox last said
	failures  int       // consecutive failed probes
	lastFail  time.Time // start of the attempt that last counted
	failing   bool
	lastLog   time.Time
	suppresed int // failures not logged since lastLog
}

// Options are a Dispatcher's dependencies; nil ones get a default.
type Options struct {
	// Client makes the HTTP requests (default: one with no redirects
	// followed and idle connections sized to the per-endpoint cap).
	Client *http.Client
	// Now is the clock (time.Now).
	Now func() time.Time
	// Jitter returns a number in [0, 1) (math/rand/v2).
	Jitter  func() float64
	Logger  *zap.Logger
	Metrics *Metrics
	// Owner names this dispatcher in the leases (default: host, pid and
	// a random suffix).
	Owner string
}

// New returns a dispatcher for the configured endpoints. It fails, naming
// the setting, when an endpoint has no secret.
func New(outbox ports.Outbox, cfg Config, o Options) (*Dispatcher, error) {
	if outbox == nil {
		return nil, errs.E(errs.Internal, "outbound: no outbox")
	}
	cfg = cfg.withDefaults()
	if cfg.Timeout >= cfg.Lease {
		return nil, errs.E(errs.Invalid, "%s (%s) must be shorter than %s (%s): an attempt must end before its lease does", EnvTimeout, cfg.Timeout, EnvLease, cfg.Lease)
	}
	d := &Dispatcher{
		outbox: outbox, cfg: cfg, client: o.Client, now: o.Now, jitter: o.Jitter, log: o.Logger, metrics: o.Metrics, owner: o.Owner,
		perEP: map[string]int{}, health: map[string]*epHealth{}, wake: make(chan struct{}, 1),
	}
	if d.client == nil {
		d.client = &http.Client{
			Transport: &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
				MaxIdleConnsPerHost: cfg.PerEndpoint,
				IdleConnTimeout:     90 * time.Second,
				TLSHandshakeTimeout: 5 * time.Second,
			},
			// A redirect is an answer we do not follow: the endpoint's URL
			// is configured, not discovered.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.jitter == nil {
		d.jitter = rand.Float64
	}
	if d.log == nil {
		d.log = zap.NewNop()
	}
	if d.owner == "" {
		d.owner = NewOwner()
	}
	secrets := map[string][][]byte{}
	for _, e := range cfg.Endpoints {
		secrets[e.Name] = e.Secrets
	}
	if err := d.SetSecrets(secrets); err != nil {
		return nil, err
	}
	return d, nil
}

// NewOwner returns a lease owner naming this process: host, pid and a
// random suffix (a restarted process with a reused pid is another owner).
func NewOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = cryptorand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Owner is the name this dispatcher leases deliveries under.
func (d *Dispatcher) Owner() string { return d.owner }

// SetSecrets replaces the endpoints' secrets (a rotation); every
// configured endpoint needs one at least, or nothing changes.
func (d *Dispatcher) SetSecrets(secrets map[string][][]byte) error {
	setting := EnvSecrets
	if d.cfg.SecretsFile != "" {
		setting = EnvSecretsFile
	}
	if err := checkSecrets(setting, d.cfg.Endpoints, secrets); err != nil {
		return err
	}
	cp := make(map[string][][]byte, len(secrets))
	for k, v := range secrets {
		cp[k] = append([][]byte(nil), v...)
	}
	d.secrets.Store(&cp)
	return nil
}

// MaxInFlightSeen is the most attempts this dispatcher had in flight at
// once.
func (d *Dispatcher) MaxInFlightSeen() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.maxSeen
}

// Run makes the endpoints known to the outbox, then delivers until ctx
// ends. On return no attempt of its own is in flight: those running when
// ctx ended were let finish (each is bounded by the timeout); a delivery
// it had claimed but not started is left to its lease, after which any
// dispatcher takes it.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.cfg.Enabled() {
		d.log.Info("no event endpoints configured (" + EnvEndpoints + "): events stay in the outbox; GET /v1/events serves them")
		return nil
	}
	if err := d.sync(ctx); err != nil {
		return nil // ctx ended while the outbox was unreachable
	}
	names := make([]string, len(d.cfg.Endpoints))
	for i, e := range d.cfg.Endpoints {
		names[i] = e.Name
	}
	d.log.Info("event dispatcher started", zap.String("owner", d.owner), zap.Strings("endpoints", names),
		zap.Int("max_in_flight", d.cfg.MaxInFlight), zap.Int("per_endpoint", d.cfg.PerEndpoint),
		zap.Duration("timeout", d.cfg.Timeout), zap.Duration("lease", d.cfg.Lease))
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		d.log.Info("event dispatcher stopped", zap.String("owner", d.owner))
	}()
	wg.Go(func() { d.watchStatuses(ctx) })
	claimFailures := 0
	for ctx.Err() == nil {
		found, err := d.claimRound(ctx, &wg)
		wait := d.cfg.Poll
		switch {
		case err != nil && ctx.Err() == nil:
			claimFailures++
			if claimFailures == 1 || claimFailures%100 == 0 {
				d.log.Warn("claiming event deliveries failed; retrying", zap.Int("consecutive", claimFailures), zap.Error(err))
			}
			wait = min(d.cfg.Poll<<min(claimFailures, 5), 10*time.Second)
		case err == nil:
			if claimFailures > 0 {
				d.log.Info("claiming event deliveries works again", zap.Int("failures", claimFailures))
			}
			claimFailures = 0
			if found {
				wait = d.cfg.Poll / 10 // work was found: ask again soon
			}
		}
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-time.After(wait):
		}
	}
	return nil
}

// sync retries SyncEndpoints until it succeeds or ctx ends.
func (d *Dispatcher) sync(ctx context.Context) error {
	for n := 1; ; n++ {
		err := d.outbox.SyncEndpoints(ctx, d.cfg.PortsEndpoints())
		if err == nil {
			return nil
		}
		if n == 1 || n%20 == 0 {
			d.log.Warn("making the event endpoints known to the outbox failed; retrying", zap.Int("attempt", n), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(d.cfg.Poll<<min(n, 5), 10*time.Second)):
		}
	}
}

// claimRound claims, endpoint by endpoint (starting with another one each
// round), as many deliveries as the free slots and the endpoint's cap
// allow, and starts them. Claiming per endpoint means nothing is leased
// that cannot start at once.
func (d *Dispatcher) claimRound(ctx context.Context, wg *sync.WaitGroup) (found bool, err error) {
	eps := d.cfg.Endpoints
	d.mu.Lock()
	start := d.next
	d.next = (d.next + 1) % len(eps)
	d.mu.Unlock()
	for i := range eps {
		ep := eps[(start+i)%len(eps)]
		d.mu.Lock()
		limit := min(d.cfg.MaxInFlight-d.inFlight, d.cfg.PerEndpoint-d.perEP[ep.Name])
		d.mu.Unlock()
		if limit <= 0 {
			continue
		}
		ds, cerr := d.outbox.ClaimDeliveries(ctx, d.owner, []string{ep.Name}, limit, d.cfg.Lease)
		if cerr != nil {
			err = errors.Join(err, fmt.Errorf("claiming deliveries for %s: %w", ep.Name, cerr))
			continue
		}
		if len(ds) > limit {
			// The outbox broke its promise; the extra leases expire.
			ds = ds[:limit]
		}
		for _, dl := range ds {
			found = true
			d.acquire(ep.Name)
			wg.Go(func() {
				defer d.release(ep.Name)
				d.deliver(ctx, ep, dl)
			})
		}
	}
	return found, err
}

func (d *Dispatcher) acquire(ep string) {
	d.mu.Lock()
	d.inFlight++
	d.perEP[ep]++
	d.maxSeen = max(d.maxSeen, d.inFlight)
	n := d.inFlight
	d.mu.Unlock()
	d.metrics.setInFlight(n)
}

func (d *Dispatcher) release(ep string) {
	d.mu.Lock()
	d.inFlight--
	d.perEP[ep]--
	n := d.inFlight
	d.mu.Unlock()
	d.metrics.setInFlight(n)
	select {
	case d.wake <- struct{}{}: // a slot is free: claim again
	default:
	}
}

// outcome is what one attempt came to.
type outcome struct {
	result string
	status int
	err    error
	// endpointWide: the failure says the endpoint as a whole is unwell
	// (no answer, 5xx, 408, 429), not that it refused this event.
	endpointWide bool
}

// deliver makes one attempt and records its outcome. The attempt and the
// recording are not cut short by ctx: stopping lets them finish (each
// bounded by the timeout), so an answer received is not lost.
func (d *Dispatcher) deliver(ctx context.Context, ep EndpointConfig, dl ports.Delivery) {
	ctx = context.WithoutCancel(ctx)
	started := d.now()
	t0 := time.Now()
	o := d.post(ctx, ep, dl, started)
	elapsed := time.Since(t0)
	d.metrics.attempt(ep.Name, o.result, elapsed.Seconds())
	rec, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	fields := []zap.Field{zap.String("endpoint", ep.Name), zap.String("event", dl.Event.ID), zap.String("type", string(dl.Event.Type)),
		zap.String("order", dl.Event.OrderID), zap.Int("attempt", dl.Attempt), zap.String("result", o.result), zap.Duration("took", elapsed)}
	if o.status != 0 {
		fields = append(fields, zap.Int("status", o.status))
	}
	d.log.Debug("event delivery attempt", fields...)
	switch o.result {
	case ResultDelivered:
		d.succeeded(ep.Name)
		if err := d.outbox.DeliverySucceeded(rec, d.owner, dl); err != nil {
			// The endpoint has the event; after the lease it is sent again
			// under the same webhook-id, which the receiver deduplicates.
			d.log.Warn("recording a delivered event failed; it will be sent again", append(fields, zap.Error(err))...)
		}
	case ResultGone:
		reason := fmt.Sprintf("answered 410 Gone to event %s at %s", dl.Event.ID, started.UTC().Format(time.RFC3339))
		if err := d.outbox.DisableEndpoint(rec, ep.Name, reason); err != nil {
			d.log.Error("disabling an endpoint that answered 410 Gone failed", append(fields, zap.Error(err))...)
			return
		}
		if !d.goneLogged(ep.Name) {
			return // its other attempts in flight answered 410 too: logged once
		}
		d.log.Warn("event endpoint disabled: it answered 410 Gone; enable it again through the API or configure another URL",
			zap.String("endpoint", ep.Name), zap.String("url", ep.URL), zap.String("event", dl.Event.ID))
	default:
		retryAt, epRetryAt := d.failed(ep.Name, dl, o, started, fields)
		reason := o.reason()
		if err := d.outbox.DeliveryFailed(rec, d.owner, dl, reason, retryAt, epRetryAt); err != nil {
			d.log.Warn("recording a failed delivery failed; it is retried when its lease ends", append(fields, zap.Error(err))...)
		}
	}
}

// post sends the event, signed with each of the endpoint's secrets.
func (d *Dispatcher) post(ctx context.Context, ep EndpointConfig, dl ports.Delivery, ts time.Time) outcome {
	body, err := json.Marshal(dl.Event)
	if err != nil {
		return outcome{result: ResultError, err: fmt.Errorf("encoding event: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return outcome{result: ResultError, err: err}
	}
	secrets := (*d.secrets.Load())[ep.Name]
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		sigs[i] = webhook.Sign(s, dl.Event.ID, ts, body)
	}
	req.Header.Set(webhook.HeaderID, dl.Event.ID)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(webhook.HeaderSignature, strings.Join(sigs, " "))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	resp, err := d.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return outcome{result: ResultTimeout, err: err, endpointWide: true}
		}
		return outcome{result: ResultError, err: err, endpointWide: true}
	}
	// Drain a little so the connection is reused; a receiver's body says
	// nothing we act on.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return outcome{result: ResultDelivered, status: s}
	case s == http.StatusGone:
		return outcome{result: ResultGone, status: s}
	default:
		return outcome{result: ResultStatus, status: s,
			endpointWide: s >= 500 || s == http.StatusTooManyRequests || s == http.StatusRequestTimeout}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (o outcome) reason() string {
	switch {
	case o.status != 0:
		return fmt.Sprintf("answered %d %s", o.status, http.StatusText(o.status))
	case o.result == ResultTimeout:
		return "no answer within the timeout"
	default:
		// The transport's error names the host and the cause; it carries
		// no secret (signatures are headers, never in the error).
		return "request failed: " + o.err.Error()
	}
}

// succeeded resets the endpoint's backoff and logs a recovery.
func (d *Dispatcher) succeeded(ep string) {
	d.mu.Lock()
	h := d.healthOf(ep)
	wasFailing, failures := h.failing, h.failures
	h.failures, h.failing, h.suppresed = 0, false, 0
	d.mu.Unlock()
	if wasFailing {
		d.log.Info("event endpoint recovered", zap.String("endpoint", ep), zap.Int("failed_probes", failures))
	}
}

// failed computes when the delivery and the endpoint are due again, and
// logs on the transition to failing and then at most once a minute.
func (d *Dispatcher) failed(ep string, dl ports.Delivery, o outcome, started time.Time, fields []zap.Field) (retryAt, epRetryAt time.Time) {
	now := d.now()
	retryAt = now.Add(d.backoff(dl.Attempt))
	epRetryAt = now
	d.mu.Lock()
	h := d.healthOf(ep)
	if o.endpointWide {
		// Attempts that were in flight together fail together: only one
		// started after the last counted failure is a new probe, so a
		// burst does not jump the endpoint's backoff to its cap.
		if !started.Before(h.lastFail) {
			h.failures++
			h.lastFail = now
		}
		epRetryAt = now.Add(d.backoff(h.failures))
	}
	first := !h.failing
	h.failing = true
	logNow := first || now.Sub(h.lastLog) >= failingLogEvery
	suppressed := h.suppresed
	if logNow {
		h.lastLog, h.suppresed = now, 0
	} else {
		h.suppresed++
	}
	d.mu.Unlock()
	if logNow {
		msg := "event endpoint still failing; retrying with backoff"
		if first {
			msg = "event endpoint failing; retrying with backoff"
		}
		d.log.Warn(msg, append(fields, zap.String("reason", o.reason()), zap.Time("retry_at", retryAt),
			zap.Time("endpoint_retry_at", epRetryAt), zap.Int("failures_not_logged", suppressed))...)
	}
	return retryAt, epRetryAt
}

// goneLogged reports whether a 410 of the endpoint should be logged: not
// when one was, moments ago (the attempts in flight with it).
func (d *Dispatcher) goneLogged(ep string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.healthOf(ep)
	now := d.now()
	if !h.goneAt.IsZero() && now.Sub(h.goneAt) < failingLogEvery {
		return false
	}
	h.goneAt = now
	return true
}

func (d *Dispatcher) healthOf(ep string) *epHealth {
	h := d.health[ep]
	if h == nil {
		h = &epHealth{}
		d.health[ep] = h
	}
	return h
}

// backoff is the wait after the n-th failure (n ≥ 1): RetryBase doubling
// to RetryMax, then drawn uniformly from its upper half, so dispatchers
// and events that failed together do not retry together.
func (d *Dispatcher) backoff(n int) time.Duration {
	return Backoff(d.cfg.RetryBase, d.cfg.RetryMax, n, d.jitter())
}

// Backoff is base·2^(n-1) capped at maxWait, scaled into [½, 1] by jitter
// (a number in [0, 1)).
func Backoff(base, maxWait time.Duration, n int, jitter float64) time.Duration {
	b := maxWait
	if n < 1 {
		n = 1
	}
	if n <= 40 && base<<(n-1) < maxWait && base<<(n-1) > 0 {
		b = base << (n - 1)
	}
	return b/2 + time.Duration(float64(b/2)*jitter)
}

// watchStatuses reads the endpoints' statuses now and then into the
// metrics (disabled, pending), and logs an endpoint's enabling or
// disabling, whoever made it (the API, another dispatcher).
func (d *Dispatcher) watchStatuses(ctx context.Context) {
	for {
		if st, err := d.outbox.EndpointStatuses(ctx); err == nil {
			for _, s := range st {
				d.metrics.status(s.Name, s.Enabled, s.Pending)
				d.mu.Lock()
				h := d.healthOf(s.Name)
				was := h.enabled
				h.enabled = &s.Enabled
				d.mu.Unlock()
				switch {
				case was == nil && !s.Enabled:
					d.log.Warn("event endpoint is disabled: its events wait in the outbox until it is enabled again",
						zap.String("endpoint", s.Name), zap.String("reason", s.Disabled), zap.Int64("pending", s.Pending))
				case was == nil || *was == s.Enabled:
				case s.Enabled:
					d.log.Info("event endpoint enabled again", zap.String("endpoint", s.Name), zap.Int64("pending", s.Pending))
				default:
					d.log.Info("event endpoint disabled", zap.String("endpoint", s.Name), zap.String("reason", s.Disabled))
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(statusEvery):
		}
	}
}
