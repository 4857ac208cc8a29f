package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/workflows/refund"
)

// The dispatcher of recorded refund requests (durable intake, issue 20).
// POST /v1/orders/{id}/refund records the request in the store and
// answers 202 (refund.API.Start); the workflow's start follows here:
//
//   - the gateway that recorded a request (leased to it in the recording
//     transaction) starts it in the background, at most Concurrency
//     starts at a time (Dispatch), once the refund POSTs it is answering
//     are answered or Yield passed (the console's answers first);
//   - a sweeper (Run) takes the requests left pending: a gateway stopped
//     between its 202 and the start, a start that failed (Temporal down:
//     tried again with backoff, never dropped). A request is leased to one
//     dispatcher while it starts it, so gateways do not all start it at
//     once; a second start would be harmless anyway (refund.StartRecorded:
//     the workflow ID is the order's, USE_EXISTING, and a closed run is
//     followed only when the request was judged after it and the run is
//     not the request's own);
//   - an update (cancel, approve, a held certificate's action) on an order
//     whose request is pending starts it first, inline (StartPending), so
//     it finds the workflow;
//   - a start refused for good (a refund paid meanwhile: M-3) marks the
//     request failed with the Conflict and its rule, which the status
//     shows.
//
// The run ID is recorded once started. Close lets the starts in flight
// finish; a request whose start has not begun stays pending for the next
// sweep, of this gateway after a restart or of another.

// DispatchConfig configures the dispatcher; zero fields take the defaults.
type DispatchConfig struct {
	// Owner names this dispatcher in the leases; default host-pid-random.
	Owner string
	// Concurrency bounds the starts in flight (DefaultDispatchConcurrency).
	Concurrency int
	// Lease is how long a dispatcher holds a request it starts before a
	// sweeper may take it (DefaultDispatchLease); longer than StartTimeout.
	Lease time.Duration
	// Sweep is the sweeper's period (DefaultDispatchSweep).
	Sweep time.Duration
	// StartTimeout bounds one start (DefaultDispatchStartTimeout).
	StartTimeout time.Duration
	// MaxBackoff bounds the wait between two attempts of a request
	// (DefaultDispatchMaxBackoff); the first retry waits MinBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Yield bounds how long a background start waits while this gateway
	// is answering refund POSTs (DefaultDispatchYield): the console's
	// answers come first, the starts they set off follow once the POSTs
	// in flight are answered, or after Yield at the latest. Negative: a
	// start never waits.
	Yield time.Duration
	// Observer hears each start's outcome (obs.IntakeMetrics); nil hears
	// nothing.
	Observer IntakeObserver
}

// IntakeObserver hears the outcome of each start of a recorded request:
// started (lag after its 202), refused for good, or retried later.
type IntakeObserver interface {
	Started(lag time.Duration)
	Refused()
	Retried()
}

// noObserver hears nothing.
type noObserver struct{}

func (noObserver) Started(time.Duration) {}
func (noObserver) Refused()              {}
func (noObserver) Retried()              {}

// The dispatcher's defaults. A request's start follows its 202 within
// milliseconds; one a gateway left behind is taken by a sweeper once its
// Lease ran out, within Lease plus Sweep.
const (
	DefaultDispatchConcurrency  = 32
	DefaultDispatchLease        = 15 * time.Second
	DefaultDispatchSweep        = time.Second
	DefaultDispatchStartTimeout = 10 * time.Second
	DefaultDispatchMinBackoff   = 250 * time.Millisecond
	DefaultDispatchMaxBackoff   = 30 * time.Second
	DefaultDispatchYield        = time.Second
)

func (c DispatchConfig) withDefaults() DispatchConfig {
	if c.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		c.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultDispatchConcurrency
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = DefaultDispatchStartTimeout
	}
	if c.Lease <= 0 {
		c.Lease = DefaultDispatchLease
	}
	if c.Lease <= c.StartTimeout {
		c.Lease = c.StartTimeout + 5*time.Second
	}
	if c.Sweep <= 0 {
		c.Sweep = DefaultDispatchSweep
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultDispatchMinBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultDispatchMaxBackoff
	}
	if c.Yield == 0 {
		c.Yield = DefaultDispatchYield
	}
	if c.Observer == nil {
		c.Observer = noObserver{}
	}
	return c
}

// Dispatcher starts recorded refund requests (refund.Intake). Build it
// with New (Server.Intake); run its sweeper with Run.
type Dispatcher struct {
	wf     Workflows
	orders Orders
	cfg    DispatchConfig
	now    func() time.Time
	log    *zap.Logger
	sem    chan struct{}
	// base is the starts' context: Close cancels it once the starts in
	// flight had their time.
	base   context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	// busy counts the background starts not yet done (tests wait for 0).
	busy atomic.Int64
	// posts counts the refund POSTs this gateway is answering (Accepting);
	// quiet is closed whenever it is 0.
	postsMu sync.Mutex
	posts   int
	quiet   chan struct{}
}

