package gateway

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
)

// Eligibility is the answer of GET /v1/orders/{id}/refund-eligibility: the
// rules' decision on a refund requested now with the confirmations given
// as query parameters.
type Eligibility struct {
	OrderID     string          `json:"order_id"`
	EvaluatedAt time.Time       `json:"evaluated_at"`
	Decision    policy.Decision `json:"decision"`
}

// RefundAccepted is the answer of POST /v1/orders/{id}/refund.
type RefundAccepted struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id,omitempty"`
	// Status is the refund's status right after the start; absent when the
	// workflow could not answer yet (poll GET /v1/orders/{id}/refund).
	Status *workflows.RefundStatus `json:"status,omitempty"`
}

// The sources of a status answer.
const (
	SourceWorkflow = "workflow"
	SourceStore    = "store"
)

// RefundView is the answer of GET /v1/orders/{id}/refund and of the cancel
// and approve updates. Source says whether Status came from the workflow
// (query or result) or, when the workflow cannot answer, from the store's
// record, which carries state, outcome, reasons and the payout only.
type RefundView struct {
	WorkflowID string                 `json:"workflow_id"`
	Source     string                 `json:"source"`
	Status     workflows.RefundStatus `json:"status"`
}

// refundBody is the body of POST /v1/orders/{id}/refund.
type refundBody struct {
	Consent              bool         `json:"consent"`
	ConfirmIrreversible  bool         `json:"confirm_irreversible"`
	AcceptLateReviewRisk bool         `json:"accept_late_review_risk"`
	Scope                domain.Scope `json:"scope"`
	RequestedBy          string       `json:"requested_by"`
}

type cancelBody struct {
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
}

type approveBody struct {
	Operator string `json:"operator"`
	Note     string `json:"note"`
}

func (s *Server) eligibility(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, err := eligibilityQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	o, err := s.orders.GetOrder(ctx, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.now()
	req.OrderID, req.RequestedAt = o.ID, now
	d, err := s.judge(ctx, o, req, now)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Eligibility{OrderID: o.ID, EvaluatedAt: now, Decision: d})
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
			return req, badRequest("query parameter %s: %q is not a boolean", p.name, clip(v))
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
	return errs.E(errs.Invalid, "scope %q is not one of %s, %s", clip(string(sc)), domain.ScopeOrder, domain.ScopeManagedService)
}

