package gateway

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/api"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpapi"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/refund"
)

// The answers of the refund endpoints are the API's wire types (package
// api, generated from api/openapi.yaml); wire.go maps the store's records
// and the workflows' statuses to them.
type (
	// Eligibility is the answer of GET /v1/orders/{id}/refund-eligibility:
	// the rules' decision on a refund requested now with the
	// confirmations given as query parameters, what was refunded so far
	// (M-3) and the order's latest refund record.
	Eligibility = api.Eligibility
	// RefundAccepted is the answer of POST /v1/orders/{id}/refund.
	RefundAccepted = api.RefundAccepted
	// RefundView is the answer of GET /v1/orders/{id}/refund and of the
	// cancel and approve updates. Source says whether Status came from the
	// store's record (GET's default: state, outcome, reasons, message,
	// waiting_on, escalation, audit, steps and the payout) or from the
	// workflow (an update's answer, view=workflow, or a refund the store
	// has no record of).
	RefundView = api.RefundView
)

// The sources of a status answer.
const (
	SourceWorkflow = "workflow"
	SourceStore    = "store"
)

func (s *Server) eligibility(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, err := eligibilityQuery(r.URL.Query())
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	o, err := s.orders.GetOrder(ctx, r.PathValue("id"))
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	now := s.now()
	req.OrderID, req.RequestedAt = o.ID, now
	d, refunded, err := s.judgeWithHistory(ctx, o, req, now)
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	// The lists are always arrays in the answer, never null.
	if d.Refusals == nil {
		d.Refusals = []policy.Refusal{}
	}
	if d.Steps == nil {
		d.Steps = []policy.Step{}
	}
	if d.MissingConfirmations == nil {
		d.MissingConfirmations = []policy.Confirmation{}
	}
	el := Eligibility{OrderID: o.ID, EvaluatedAt: now, Decision: d, AlreadyRefunded: refunded}
	switch rec, err := s.orders.GetRefund(ctx, o.ID); {
	case err == nil:
		el.Refund = wireRecord(rec)
		el.InProgress = !statemachine.IsOrderFinal(statemachine.OrderState(rec.State))
	case errs.CodeOf(err) != errs.NotFound:
		s.http.Error(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, el)
}

// judgeWithHistory judges req with what was refunded for the order so far
// counted as already refunded (M-3): the order's books plus the payment
// ledger. It returns that amount too.
func (s *Server) judgeWithHistory(ctx context.Context, o domain.Order, req domain.RefundRequest, now time.Time) (policy.Decision, string, error) {
	paid, err := s.orders.RefundedAmount(ctx, o.ID)
	if err != nil {
		return policy.Decision{}, "", err
	}
	o.AlreadyRefunded = o.AlreadyRefunded.Add(paid)
	refunded := o.AlreadyRefunded.String()
	if cur, err := money.LookupCurrency(o.Currency); err == nil {
		refunded = o.AlreadyRefunded.StringFixed(cur.Places)
		paid = paid.Round(int32(cur.Places))
	}
	d, err := s.judge(ctx, o, req, now)
	if err != nil {
		return d, refunded, err
	}
	return policy.RefusePaidOut(d, paid, o.Currency), refunded, nil
}

// eligibilityQuery reads the would-be request from the query: scope and the
// three confirmations, all optional. A missing confirmation shows up in the
// decision's missing_confirmations, which is what the console asks for.
func eligibilityQuery(q url.Values) (domain.RefundRequest, error) {
	var req domain.RefundRequest
	for _, p := range []struct {
		name string
		dst  *bool
	}{
		{"consent", &req.Consent},
		{"confirm_irreversible", &req.ConfirmIrreversible},
		{"accept_late_review_risk", &req.AcceptLateReviewRisk},
	} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return req, httpapi.BadRequest("query parameter %s: %q is not a boolean", p.name, httpapi.Clip(v))
		}
		*p.dst = b
	}
	req.Scope = domain.Scope(q.Get("scope"))
	return req, checkScope(req.Scope)
}

func checkScope(sc domain.Scope) error {
	switch sc {
	case "", domain.ScopeOrder, domain.ScopeManagedService:
		return nil
	}
	return errs.E(errs.Invalid, "scope %q is not one of %s, %s", httpapi.Clip(string(sc)), domain.ScopeOrder, domain.ScopeManagedService)
}

