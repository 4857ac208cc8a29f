package refund

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/api"
	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpapi"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/shopspring/decimal"
	"go.uber.org/zap"
)

// The refund's console API: eligibility, the refund request, its status,
// cancel and approve. The gateway mounts these handlers behind its
// authentication, rate limits and path checks (gateway.routes); they
// answer with the API's wire types (package api), mapped from the store's
// record and the workflow's status below.

// API serves the refund's routes.
type API struct {
	Temporal Temporal
	Store    Store
	Judge    Judge
	HTTP     *httpapi.Responder
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives warnings; nil means HTTP's logger or none.
	Log *zap.Logger
}

// Temporal is what the refund's API asks of Temporal; Client implements it.
type Temporal interface {
	// StartRefund starts the refund workflow of order o with in, or joins
	// the one already running (a repeated or concurrent request starts
	// nothing). afterFinished says the caller saw a finished refund and
	// judged that it does not block a new one (LastRefund): only then may a
	// new run follow a closed one; otherwise a run that closed since the
	// caller looked makes the start a Conflict, so a request judged before
	// another's refund paid never starts a second run. It returns the run ID.
	StartRefund(ctx context.Context, o domain.Order, in Input, afterFinished bool) (runID string, err error)
	// LastRefund is the order's latest refund: whether it runs, and once
	// it finished, its result. NotFound when the order never had one.
	LastRefund(ctx context.Context, orderID string) (st Status, running bool, err error)
	// RefundStatus is the refund's current status (query), or its result
	// once it finished.
	RefundStatus(ctx context.Context, orderID string) (Status, error)
	// CancelRefund and ApproveRefund send the update and wait for its
	// outcome; the validator's refusal comes back as the error. A
	// non-empty updateID makes a retried request return the first outcome.
	CancelRefund(ctx context.Context, orderID, updateID string, req CancelRequest) (Status, error)
	ApproveRefund(ctx context.Context, orderID, updateID string, req ApproveRequest) (Status, error)
}

var _ Temporal = (*Client)(nil)

// Store is what the refund's API reads and writes of the store; an unknown
// order or refund is errs.NotFound.
type Store interface {
	GetOrder(ctx context.Context, orderID string) (domain.Order, error)
	// GetRefund returns the order's refund record (the workflow's
	// projection).
	GetRefund(ctx context.Context, orderID string) (ports.RefundRecord, error)
	// RefundedAmount is what the payment ledger paid out for the order
	// (M-3 counts it as refunded).
	RefundedAmount(ctx context.Context, orderID string) (decimal.Decimal, error)
	// RecordRefundRequested records a refund just started (state
	// refund_requested at the request's time) unless a running or newer
	// refund's record is there.
	RecordRefundRequested(ctx context.Context, orderID string, by domain.Actor, at time.Time) error
}

func (s *API) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *API) log() *zap.Logger {
	if s.Log != nil {
		return s.Log
	}
	return zap.NewNop()
}