// startRefund starts the order's refund, or joins the running one: the
// workflow ID is the order's, so a repeated POST (with or without an
// Idempotency-Key) cannot start a second refund. The workflow judges the
// request itself and records a refusal, so a refused request is still
// started and answered 202 with the refusal in its status.
func (s *Server) startRefund(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	key, err := idempotencyKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body refundBody
	if err := s.decodeBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkScope(body.Scope); err != nil {
		s.writeError(w, r, err)
		return
	}
	o, err := s.orders.GetOrder(ctx, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in := workflows.RefundInput{OrderID: o.ID, Request: domain.RefundRequest{
		OrderID:              o.ID,
		RequestedAt:          s.now(),
		Scope:                body.Scope,
		Consent:              body.Consent,
		ConfirmIrreversible:  body.ConfirmIrreversible,
		AcceptLateReviewRisk: body.AcceptLateReviewRisk,
		RequestedBy:          body.RequestedBy,
	}}
	runID, err := s.wf.StartRefund(ctx, o, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := RefundAccepted{WorkflowID: workflows.RefundWorkflowID(o.ID), RunID: runID}
	if st, err := s.wf.RefundStatus(ctx, o.ID); err == nil {
		resp.Status = &st
	} else {
		s.log.Warn("refund started, status not yet available", zap.String("order", o.ID), zap.Error(err))
	}
	if key != "" {
		w.Header().Set("Idempotency-Key", key)
	}
	w.Header().Set("Location", "/v1/orders/"+url.PathEscape(o.ID)+"/refund")
	writeJSON(w, http.StatusAccepted, resp)
}

// refundStatus answers from the workflow, falling back to the store's
// record when the workflow is gone or Temporal cannot answer.
func (s *Server) refundStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	orderID := r.PathValue("id")
	view := RefundView{WorkflowID: workflows.RefundWorkflowID(orderID), Source: SourceWorkflow}
	st, wfErr := s.wf.RefundStatus(ctx, orderID)
	if wfErr == nil {
		view.Status = st
		writeJSON(w, http.StatusOK, view)
		return
	}
	rec, err := s.orders.GetRefund(ctx, orderID)
	switch {
	case err == nil:
		if errs.CodeOf(wfErr) != errs.NotFound {
			s.log.Warn("refund status from the store: workflow did not answer", zap.String("order", orderID), zap.Error(wfErr))
		}
		view.Source, view.Status = SourceStore, statusFromRecord(rec)
		writeJSON(w, http.StatusOK, view)
	case errs.CodeOf(err) == errs.NotFound && errs.CodeOf(wfErr) == errs.NotFound:
		s.writeError(w, r, errs.E(errs.NotFound, "order %s has no refund", clip(orderID)))
	case errs.CodeOf(err) == errs.NotFound:
		// The store has nothing to say; the workflow's failure stands.
		s.writeError(w, r, wfErr)
	default:
		s.writeError(w, r, err)
	}
}

// statusFromRecord turns the store's record into the status shape.
func statusFromRecord(rec activities.RefundRecord) workflows.RefundStatus {
	st := workflows.RefundStatus{
		OrderID: rec.OrderID,
		State:   statemachine.OrderState(rec.State),
		Outcome: workflows.Outcome(rec.Outcome),
		Reasons: rec.Reasons,
		Steps:   []workflows.StepRecord{},
	}
	if st.Reasons == nil {
		st.Reasons = []string{}
	}
	if rec.PaymentID != "" {
		st.Payout = &workflows.Payout{PaymentID: rec.PaymentID, Cash: rec.Cash, Currency: rec.Currency, At: rec.UpdatedAt}
	}
	return st
}

// cancelRefund sends the cancel update; the workflow's validator refuses it
// after the first irreversible step (CAN-1) or always (CAN-2), and its
// message, naming the rule, is the answer.
func (s *Server) cancelRefund(w http.ResponseWriter, r *http.Request) {
	var body cancelBody
	s.refundUpdate(w, r, &body, func(orderID, updateID string) (workflows.RefundStatus, error) {
		return s.wf.CancelRefund(r.Context(), orderID, updateID, workflows.CancelRequest{Actor: body.Actor, Reason: body.Reason})
	})
}

// approveRefund sends the operator's approval (GW-4).
func (s *Server) approveRefund(w http.ResponseWriter, r *http.Request) {
	var body approveBody
	s.refundUpdate(w, r, &body, func(orderID, updateID string) (workflows.RefundStatus, error) {
		return s.wf.ApproveRefund(r.Context(), orderID, updateID, workflows.ApproveRequest{Operator: body.Operator, Note: body.Note})
	})
}

// refundUpdate decodes body, then runs send with the order ID and the
// update ID derived from the Idempotency-Key.
func (s *Server) refundUpdate(w http.ResponseWriter, r *http.Request, body any, send func(orderID, updateID string) (workflows.RefundStatus, error)) {
	key, err := idempotencyKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.decodeBody(w, r, body); err != nil {
		s.writeError(w, r, err)
		return
	}
	orderID := r.PathValue("id")
	st, err := send(orderID, updateID(r.URL.Path, key))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, RefundView{WorkflowID: workflows.RefundWorkflowID(orderID), Source: SourceWorkflow, Status: st})
}

// updateID derives a Temporal update ID from an Idempotency-Key, scoped by
// the endpoint so one key cannot collide across actions. Empty without a
// key: the SDK then picks a fresh one.
func updateID(path, key string) string {
	if key == "" {
		return ""
	}
	return path + "#" + key
}