// startRefund judges the request now and, only when the rules accept it,
// starts the order's refund or joins the running one. A request the rules
// refuse is 422 with the rule IDs and starts nothing, so the customer can
// fix it and ask again. A finished refund blocks a new one only when it
// paid or was refused by a rule that cannot change (409 naming it); a
// cancelled refund, or one refused for a reason that can change, does not.
// The workflow ID is the order's and the conflict policy USE_EXISTING, so
// concurrent requests give one workflow and one payment.
func (s *Server) startRefund(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	key, err := httpapi.IdempotencyKey(r)
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	var body api.RefundRequest // who asks is the token's subject, not a body field
	if err := s.http.Decode(w, r, &body); err != nil {
		s.http.Error(w, r, err)
		return
	}
	if err := checkScope(body.Scope); err != nil {
		s.http.Error(w, r, err)
		return
	}
	o, err := s.orders.GetOrder(ctx, r.PathValue("id"))
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	now := s.now()
	in := refund.Input{OrderID: o.ID, Request: domain.RefundRequest{
		OrderID:              o.ID,
		RequestedAt:          now,
		Scope:                body.Scope,
		Consent:              body.Consent,
		ConfirmIrreversible:  body.ConfirmIrreversible,
		AcceptLateReviewRisk: body.AcceptLateReviewRisk,
		RequestedBy:          httpapi.PrincipalOf(ctx).Subject,
	}, By: httpapi.ActorOf(r)}
	// The store's record of the order's latest refund says whether one
	// runs (join it, no judgement) or none does (judge, then start); the
	// start's reuse policy checks that answer. A finished record, and a
	// start the policy refuses (the run closed since its last record, or
	// was terminated, or its record was lost), are looked at in Temporal,
	// which has the last word: a refund paid meanwhile is never followed
	// by a second run. One order read and one judgement before the start,
	// and on the common path one Temporal call.
	var (
		runID        string
		running      bool
		status       *api.RefundStatus
		fromTemporal bool
		looks        int // Temporal's looks
	)
	for {
		finished := false
		if !fromTemporal {
			rec, err := s.orders.GetRefund(ctx, o.ID)
			switch {
			case err == nil && !statemachine.IsOrderFinal(statemachine.OrderState(rec.State)):
				running = true
				st := statusFromRecord(rec)
				status = &st
			case err == nil:
				fromTemporal = true // finished: Temporal's word decides
			case errs.CodeOf(err) != errs.NotFound:
				s.http.Error(w, r, err)
				return
			}
		}
		if fromTemporal {
			looks++
			var last refund.Status
			last, running, err = s.wf.LastRefund(ctx, o.ID)
			finished, status = err == nil && !running, nil
			switch {
			case finished:
				if err := finishedBlocks(o.ID, last); err != nil {
					s.http.Error(w, r, err)
					return
				}
			case err != nil && errs.CodeOf(err) != errs.NotFound:
				s.http.Error(w, r, err)
				return
			}
		}
		if !running {
			d, _, err := s.judgeWithHistory(ctx, o, in.Request, now)
			if err != nil {
				s.http.Error(w, r, err)
				return
			}
			if !d.Eligible {
				s.http.Error(w, r, errs.R(errs.NotRefundable, d.Reasons(), "%s", refusalText(d)))
				return
			}
		}
		runID, err = s.wf.StartRefund(ctx, o, in, finished)
		if err == nil {
			break
		}
		// Refused by the reuse policy: the store's answer was stale, or a
		// refund closed between Temporal's look and the start (another
		// request's, paid); look (again) in Temporal, twice at most.
		if errs.CodeOf(err) != errs.Conflict || finished || looks >= 2 {
			s.http.Error(w, r, err)
			return
		}
		fromTemporal = true
	}
	if !running {
		// The read model shows the request at once; the workflow's own
		// records (later in time) take over from its first step.
		if err := s.orders.RecordRefundRequested(ctx, o.ID, in.By, now); err != nil {
			s.log.Warn("refund started, its request not yet recorded", zap.String("order", o.ID), zap.Error(err))
		} else if rec, err := s.orders.GetRefund(ctx, o.ID); err == nil {
			st := statusFromRecord(rec)
			status = &st
		}
	}
	resp := RefundAccepted{WorkflowID: refund.WorkflowID(o.ID), RunID: runID, Status: status}
	if key != "" {
		w.Header().Set("Idempotency-Key", key)
	}
	w.Header().Set("Location", "/v1/orders/"+url.PathEscape(o.ID)+"/refund")
	httpapi.JSON(w, http.StatusAccepted, resp)
}

