package refund

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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
	// Intake starts the requests Start records (the gateway's
	// dispatcher); nil starts nothing (a request stays pending).
	Intake Intake
	Judge  Judge
	HTTP   *httpapi.Responder
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
	// LastRun is LastRefund with the run's ID.
	LastRun(ctx context.Context, orderID string) (Run, error)
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
	// RequestRefund records a refund request (pending) with the read
	// model's refund_requested record, in one transaction, or joins the
	// refund under way (a pending request, a running refund's record):
	// ports.Requests.
	RequestRefund(ctx context.Context, req ports.RefundRequest) (in ports.RefundIntake, joined bool, err error)
	// RefundIntake reads the order's refund record and latest request.
	RefundIntake(ctx context.Context, orderID string) (ports.RefundIntake, error)
	// OrderRefunds reads the order, its record and request, and whether
	// a payout of it was paid, in one query.
	OrderRefunds(ctx context.Context, orderID string) (ports.OrderRefunds, error)
}

// Intake starts recorded refund requests: the gateway's dispatcher.
type Intake interface {
	// Claim is the lease a request is recorded with: the recording
	// gateway's dispatcher starts it, and no other before the lease ends.
	Claim() ports.Claim
	// Dispatch starts req, recorded with Claim's lease, soon, in the
	// background; it never blocks. o is req's order, as read to judge
	// it. ctx is the request's: its values (the
	// trace) go with the start, its end does not stop it.
	Dispatch(ctx context.Context, req ports.RefundRequest, o domain.Order)
	// Accepting says a refund POST is being answered until done is
	// called: the background starts yield to the POSTs in flight.
	Accepting() (done func())
	// StartPending starts the order's pending request now and waits for
	// the start (nil when there is none, or it started): an update sent
	// next finds the workflow. A start refused for good is its Conflict.
	StartPending(ctx context.Context, orderID string) error
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
	return s.judgeWith(ctx, o, req, now, s.Store.RefundedAmount)
}

// nothingPaid is RefundedAmount for an order the ledger paid nothing.
func nothingPaid(context.Context, string) (decimal.Decimal, error) { return decimal.Zero, nil }

