package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
)

// The api mode's endpoints: the console API's calls, and the bare
// Temporal calls they are compared with.
const (
	EndpointRefundPOST = "refund POST" // POST /v1/orders/{id}/refund on a new order: the time to its 202
	// EndpointRefundStarted is the same POSTs timed from sending to the
	// workflow's start recorded (the run ID the status GET shows in
	// start.run_id): the 202 answers before the start (durable intake).
	EndpointRefundStarted = "refund POST → started"
	EndpointStatusGET     = "status GET"      // GET /v1/orders/{id}/refund
	EndpointListGET       = "list GET"        // GET /v1/orders?… (operator)
	EndpointCancel        = "cancel"          // POST /v1/orders/{id}/refund/cancel, GW-4 awaiting approval
	EndpointApprove       = "approve"         // POST /v1/orders/{id}/refund/approve, a second operator
	EndpointExecute       = "ExecuteWorkflow" // baseline of the refund POST
	EndpointDescribe      = "DescribeWorkflowExecution"
)

// APIEndpoints lists the api mode's phases in the order each client count
// runs them: each certflow call next to the bare call it is compared with.
var APIEndpoints = []string{EndpointRefundPOST, EndpointExecute, EndpointStatusGET, EndpointDescribe, EndpointListGET, EndpointCancel, EndpointApprove}

// apiBaselineOf is the bare Temporal call each console call is compared
// with; cancel and approve have none.
var apiBaselineOf = map[string]string{
	EndpointRefundPOST:    EndpointExecute,
	EndpointRefundStarted: EndpointExecute,
	EndpointStatusGET:     EndpointDescribe,
	EndpointListGET:       EndpointDescribe,
}

// The targets for the console API (issue 20): p99 at
// targetAPIClients concurrent clients with targetAPIInFlight refunds in
// flight.
const (
	targetAPIClients    = 200
	targetAPIInFlight   = 2000
	targetRefundPOSTP99 = 500 * time.Millisecond
	targetStatusGETP99  = 200 * time.Millisecond
)

// APIPhase is one endpoint measured at one client count: Count requests,
// Clients at once, each timed from sending the request to reading the
// whole answer.
type APIPhase struct {
	Endpoint string `json:"endpoint"`
	Clients  int    `json:"clients"`
	Count    int    `json:"count"`
	// Unavailable counts answers 429, 503 or 504 (and, on the bare
	// calls, Temporal's Unavailable and DeadlineExceeded): counted, their
	// latency included, not retried.
	Unavailable int           `json:"unavailable"`
	Wall        time.Duration `json:"wall"`
	PerSec      float64       `json:"per_sec"`
	P50         time.Duration `json:"p50"`
	P99         time.Duration `json:"p99"`
	Max         time.Duration `json:"max"`
	Usages
}

// API is the api mode's figures.
type API struct {
	// InFlight refunds were parked at the CA's review before the
	// measurement (the refund POSTs add one each); AwaitingApproval GW-4
	// refunds waited for an operator (the cancels and approves take one
	// each). BaselineParked baseline workflows waited at their signal.
	InFlight         int           `json:"in_flight"`
	AwaitingApproval int           `json:"awaiting_approval"`
	BaselineParked   int           `json:"baseline_parked"`
	Park             time.Duration `json:"park"`
	Requests         int           `json:"requests"`
	// Background refunds ran at once throughout the measurement (PUT a
	// new order, POST its refund, await refunded; the CA answers at once):
	// BackgroundDone finished in BackgroundWall.
	Background     int           `json:"background"`
	BackgroundDone int           `json:"background_done"`
	BackgroundWall time.Duration `json:"background_wall"`
	Phases         []APIPhase    `json:"phases"`
}

// phase finds the endpoint's phase at a client count.
func (a *API) phase(endpoint string, clients int) (APIPhase, bool) {
	for _, p := range a.Phases {
		if p.Endpoint == endpoint && p.Clients == clients {
			return p, true
		}
	}
	return APIPhase{}, false
}