var _ refund.Intake = (*Dispatcher)(nil)

func newDispatcher(wf Workflows, orders Orders, cfg DispatchConfig, now func() time.Time, log *zap.Logger) *Dispatcher {
	cfg = cfg.withDefaults()
	base, cancel := context.WithCancel(context.Background())
	quiet := make(chan struct{})
	close(quiet)
	return &Dispatcher{wf: wf, orders: orders, cfg: cfg, now: now, log: log.Named("intake"),
		sem: make(chan struct{}, cfg.Concurrency), base: base, cancel: cancel, quiet: quiet}
}

// Accepting says a refund POST is being answered, until done is called
// (refund.Intake): the background starts wait for the POSTs in flight,
// up to Yield.
func (d *Dispatcher) Accepting() (done func()) {
	d.postsMu.Lock()
	if d.posts == 0 {
		d.quiet = make(chan struct{})
	}
	d.posts++
	d.postsMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			d.postsMu.Lock()
			defer d.postsMu.Unlock()
			if d.posts--; d.posts == 0 {
				close(d.quiet)
			}
		})
	}
}

// yield waits, for a start queued at queued, until no refund POST is in
// flight, Yield after queued, or Close.
func (d *Dispatcher) yield(queued time.Time) {
	if d.cfg.Yield < 0 {
		return
	}
	d.postsMu.Lock()
	quiet := d.quiet
	d.postsMu.Unlock()
	t := time.NewTimer(time.Until(queued.Add(d.cfg.Yield)))
	defer t.Stop()
	select {
	case <-quiet:
	case <-t.C:
	case <-d.base.Done():
	}
}

// InFlight is how many starts are under way or waiting for a slot.
func (d *Dispatcher) InFlight() int64 { return d.busy.Load() }

// Owner is the name this dispatcher leases requests under.
func (d *Dispatcher) Owner() string { return d.cfg.Owner }

// goStart runs fn in the background under the concurrency bound, unless
// the dispatcher is closed (the request stays pending for a sweep). fn's
// context carries parent's values (the request's trace: the workflow's
// start is a child of the POST's span) but not its end; it ends after
// StartTimeout or when Close gives up waiting.
func (d *Dispatcher) goStart(parent context.Context, fn func(ctx context.Context)) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.busy.Add(1)
	queued := time.Now()
	d.wg.Go(func() {
		defer d.busy.Add(-1)
		d.yield(queued)
		select {
		case d.sem <- struct{}{}:
		case <-d.base.Done():
			return
		}
		defer func() { <-d.sem }()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), d.cfg.StartTimeout)
		defer cancel()
		stop := context.AfterFunc(d.base, cancel)
		defer stop()
		fn(ctx)
	})
	return true
}

// Claim is the lease the console API records a request with: this
// dispatcher's, from now (refund.Intake).
func (d *Dispatcher) Claim() ports.Claim { return d.claim() }

// Dispatch starts req, which the console API recorded leased to this
// dispatcher (Claim), in the background; o is its order as the API read
// it (what the start names: its ID and product). ctx is the request's: its values
// (the trace) go with the start, its end does not. Closed, it starts
// nothing: the lease runs out and a sweeper takes the request.
func (d *Dispatcher) Dispatch(ctx context.Context, req ports.RefundRequest, o domain.Order) {
	d.goStart(ctx, func(ctx context.Context) { _ = d.attempt(ctx, req, &o) })
}

// StartPending starts the order's pending request now, inline, and waits
// for it: nil when there is none or it started; the refusal (Conflict
// with its rule) when it was refused for good; otherwise the start's error
// (Unavailable while Temporal is down), the request being tried again
// later. A request another dispatcher is starting is started here too:
// an update must not wait for a lease, and a second start is harmless.
func (d *Dispatcher) StartPending(ctx context.Context, orderID string) error {
	in, err := d.orders.RefundIntake(ctx, orderID)
	if err != nil {
		return err
	}
	if in.Request == nil || in.Request.State != ports.RequestPending {
		return nil
	}
	req, ok, err := d.orders.ClaimRefundRequest(ctx, orderID, d.claim(), true)
	if err != nil || !ok {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StartTimeout)
	defer cancel()
	return d.attempt(ctx, req, nil)
}

// Sweep claims the pending requests that are due and not leased (up to
// Concurrency) and starts them in the background; it returns how many it
// claimed.
func (d *Dispatcher) Sweep(ctx context.Context) (int, error) {
	reqs, err := d.orders.ClaimRefundRequests(ctx, d.claim(), d.cfg.Concurrency)
	if err != nil {
		return 0, err
	}
	for _, req := range reqs {
		if !d.goStart(d.base, func(ctx context.Context) { _ = d.attempt(ctx, req, nil) }) {
			// Closed meanwhile: its lease runs out and another takes it.
			break
		}
	}
	return len(reqs), nil
}

