package casim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/webhook"
)

// Callback event types, as in the callback body's "type".
const (
	EventRevocationApproved = "revocation_approved"
	EventRevocationRejected = "revocation_rejected"
)

// defaultRejectionReason is the reason of a rejected review whose
// behaviour names none.
const defaultRejectionReason = "revocation rejected by the CA's review"

// Callback is the body posted to the callback URL.
type Callback struct {
	EventID string `json:"event_id"`
	// ReviewID names the review the result answers.
	ReviewID    string    `json:"review_id"`
	Type        string    `json:"type"`
	Certificate string    `json:"certificate"`
	Reason      string    `json:"reason,omitempty"`
	OccurredAt  time.Time `json:"occurred_at"`
}

// scheduleReview decides certificate id's review after delay.
func (s *Sim) scheduleReview(id string, delay time.Duration) {
	s.goBackground(func(ctx context.Context) {
		select {
		case <-s.cfg.Clock.After(delay):
		case <-ctx.Done():
			return
		}
		if ev := s.decide(id); ev != nil {
			s.deliver(ctx, ev)
		}
	})
}

// decide settles a pending review by the certificate's behaviour at this
// moment and returns the event to deliver, or nil when there is none (the
// review stays pending under RevocationNever).
func (s *Sim) decide(id string) *event {
	s.mu.Lock()
	defer s.mu.Unlock()
	rv := s.certs[id].rev
	if rv.status != statusPending {
		return nil
	}
	b := s.behaviours[id]
	log := s.log.With(zap.String("certificate", id), zap.String("review_id", rv.reviewID))
	cb := Callback{Certificate: id, ReviewID: rv.reviewID, OccurredAt: s.cfg.Clock.Now().UTC()}
	switch b.Revocation {
	case RevocationNever:
		rv.parked = true
		_ = s.journal(func(j *journal) error { return j.saveCertificate(s.certs[id]) })
		log.Info("revocation review left pending (behaviour never)")
		return nil
	case RevocationReject:
		rv.status, cb.Type = statusRejected, EventRevocationRejected
		cb.Reason = b.RejectionReason
		if cb.Reason == "" {
			cb.Reason = defaultRejectionReason
		}
	default:
		rv.status, cb.Type, cb.Reason = statusApproved, EventRevocationApproved, rv.reason
	}
	cb.EventID = "evt_" + s.cfg.NewID()
	rv.eventID, rv.result, rv.decidedAt = cb.EventID, cb.Reason, cb.OccurredAt
	body, err := json.Marshal(cb)
	if err != nil {
		panic(fmt.Sprintf("casim: marshalling a callback: %v", err)) // plain struct: cannot fail
	}
	ev := &event{id: cb.EventID, cert: id, body: body}
	s.events[ev.id] = ev
	// Written through before delivery starts: a restart from here on still
	// knows the decision and retries the callback.
	_ = s.journal(func(j *journal) error {
		if err := j.saveCertificate(s.certs[id]); err != nil {
			return err
		}
		return j.saveEvent(ev, s.cfg.CallbackURL != "")
	})
	log.Info("revocation review decided", zap.String("event_id", ev.id), zap.String("type", cb.Type))
	return ev
}

// deliver posts ev to the callback URL, retrying 5xx answers and network
// errors with exponential backoff; a 2xx or 4xx answer ends it, except 429:
// the receiver asks to be called again later, which casim does after its
// Retry-After (or the backoff, when it names none), without counting it as
// a failed attempt. Every attempt carries the same event ID and body.
func (s *Sim) deliver(ctx context.Context, ev *event) {
	if s.cfg.CallbackURL == "" {
		return
	}
	log := s.log.With(zap.String("event_id", ev.id), zap.String("certificate", ev.cert))
	backoff := s.cfg.Retry.Initial
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := s.postInTurn(ctx, ev)
		if err == nil && status == http.StatusTooManyRequests && ctx.Err() == nil {
			wait := backoff
			if retryAfter > 0 {
				wait = retryAfter
			}
			log.Info("callback rate-limited by the receiver; calling again", zap.Int("attempt", attempt), zap.Duration("after", wait))
			select {
			case <-s.cfg.Clock.After(wait):
			case <-ctx.Done():
				return
			}
			attempt--
			continue
		}
		switch {
		case ctx.Err() != nil:
			// Still pending in the journal: the next run retries it.
			log.Info("callback delivery stopped by shutdown", zap.Int("attempt", attempt))
			return
		case err == nil && status < 300 && status >= 200:
			log.Info("callback delivered", zap.Int("attempt", attempt), zap.Int("status", status))
			s.settle(ev)
			return
		case err == nil && status >= 400 && status < 500:
			log.Warn("callback refused; not retrying", zap.Int("attempt", attempt), zap.Int("status", status))
			s.settle(ev)
			return
		case attempt == s.cfg.Retry.Attempts:
			log.Error("callback undeliverable; giving up", zap.Int("attempts", attempt), zap.Int("status", status), zap.Error(err))
			s.settle(ev)
			return
		}
		log.Warn("callback failed; retrying", zap.Int("attempt", attempt), zap.Int("status", status),
			zap.Error(err), zap.Duration("backoff", backoff))
		select {
		case <-s.cfg.Clock.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, s.cfg.Retry.Max)
	}
}

// postInTurn makes one delivery attempt once a delivery slot is free
// (Config.MaxDeliveries); waiting for a slot is not an attempt.
func (s *Sim) postInTurn(ctx context.Context, ev *event) (int, time.Duration, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	defer func() { <-s.slots }()
	return s.post(ctx, ev)
}

// settle marks ev as no longer to be delivered (delivered, refused or given
// up), so a restart does not send it again.
func (s *Sim) settle(ev *event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.journal(func(j *journal) error { return j.saveEvent(ev, false) })
}

// post makes one signed delivery attempt and returns the receiver's
// status and, with a 429, its Retry-After in seconds. Each attempt is signed anew with the current time, so a retry
// or resend passes the receiver's timestamp tolerance; the body and the
// event ID do not change.
func (s *Sim) post(ctx context.Context, ev *event) (int, time.Duration, error) {
	ts := s.cfg.Clock.Now()
	target := s.callbacks[(s.sent.Add(1)-1)%uint64(len(s.callbacks))]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(ev.body))
	if err != nil {
		return 0, 0, fmt.Errorf("building callback request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "casim")
	for name, values := range webhook.Headers(s.cfg.WebhookSecret, ev.id, ts, ev.body) {
		req.Header[name] = values
	}
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("posting callback: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	var after time.Duration
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		after = time.Duration(min(secs, 3600)) * time.Second
	}
	return resp.StatusCode, after, nil
}