// Eligibility answers GET /v1/orders/{id}/refund-eligibility: the rules'
// decision on a refund requested now, what was refunded so far (M-3) and
// the order's latest refund record.
func (s *API) Eligibility(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, err := eligibilityQuery(r.URL.Query())
	if err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	o, err := s.Store.GetOrder(ctx, r.PathValue("id"))
	if err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	now := s.now()
	req.OrderID, req.RequestedAt = o.ID, now
	d, refunded, err := s.judgeWithHistory(ctx, o, req, now)
	if err != nil {
		s.HTTP.Error(w, r, err)
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
	el := api.Eligibility{OrderID: o.ID, EvaluatedAt: now, Decision: d, AlreadyRefunded: refunded}
	switch rec, err := s.Store.GetRefund(ctx, o.ID); {
	case err == nil:
		el.Refund = WireRecord(rec)
		el.InProgress = !statemachine.IsOrderFinal(statemachine.OrderState(rec.State))
	case errs.CodeOf(err) != errs.NotFound:
		s.HTTP.Error(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, el)
}

// judgeWithHistory judges req with what was refunded for the order so far
// counted as already refunded (M-3): the order's books plus the payment
// ledger. It returns that amount too.
func (s *API) judgeWithHistory(ctx context.Context, o domain.Order, req domain.RefundRequest, now time.Time) (policy.Decision, string, error) {
	paid, err := s.Store.RefundedAmount(ctx, o.ID)
	if err != nil {
		return policy.Decision{}, "", err
	}
	o.AlreadyRefunded = o.AlreadyRefunded.Add(paid)
	refunded := o.AlreadyRefunded.String()
	if cur, err := money.LookupCurrency(o.Currency); err == nil {
		refunded = o.AlreadyRefunded.StringFixed(cur.Places)
		paid = paid.Round(int32(cur.Places))
	}
	d, err := s.Judge(ctx, o, req, now)
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

// Start judges the request now and, only when the rules accept it,
// starts the order's refund or joins the running one. A request the rules
// refuse is 422 with the rule IDs and starts nothing, so the customer can
// fix it and ask again. A finished refund blocks a new one only when it
// paid or was refused by a rule that cannot change (409 naming it); a
// cancelled refund, or one refused for a reason that can change, does not.
// The workflow ID is the order's and the conflict policy USE_EXISTING, so
// concurrent requests give one workflow and one payment.
func (s *API) Start(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	key, err := httpapi.IdempotencyKey(r)
	if err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	var body api.RefundRequest // who asks is the token's subject, not a body field
	if err := s.HTTP.Decode(w, r, &body); err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	if err := checkScope(body.Scope); err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	o, err := s.Store.GetOrder(ctx, r.PathValue("id"))
	if err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	now := s.now()
	in := Input{OrderID: o.ID, Request: domain.RefundRequest{
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
			rec, err := s.Store.GetRefund(ctx, o.ID)
			switch {
			case err == nil && !statemachine.IsOrderFinal(statemachine.OrderState(rec.State)):
				running = true
				st := StatusFromRecord(rec)
				status = &st
			case err == nil:
				fromTemporal = true // finished: Temporal's word decides
			case errs.CodeOf(err) != errs.NotFound:
				s.HTTP.Error(w, r, err)
				return
			}
		}
		if fromTemporal {
			looks++
			var last Status
			last, running, err = s.Temporal.LastRefund(ctx, o.ID)
			finished, status = err == nil && !running, nil
			switch {
			case finished:
				if err := finishedBlocks(o.ID, last); err != nil {
					s.HTTP.Error(w, r, err)
					return
				}
			case err != nil && errs.CodeOf(err) != errs.NotFound:
				s.HTTP.Error(w, r, err)
				return
			}
		}
		if !running {
			d, _, err := s.judgeWithHistory(ctx, o, in.Request, now)
			if err != nil {
				s.HTTP.Error(w, r, err)
				return
			}
			if !d.Eligible {
				s.HTTP.Error(w, r, errs.R(errs.NotRefundable, d.Reasons(), "%s", refusalMessage(d)))
				return
			}
		}
		runID, err = s.Temporal.StartRefund(ctx, o, in, finished)
		if err == nil {
			break
		}
		// Refused by the reuse policy: the store's answer was stale, or a
		// refund closed between Temporal's look and the start (another
		// request's, paid); look (again) in Temporal, twice at most.
		if errs.CodeOf(err) != errs.Conflict || finished || looks >= 2 {
			s.HTTP.Error(w, r, err)
			return
		}
		fromTemporal = true
	}
	if !running {
		// The read model shows the request at once; the workflow's own
		// records (later in time) take over from its first step.
		if err := s.Store.RecordRefundRequested(ctx, o.ID, in.By, now); err != nil {
			s.log().Warn("refund started, its request not yet recorded", zap.String("order", o.ID), zap.Error(err))
		} else if rec, err := s.Store.GetRefund(ctx, o.ID); err == nil {
			st := StatusFromRecord(rec)
			status = &st
		}
	}
	resp := api.RefundAccepted{WorkflowID: WorkflowID(o.ID), RunID: runID, Status: status}
	if key != "" {
		w.Header().Set("Idempotency-Key", key)
	}
	w.Header().Set("Location", "/v1/orders/"+url.PathEscape(o.ID)+"/refund")
	httpapi.JSON(w, http.StatusAccepted, resp)
}

// finishedBlocks is the Conflict that a finished refund puts in the way of
// a new one, or nil: paid (M-3: a refund is paid once), or refused by
// a rule that cannot change (policy.FinalRefusal).
func finishedBlocks(orderID string, last Status) error {
	switch last.Outcome {
	case OutcomeRefunded:
		payment := ""
		if last.Payout != nil {
			payment = " (payment " + last.Payout.PaymentID + ")"
		}
		return errs.R(errs.Conflict, []string{"M-3"}, "the refund of order %s was paid%s; a refund is paid once per order", orderID, payment)
	case OutcomeRejected:
		if final, rule := policy.FinalRefusal(last.Reasons); final {
			return errs.R(errs.Conflict, []string{rule}, "the refund of order %s was refused under %s, which a new request cannot change: %s", orderID, rule, last.Message)
		}
	}
	return nil
}

// refusalMessage is the message of a 422: each refusal with its rule.
func refusalMessage(d policy.Decision) string {
	parts := make([]string, 0, len(d.Refusals))
	for _, x := range d.Refusals {
		parts = append(parts, x.Rule+": "+x.Message)
	}
	if len(parts) == 0 {
		return "the rules refuse the refund"
	}
	return "the rules refuse the refund now (nothing was started): " + strings.Join(parts, "; ")
}

// The views of GET /v1/orders/{id}/
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

// Status answers from the store's record (view=record, the
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
func (s *API) Status(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q, err := httpapi.Query(r, "view")
	if err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	mode := q.Get("view")
	if err := httpapi.OneOf("view", mode, []string{ViewRecord, ViewWorkflow}); err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	orderID := r.PathValue("id")
	view := api.RefundView{WorkflowID: WorkflowID(orderID), Source: api.RefundViewSourceStore}
	// fromRecord answers from the store's record when it has one, and
	// otherwise returns why not (NotFound when there is none).
	fromRecord := func() error {
		rec, err := s.Store.GetRefund(ctx, orderID)
		if err == nil {
			view.Status = StatusFromRecord(rec)
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
			s.log().Warn("refund status from the workflow: the store did not answer", zap.String("order", orderID), zap.Error(err))
		} else if _, running, err := s.Temporal.LastRefund(ctx, orderID); err == nil && running {
			// Started a moment ago, its first record not written yet (the
			// gateway writes it right after the start): requested, by
			// definition. Temporal was asked whether it runs, not the
			// worker for its status.
			view.Source = api.RefundViewSourceWorkflow
			view.Status = StatusView(Status{OrderID: orderID, State: statemachine.OrderRefundRequested, Outcome: OutcomePending})
			httpapi.JSON(w, http.StatusOK, view)
			return
		}
		storeErr = err
	}
	st, wfErr := s.Temporal.RefundStatus(ctx, orderID)
	switch {
	case wfErr == nil:
		view.Source, view.Status = api.RefundViewSourceWorkflow, StatusView(st)
		httpapi.JSON(w, http.StatusOK, view)
		return
	case errs.CodeOf(wfErr) != errs.NotFound:
		s.HTTP.Error(w, r, wfErr)
		return
	case storeErr != nil && errs.CodeOf(storeErr) != errs.NotFound:
		s.HTTP.Error(w, r, storeErr)
		return
	}
	if mode == ViewWorkflow {
		// No workflow: the store's record is all there is.
		view.Source = api.RefundViewSourceStore
		switch err := fromRecord(); {
		case err == nil:
			return
		case errs.CodeOf(err) != errs.NotFound:
			s.HTTP.Error(w, r, err)
			return
		}
	}
	s.HTTP.Error(w, r, errs.E(errs.NotFound, "order %s has no refund", httpapi.Clip(orderID)))
}

// StatusFromRecord turns the store's record into the status shape: state,
// outcome, reasons, message, what it waits on, its escalation, its audit
// trail, its steps and the payout (no decision, no held certificates:
// those are the workflow's view).
func StatusFromRecord(rec ports.RefundRecord) api.RefundStatus {
	st := Status{
		OrderID:    rec.OrderID,
		State:      statemachine.OrderState(rec.State),
		Outcome:    Outcome(rec.Outcome),
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
		st.Payout = &Payout{PaymentID: rec.PaymentID, Cash: rec.Cash, GiftCard: rec.GiftCard, BenefitPoints: rec.BenefitPoints,
			Currency: rec.Currency, Destination: rec.Destination, At: rec.UpdatedAt}
	}
	return StatusView(st)
}

// StatusView is st as the API shows it (wireStatus): its lists are
// arrays, never null.
func StatusView(st Status) api.RefundStatus {
	return WireStatus(st)
}

// Cancel sends the cancel update, acting as the token's subject
// (with its role and Idempotency-Key for the audit trail); the
// workflow's validator refuses it after the first irreversible step (CAN-1)
// or always (CAN-2), and the refusal carries those rule IDs.
func (s *API) Cancel(w http.ResponseWriter, r *http.Request) {
	var body api.CancelRequest // the actor is the token's subject
	s.update(w, r, &body, func(orderID, updateID string) (Status, error) {
		by := httpapi.ActorOf(r)
		return s.Temporal.CancelRefund(r.Context(), orderID, updateID, CancelRequest{Actor: by.Subject, Reason: body.Reason, By: by})
	})
}

// Approve sends the operator's approval (GW-4) as the token's
// subject; the workflow refuses (403, GW-4) an approval by the subject
// that requested the
func (s *API) Approve(w http.ResponseWriter, r *http.Request) {
	var body api.ApproveRequest // the approver is the token's subject
	s.update(w, r, &body, func(orderID, updateID string) (Status, error) {
		by := httpapi.ActorOf(r)
		return s.Temporal.ApproveRefund(r.Context(), orderID, updateID, ApproveRequest{Operator: by.Subject, Note: body.Note, By: by})
	})
}

// update decodes body, then runs send with the order ID and the
// update ID derived from the Idempotency-Key.
func (s *API) update(w http.ResponseWriter, r *http.Request, body any, send func(orderID, updateID string) (Status, error)) {
	key, err := httpapi.IdempotencyKey(r)
	if err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	if err := s.HTTP.Decode(w, r, body); err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	orderID := r.PathValue("id")
	st, err := send(orderID, httpapi.UpdateID(r.URL.Path, key))
	if err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, api.RefundView{WorkflowID: WorkflowID(orderID), Source: api.RefundViewSourceWorkflow, Status: StatusView(st)})
}

// The console API answers with its wire types (package api, generated
// from api/openapi.yaml). These functions map the store's records and the
// workflows' statuses to them, field by field: a stored record or a
// workflow's type never goes on the wire as it is, so either can change
// without changing the API. The lists the document requires are arrays,
// never null.

// WireRecord is the store's refund record as the API shows it.
func WireRecord(rec ports.RefundRecord) *api.RefundRecord {
	w := &api.RefundRecord{
		OrderID:       rec.OrderID,
		State:         api.OrderState(rec.State),
		Outcome:       api.Outcome(rec.Outcome),
		Reasons:       api.Array(rec.Reasons),
		Cash:          rec.Cash,
		Currency:      rec.Currency,
		PaymentID:     rec.PaymentID,
		UpdatedAt:     rec.UpdatedAt,
		Waiting:       rec.Waiting,
		Escalated:     rec.Escalated,
		RequestedBy:   rec.RequestedBy,
		WaitingOn:     api.Array(rec.WaitingOn),
		Escalation:    rec.Escalation,
		Audit:         api.Array(rec.Audit),
		Message:       rec.Message,
		GiftCard:      rec.GiftCard,
		BenefitPoints: rec.BenefitPoints,
		Destination:   rec.Destination,
		Steps:         wireSteps(rec.Steps),
	}
	if d := rec.Due; d != nil {
		w.Due = &api.RefundDue{Cash: d.Cash, GiftCard: d.GiftCard, BenefitPoints: d.BenefitPoints, Currency: d.Currency, Destination: d.Destination}
	}
	return w
}

// WireStatus is a refund's status as the API shows it.
func WireStatus(st Status) api.RefundStatus {
	w := api.RefundStatus{
		OrderID:    st.OrderID,
		State:      st.State,
		Outcome:    api.Outcome(st.Outcome),
		Reasons:    api.Array(st.Reasons),
		Message:    st.Message,
		Decision:   st.Decision,
		Waiting:    st.Waiting,
		WaitingOn:  api.Array(st.WaitingOn),
		Escalated:  st.Escalated,
		Escalation: st.Escalation,
		Audit:      api.Array(st.Audit),
		Steps:      api.Array(wireSteps(st.Steps)),
	}
	if p := st.Payout; p != nil {
		w.Payout = &api.Payout{PaymentID: p.PaymentID, Cash: p.Cash, GiftCard: p.GiftCard, BenefitPoints: p.BenefitPoints,
			Currency: p.Currency, Destination: string(p.Destination), At: p.At}
	}
	for _, c := range st.Certificates {
		w.Certificates = append(w.Certificates, api.CertificateRef{ID: c.ID, State: c.State})
	}
	for _, h := range st.Held {
		w.Held = append(w.Held, certificate.Wire(h))
	}
	return w
}

func wireSteps(steps []domain.StepRecord) []api.StepRecord {
	if steps == nil {
		return nil
	}
	w := make([]api.StepRecord, 0, len(steps))
	for _, s := range steps {
		w = append(w, api.StepRecord{At: s.At, Step: s.Step, Detail: s.Detail})
	}
	return w
}

// Judge decides whether a refund request would be granted now, without
// side effects: the console shows or hides the Refund button with it.
type Judge func(ctx context.Context, o domain.Order, req domain.RefundRequest, now time.Time) (policy.Decision, error)

// Policies resolves the refund profile and business-day calendar an order
// was sold under (at its payment time). The worker's policy registry
// implements it, the same resolution the refund workflow records.
type Policies interface {
	Resolve(ctx context.Context, profile string, paidAt time.Time) (policy.Profile, calendar.Spec, error)
}

// PolicyJudge is the Judge of the rules: it resolves the profile and
// business-day calendar the order was sold under through p and evaluates
// with policy.Evaluate.
func PolicyJudge(p Policies) Judge {
	return func(ctx context.Context, o domain.Order, req domain.RefundRequest, now time.Time) (policy.Decision, error) {
		prof, spec, err := p.Resolve(ctx, o.Profile, o.PaidAt)
		if err != nil {
			return policy.Decision{}, fmt.Errorf("resolving profile %q of order %s: %w", o.Profile, o.ID, err)
		}
		cal, err := calendar.FromSpec(spec)
		if err != nil {
			return policy.Decision{}, errs.Wrap(errs.Internal, err, "calendar of profile %s", prof.ID())
		}
		return policy.Evaluate(prof, cal, o, req, now)
	}
}