// api parks InFlight refunds at the CA's review and the GW-4 refunds the
// cancels and approves need, parks as many baseline workflows at their
// signal, starts the background refunds, then measures each endpoint at
// each client count.
func (h *harness) api(ctx context.Context, rep *Report) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	parked, gw4 := h.plan.apiParked, h.plan.apiGW4()
	a := &API{InFlight: len(parked), AwaitingApproval: len(gw4), BaselineParked: len(parked), Requests: h.cfg.APIRequests, Background: h.cfg.APIBackground}
	rep.API = a
	h.logf("api: %d refunds parked at the CA's review, %d GW-4 refunds awaiting approval, %d baseline workflows parked; %d requests per endpoint at %v clients; %d background refunds at once",
		a.InFlight, a.AwaitingApproval, a.BaselineParked, a.Requests, h.cfg.APIClients, a.Background)

	start := time.Now()
	toStart := append(append([]domain.Order(nil), parked...), gw4...)
	if _, _, err := drive(ctx, len(toStart), h.cfg.Concurrency, func(ctx context.Context, i int) error {
		return h.startRefund(ctx, toStart[i])
	}); err != nil {
		return err
	}
	if err := h.waitParked(ctx, parked); err != nil {
		return err
	}
	if err := h.waitRefundState(ctx, gw4, statemachine.OrderAwaitingApproval); err != nil {
		return err
	}
	before, err := h.baselineParked(ctx)
	if err != nil {
		return err
	}
	if _, _, err := drive(ctx, len(parked), h.cfg.Concurrency, func(ctx context.Context, i int) error {
		return h.baseline(ctx, apiBaselineID(i), false)
	}); err != nil {
		return err
	}
	if err := h.waitBaselineParked(ctx, before+int64(len(parked))); err != nil {
		return err
	}
	a.Park = time.Since(start)
	h.logf("  parked in %s", a.Park.Round(time.Millisecond))
	time.Sleep(settle)

	bg := h.background(ctx, a.Background)
	defer bg.stop()
	// Warm-up, not measured: the GETs and the bare call once each at the
	// largest client count, so the first measured phase does not pay for
	// opening connections.
	warmClients := slices.Max(h.cfg.APIClients)
	for _, e := range []string{EndpointStatusGET, EndpointDescribe, EndpointListGET} {
		op := h.apiOp(e, warmClients)
		if _, _, err := driveTimed(ctx, min(2*warmClients, max(a.Requests, len(parked))), warmClients, func(ctx context.Context, i int) (time.Duration, error) {
			d, _, err := op(ctx, i)
			return d, err
		}); err != nil {
			return fmt.Errorf("warming up %s: %w", e, err)
		}
	}
	for _, c := range h.cfg.APIClients {
		for _, endpoint := range APIEndpoints {
			var sw *startWatch
			if endpoint == EndpointRefundPOST {
				sw = &startWatch{}
				// The phase's orders, as a console backend registers
				// them when they are bought, before any refund is asked
				// for: not timed, and not part of the phase's load.
				orders := h.plan.apiPost[c]
				if _, _, err := drive(ctx, len(orders), c, func(ctx context.Context, i int) error {
					return h.registerOrder(ctx, orders[i])
				}); err != nil {
					return fmt.Errorf("registering the orders of %s at %d clients: %w", endpoint, c, err)
				}
				time.Sleep(settle)
			}
			p, err := h.measureAPI(ctx, endpoint, c, h.apiOpWatched(endpoint, c, sw))
			if err != nil {
				return fmt.Errorf("%s at %d clients: %w", endpoint, c, err)
			}
			a.Phases = append(a.Phases, p)
			if sw != nil {
				// The same POSTs, until their workflows started: its own
				// row, so that the time the 202 no longer waits for is
				// not hidden.
				lat, err := sw.done(ctx, h)
				if err != nil {
					return fmt.Errorf("%s at %d clients: %w", EndpointRefundStarted, c, err)
				}
				sp := apiPhase(EndpointRefundStarted, c, lat, p.Wall)
				sp.Unavailable, sp.Usages = int(sw.unavailable.Load()), p.Usages
				h.logf("  %-25s %3d clients: %d started, p50 %s, p99 %s, max %s, %d not started or not accepted", EndpointRefundStarted, c, len(lat),
					ms(sp.P50), ms(sp.P99), ms(sp.Max), sp.Unavailable)
				a.Phases = append(a.Phases, sp)
			}
			if err := h.settleAPIPhase(ctx, endpoint, c); err != nil {
				return fmt.Errorf("%s at %d clients: %w", endpoint, c, err)
			}
		}
	}
	a.BackgroundDone, a.BackgroundWall, err = bg.stop()
	if err != nil {
		return fmt.Errorf("background refunds: %w", err)
	}
	if a.Background > 0 {
		h.logf("  background: %d refunds finished in %s (%.2f/s)", a.BackgroundDone, a.BackgroundWall.Round(time.Millisecond),
			float64(a.BackgroundDone)/a.BackgroundWall.Seconds())
	}
	return nil
}

