package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpapi"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/webhook"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// caEvent is the body of a CA callback. Unknown fields are ignored, as the
// protocol promises (casim/PROTOCOL.md): a CA does not retry a 4xx, so
// refusing a new field would drop every callback.
type caEvent struct {
	EventID string `json:"event_id"`
	// ReviewID names the review the result answers (optional).
	ReviewID    string `json:"review_id"`
	Type        string `json:"type"`
	Certificate string `json:"certificate"`
	Reason      string `json:"reason"`
	// OccurredAt is RFC 3339; it is when the CA decided, which is what the
	// rules measure (SSL-2: when the revocation review completed).
	OccurredAt string `json:"occurred_at"`
}

// Accepted is the answer to a CA callback that was verified and delivered.
type Accepted struct {
	Status string `json:"status"`
}

// caCallback verifies a CA callback and signals it to the certificate's
// one writer (deliver): its workflow, or the refund that holds it,
// starting the certificate's workflow if neither runs. Order matters: the
// signature is checked before the body is looked at (401), then the body
// (415, 400), then the certificate (404). A redelivered event is signalled
// again with the same event ID and acknowledged again: the workflow ignores
// an event ID it has seen, so it is applied once. The webhook-id is used
// only for verification and logs; the body's event_id is the dedupe key, so
// a CA that re-sends the same event as a new message is still applied once.
func (s *Server) caCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, err := s.http.ReadBody(w, r)
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	// Callbacks are limited per client address (429 with Retry-After,
	// which the CA honours), before the body is read further. A sender
	// whose callbacks keep failing verification is limited much sooner:
	// each failure takes from its address's bucket of the API's limit,
	// and once that is empty its callbacks are 429 before their signature
	// is checked.
	addr := clientAddr(r)
	badKey := "badsig:" + addr
	if wait, limited := s.limiter.exhausted(badKey, s.now()); limited {
		s.http.Error(w, r, tooMany(w, wait))
		return
	}
	if wait, ok := s.callbacks.take(addr, s.now()); !ok {
		s.http.Error(w, r, tooMany(w, wait))
		return
	}
	msgID, err := s.verify.Verify(r.Header, body)
	if err != nil {
		if errs.CodeOf(err) != errs.Internal {
			_, _ = s.limiter.take(badKey, s.now())
			err = httpapi.WithStatus(http.StatusUnauthorized, err)
		}
		s.http.Error(w, r, err)
		return
	}
	if err := httpapi.RequireJSON(r); err != nil {
		s.http.Error(w, r, err)
		return
	}
	var ev caEvent
	if err := decodeCallback(body, &ev); err != nil {
		s.http.Error(w, r, err)
		return
	}
	res, err := ev.result()
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	if limit := s.now().Add(s.tolerance()); res.At.After(limit) {
		// Stray: acknowledged and recorded by the workflow, never applied.
		res.Stray = fmt.Sprintf("occurred_at %s is more than %s in the future", res.At.Format(time.RFC3339), s.tolerance())
	}
	// Answered within callbackTimeout, before a CA's own client gives up:
	// a 503 it can act on, not a dropped call.
	dctx, cancel := context.WithTimeout(ctx, callbackTimeout)
	to, err := s.deliver(dctx, res)
	cancel()
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	s.log.Info("CA callback delivered", zap.String("webhook_id", msgID), zap.String("event_id", res.EventID), zap.String("to", to),
		zap.String("certificate", res.Certificate), zap.String("type", string(res.Result)),
		zap.String("review_id", res.ReviewID), zap.String("stray", res.Stray))
	httpapi.JSON(w, http.StatusOK, Accepted{Status: "accepted"})
}

// result checks the event and turns it into the workflow's CAResult. Every
// problem is a 400: the CA sent something the gateway cannot act on.
func (ev caEvent) result() (certificate.CAResult, error) {
	switch {
	case strings.TrimSpace(ev.EventID) == "":
		return certificate.CAResult{}, httpapi.BadRequest("field event_id: required")
	case strings.TrimSpace(ev.Certificate) == "":
		return certificate.CAResult{}, httpapi.BadRequest("field certificate: required")
	case ev.Type == "":
		return certificate.CAResult{}, httpapi.BadRequest("field type: required")
	case !statemachine.IsCAResult(statemachine.CertEvent(ev.Type)):
		return certificate.CAResult{}, httpapi.BadRequest("field type: %q is not a CA result (revocation_approved, revocation_rejected, validation_passed, validation_failed, issued, resubmission_rejected)", httpapi.Clip(ev.Type))
	case ev.OccurredAt == "":
		return certificate.CAResult{}, httpapi.BadRequest("field occurred_at: required")
	}
	at, err := time.Parse(time.RFC3339, ev.OccurredAt)
	if err != nil {
		return certificate.CAResult{}, httpapi.BadRequest("field occurred_at: %q is not an RFC 3339 time", httpapi.Clip(ev.OccurredAt))
	}
	return certificate.CAResult{
		ReviewID:    ev.ReviewID,
		EventID:     ev.EventID,
		Certificate: ev.Certificate,
		Result:      statemachine.CertEvent(ev.Type),
		Reason:      ev.Reason,
		At:          at,
	}, nil
}

