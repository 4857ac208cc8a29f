package ops

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/refund"
)

// refundView is the refund as the order page shows it: the workflow's
// status when it answers, else the store's record.
type refundView struct {
	State, Outcome string
	Reasons        []string
	Message        string
	Waiting        string
	WaitingOn      []waitRow
	Escalation     *domain.Escalation
	Audit          []domain.AuditEntry
	Steps          []refund.StepRecord
	Amount         string
	// AmountDue says Amount is what the decision will pay, not yet paid.
	AmountDue       bool
	GiftCard        string
	BenefitPoints   int64
	Destination     string
	PaymentID       string
	RequestedBy     string
	UpdatedAt       time.Time
	CancelReason    string
	FromRecordSteps bool
}

type waitRow struct {
	domain.Wait
	Left    string
	Overdue bool
}

type orderData struct {
	Session  session
	Order    domain.Order
	Refund   *refundView
	Source   string
	Notice   string
	Events   []ports.Event
	Scanned  int
	Capped   bool
	WebUIURL string
	// The forms: whether each is offered, its one-time key, what the
	// operator typed (kept after a refusal) and the refusal.
	CanApprove, CanCancel bool
	ApproveKey, CancelKey string
	Note, Reason          string
	Error, ErrorForm      string
	Done                  string
}

// load gathers the order page: the order, the refund (workflow status or
// record) and the order's events.
func (h *Handler) load(ctx context.Context, id string, now time.Time) (orderData, error) {
	d := orderData{Session: sessionOf(ctx), WebUIURL: h.webUIURL(id)}
	var err error
	if d.Order, err = h.cfg.Reader.GetOrder(ctx, id); err != nil {
		return orderData{}, err
	}
	rec, recErr := h.cfg.Reader.GetRefund(ctx, id)
	hasRec := recErr == nil
	if recErr != nil && errs.CodeOf(recErr) != errs.NotFound {
		h.log.Warn("ops: reading the refund record", zap.String("order", id), zap.Error(recErr))
	}
	st, stErr := h.cfg.Actions.RefundStatus(ctx, id)
	switch {
	case stErr == nil:
		d.Refund, d.Source = viewOfStatus(st, rec, now), "the refund workflow"
	case hasRec:
		d.Refund, d.Source = viewOfRecord(rec, now), "the store's record"
		if errs.CodeOf(stErr) != errs.NotFound {
			d.Notice = "The workflow did not answer (" + refusal(stErr) + "); this is the store's last record."
			h.log.Warn("ops: refund status", zap.String("order", id), zap.Error(stErr))
		}
	case errs.CodeOf(stErr) != errs.NotFound:
		d.Notice = "The workflow did not answer (" + refusal(stErr) + ")."
	}
	if d.Refund != nil {
		d.CanApprove = d.Refund.State == string(statemachine.OrderAwaitingApproval) || d.Refund.Outcome == string(refund.OutcomeAwaitingApproval)
		d.CanCancel = !finalOutcome(d.Refund.Outcome) && !statemachine.IsOrderFinal(statemachine.OrderState(d.Refund.State))
	}
	d.Events, d.Scanned, d.Capped = h.orderEvents(ctx, id)
	if d.ApproveKey, err = randomString(h.cfg.Random, 16); err != nil {
		return orderData{}, err
	}
	if d.CancelKey, err = randomString(h.cfg.Random, 16); err != nil {
		return orderData{}, err
	}
	return d, nil
}

func waitRows(ws []domain.Wait, now time.Time) []waitRow {
	out := make([]waitRow, 0, len(ws))
	for _, w := range ws {
		r := waitRow{Wait: w}
		if w.Deadline != nil {
			left := w.Deadline.Sub(now)
			if r.Overdue = left < 0; r.Overdue {
				r.Left = "overdue by " + human(-left)
			} else {
				r.Left = human(left)
			}
		}
		out = append(out, r)
	}
	return out
}

func viewOfStatus(st refund.Status, rec ports.RefundRecord, now time.Time) *refundView {
	v := &refundView{
		State: string(st.State), Outcome: string(st.Outcome), Reasons: st.Reasons, Message: st.Message,
		Waiting: st.Waiting, WaitingOn: waitRows(st.WaitingOn, now), Escalation: st.Escalation,
		Audit: st.Audit, Steps: st.Steps, RequestedBy: rec.RequestedBy, UpdatedAt: rec.UpdatedAt,
		Amount: amount(rec.Cash, rec.Currency),
	}
	if p := st.Payout; p != nil {
		v.Amount, v.GiftCard, v.BenefitPoints = amount(p.Cash, p.Currency), p.GiftCard, p.BenefitPoints
		v.Destination, v.PaymentID = string(p.Destination), p.PaymentID
	} else if d := st.Decision; v.Amount == "" && d != nil && d.Refund != nil && !finalOutcome(v.Outcome) {
		// Not paid yet (the record has cash once paid): the decision's
		// breakdown is what an approver is asked to let through.
		v.Amount, v.AmountDue = amount(d.Refund.Cash.String(), d.Refund.Cash.Currency().Code), true
	} else if v.Amount == "" {
		// The store's record keeps the amount due from the judgement on.
		v.Amount, v.AmountDue = dueAmount(rec.Due, v.Outcome)
	}
	if v.RequestedBy == "" {
		for _, a := range st.Audit {
			if a.Action == domain.AuditRefundRequested {
				v.RequestedBy = a.Subject
				break
			}
		}
	}
	v.CancelReason = cancelReason(ports.RefundRecord{Outcome: v.Outcome, Audit: v.Audit, Message: v.Message})
	return v
}

