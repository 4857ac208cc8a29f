package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/gateway"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/webhook"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// callbacks compares signed CA callbacks through the gateway with direct
// SignalWorkflow calls carrying the same result, on two paths: to the
// certificate's own workflow and to the refund that holds the certificate.
//
// The certificate path: certificates registered with their revocation in
// review (as a revocation submitted from the console): the harness opens
// each review at casim, which parks it, and posts the review's result
// itself, in casim's callback format (event ID, review ID, type,
// certificate, occurred_at), signed as casim signs. The first callback
// starts the certificate's workflow and is applied (the certificate is
// revoked); every callback after that repeats the same event ID, which
// the workflow recognises and ignores. Each round runs the gateway and
// the direct path alone, one after the other, then both at once (paired,
// half the slots each).
//
// The held path (issue 20): refunds parked at the CA's review, each
// holding its issued certificate (the store names refund/<order> its
// holder), so the gateway reads the holder and signals the refund
// (gateway/callbacks.go deliver) with certificate.SignalCAResult, the
// signal the direct path sends to refund.WorkflowID(order). The result
// must not end the wait: an approval would send the refund on to delete
// and pay, and the next callback would find it ended (NotFound) and fall
// back to the certificate's workflow, measuring another path. So every
// held callback carries a result the refund takes and records but never
// applies, a late one of an earlier review: revocation_approved for a
// review ID that is not the open review's, occurring before the
// revocation was submitted. The first (priming) callback is recorded as
// a stray by the held certificate's logic (certificate.Runner
// applyResult → strayReason → recordStray, which in a refund publishes
// nothing); every one after it repeats the event ID, which the refund's
// inbox hands to the held certificate (refund.caResult → Runner.Receive),
// whose receiveResult drops it as seen: nothing queued, nothing marked to
// write, no command. So on both paths each callback costs one signal and
// one workflow task that changes nothing, and their difference is the
// transport: the gateway's verification and store read (the holder)
// against none. The harness checks that: after priming, every refund
// still waits at its review with one stray recorded; after the rounds,
// the same, the refunds' histories hold exactly as many ca-result
// signals as were sent through both paths (so every gateway callback
// reached the refund), the warm-up and rounds added only signals and
// workflow tasks, and no held certificate has a workflow of its own (the
// gateway's fallback never ran).
func (h *harness) callbacks(ctx context.Context, rep *Report) error {
	certs, err := h.certificateCallbacks(ctx)
	if err != nil {
		return err
	}
	held, err := h.heldCallbacks(ctx)
	if err != nil {
		return err
	}
	h.logf("callbacks: %d per round over %d certificate workflows and over %d holding refunds, %d in flight, %d rounds",
		h.cfg.Callbacks, len(certs.results), len(held.results), h.cfg.Concurrency, h.cfg.Rounds)
	time.Sleep(settle)
	if err := h.checkRevoked(ctx, certs.certificates()); err != nil {
		return err
	}
	if err := h.checkHeldParked(ctx, held); err != nil {
		return fmt.Errorf("after priming: %w", err)
	}
	before, err := h.heldHistories(ctx, held)
	if err != nil {
		return err
	}
	// Warm-up, not measured: each path once with a quarter round, so
	// neither path's first measured round pays for connection pools,
	// goroutine stacks and the server's caches the other path warmed.
	// Then the workflow tasks the warm-up's signals started are let
	// finish, so the first measured round does not meet them.
	warm := max(h.cfg.Callbacks/4, 1)
	for _, w := range []struct {
		what string
		op   func(context.Context, int) error
	}{
		{"the held path through the gateway", held.gateway(h, "held-warm")},
		{"the held path directly", held.direct(h)},
		{"the certificate path through the gateway", certs.gateway(h, "warm")},
		{"the certificate path directly", certs.direct(h)},
	} {
		if _, _, err := drive(ctx, warm, h.cfg.Concurrency, w.op); err != nil {
			return fmt.Errorf("warming up %s: %w", w.what, err)
		}
	}
	h.logf("  warmed up: %d callbacks through each path, not measured", warm)
	time.Sleep(settle)
	sent := 2 * warm
	for r := range h.cfg.Rounds {
		gateway, direct := certs.gateway(h, fmt.Sprintf("r%d", r)), certs.direct(h)
		p, err := h.measure(ctx, PhaseGateway, r+1, h.cfg.Callbacks, gateway)
		if err != nil {
			return err
		}
		rep.Callbacks = append(rep.Callbacks, p)
		if p, err = h.measure(ctx, PhaseDirect, r+1, h.cfg.Callbacks, direct); err != nil {
			return err
		}
		rep.Callbacks = append(rep.Callbacks, p)
		// The comparison the targets judge: both paths in one round, half
		// the slots each (docs/BENCHMARKS.md, why: the dev server's speed
		// swings by 15 % from round to round and stalls now and then for a
		// few hundred milliseconds, which decides a round's p99; paired,
		// both paths meet the same swings and stalls). Op numbers run on
		// from the gateway round's, so the webhook IDs stay unique.
		paired, err := h.measurePaired(ctx, [2]string{PhasePairedGateway, PhasePairedDirect}, r+1, max(h.cfg.Callbacks, 2),
			[2]func(context.Context, int) error{
				func(ctx context.Context, i int) error { return gateway(ctx, h.cfg.Callbacks+i) },
				direct,
			})
		if err != nil {
			return err
		}
		rep.Callbacks = append(rep.Callbacks, paired[:]...)
		// The held path, paired the same way.
		paired, err = h.measurePaired(ctx, [2]string{PhaseHeldGateway, PhaseHeldDirect}, r+1, max(h.cfg.Callbacks, 2),
			[2]func(context.Context, int) error{held.gateway(h, fmt.Sprintf("held-r%d", r)), held.direct(h)})
		if err != nil {
			return err
		}
		rep.Callbacks = append(rep.Callbacks, paired[:]...)
		sent += paired[0].Count + paired[1].Count
	}
	return h.checkHeldDelivered(ctx, rep, held, before, sent)
}