// settleAPIPhase waits, after a phase, until the work its requests set
// off is done (the POSTs' refunds parked at the review, the cancelled
// refunds cancelled, the approved ones refunded) and the settle time has
// passed, so that each phase is measured on the standing load alone (the
// refunds in flight and the background refunds), not on the tail of the
// phase before it.
func (h *harness) settleAPIPhase(ctx context.Context, endpoint string, c int) error {
	var err error
	switch endpoint {
	case EndpointRefundPOST:
		err = h.waitParked(ctx, h.plan.apiPost[c])
	case EndpointCancel:
		err = h.waitRefundState(ctx, h.plan.apiCancel[c], statemachine.OrderCancelled)
	case EndpointApprove:
		err = h.waitRefundState(ctx, h.plan.apiApprove[c], statemachine.OrderRefunded)
	default:
		return nil
	}
	if err != nil {
		return err
	}
	time.Sleep(settle)
	return nil
}

func apiBaselineID(i int) string { return fmt.Sprintf("baseline/api-park-%05d", i) }

// apiOp is one timed request of endpoint at c clients: it returns the
// request's latency and whether the answer was "unavailable" (429, 503,
// 504, a client timeout; Temporal's Unavailable or DeadlineExceeded). Any
// other failure is an error: the harness asked for something the API
// refuses.
type apiOp func(ctx context.Context, i int) (time.Duration, bool, error)

// startWatch times the refund POSTs of a phase until their workflows
// started. It does not poll while the phase runs (that would load the
// store the POSTs use): each 202 notes its order and when it was sent,
// and once the phase settled, done reads each request's record, whose
// start the dispatcher stamped (updated_at, set when the start returned;
// the harness and the in-process gateway share a clock).
type startWatch struct {
	mu   sync.Mutex
	sent map[string]time.Time
	// unavailable counts the POSTs not answered 202 (not watched) and
	// the starts not made within startWatchTimeout.
	unavailable atomic.Int64
}

// startWatchTimeout bounds the wait for one start (a start the
// dispatcher retries while Temporal does not answer is late, not lost).
const startWatchTimeout = 2 * time.Minute

// watch notes that the POST of orderID, sent at sent, was accepted.
func (sw *startWatch) watch(orderID string, sent time.Time) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.sent == nil {
		sw.sent = map[string]time.Time{}
	}
	sw.sent[orderID] = sent
}

// done returns, for each watched POST, the time from its sending to its
// workflow's start, waiting (up to startWatchTimeout after the call) for
// the starts not yet made; those never made count as unavailable. A
// start refused is an error: the harness asked for a refund the rules
// refuse.
func (sw *startWatch) done(ctx context.Context, h *harness) ([]time.Duration, error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, startWatchTimeout)
	defer cancel()
	var (
		lat  []time.Duration
		errs error
	)
	left := slices.Sorted(maps.Keys(sw.sent))
	for len(left) > 0 {
		var later []string
		for _, id := range left {
			q, err := h.db.GetRefundRequest(ctx, id)
			switch {
			case err == nil && q.State == ports.RequestStarted:
				lat = append(lat, q.UpdatedAt.Sub(sw.sent[id]))
			case err == nil && q.State == ports.RequestFailed:
				errs = errors.Join(errs, fmt.Errorf("refund of %s: its start was refused: %s %s", id, q.ErrorCode, q.ErrorMessage))
			default:
				later = append(later, id)
			}
		}
		if left = later; len(left) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			sw.unavailable.Add(int64(len(left)))
			return lat, errs
		case <-time.After(250 * time.Millisecond):
		}
	}
	return lat, errs
}

func (h *harness) apiOp(endpoint string, c int) apiOp {
	return h.apiOpWatched(endpoint, c, nil)
}