// finishedBlocks is the Conflict that a finished refund puts in the way of
// a new one, or nil: paid (M-3: a refund is paid once), or refused by
// a rule that cannot change (policy.FinalRefusal).
func finishedBlocks(orderID string, last refund.Status) error {
	switch last.Outcome {
	case refund.OutcomeRefunded:
		payment := ""
		if last.Payout != nil {
			payment = " (payment " + last.Payout.PaymentID + ")"
		}
		return errs.R(errs.Conflict, []string{"M-3"}, "the refund of order %s was paid%s; a refund is paid once per order", orderID, payment)
	case refund.OutcomeRejected:
		if final, rule := policy.FinalRefusal(last.Reasons); final {
			return errs.R(errs.Conflict, []string{rule}, "the refund of order %s was refused under %s, which a new request cannot change: %s", orderID, rule, last.Message)
		}
	}
	return nil
}

// refusalText is the message of a 422: each refusal with its rule.
func refusalText(d policy.Decision) string {
	parts := make([]string, 0, len(d.Refusals))
	for _, x := range d.Refusals {
		parts = append(parts, x.Rule+": "+x.Message)
	}
	if len(parts) == 0 {
		return "the rules refuse the refund"
	}
	return "the rules refuse the refund now (nothing was started): " + strings.Join(parts, "; ")
}

// The views of GET /v1/orders/{id}/refund.
const (
	// ViewRecord (the default) answers from the store's record, which the
	// workflow writes at the end of every workflow task that changed the
	// refund: no Temporal call, no worker.
	ViewRecord = "record"
	// ViewWorkflow asks the running workflow (a query, which needs a
	// worker and is bounded by the status timeout) for its live status,
	// with the decision and the held certificates' own statuses.
	ViewWorkflow = "workflow"
)

// refundStatus answers from the store's record (view=record, the
// default): the console's read path makes no Temporal call. The record
// can be behind the workflow by the workflow task in flight and its
// record's write (milliseconds; while the store is down, until it
// answers again); an update (cancel, approve) answers from the workflow
// itself after its record was written. A refund the store has no record
// of yet is refund_requested while its workflow runs (one describe, no
// query: it started a moment ago) and otherwise the finished run's
// result. A store that does not answer, and view=workflow, ask the
// workflow; while Temporal or the worker does not answer, that is 503
// naming which (within the status timeout).
func (s *Server) refundStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q, err := httpapi.Query(r, "view")
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	mode := q.Get("view")
	if err := httpapi.OneOf("view", mode, []string{ViewRecord, ViewWorkflow}); err != nil {
		s.http.Error(w, r, err)
		return
	}
	orderID := r.PathValue("id")
	view := RefundView{WorkflowID: refund.WorkflowID(orderID), Source: SourceStore}
	// fromRecord answers from the store's record when it has one, and
	// otherwise returns why not (NotFound when there is none).
	fromRecord := func() error {
		rec, err := s.orders.GetRefund(ctx, orderID)
		if err == nil {
			view.Status = statusFromRecord(rec)
			httpapi.JSON(w, http.StatusOK, view)
		}
		return err
	}
	var storeErr error
	if mode != ViewWorkflow {
		err := fromRecord()
		if err == nil {
			return
		}
		if errs.CodeOf(err) != errs.NotFound {
			s.log.Warn("refund status from the workflow: the store did not answer", zap.String("order", orderID), zap.Error(err))
		} else if _, running, err := s.wf.LastRefund(ctx, orderID); err == nil && running {
			// Started a moment ago, its first record not written yet (the
			// gateway writes it right after the start): requested, by
			// definition. Temporal was asked whether it runs, not the
			// worker for its status.
			view.Source = SourceWorkflow
			view.Status = statusView(refund.Status{OrderID: orderID, State: statemachine.OrderRefundRequested, Outcome: refund.OutcomePending})
			httpapi.JSON(w, http.StatusOK, view)
			return
		}
		storeErr = err
	}
	st, wfErr := s.wf.RefundStatus(ctx, orderID)
	switch {
	case wfErr == nil:
		view.Source, view.Status = SourceWorkflow, statusView(st)
		httpapi.JSON(w, http.StatusOK, view)
		return
	case errs.CodeOf(wfErr) != errs.NotFound:
		s.http.Error(w, r, wfErr)
		return
	case storeErr != nil && errs.CodeOf(storeErr) != errs.NotFound:
		s.http.Error(w, r, storeErr)
		return
	}
	if mode == ViewWorkflow {
		// No workflow: the store's record is all there is.
		view.Source = SourceStore
		switch err := fromRecord(); {
		case err == nil:
			return
		case errs.CodeOf(err) != errs.NotFound:
			s.http.Error(w, r, err)
			return
		}
	}
	s.http.Error(w, r, errs.E(errs.NotFound, "order %s has no refund", httpapi.Clip(orderID)))
}