// Phase names of the held path's paired rounds.
const (
	PhaseHeldGateway = "held, paired: gateway"
	PhaseHeldDirect  = "held, paired: direct"
)

// callbackSet is the callbacks of one path: for each target, the CA's
// callback body (casim's format), the CAResult the gateway makes of it,
// and the workflow a direct signal carries that result to.
type callbackSet struct {
	bodies    [][]byte
	results   []certificate.CAResult
	workflows []string
	// orders are the holding refunds' orders (the held path only).
	orders []string
}

// add appends a target: res as the CA posts it and as the direct path
// signals it to workflowID.
func (s *callbackSet) add(res certificate.CAResult, workflowID string) error {
	body, err := json.Marshal(casim.Callback{EventID: res.EventID, ReviewID: res.ReviewID, Type: string(res.Result),
		Certificate: res.Certificate, Reason: res.Reason, OccurredAt: res.At})
	if err != nil {
		return err
	}
	s.bodies, s.results, s.workflows = append(s.bodies, body), append(s.results, res), append(s.workflows, workflowID)
	return nil
}

func (s callbackSet) certificates() []string {
	ids := make([]string, len(s.results))
	for i, r := range s.results {
		ids[i] = r.Certificate
	}
	return ids
}

// gateway posts callback i (of target i mod the targets) through the
// gateway, with the webhook ID tag-i.
func (s callbackSet) gateway(h *harness, tag string) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		return h.postCallback(ctx, fmt.Sprintf("%s-%d", tag, i), s.bodies[i%len(s.bodies)])
	}
}

// direct signals result i (of target i mod the targets) to its workflow,
// as the gateway's last step does.
func (s callbackSet) direct(h *harness) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		k := i % len(s.results)
		return h.tc.SignalWorkflow(ctx, s.workflows[k], "", certificate.SignalCAResult, s.results[k])
	}
}

// certificateCallbacks opens the certificate path's reviews at casim and
// primes each certificate's workflow with its first callback, which
// approves the review (checkRevoked, after the settle, sees it applied).
func (h *harness) certificateCallbacks(ctx context.Context) (callbackSet, error) {
	var set callbackSet
	certs := make([]string, len(h.plan.callbacks))
	reviews := make([]string, len(certs))
	for i, o := range h.plan.callbacks {
		certs[i] = o.Certificates[0].ID
	}
	if _, _, err := drive(ctx, len(certs), h.cfg.Concurrency, func(ctx context.Context, i int) (err error) {
		reviews[i], err = h.openReview(ctx, certs[i])
		return err
	}); err != nil {
		return set, fmt.Errorf("opening the reviews: %w", err)
	}
	at := time.Now().UTC().Truncate(time.Second)
	for i, id := range certs {
		res := certificate.CAResult{EventID: "bench-evt-" + id, ReviewID: reviews[i], Certificate: id,
			Result: statemachine.RevocationApproved, Reason: "bench", At: at}
		if err := set.add(res, certificate.WorkflowID(id)); err != nil {
			return set, err
		}
	}
	if _, _, err := drive(ctx, len(certs), h.cfg.Concurrency, set.gateway(h, "prime")); err != nil {
		return set, fmt.Errorf("priming the certificate path: %w", err)
	}
	return set, nil
}