// apiOpWatched is apiOp; the refund POSTs' orders go to sw when set.
func (h *harness) apiOpWatched(endpoint string, c int, sw *startWatch) apiOp {
	parked := h.plan.apiParked
	switch endpoint {
	case EndpointRefundPOST:
		orders := h.plan.apiPost[c]
		body, _ := json.Marshal(refundBody{Consent: true, ConfirmIrreversible: true, AcceptLateReviewRisk: true})
		return func(ctx context.Context, i int) (time.Duration, bool, error) {
			// orders[i] is registered (before the phase).
			sent := time.Now()
			d, unav, err := h.timedConsole(ctx, h.consoleToken, http.MethodPost, "/v1/orders/"+url.PathEscape(orders[i].ID)+"/refund", body, http.StatusAccepted)
			if sw != nil {
				if err == nil && !unav {
					sw.watch(orders[i].ID, sent)
				} else {
					sw.unavailable.Add(1)
				}
			}
			return d, unav, err
		}
	case EndpointExecute:
		return func(ctx context.Context, i int) (time.Duration, bool, error) {
			t := time.Now()
			_, err := h.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("baseline/api-post-c%d-%05d", c, i), TaskQueue: BaselineTaskQueue},
				BaselineWorkflow, BaselineInput{})
			return time.Since(t), transient(err), nonTransient(err)
		}
	case EndpointStatusGET:
		return func(ctx context.Context, i int) (time.Duration, bool, error) {
			return h.timedConsole(ctx, h.consoleToken, http.MethodGet, "/v1/orders/"+url.PathEscape(parked[i%len(parked)].ID)+"/refund", nil, http.StatusOK)
		}
	case EndpointDescribe:
		return func(ctx context.Context, i int) (time.Duration, bool, error) {
			t := time.Now()
			_, err := h.tc.DescribeWorkflowExecution(ctx, apiBaselineID(i%len(parked)), "")
			return time.Since(t), transient(err), nonTransient(err)
		}
	case EndpointListGET:
		return func(ctx context.Context, i int) (time.Duration, bool, error) {
			return h.timedConsole(ctx, h.operatorToken, http.MethodGet, "/v1/orders?"+apiListQueries[i%len(apiListQueries)], nil, http.StatusOK)
		}
	case EndpointCancel:
		orders := h.plan.apiCancel[c]
		return func(ctx context.Context, i int) (time.Duration, bool, error) {
			return h.timedConsole(ctx, h.consoleToken, http.MethodPost, "/v1/orders/"+url.PathEscape(orders[i].ID)+"/refund/cancel", []byte(`{"reason":"bench"}`), http.StatusOK)
		}
	case EndpointApprove:
		orders := h.plan.apiApprove[c]
		return func(ctx context.Context, i int) (time.Duration, bool, error) {
			return h.timedConsole(ctx, h.operatorToken, http.MethodPost, "/v1/orders/"+url.PathEscape(orders[i].ID)+"/refund/approve", []byte(`{"note":"bench"}`), http.StatusOK)
		}
	}
	return func(context.Context, int) (time.Duration, bool, error) {
		return 0, false, fmt.Errorf("unknown endpoint %q", endpoint)
	}
}

// apiListQueries are the operator's list views the list GETs take in
// turn: the review queue, the approval queue, and every refund in flight,
// a page of 50 each.
var apiListQueries = []string{
	"waiting_on=" + string(domain.WaitCAReview) + "&limit=50",
	"waiting_on=" + string(domain.WaitOperatorApproval) + "&limit=50",
	"outcome=pending&limit=50",
}

// timedConsole makes one console API request and times it. want is the
// status that counts as success; 429, 503 and 504 count as unavailable.
func (h *harness) timedConsole(ctx context.Context, token, method, path string, body []byte, want int) (time.Duration, bool, error) {
	t := time.Now()
	status, resp, err := h.consoleAs(ctx, token, method, path, body)
	d := time.Since(t)
	switch {
	case err != nil && clientTimeout(ctx, err):
		// The client gave up (its timeout, not the run's): the API did
		// not answer in time, which is unavailability, not a harness
		// error; the run goes on.
		return d, true, nil
	case err != nil:
		return d, false, err
	case status == want:
		return d, false, nil
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		return d, true, nil
	}
	return d, false, fmt.Errorf("%s %s: %d, want %d: %s", method, path, status, want, clip(resp))
}

// clientTimeout reports err as the HTTP client's timeout while the run's
// own context is still live.
func clientTimeout(ctx context.Context, err error) bool {
	var ne net.Error
	return ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()))
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// transient reports whether err is Temporal not answering in time.
func transient(err error) bool {
	return err != nil && isTransient(err)
}

// nonTransient is err unless it is transient.
func nonTransient(err error) error {
	if err == nil || isTransient(err) {
		return nil
	}
	return err
}

// measureAPI runs Requests timed ops at c clients while sampling the
// processes.
func (h *harness) measureAPI(ctx context.Context, endpoint string, c int, op apiOp) (APIPhase, error) {
	n := h.cfg.APIRequests
	s, err := h.sample()
	if err != nil {
		return APIPhase{}, err
	}
	var unavailable atomic.Int64
	lat, wall, runErr := driveTimed(ctx, n, c, func(ctx context.Context, i int) (time.Duration, error) {
		d, unav, err := op(ctx, i)
		if unav {
			unavailable.Add(1)
		}
		return d, err
	})
	u, err := s.end()
	if runErr != nil {
		return APIPhase{}, runErr
	}
	if err != nil {
		return APIPhase{}, err
	}
	if err := h.alive(); err != nil {
		return APIPhase{}, err
	}
	p := apiPhase(endpoint, c, lat, wall)
	p.Unavailable, p.Usages = int(unavailable.Load()), u
	h.logf("  %-25s %3d clients: %d in %s = %.1f/s, p50 %s, p99 %s, max %s, %d unavailable; %s", endpoint, c, n,
		wall.Round(time.Millisecond), p.PerSec, ms(p.P50), ms(p.P99), ms(p.Max), p.Unavailable, u)
	return p, nil
}