func viewOfRecord(rec ports.RefundRecord, now time.Time) *refundView {
	v := &refundView{
		State: rec.State, Outcome: rec.Outcome, Reasons: rec.Reasons, Message: rec.Message,
		Waiting: rec.Waiting, WaitingOn: waitRows(rec.WaitingOn, now), Escalation: rec.Escalation,
		Audit: rec.Audit, RequestedBy: rec.RequestedBy, UpdatedAt: rec.UpdatedAt,
		Amount: amount(rec.Cash, rec.Currency), GiftCard: rec.GiftCard, BenefitPoints: rec.BenefitPoints,
		Destination: string(rec.Destination), PaymentID: rec.PaymentID, CancelReason: cancelReason(rec),
	}
	if v.Amount == "" {
		v.Amount, v.AmountDue = dueAmount(rec.Due, rec.Outcome)
	}
	v.Steps = rec.Steps
	if len(v.Steps) == 0 {
		// A record written before steps were kept: its last state stands
		// for them.
		v.Steps = []refund.StepRecord{{At: rec.UpdatedAt, Step: rec.State, Detail: rec.Waiting}}
		v.FromRecordSteps = true
	}
	return v
}

// orderEvents finds the order's events: through OrderEvents when the
// Reader has it, else by reading at most EventScan events of the outbox
// from the first (ListEvents has no filter by order).
func (h *Handler) orderEvents(ctx context.Context, id string) (evs []ports.Event, scanned int, capped bool) {
	if oe, ok := h.cfg.Reader.(OrderEvents); ok {
		evs, err := oe.OrderEvents(ctx, id, h.cfg.EventScan)
		if err != nil {
			h.log.Warn("ops: listing the order's events", zap.String("order", id), zap.Error(err))
		}
		return evs, 0, false
	}
	after := ""
	for scanned < h.cfg.EventScan {
		p, err := h.cfg.Reader.ListEvents(ctx, after, min(ports.MaxEventPage, h.cfg.EventScan-scanned))
		if err != nil {
			h.log.Warn("ops: listing events", zap.String("order", id), zap.Error(err))
			return evs, scanned, false
		}
		for _, e := range p.Events {
			if e.OrderID == id {
				evs = append(evs, e)
			}
		}
		scanned += len(p.Events)
		if len(p.Events) == 0 || p.Next == "" || p.Next == after {
			return evs, scanned, false
		}
		after = p.Next
	}
	return evs, scanned, true
}

func (h *Handler) orderPage(w http.ResponseWriter, r *http.Request) {
	d, err := h.load(r.Context(), r.PathValue("id"), h.cfg.Now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	switch r.URL.Query().Get("done") {
	case "approved":
		d.Done = "Approved. The refund below is as the workflow reports it now."
	case "cancelled":
		d.Done = "Cancelled."
	}
	h.render(w, r, http.StatusOK, "order", d)
}

// formKey is the form's one-time key: the Idempotency-Key of the action,
// so a double submit of one form is one action.
func formKey(r *http.Request) (string, bool) {
	k := r.PostFormValue("key")
	if k == "" || len(k) > 64 || strings.ContainsFunc(k, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_')
	}) {
		return "", false
	}
	return k, true
}

// act runs an approve or a cancel form: field is the required text
// (note or reason), send the update. A refusal re-shows the page with
// the message and what the operator typed; nothing else changes.
func (h *Handler) act(w http.ResponseWriter, r *http.Request, form, field, required, done string,
	send func(ctx context.Context, id, updateID, text string, by domain.Actor) error) {
	s, id := sessionOf(r.Context()), r.PathValue("id")
	key, ok := formKey(r)
	if !ok {
		h.refuse(w, r, http.StatusBadRequest, "This form is incomplete (it has no key). Nothing was changed; reload the page and try again.")
		return
	}
	text := strings.TrimSpace(r.PostFormValue(field))
	var err error
	if text == "" {
		err = errs.E(errs.Invalid, "%s; nothing was sent", required)
	} else {
		by := domain.Actor{Subject: s.Subject, Role: domain.RoleOperator, IdempotencyKey: key}
		err = send(r.Context(), id, r.URL.Path+"#"+key, text, by)
	}
	if err == nil {
		h.log.Info("ops "+form, zap.String("order", id), zap.String("subject", s.Subject))
		http.Redirect(w, r, "/ops/orders/"+url.PathEscape(id)+"?done="+done, http.StatusSeeOther)
		return
	}
	h.logFailure(r, err)
	d, lerr := h.load(r.Context(), id, h.cfg.Now())
	if lerr != nil {
		h.fail(w, r, fmt.Errorf("%s refused (%s), then reading the order: %w", form, refusal(err), lerr))
		return
	}
	d.Error, d.ErrorForm = refusal(err), form
	if form == "approve" {
		d.Note = text
	} else {
		d.Reason = text
	}
	h.render(w, r, statusFor(err), "order", d)
}

func (h *Handler) approve(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, "approve", "note", "a note is required to approve", "approved",
		func(ctx context.Context, id, updateID, note string, by domain.Actor) error {
			// GW-4: the workflow's validator refuses the requester; the
			// page only says who asks.
			_, err := h.cfg.Actions.ApproveRefund(ctx, id, updateID, refund.ApproveRequest{Operator: by.Subject, Note: note, By: by})
			return err
		})
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, "cancel", "reason", "a reason is required to cancel", "cancelled",
		func(ctx context.Context, id, updateID, reason string, by domain.Actor) error {
			_, err := h.cfg.Actions.CancelRefund(ctx, id, updateID, refund.CancelRequest{Actor: by.Subject, Reason: reason, By: by})
			return err
		})
}