// heldCallbacks parks the held path's refunds at the CA's review (as the
// waiting and api modes do: casim holds their reviews), checks that the
// store names each refund its certificate's holder, and primes each with
// its late result through the gateway (see callbacks).
func (h *harness) heldCallbacks(ctx context.Context) (callbackSet, error) {
	var set callbackSet
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	orders := h.plan.callbacksHeld
	start := time.Now()
	if _, _, err := drive(ctx, len(orders), h.cfg.Concurrency, func(ctx context.Context, i int) error {
		return h.startRefund(ctx, orders[i])
	}); err != nil {
		return set, err
	}
	if err := h.waitParked(ctx, orders); err != nil {
		return set, err
	}
	h.logf("  %d refunds parked at the CA's review in %s", len(orders), time.Since(start).Round(time.Millisecond))
	for _, o := range orders {
		res := heldResult(o, h.plan.paid)
		if err := set.add(res, refund.WorkflowID(o.ID)); err != nil {
			return set, err
		}
		set.orders = append(set.orders, o.ID)
	}
	if err := h.checkHolders(ctx, set); err != nil {
		return set, err
	}
	if _, _, err := drive(ctx, len(orders), h.cfg.Concurrency, set.gateway(h, "held-prime")); err != nil {
		return set, fmt.Errorf("priming the held path: %w", err)
	}
	return set, nil
}

// heldReviewID is the review the held path's results claim to answer:
// not the one the refund's revoke opened, so each is a stray.
const heldReviewID = "bench-earlier-review"

// heldResult is the held path's result for order o's certificate: an
// approval of an earlier review, occurring at occurred (before the
// refund's revocation was submitted), which the refund records as a
// stray and never applies.
func heldResult(o domain.Order, occurred time.Time) certificate.CAResult {
	id := o.Certificates[0].ID
	return certificate.CAResult{EventID: "bench-held-evt-" + id, ReviewID: heldReviewID, Certificate: id,
		Result: statemachine.RevocationApproved, Reason: "bench: a late result of an earlier review", At: occurred.UTC().Truncate(time.Second)}
}

// checkHolders fails unless the store names each held path's refund its
// certificate's holder: the gateway routes by the store.
func (h *harness) checkHolders(ctx context.Context, set callbackSet) error {
	for i, res := range set.results {
		holder, err := h.db.CertificateHolder(ctx, res.Certificate)
		if err != nil {
			return fmt.Errorf("the holder of %s: %w", res.Certificate, err)
		}
		if holder != set.workflows[i] {
			return fmt.Errorf("certificate %s is held by %q, want %s: the gateway would not route its callbacks to the refund", res.Certificate, holder, set.workflows[i])
		}
	}
	return nil
}

