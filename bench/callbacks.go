package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/gateway"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/webhook"
	"github.com/certflow/certflow/workflows/certificate"
)

// callbacks compares signed CA callbacks through the gateway with direct
// SignalWorkflow calls carrying the same result, alternating rounds.
//
// The targets are certificates registered with their revocation in review
// (as a revocation submitted from the console): the harness opens each
// review at casim, which parks it, and posts the review's result itself,
// in casim's callback format (event ID, review ID, type, certificate,
// occurred_at), signed as casim signs. The first callback starts the
// certificate's workflow and is applied (the certificate is revoked);
// every callback after that repeats the same event ID, which the workflow
// recognises and ignores. So both paths cost one signal and one workflow
// task that changes nothing, and their difference is the transport: the
// gateway's verification, store read and signal-with-start against a
// plain signal.
func (h *harness) callbacks(ctx context.Context, rep *Report) error {
	certs := make([]string, len(h.plan.callbacks))
	reviews := make([]string, len(certs))
	for i, o := range h.plan.callbacks {
		certs[i] = o.Certificates[0].ID
	}
	if _, _, err := drive(ctx, len(certs), h.cfg.Concurrency, func(ctx context.Context, i int) (err error) {
		reviews[i], err = h.openReview(ctx, certs[i])
		return err
	}); err != nil {
		return fmt.Errorf("opening the reviews: %w", err)
	}
	bodies := make([][]byte, len(certs))
	results := make([]certificate.CAResult, len(certs))
	at := time.Now().UTC().Truncate(time.Second)
	for i := range certs {
		results[i] = certificate.CAResult{EventID: "bench-evt-" + certs[i], ReviewID: reviews[i], Certificate: certs[i],
			Result: statemachine.RevocationApproved, Reason: "bench", At: at}
		var err error
		bodies[i], err = json.Marshal(casim.Callback{EventID: results[i].EventID, ReviewID: reviews[i],
			Type: string(statemachine.RevocationApproved), Certificate: certs[i], Reason: "bench", OccurredAt: at})
		if err != nil {
			return err
		}
	}
	h.logf("callbacks: %d per round over %d certificate workflows, %d in flight, %d rounds each, alternating",
		h.cfg.Callbacks, len(certs), h.cfg.Concurrency, h.cfg.Rounds)
	// Prime: start each certificate's workflow with its first callback.
	if _, _, err := drive(ctx, len(certs), h.cfg.Concurrency, func(ctx context.Context, i int) error {
		return h.postCallback(ctx, fmt.Sprintf("prime-%d", i), bodies[i])
	}); err != nil {
		return fmt.Errorf("priming: %w", err)
	}
	time.Sleep(settle)
	if err := h.checkRevoked(ctx, certs); err != nil {
		return err
	}
	// Warm-up, not measured: each path once with a quarter round, so
	// neither path's first measured round pays for connection pools,
	// goroutine stacks and the server's caches the other path warmed.
	warm := max(h.cfg.Callbacks/4, 1)
	if _, _, err := drive(ctx, warm, h.cfg.Concurrency, func(ctx context.Context, i int) error {
		return h.postCallback(ctx, fmt.Sprintf("warm-%d", i), bodies[i%len(certs)])
	}); err != nil {
		return fmt.Errorf("warming up the gateway path: %w", err)
	}
	if _, _, err := drive(ctx, warm, h.cfg.Concurrency, func(ctx context.Context, i int) error {
		res := results[i%len(certs)]
		return h.tc.SignalWorkflow(ctx, certificate.WorkflowID(res.Certificate), "", certificate.SignalCAResult, res)
	}); err != nil {
		return fmt.Errorf("warming up the direct path: %w", err)
	}
	h.logf("  warmed up: %d callbacks through each path, not measured", warm)
	for r := range h.cfg.Rounds {
		gateway := func(ctx context.Context, i int) error {
			return h.postCallback(ctx, fmt.Sprintf("r%d-%d", r, i), bodies[i%len(certs)])
		}
		direct := func(ctx context.Context, i int) error {
			res := results[i%len(certs)]
			return h.tc.SignalWorkflow(ctx, certificate.WorkflowID(res.Certificate), "", certificate.SignalCAResult, res)
		}
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
	}
	return nil
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