// statusFromRecord turns the store's record into the status shape: state,
// outcome, reasons, message, what it waits on, its escalation, its audit
// trail, its steps and the payout (no decision, no held certificates:
// those are the workflow's view).
func statusFromRecord(rec ports.RefundRecord) api.RefundStatus {
	st := refund.Status{
		OrderID:    rec.OrderID,
		State:      statemachine.OrderState(rec.State),
		Outcome:    refund.Outcome(rec.Outcome),
		Reasons:    rec.Reasons,
		Message:    rec.Message,
		Waiting:    rec.Waiting,
		WaitingOn:  rec.WaitingOn,
		Escalated:  rec.Escalated,
		Escalation: rec.Escalation,
		Audit:      rec.Audit,
		Steps:      rec.Steps,
	}
	if rec.PaymentID != "" {
		st.Payout = &refund.Payout{PaymentID: rec.PaymentID, Cash: rec.Cash, GiftCard: rec.GiftCard, BenefitPoints: rec.BenefitPoints,
			Currency: rec.Currency, Destination: rec.Destination, At: rec.UpdatedAt}
	}
	return statusView(st)
}

// statusView is st as the API shows it (wireStatus): its lists are
// arrays, never null.
func statusView(st refund.Status) api.RefundStatus {
	return wireStatus(st)
}

// cancelRefund sends the cancel update, acting as the token's subject
// (with its role and Idempotency-Key for the audit trail); the
// workflow's validator refuses it after the first irreversible step (CAN-1)
// or always (CAN-2), and the refusal carries those rule IDs.
func (s *Server) cancelRefund(w http.ResponseWriter, r *http.Request) {
	var body api.CancelRequest // the actor is the token's subject
	s.refundUpdate(w, r, &body, func(orderID, updateID string) (refund.Status, error) {
		by := httpapi.ActorOf(r)
		return s.wf.CancelRefund(r.Context(), orderID, updateID, refund.CancelRequest{Actor: by.Subject, Reason: body.Reason, By: by})
	})
}

// approveRefund sends the operator's approval (GW-4) as the token's
// subject; the workflow refuses (403, GW-4) an approval by the subject
// that requested the refund.
func (s *Server) approveRefund(w http.ResponseWriter, r *http.Request) {
	var body api.ApproveRequest // the approver is the token's subject
	s.refundUpdate(w, r, &body, func(orderID, updateID string) (refund.Status, error) {
		by := httpapi.ActorOf(r)
		return s.wf.ApproveRefund(r.Context(), orderID, updateID, refund.ApproveRequest{Operator: by.Subject, Note: body.Note, By: by})
	})
}

// refundUpdate decodes body, then runs send with the order ID and the
// update ID derived from the Idempotency-Key.
func (s *Server) refundUpdate(w http.ResponseWriter, r *http.Request, body any, send func(orderID, updateID string) (refund.Status, error)) {
	key, err := httpapi.IdempotencyKey(r)
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	if err := s.http.Decode(w, r, body); err != nil {
		s.http.Error(w, r, err)
		return
	}
	orderID := r.PathValue("id")
	st, err := send(orderID, httpapi.UpdateID(r.URL.Path, key))
	if err != nil {
		s.http.Error(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, RefundView{WorkflowID: refund.WorkflowID(orderID), Source: SourceWorkflow, Status: statusView(st)})
}
