package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/webhook"
	"github.com/certflow/certflow/workflows"
)

// callbacks compares signed CA callbacks through the gateway with direct
// SignalWorkflow calls carrying the same result, alternating rounds.
//
// The targets are certificate workflows of issued certificates with no
// refund, each started by a first callback whose result (revocation
// approved) the workflow holds: it answers a revocation that has not
// happened. Every callback after that repeats the same event ID, which the
// workflow recognises and ignores; so both paths cost one signal and one
// workflow task that changes nothing, and their difference is the
// transport: the gateway's verification, store read and
// signal-with-start against a plain signal.
func (h *harness) callbacks(ctx context.Context, rep *Report) error {
	certs := make([]string, len(h.plan.callbacks))
	bodies := make([][]byte, len(certs))
	results := make([]workflows.CAResult, len(certs))
	at := time.Now().UTC().Truncate(time.Second)
	for i, o := range h.plan.callbacks {
		certs[i] = o.Certificates[0].ID
		results[i] = workflows.CAResult{EventID: "bench-evt-" + certs[i], Certificate: certs[i], Result: statemachine.RevocationApproved, At: at}
		var err error
		bodies[i], err = json.Marshal(casim.Callback{EventID: results[i].EventID, Type: string(statemachine.RevocationApproved),
			Certificate: certs[i], OccurredAt: at})
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
	for r := range h.cfg.Rounds {
		p, err := h.measure(ctx, PhaseGateway, r+1, h.cfg.Callbacks, func(ctx context.Context, i int) error {
			return h.postCallback(ctx, fmt.Sprintf("r%d-%d", r, i), bodies[i%len(certs)])
		})
		if err != nil {
			return err
		}
		rep.Callbacks = append(rep.Callbacks, p)
		p, err = h.measure(ctx, PhaseDirect, r+1, h.cfg.Callbacks, func(ctx context.Context, i int) error {
			res := results[i%len(certs)]
			return h.tc.SignalWorkflow(ctx, workflows.CertificateWorkflowID(res.Certificate), "", workflows.SignalCAResult, res)
		})
		if err != nil {
			return err
		}
		rep.Callbacks = append(rep.Callbacks, p)
	}
	return nil
}

// postCallback posts one signed callback to the gateway, as casim does.
func (h *harness) postCallback(ctx context.Context, msgID string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.gatewayURL+"/v1/ca/callbacks", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for name, values := range webhook.Headers(h.secret, msgID, time.Now(), body) {
		req.Header[name] = values
	}
	resp, err := h.web.Do(req)
	if err != nil {
		return fmt.Errorf("posting a callback: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("callback answered %s: %s", resp.Status, b)
	}
	return nil
}