// checkHeldParked fails unless every held path's refund still waits at
// the CA's review, holds its certificate, and has recorded the held
// result as a stray exactly once (the priming; repeats are dropped as
// seen). A refund that has not yet taken its priming is asked again
// until the phase's timeout; a query that times out is made again
// (again).
func (h *harness) checkHeldParked(ctx context.Context, set callbackSet) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	if err := h.checkHolders(ctx, set); err != nil {
		return err
	}
	_, _, err := drive(ctx, len(set.orders), h.cfg.Concurrency, func(ctx context.Context, i int) error {
		orderID, res := set.orders[i], set.results[i]
		for {
			// A loaded server may not answer in time: the query waits for
			// the refund to take the signals it received.
			var strays int
			err := h.again(ctx, func(ctx context.Context) (err error) {
				strays, err = h.heldStrays(ctx, orderID, res)
				return err
			})
			switch {
			case err != nil:
				return err
			case strays == 1:
				return nil
			case strays > 1:
				return fmt.Errorf("refund of %s recorded %s as a stray %d times, want once: a repeated event ID was not dropped", orderID, res.EventID, strays)
			case ctx.Err() != nil:
				return fmt.Errorf("refund of %s has not recorded the priming callback: %w", orderID, ctx.Err())
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	return err
}

// heldStrays asks the refund of orderID for its status and returns how
// often its held certificate recorded res as a stray. It fails unless the
// refund still waits with its certificate in revocation review.
func (h *harness) heldStrays(ctx context.Context, orderID string, res certificate.CAResult) (int, error) {
	v, err := h.tc.QueryWorkflow(ctx, refund.WorkflowID(orderID), "", refund.QueryStatus)
	if err != nil {
		return 0, fmt.Errorf("status of the refund of %s: %w", orderID, err)
	}
	var st refund.Status
	if err := v.Get(&st); err != nil {
		return 0, fmt.Errorf("status of the refund of %s: %w", orderID, err)
	}
	for _, c := range st.Held {
		if c.ID != res.Certificate {
			continue
		}
		if c.State != statemachine.ValidatingRevocation || refund.OutcomeOf(st.State) != refund.OutcomePending {
			return 0, fmt.Errorf("refund of %s is %s with certificate %s %s: a held callback was applied, want it waiting at the review", orderID, st.State, c.ID, c.State)
		}
		n := 0
		for _, s := range c.Strays {
			if s.Result.EventID == res.EventID {
				n++
			}
		}
		return n, nil
	}
	return 0, fmt.Errorf("refund of %s does not run certificate %s (held: %d)", orderID, res.Certificate, len(st.Held))
}

// HeldCallbacks is what the callback mode checked on the held path after
// its rounds.
type HeldCallbacks struct {
	Refunds int `json:"refunds"`
	// Sent is the ca-result signals sent to the refunds after priming
	// (warm-up and measured, both paths); Signals is how many the
	// refunds' histories gained.
	Sent    int `json:"sent"`
	Signals int `json:"signals"`
	// Added is the events those signals added to the refunds' histories,
	// by type.
	Added map[string]int `json:"added"`
	// CertificateWorkflows counts held certificates with a workflow of
	// their own: the gateway's fallback ran (0 expected).
	CertificateWorkflows int `json:"certificate_workflows"`
}

// onlySignalsAndTasks tells whether the callbacks added nothing but
// their signals and workflow tasks (quietEvent).
func (c *HeldCallbacks) onlySignalsAndTasks() bool {
	for t := range c.Added {
		if !quietEvent(t) {
			return false
		}
	}
	return true
}

// quietEvent tells whether events of the type named (as
// enumspb.EventType's String names it) are what a signal that changes
// nothing adds: the signal and a workflow task to take it (one task may
// take several signals). A task the worker did not start in time on its
// sticky queue times out and is scheduled again; that is the server's
// scheduling, not the workflow's doing. A failed task is not quiet.
func quietEvent(name string) bool {
	switch name {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED.String(),
		enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED.String(),
		enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED.String(),
		enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED.String(),
		enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT.String():
		return true
	}
	return false
}

// heldHistory is the refunds' histories, summed: events by type, and the
// ca-result signals among them.
type heldHistory struct {
	byType  map[string]int
	signals int
}

// heldHistories reads every held path's refund's history, every run of it
// (a run continued as new names the run it continues).
func (h *harness) heldHistories(ctx context.Context, set callbackSet) (heldHistory, error) {
	sum := heldHistory{byType: map[string]int{}}
	for _, id := range set.workflows {
		for run := ""; ; {
			it := h.tc.GetWorkflowHistory(ctx, id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			run = ""
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					return sum, fmt.Errorf("reading the history of %s: %w", id, err)
				}
				sum.byType[ev.GetEventType().String()]++
				if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == certificate.SignalCAResult {
					sum.signals++
				}
				if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
					run = a.GetContinuedExecutionRunId()
				}
			}
			if run == "" {
				break
			}
		}
	}
	return sum, nil
}

// checkHeldDelivered checks, after the rounds, that every held callback
// reached its refund and changed nothing (see callbacks), and reports
// what it found.
func (h *harness) checkHeldDelivered(ctx context.Context, rep *Report, set callbackSet, before heldHistory, sent int) error {
	// The last signals' tasks may still be running. The status queries
	// (checkHeldParked) are answered once each refund has taken every
	// signal it received, so the histories read after them hold the
	// workflow tasks that took the signals.
	time.Sleep(settle)
	parked := h.checkHeldParked(ctx, set)
	after, err := h.heldHistories(ctx, set)
	if err != nil {
		return err
	}
	c := &HeldCallbacks{Refunds: len(set.orders), Sent: sent, Signals: after.signals - before.signals, Added: map[string]int{}}
	for t, n := range after.byType {
		if d := n - before.byType[t]; d != 0 {
			c.Added[t] = d
		}
	}
	for _, id := range set.certificates() {
		_, err := h.tc.DescribeWorkflowExecution(ctx, certificate.WorkflowID(id), "")
		var nf *serviceerror.NotFound
		switch {
		case err == nil:
			c.CertificateWorkflows++
		case !errors.As(err, &nf):
			return fmt.Errorf("looking for the workflow of held certificate %s: %w", id, err)
		}
	}
	rep.HeldCallbacks = c
	h.logf("  held path: %d ca-result signals sent to %d refunds after priming, %d in their histories; events added: %s; %d certificate workflows",
		c.Sent, c.Refunds, c.Signals, byType(c.Added), c.CertificateWorkflows)
	switch {
	case c.Signals != c.Sent:
		return fmt.Errorf("held path: %d ca-result signals sent, the refunds' histories gained %d: not every callback reached its refund", c.Sent, c.Signals)
	case c.CertificateWorkflows > 0:
		return fmt.Errorf("held path: %d held certificates have a workflow of their own: the gateway fell back to the certificate's workflow", c.CertificateWorkflows)
	case !c.onlySignalsAndTasks():
		// A refund that continued as new (a history past 2,000 events:
		// about 500 callbacks per refund) fails here too; fewer callbacks
		// per round or more refunds (-callback-certs) keep it in one run.
		return fmt.Errorf("held path: the callbacks added %s to the refunds' histories, want only signals and workflow tasks", byType(c.Added))
	}
	return parked
}

// postCallback posts one signed callback to the gateway, as casim does,
// retrying a 503 (Temporal did not answer in time) after a second as
// casim's delivery does; retries are counted in the report.
func (h *harness) postCallback(ctx context.Context, msgID string, body []byte) error {
	for attempt := 1; ; attempt++ {
		status, b, err := h.postCallbackOnce(ctx, msgID, body)
		switch {
		case err != nil:
			return err
		case status == http.StatusOK:
			return nil
		case status == http.StatusServiceUnavailable && attempt < maxAttempts:
			h.retries.Add(1)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		default:
			return fmt.Errorf("callback answered %d: %s", status, b)
		}
	}
}

func (h *harness) postCallbackOnce(ctx context.Context, msgID string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.gatewayURL+"/v1/ca/callbacks", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for name, values := range webhook.Headers(h.secret, msgID, time.Now(), body) {
		req.Header[name] = values
	}
	resp, err := h.web.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("posting a callback: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, b, nil
}

// openReview opens certificate id's revocation review at casim, as the
// console's revocation did, and returns its review ID (casim parks it:
// the certificate's behaviour is never).
func (h *harness) openReview(ctx context.Context, id string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.casimURL+"/v1/certificates/"+url.PathEscape(id)+"/revocations",
		strings.NewReader(`{"reason":"bench"}`))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+h.caToken)
	resp, err := h.web.Do(req)
	if err != nil {
		return "", fmt.Errorf("opening the review of %s: %w", id, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("opening the review of %s: casim answered %s: %s", id, resp.Status, b)
	}
	var rv struct {
		ReviewID string `json:"review_id"`
	}
	if err := json.Unmarshal(b, &rv); err != nil || rv.ReviewID == "" {
		return "", fmt.Errorf("opening the review of %s: no review_id in %s", id, b)
	}
	return rv.ReviewID, nil
}

// checkRevoked fails unless every primed certificate was revoked by its
// first callback: a callback the workflow recorded as stray would make the
// rounds measure something else.
func (h *harness) checkRevoked(ctx context.Context, certs []string) error {
	for _, id := range certs {
		status, b, err := h.console(ctx, http.MethodGet, "/v1/certificates/"+url.PathEscape(id), nil)
		if err != nil {
			return err
		}
		var v gateway.CertificateView
		if status != http.StatusOK || json.Unmarshal(b, &v) != nil || v.Status.State != statemachine.Revoked {
			return fmt.Errorf("certificate %s after its first callback: %d %s, want it %s", id, status, b, statemachine.Revoked)
		}
	}
	return nil
}