// tolerance is the webhook timestamp tolerance, which also bounds how far
// in the future a result may claim to have occurred.
func (s *Server) tolerance() time.Duration {
	if s.verify.Tolerance > 0 {
		return s.verify.Tolerance
	}
	return webhook.DefaultTolerance
}

// decodeCallback decodes a callback body: one JSON object, fields of the
// right types; unlike console bodies, unknown fields are ignored.
func decodeCallback(body []byte, dst *caEvent) error {
	if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || trimmed[0] != '{' {
		return httpapi.BadRequest("request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		return httpapi.BadRequest("%s", httpapi.JSONProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return httpapi.BadRequest("request body has data after the JSON object")
	}
	return nil
}

// deliver hands a CA result to the certificate's one writer by the one
// route of workflows/refund/hold.go and returns the ID of the workflow it
// reached. The holder is read first (one store read): a refund that holds
// the certificate gets one plain signal, and so does the certificate's
// running workflow otherwise; neither path asks Temporal for something
// that is not there first. When the store does not answer, the
// certificate's workflow is signalled as if nobody held it (it hands a
// result on to a refund holding the certificate). When the signalled
// workflow does not run (the holding refund ended and handed the
// certificate over, or no certificate workflow runs), the certificate is
// read and the result offered to the running refund of its order, which
// takes it if it is taking the hold (the callback raced the hold: no
// workflow is started for it); when no refund runs or it does not hold
// the certificate, or the refund does not take it within offerWait (its
// worker does not answer), the certificate's workflow is signalled with
// start. A result is never dropped: what could not be delivered is an
// error answered 5xx, which the CA delivers again (an unknown certificate
// is 404).
func (s *Server) deliver(ctx context.Context, res certificate.CAResult) (string, error) {
	to := certificate.WorkflowID(res.Certificate)
	holder, err := s.orders.CertificateHolder(ctx, res.Certificate)
	if err != nil && errs.CodeOf(err) != errs.Unavailable {
		return "", err
	}
	storeDown := err != nil
	if orderID, ok := refundHolding(holder); ok {
		err := s.wf.SignalRefundCAResult(ctx, orderID, res)
		if errs.CodeOf(err) != errs.NotFound {
			return holder, err
		}
		s.log.Debug("CA callback: the holding refund has ended; starting the certificate's workflow",
			zap.String("certificate", res.Certificate), zap.String("holder", holder))
	} else {
		err := s.wf.SignalCAResult(ctx, res)
		switch {
		case errs.CodeOf(err) != errs.NotFound:
			return to, err
		case storeDown:
			// Neither the holder nor the certificate can be read: 503,
			// and the CA delivers the result again.
			return "", errs.Wrap(errs.Unavailable, err, "the store did not answer for certificate %s, whose workflow does not run", res.Certificate)
		}
	}
	orderID, cert, err := s.orders.GetCertificate(ctx, res.Certificate)
	if err != nil {
		return "", err
	}
	if cert.State == statemachine.Removed {
		// Removed is final: no result can apply, and a workflow started
		// for it would end at once. Acknowledged (the CA stops retrying)
		// and logged, as a certificate workflow logs a stray.
		s.log.Info("CA callback for a removed certificate: acknowledged, not applied",
			zap.String("certificate", res.Certificate), zap.String("event_id", res.EventID), zap.String("result", string(res.Result)))
		return "nobody (certificate removed)", nil
	}
	if holder == "" {
		// The offer waits for the refund's worker; bounded, so that a
		// refund whose worker does not answer (an outage) falls back to
		// the certificate's own workflow, which the server accepts with
		// no worker and which hands the result on to the refund if the
		// refund turns out to hold the certificate (event IDs dedupe).
		octx, cancel := context.WithTimeout(ctx, offerWait)
		err := s.wf.OfferRefundCAResult(octx, orderID, res)
		cancel()
		switch {
		case err == nil:
			return refund.WorkflowID(orderID), nil
		case errs.CodeOf(err) == errs.Unavailable && ctx.Err() == nil:
			s.log.Warn("CA callback: the refund did not take the result in time; starting the certificate's workflow",
				zap.String("certificate", res.Certificate), zap.String("order", orderID), zap.Duration("waited", offerWait), zap.Error(err))
		case errs.CodeOf(err) != errs.NotFound:
			return refund.WorkflowID(orderID), err
		}
	}
	return to, s.wf.DeliverCAResult(ctx, certificate.Input{Certificate: cert, OrderID: orderID}, res)
}

// callbackTimeout bounds the delivery of one CA callback: a store or
// Temporal outage is a 503 within a client's patience (3 s).
const callbackTimeout = 3 * time.Second

// offerWait bounds how long a callback waits for a running refund to take
// a result offered to it (the refund waits until its hold is known, a
// local activity: milliseconds when its worker is up).
const offerWait = 2 * time.Second