// apiPhase is the figures of one endpoint's latencies.
func apiPhase(endpoint string, clients int, lat []time.Duration, wall time.Duration) APIPhase {
	p := APIPhase{Endpoint: endpoint, Clients: clients, Count: len(lat), Wall: wall,
		P50: percentile(lat, 50), P99: percentile(lat, 99), Max: percentile(lat, 100)}
	if wall > 0 {
		p.PerSec = float64(len(lat)) / wall.Seconds()
	}
	return p
}

// driveTimed runs op(i) for i in [0,n) with conc in flight and keeps the
// latency each op reports (an op may time only part of its work). The
// first error stops the run.
func driveTimed(ctx context.Context, n, conc int, op func(ctx context.Context, i int) (time.Duration, error)) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, n)
	_, wall, err := drive(ctx, n, conc, func(ctx context.Context, i int) error {
		d, err := op(ctx, i)
		lat[i] = d
		return err
	})
	if err != nil {
		return nil, wall, err
	}
	return lat, wall, nil
}

// waitRefundState polls the store until every order's refund record is
// in state.
func (h *harness) waitRefundState(ctx context.Context, orders []domain.Order, state statemachine.OrderState) error {
	lastLog := time.Now()
	for {
		n := 0
		for _, o := range orders {
			if rec, err := h.db.GetRefund(ctx, o.ID); err == nil && rec.State == string(state) {
				n++
			}
		}
		if n == len(orders) {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%d of %d refunds %s: %w", n, len(orders), state, ctx.Err())
		}
		if err := h.alive(); err != nil {
			return err
		}
		if time.Since(lastLog) > 30*time.Second {
			h.logf("  %d of %d refunds %s", n, len(orders), state)
			lastLog = time.Now()
		}
		time.Sleep(time.Second)
	}
}

// backgroundRun is the stream of refunds that keeps the worker busy
// while the api mode measures.
type backgroundRun struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	start  time.Time
	done   atomic.Int64
	mu     sync.Mutex
	err    error
	once   sync.Once
	wall   time.Duration
}

// background starts conc loops, each registering a new order of one
// issued certificate, starting its refund and awaiting refunded (the CA
// simulator answers at once: revoke → review → delete → pay), until stop.
func (h *harness) background(ctx context.Context, conc int) *backgroundRun {
	ctx, cancel := context.WithCancel(ctx)
	b := &backgroundRun{cancel: cancel, start: time.Now()}
	var next atomic.Int64
	for range conc {
		b.wg.Go(func() {
			for ctx.Err() == nil {
				o := issuedOrder(fmt.Sprintf("api-bg-%06d", next.Add(1)), h.plan.paid, h.plan.issued)
				err := h.registerOrder(ctx, o)
				if err == nil {
					err = h.refund(ctx, o)
				}
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					b.mu.Lock()
					b.err = errors.Join(b.err, err)
					b.mu.Unlock()
					return
				}
				b.done.Add(1)
			}
		})
	}
	return b
}

// stop ends the stream and returns the refunds finished, the time they
// took and the first failures. Later calls return the same.
func (b *backgroundRun) stop() (int, time.Duration, error) {
	b.once.Do(func() {
		b.wall = time.Since(b.start)
		b.cancel()
		b.wg.Wait()
	})
	b.mu.Lock()
	defer b.mu.Unlock()
	return int(b.done.Load()), b.wall, b.err
}

// awaitStarted waits until the order's recorded refund request started
// (its workflow exists): the POST's 202 answers before the start.
func (h *harness) awaitStarted(ctx context.Context, orderID string) error {
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		q, err := h.db.GetRefundRequest(ctx, orderID)
		switch {
		case err == nil && q.State == ports.RequestStarted:
			return nil
		case err == nil && q.State == ports.RequestFailed:
			return fmt.Errorf("refund of %s: its start was refused: %s %s", orderID, q.ErrorCode, q.ErrorMessage)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("refund of %s not started: %w", orderID, ctx.Err())
		case <-time.After(wait):
		}
	}
}