// Run sweeps every Sweep until ctx ends or Close.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Sweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.base.Done():
			return
		case <-t.C:
			if n, err := d.Sweep(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("refund requests: sweep failed", zap.Error(err))
			} else if n > 0 {
				d.log.Info("refund requests: sweep took pending requests", zap.Int("requests", n))
			}
		}
	}
}

// Close stops dispatching: no new start begins, the starts in flight get
// up to StartTimeout to finish (and record their outcome), then their
// context is cancelled. Safe to call more than once.
func (d *Dispatcher) Close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d.cfg.StartTimeout):
		d.log.Warn("refund requests: starts still in flight at shutdown; they stay pending for a sweep")
	}
	d.cancel()
	<-done
}

func (d *Dispatcher) claim() ports.Claim {
	return ports.Claim{Owner: d.cfg.Owner, Now: d.now(), Lease: d.cfg.Lease}
}

// backoff is the wait before attempt n+1 of a request: MinBackoff doubled
// per attempt, at most MaxBackoff.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := d.cfg.MinBackoff
	for i := 1; i < attempts && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	return min(b, d.cfg.MaxBackoff)
}

// attempt starts a claimed request and records the outcome: started
// with its run ID, failed with the refusal, or pending again after a
// backoff; order is the request's order, read here when nil. It returns
// what StartPending answers.
func (d *Dispatcher) attempt(ctx context.Context, req ports.RefundRequest, order *domain.Order) error {
	log := d.log.With(zap.String("order", req.OrderID), zap.String("request", req.ID), zap.Int("attempt", req.Attempts))
	// The outcome is recorded even when ctx ended (a client went away).
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.StartTimeout)
	defer cancel()
	var in refund.Input
	if err := json.Unmarshal(req.Input, &in); err != nil {
		log.Error("refund request: its stored input is malformed; it stays pending", zap.Error(err))
		d.retry(rctx, log, req, errs.Wrap(errs.Internal, err, "stored refund request of order %s", req.OrderID))
		return errs.Wrap(errs.Internal, err, "stored refund request of order %s", req.OrderID)
	}
	if order == nil {
		o, err := d.orders.GetOrder(ctx, req.OrderID)
		if err != nil {
			d.retry(rctx, log, req, err)
			return err
		}
		order = &o
	}
	o := *order
	runID, refused, err := refund.StartRecorded(ctx, d.wf, o, in, req.AfterFinished, req.Attempts > 1)
	switch {
	case refused != nil:
		d.cfg.Observer.Refused()
		log.Info("refund request refused at its start", zap.Error(refused))
		if err := d.orders.RefundRequestFailed(rctx, req.OrderID, req.ID, string(errs.CodeOf(refused)), refund.RefusalRule(refused),
			errs.MessageOf(refused), d.now()); err != nil {
			log.Warn("refund request: its refusal not recorded; a sweep decides again", zap.Error(err))
		}
		return refused
	case err != nil:
		d.retry(rctx, log, req, err)
		return err
	}
	now := d.now()
	d.cfg.Observer.Started(now.Sub(req.RequestedAt))
	if err := d.orders.RefundRequestStarted(rctx, req.OrderID, req.ID, runID, now); err != nil {
		// The lease runs out and a sweep finds the run (its own).
		log.Warn("refund started, its start not recorded", zap.String("run", runID), zap.Error(err))
	}
	return nil
}

// retry lets go of the request until its backoff passed.
func (d *Dispatcher) retry(ctx context.Context, log *zap.Logger, req ports.RefundRequest, cause error) {
	d.cfg.Observer.Retried()
	wait := d.backoff(req.Attempts)
	log.Warn("refund request not started; trying again", zap.Duration("in", wait), zap.Error(cause))
	now := d.now()
	if err := d.orders.RetryRefundRequest(ctx, req.OrderID, req.ID, now.Add(wait), errs.MessageOf(cause), now); err != nil {
		log.Warn("refund request: its retry not recorded; the lease runs out", zap.Error(err))
	}
}

// RefundActions are wf's refund updates with an order's pending request
// started first (StartPending), for the operator pages (ops.Actions),
// which send cancel and approve themselves.
type RefundActions struct {
	Workflows
	Intake *Dispatcher
}

// CancelRefund starts the order's pending request, then cancels.
func (a RefundActions) CancelRefund(ctx context.Context, orderID, updateID string, req refund.CancelRequest) (refund.Status, error) {
	if err := a.Intake.StartPending(ctx, orderID); err != nil {
		return refund.Status{}, err
	}
	return a.Workflows.CancelRefund(ctx, orderID, updateID, req)
}

// ApproveRefund starts the order's pending request, then approves.
func (a RefundActions) ApproveRefund(ctx context.Context, orderID, updateID string, req refund.ApproveRequest) (refund.Status, error) {
	if err := a.Intake.StartPending(ctx, orderID); err != nil {
		return refund.Status{}, err
	}
	return a.Workflows.ApproveRefund(ctx, orderID, updateID, req)
}