// judgeWith is judgeWithHistory with the ledger's paid amount read by
// paid.
func (s *API) judgeWith(ctx context.Context, o domain.Order, req domain.RefundRequest, now time.Time,
	paid func(ctx context.Context, orderID string) (decimal.Decimal, error)) (policy.Decision, string, error) {
	amount, err := paid(ctx, o.ID)
	if err != nil {
		return policy.Decision{}, "", err
	}
	o.AlreadyRefunded = o.AlreadyRefunded.Add(amount)
	refunded := o.AlreadyRefunded.String()
	if cur, err := money.LookupCurrency(o.Currency); err == nil {
		refunded = o.AlreadyRefunded.StringFixed(cur.Places)
		amount = amount.Round(int32(cur.Places))
	}
	d, err := s.Judge(ctx, o, req, now)
	if err != nil {
		return d, refunded, err
	}
	return policy.RefusePaidOut(d, amount, o.Currency), refunded, nil
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
// records it durably and answers 202: the workflow's start follows, by
// the gateway's dispatcher (Intake), without the console waiting for
// Temporal. A request the rules refuse is 422 with the rule IDs and
// records nothing, so the customer can fix it and ask again. A refund
// under way is joined: a request still pending, or a running refund's
// record (not judged; recorded, its start joins the run). A finished
// refund blocks a new one only when it paid or was refused by a rule that
// cannot change (409 naming it); a cancelled refund, or one refused for a
// reason that can change, does not: that rare path (the store's record is
// final) asks Temporal, which has the last word. The request is recorded
// with the read model's refund_requested record in one transaction, and
// the workflow ID is the order's with the conflict policy USE_EXISTING,
// so concurrent requests give one request, one workflow and one payment.
func (s *API) Start(w http.ResponseWriter, r *http.Request) {
	if s.Intake != nil {
		defer s.Intake.Accepting()()
	}
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
	// One read: the order, its refund's record and request, and whether
	// the ledger paid it anything (only then is the amount read).
	found, err := s.Store.OrderRefunds(ctx, r.PathValue("id"))
	if err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	o, cur := found.Order, found.Intake
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
	if cur.Request != nil && cur.Request.State == ports.RequestPending {
		// A request waiting for its start: this one joins it (one
		// request, one start), nothing judged or written.
		s.accepted(w, key, o.ID, cur)
		return
	}
	// A running refund's record: the request joins it, not judged; it is
	// recorded all the same, and its start (USE_EXISTING) finds the run,
	// or, should the record be stale (the run closed or was terminated
	// without its last record), decides what follows the closed run. A
	// final record is the rare path: Temporal has the last word on whether
	// it blocks a new refund (paid, or finally refused) and the start may
	// follow the closed run.
	afterFinished, running := false, cur.Record != nil && !statemachine.IsOrderFinal(statemachine.OrderState(cur.Record.State))
	if cur.Record != nil && !running {
		last, isRunning, err := s.Temporal.LastRefund(ctx, o.ID)
		switch {
		case err == nil && isRunning:
			// A run the store's record is behind: the request joins it
			// (the dispatcher's start does, USE_EXISTING).
			running = true
		case err == nil:
			if err := finishedBlocks(o.ID, last); err != nil {
				s.HTTP.Error(w, r, err)
				return
			}
			afterFinished = true
		case errs.CodeOf(err) != errs.NotFound:
			s.HTTP.Error(w, r, err)
			return
		}
	}
	if !running {
		paid := s.Store.RefundedAmount
		if !found.PaidOut {
			paid = nothingPaid
		}
		d, _, err := s.judgeWith(ctx, o, in.Request, now, paid)
		if err != nil {
			s.HTTP.Error(w, r, err)
			return
		}
		if !d.Eligible {
			s.HTTP.Error(w, r, errs.R(errs.NotRefundable, d.Reasons(), "%s", refusalMessage(d)))
			return
		}
	}
	input, err := json.Marshal(in)
	if err != nil {
		s.HTTP.Error(w, r, errs.Wrap(errs.Internal, err, "encoding the refund request of order %s", o.ID))
		return
	}
	req := ports.RefundRequest{OrderID: o.ID, ID: newRequestID(), Input: input, RequestedAt: now, By: in.By,
		IdempotencyKey: key, AfterFinished: afterFinished,
		// Without a dispatcher here, any gateway's sweeper starts it
		// after a moment.
		NextAttemptAt: now.Add(SweepGrace)}
	if s.Intake != nil {
		// Leased to this gateway's dispatcher in the recording
		// transaction: it starts the request, no claim of its own.
		c := s.Intake.Claim()
		req.LeaseOwner, req.LeaseUntil = c.Owner, c.Now.Add(c.Lease)
	}
	stored, joined, err := s.Store.RequestRefund(ctx, req)
	if err != nil {
		s.HTTP.Error(w, r, err)
		return
	}
	if !joined && s.Intake != nil {
		s.Intake.Dispatch(ctx, *stored.Request, o)
	}
	s.accepted(w, key, o.ID, stored)
}

// SweepGrace is how long a new request recorded without a lease (no
// dispatcher in the gateway that took it) waits for a sweeper.
const SweepGrace = 2 * time.Second

// accepted answers 202 from the store: the record's status, the request's
// start (the run ID once started), and where to look.
func (s *API) accepted(w http.ResponseWriter, key, orderID string, in ports.RefundIntake) {
	resp := api.RefundAccepted{WorkflowID: WorkflowID(orderID), Source: api.RefundAcceptedSourceStore, Start: WireStart(in.Request)}
	if q := in.Request; q != nil {
		resp.RunID = q.RunID
	}
	if st, ok := intakeStatus(orderID, in); ok {
		resp.Status = &st
	}
	if key != "" {
		w.Header().Set("Idempotency-Key", key)
	}
	w.Header().Set("Location", "/v1/orders/"+url.PathEscape(orderID)+"/refund")
	httpapi.JSON(w, http.StatusAccepted, resp)
}

// intakeStatus is the status the store shows: its record's, or a
// recorded request's refund_requested when there is no record.
func intakeStatus(orderID string, in ports.RefundIntake) (api.RefundStatus, bool) {
	switch {
	case in.Record != nil:
		return StatusFromRecord(*in.Record), true
	case in.Request != nil:
		q := in.Request
		return StatusView(Status{OrderID: orderID, State: statemachine.OrderRefundRequested, Outcome: OutcomePending,
			Audit: []domain.AuditEntry{{Action: domain.AuditRefundRequested, At: q.RequestedAt, Actor: q.By}}}), true
	}
	return api.RefundStatus{}, false
}

// WireStart is a recorded request's start as the API shows it (nil when
// there is none).
func WireStart(q *ports.RefundRequest) *api.RefundStart {
	if q == nil {
		return nil
	}
	st := &api.RefundStart{State: api.RefundStartState(q.State), RequestedAt: q.RequestedAt, RunID: q.RunID}
	if q.State == ports.RequestFailed {
		st.Error = &api.RefundStartError{Code: q.ErrorCode, Message: q.ErrorMessage, Rules: []string{}}
		if q.ErrorRule != "" {
			st.Error.Rules = []string{q.ErrorRule}
		}
	}
	return st
}

// newRequestID names a recorded request: 16 random bytes in hex.
func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Starter is what starting a recorded request asks of Temporal; Client
// implements it.
type Starter interface {
	StartRefund(ctx context.Context, o domain.Order, in Input, afterFinished bool) (runID string, err error)
	LastRun(ctx context.Context, orderID string) (Run, error)
}

// StartRecorded starts the workflow of a request Start recorded, keeping
// the start's guarantees when it runs late, more than once, or after a
// crash: the workflow ID is the order's with USE_EXISTING (a running
// refund is joined, its run ID returned), and a new run follows a closed
// one only when the request was judged after it (afterFinished) and that
// closed run is not the request's own. retried says an earlier attempt
// may have started it (its "started" mark lost): then a closed run is
// looked at first. A start the reuse policy refuses (a run closed since
// the request was judged) is decided in Temporal: the request's own run
// (the request's time heads its audit) is its start; another's that
// blocks a new refund (paid: M-3; a final refusal) is refused, the
// Conflict with its rule; one that does not is followed. refused is a
// refusal for good; err anything worth trying again (Temporal down).
func StartRecorded(ctx context.Context, t Starter, o domain.Order, in Input, afterFinished, retried bool) (runID string, refused, err error) {
	if afterFinished && retried {
		switch run, err := t.LastRun(ctx, o.ID); {
		case err == nil && !run.Running && OwnRun(run.Status, in.Request.RequestedAt):
			return run.ID, nil, nil
		case err != nil && errs.CodeOf(err) != errs.NotFound:
			return "", nil, err
		}
	}
	for looks := 0; ; looks++ {
		runID, err := t.StartRefund(ctx, o, in, afterFinished)
		if err == nil {
			return runID, nil, nil
		}
		if errs.CodeOf(err) != errs.Conflict || looks >= 2 {
			return "", nil, err
		}
		run, err := t.LastRun(ctx, o.ID)
		switch {
		case err != nil:
			return "", nil, err
		case run.Running:
			continue // started meanwhile: the next start joins it
		case OwnRun(run.Status, in.Request.RequestedAt):
			return run.ID, nil, nil
		}
		if err := finishedBlocks(o.ID, run.Status); err != nil {
			return "", err, nil
		}
		afterFinished = true
	}
}

// OwnRun tells whether a finished run's status is the run of the request
// made at requestedAt: a refund's audit opens with its request, at the
// request's own time (Workflow), carried across continue-as-new.
func OwnRun(st Status, requestedAt time.Time) bool {
	return len(st.Audit) > 0 && st.Audit[0].Action == domain.AuditRefundRequested && st.Audit[0].At.Equal(requestedAt)
}

// RefusalRule is the rule a refusal names, if any ("" otherwise).
func RefusalRule(err error) string {
	if rules := errs.RulesOf(err); len(rules) > 0 {
		return rules[0]
	}
	return ""
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

// Status answers from the store (view=record, the default): the
// record, and the recorded request's start, read in one query; the
// console's read path makes no Temporal call. The record can be behind
// the workflow by the workflow task in flight and its record's write
// (milliseconds; while the store is down, until it answers again); a
// request whose start is pending shows as refund_requested (its record,
// written with the request) with start.state pending; an update (cancel,
// approve) answers from the workflow itself after its record was written.
// An order the store knows no refund of is looked up in Temporal once (a
// describe, no query: a refund started outside the console API, or
// before its records): a running one is refund_requested, a finished one
// its result, none 404. A store that does not answer, and
// view=workflow, ask the workflow; while Temporal or the worker does not
// answer, that is 503 naming which (within the status timeout).
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
	cur, storeErr := s.Store.RefundIntake(ctx, orderID)
	if storeErr == nil {
		view.Start = WireStart(cur.Request)
	}
	if mode != ViewWorkflow {
		if storeErr == nil {
			if st, ok := intakeStatus(orderID, cur); ok {
				view.Status = st
				httpapi.JSON(w, http.StatusOK, view)
				return
			}
			// Nothing in the store: one look in Temporal.
			switch run, err := s.Temporal.LastRun(ctx, orderID); {
			case err == nil:
				st := run.Status
				if run.Running {
					// Started outside the console API a moment ago, its
					// first record not written yet: requested, by
					// definition.
					st = Status{OrderID: orderID, State: statemachine.OrderRefundRequested, Outcome: OutcomePending}
				}
				view.Source, view.Status = api.RefundViewSourceWorkflow, StatusView(st)
				httpapi.JSON(w, http.StatusOK, view)
			case errs.CodeOf(err) == errs.NotFound:
				s.HTTP.Error(w, r, errs.E(errs.NotFound, "order %s has no refund", httpapi.Clip(orderID)))
			default:
				s.HTTP.Error(w, r, err)
			}
			return
		}
		s.log().Warn("refund status from the workflow: the store did not answer", zap.String("order", orderID), zap.Error(storeErr))
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
	case storeErr != nil:
		s.HTTP.Error(w, r, storeErr)
		return
	}
	// view=workflow and no workflow: the store is all there is (a
	// request whose start is pending, or a record).
	if st, ok := intakeStatus(orderID, cur); ok {
		view.Source, view.Status = api.RefundViewSourceStore, st
		httpapi.JSON(w, http.StatusOK, view)
		return
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

// update decodes body, starts the order's pending request if there is
// one, then runs send with the order ID and the update ID derived from
// the Idempotency-Key.
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
	// A request whose start is pending is started first (and waited
	// for): a console that asks and cancels at once finds the workflow.
	if s.Intake != nil {
		if err := s.Intake.StartPending(r.Context(), orderID); err != nil {
			s.HTTP.Error(w, r, err)
			return
		}
	}
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
