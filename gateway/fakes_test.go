package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/intake"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/webhook"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

var (
	testNow    = time.Date(2026, 3, 6, 10, 0, 0, 0, time.UTC)
	testSecret = []byte("ca-webhook-secret")
)

// fakeWorkflows is an in-memory Workflows: refunds keyed by order, with
// errors to inject per call.
type fakeWorkflows struct {
	mu       sync.Mutex
	running  map[string]refund.Status
	finished map[string]refund.Status
	starts   []refund.Input
	runs     int
	// rejectWith, when set, makes a new refund reject itself at once with
	// these rules, as the workflow does when the rules refuse.
	rejectWith []string

	startErr, statusErr, lastErr, cancelErr, approveErr error
	// statusCalls counts RefundStatus calls (workflow queries), lastRuns
	// LastRun calls.
	statusCalls, lastRuns int
	// cancels and approves are the requests that reached the updates.
	cancels  []refund.CancelRequest
	approves []refund.ApproveRequest

	certs         map[string]certificate.Status
	certStatusErr error
	actionErr     error
	actions       []certificate.ActionRequest
	actionInputs  []certificate.Input
	signals       []certificate.CAResult
	signalInputs  []certificate.Input
	signalErr     error
	plainSignals  int
	updateIDs     []string
	// beforeAction, when set, runs as CertificateAction is called (a
	// refund taking the hold in between, say).
	beforeAction func()

	// Refunds that hold certificates: the refund of an order in running
	// takes signals and certificate actions; held is the state each
	// certificate has in the refund that holds it.
	held            map[string]statemachine.CertState
	refundSignals   []refundSignal
	refundSignalErr error
	// refundOffers are the CA results offered to a refund (its CA-result
	// update); taking, keyed by order, is the certificates a running
	// refund is taking the hold of (it takes their results).
	refundOffers       []refundSignal
	refundOfferErr     error
	taking             map[string][]string
	refundActions      []refundAction
	refundActionErr    error
	beforeRefundAction func()
}

// refundSignal and refundAction are what reached a refund.
type refundSignal struct {
	OrderID string
	Result  certificate.CAResult
}

type refundAction struct {
	OrderID, UpdateID string
	Request           refund.CertificateAction
}

var _ Workflows = (*fakeWorkflows)(nil)

func newFakeWorkflows() *fakeWorkflows {
	return &fakeWorkflows{
		running:  map[string]refund.Status{},
		finished: map[string]refund.Status{},
		certs:    map[string]certificate.Status{},
		held:     map[string]statemachine.CertState{},
		taking:   map[string][]string{},
	}
}

func (f *fakeWorkflows) StartRefund(ctx context.Context, o domain.Order, in refund.Input, afterFinished bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts = append(f.starts, in)
	if f.startErr != nil {
		return "", f.startErr
	}
	// USE_EXISTING joins a running refund; ALLOW_DUPLICATE (afterFinished)
	// follows a finished one with a new run, REJECT_DUPLICATE refuses to.
	_, closed := f.finished[o.ID]
	if _, ok := f.running[o.ID]; !ok && closed && !afterFinished {
		return "", errs.E(errs.Conflict, "the refund workflow of order %s already finished", o.ID)
	}
	if _, ok := f.running[o.ID]; !ok {
		delete(f.finished, o.ID)
		f.runs++
		st := refund.Status{OrderID: o.ID, State: statemachine.OrderRefundRequested, Outcome: refund.OutcomePending, Reasons: []string{},
			Steps: []refund.StepRecord{{At: testNow, Step: "requested"}}}
		if f.rejectWith != nil {
			st.State, st.Outcome, st.Reasons = statemachine.OrderRejected, refund.OutcomeRejected, f.rejectWith
		}
		f.running[o.ID] = st
	}
	return "run-" + o.ID, nil
}

func (f *fakeWorkflows) LastRefund(ctx context.Context, orderID string) (refund.Status, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lastErr != nil {
		return refund.Status{}, false, f.lastErr
	}
	if st, ok := f.running[orderID]; ok {
		return st, true, nil
	}
	if st, ok := f.finished[orderID]; ok {
		return st, false, nil
	}
	return refund.Status{}, false, errs.E(errs.NotFound, "refund of order %s not found", orderID)
}

func (f *fakeWorkflows) LastRun(ctx context.Context, orderID string) (refund.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastRuns++
	if f.lastErr != nil {
		return refund.Run{}, f.lastErr
	}
	if _, ok := f.running[orderID]; ok {
		return refund.Run{ID: "run-" + orderID, Running: true}, nil
	}
	if st, ok := f.finished[orderID]; ok {
		return refund.Run{ID: "run-" + orderID, Status: st}, nil
	}
	return refund.Run{}, errs.E(errs.NotFound, "refund of order %s not found", orderID)
}

func (f *fakeWorkflows) CertificateWorkflows(ctx context.Context, certIDs []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, id := range certIDs {
		if _, ok := f.certs[id]; ok {
			out = append(out, id)
		}
	}
	return out, nil
}

func (f *fakeWorkflows) CertificateRunning(ctx context.Context, certID string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.certs[certID]
	return ok, nil
}

func (f *fakeWorkflows) RefundStatus(ctx context.Context, orderID string) (refund.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statusCalls++
	if f.statusErr != nil {
		return refund.Status{}, f.statusErr
	}
	if st, ok := f.running[orderID]; ok {
		return st, nil
	}
	if st, ok := f.finished[orderID]; ok {
		return st, nil
	}
	return refund.Status{}, errs.E(errs.NotFound, "refund of order %s not found", orderID)
}

func (f *fakeWorkflows) CancelRefund(ctx context.Context, orderID, updateID string, req refund.CancelRequest) (refund.Status, error) {
	f.mu.Lock()
	f.cancels = append(f.cancels, req)
	f.mu.Unlock()
	return f.refundUpdate(orderID, updateID, f.cancelErr, refund.OutcomeCancelled)
}

func (f *fakeWorkflows) ApproveRefund(ctx context.Context, orderID, updateID string, req refund.ApproveRequest) (refund.Status, error) {
	f.mu.Lock()
	f.approves = append(f.approves, req)
	f.mu.Unlock()
	return f.refundUpdate(orderID, updateID, f.approveErr, refund.OutcomeRefunded)
}

func (f *fakeWorkflows) refundUpdate(orderID, updateID string, err error, outcome refund.Outcome) (refund.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updateIDs = append(f.updateIDs, updateID)
	if err != nil {
		return refund.Status{}, err
	}
	st, ok := f.running[orderID]
	if !ok {
		return refund.Status{}, errs.E(errs.NotFound, "refund of order %s not found", orderID)
	}
	st.Outcome = outcome
	f.running[orderID] = st
	return st, nil
}

func (f *fakeWorkflows) CertificateAction(ctx context.Context, in certificate.Input, updateID string, req certificate.ActionRequest) (certificate.Status, error) {
	if f.beforeAction != nil {
		f.beforeAction()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, req)
	f.actionInputs = append(f.actionInputs, in)
	f.updateIDs = append(f.updateIDs, updateID)
	if f.actionErr != nil {
		return certificate.Status{}, f.actionErr
	}
	to, err := statemachine.CertTransition(in.Certificate.State, req.Action)
	if err != nil {
		return certificate.Status{}, errs.E(errs.IllegalTransition, "%s", errs.MessageOf(err))
	}
	st := certificate.Status{ID: in.Certificate.ID, OrderID: in.OrderID, State: to,
		Transitions: []certificate.Transition{{From: in.Certificate.State, To: to, Event: req.Action, Source: "console"}}}
	f.certs[in.Certificate.ID] = st
	return st, nil
}

func (f *fakeWorkflows) CertificateStatus(ctx context.Context, certID string) (certificate.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.certStatusErr != nil {
		return certificate.Status{}, f.certStatusErr
	}
	st, ok := f.certs[certID]
	if !ok {
		return certificate.Status{}, errs.E(errs.NotFound, "workflow of certificate %s not found", certID)
	}
	return st, nil
}

// SignalCAResult reaches a certificate workflow the fake runs (certs);
// otherwise it is not found, as Temporal answers.
func (f *fakeWorkflows) SignalCAResult(ctx context.Context, res certificate.CAResult) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.signalErr != nil {
		return f.signalErr
	}
	if _, ok := f.certs[res.Certificate]; !ok {
		return errs.E(errs.NotFound, "workflow of certificate %s not found", res.Certificate)
	}
	f.signals = append(f.signals, res)
	f.plainSignals++
	return nil
}

func (f *fakeWorkflows) DeliverCAResult(ctx context.Context, in certificate.Input, res certificate.CAResult) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.signalErr != nil {
		return f.signalErr
	}
	f.signals = append(f.signals, res)
	f.signalInputs = append(f.signalInputs, in)
	return nil
}

// SignalRefundCAResult reaches a refund the fake runs (running);
// otherwise it is not found, as Temporal answers for a closed one.
func (f *fakeWorkflows) SignalRefundCAResult(ctx context.Context, orderID string, res certificate.CAResult) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refundSignalErr != nil {
		return f.refundSignalErr
	}
	if _, ok := f.running[orderID]; !ok {
		return errs.E(errs.NotFound, "refund of order %s not found", orderID)
	}
	f.refundSignals = append(f.refundSignals, refundSignal{OrderID: orderID, Result: res})
	return nil
}

// OfferRefundCAResult is taken by a running refund that is taking the
// certificate's hold (taking); otherwise it is not found, as the refund's
// validator, or Temporal for a refund that does not run, answers.
func (f *fakeWorkflows) OfferRefundCAResult(ctx context.Context, orderID string, res certificate.CAResult) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refundOffers = append(f.refundOffers, refundSignal{OrderID: orderID, Result: res})
	if f.refundOfferErr != nil {
		return f.refundOfferErr
	}
	if _, ok := f.running[orderID]; !ok {
		return errs.E(errs.NotFound, "refund of order %s not found", orderID)
	}
	if !slices.Contains(f.taking[orderID], res.Certificate) {
		return errs.E(errs.NotFound, "the refund of order %s does not hold certificate %s", orderID, res.Certificate)
	}
	return nil
}

// RefundCertificateAction applies the action, by the state machine, to a
// certificate a running refund holds (held); a refund that does not run
// is not found.
func (f *fakeWorkflows) RefundCertificateAction(ctx context.Context, orderID, updateID string, req refund.CertificateAction) (certificate.Status, error) {
	if f.beforeRefundAction != nil {
		f.beforeRefundAction()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refundActions = append(f.refundActions, refundAction{OrderID: orderID, UpdateID: updateID, Request: req})
	if _, ok := f.running[orderID]; !ok {
		return certificate.Status{}, errs.E(errs.NotFound, "refund of order %s not found", orderID)
	}
	if f.refundActionErr != nil {
		return certificate.Status{}, f.refundActionErr
	}
	from, ok := f.held[req.Certificate]
	if !ok {
		return certificate.Status{}, errs.E(errs.NotFound, "the refund of order %s does not hold certificate %s", orderID, req.Certificate)
	}
	to, err := statemachine.CertTransition(from, req.Action)
	if err != nil {
		return certificate.Status{}, errs.E(errs.IllegalTransition, "%s", errs.MessageOf(err))
	}
	f.held[req.Certificate] = to
	return certificate.Status{ID: req.Certificate, OrderID: orderID, State: to,
		Transitions: []certificate.Transition{{From: from, To: to, Event: req.Action, Source: refund.WorkflowID(orderID)}}}, nil
}

// fakeOrders is an in-memory Orders.
type fakeOrders struct {
	orders  map[string]domain.Order
	refunds map[string]activities.RefundRecord
	// refunded is what the payment ledger paid out per order.
	refunded map[string]decimal.Decimal
	// owned records the owned certificates of each intake.
	owned   [][]string
	page    OrderPage
	filters []OrderFilter
	// holders names the holder of a certificate (absent: nobody);
	// holderReads counts CertificateHolder calls.
	holders     map[string]string
	holderReads int
	holderErr   error
	// err, when set, fails every call; refundErr fails GetRefund and
	// RefundIntake; requestErr fails RequestRefund.
	err, refundErr, requestErr error
	// requests are the recorded refund requests by order; mu guards them
	// and refunds against the dispatcher's goroutines.
	requests map[string]ports.RefundRequest
	mu       sync.Mutex
}

var _ Orders = (*fakeOrders)(nil)

func (f *fakeOrders) GetOrder(ctx context.Context, orderID string) (domain.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return domain.Order{}, f.err
	}
	o, ok := f.orders[orderID]
	if !ok {
		return domain.Order{}, errs.E(errs.NotFound, "order %s not found", orderID)
	}
	return o, nil
}

func (f *fakeOrders) GetCertificate(ctx context.Context, certID string) (string, domain.Certificate, error) {
	if f.err != nil {
		return "", domain.Certificate{}, f.err
	}
	for _, o := range f.orders {
		for _, c := range o.Certificates {
			if c.ID == certID {
				return o.ID, c, nil
			}
		}
	}
	return "", domain.Certificate{}, errs.E(errs.NotFound, "certificate %s not found", certID)
}

func (f *fakeOrders) CertificateHolder(ctx context.Context, certID string) (string, error) {
	f.holderReads++
	if f.holderErr != nil {
		return "", f.holderErr
	}
	if _, _, err := f.GetCertificate(ctx, certID); err != nil {
		return "", err
	}
	return f.holders[certID], nil
}

func (f *fakeOrders) GetRefund(ctx context.Context, orderID string) (activities.RefundRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return activities.RefundRecord{}, f.err
	}
	if f.refundErr != nil {
		return activities.RefundRecord{}, f.refundErr
	}
	rec, ok := f.refunds[orderID]
	if !ok {
		return activities.RefundRecord{}, errs.E(errs.NotFound, "no refund for order %s", orderID)
	}
	return rec, nil
}

func (f *fakeOrders) ListOrders(ctx context.Context, flt OrderFilter) (OrderPage, error) {
	f.filters = append(f.filters, flt)
	if f.err != nil {
		return OrderPage{}, f.err
	}
	return f.page, nil
}

func (f *fakeOrders) IntakeOrder(ctx context.Context, o domain.Order, owned []string) (bool, error) {
	if f.err != nil {
		return false, f.err
	}
	f.owned = append(f.owned, owned)
	if rec, ok := f.refunds[o.ID]; ok && !statemachine.IsOrderFinal(statemachine.OrderState(rec.State)) {
		return false, errs.E(errs.Conflict, "order %s cannot be changed while its refund runs (state %s)", o.ID, rec.State)
	}
	old, exists := f.orders[o.ID]
	for i, c := range o.Certificates {
		for _, oc := range old.Certificates {
			if oc.ID == c.ID && slices.Contains(owned, c.ID) {
				o.Certificates[i].State = oc.State
			}
		}
	}
	f.orders[o.ID] = o
	return !exists, nil
}

func (f *fakeOrders) RefundedAmount(ctx context.Context, orderID string) (decimal.Decimal, error) {
	if f.err != nil {
		return decimal.Decimal{}, f.err
	}
	return f.refunded[orderID], nil
}

// The durable intake, in memory, as the store keeps it (store/requests.go).

func (f *fakeOrders) intake(orderID string) ports.RefundIntake {
	var in ports.RefundIntake
	if rec, ok := f.refunds[orderID]; ok {
		in.Record = &rec
	}
	if q, ok := f.requests[orderID]; ok {
		in.Request = &q
	}
	return in
}

func (f *fakeOrders) RequestRefund(ctx context.Context, req ports.RefundRequest) (ports.RefundIntake, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return ports.RefundIntake{}, false, f.err
	}
	if f.requestErr != nil {
		return ports.RefundIntake{}, false, f.requestErr
	}
	if _, ok := f.orders[req.OrderID]; !ok {
		return ports.RefundIntake{}, false, errs.E(errs.NotFound, "order %s not found", req.OrderID)
	}
	in := f.intake(req.OrderID)
	if in.Request != nil && in.Request.State == ports.RequestPending {
		return in, true, nil
	}
	// A running refund's record is kept; the request joins it.
	if rec := in.Record; rec == nil || statemachine.IsOrderFinal(statemachine.OrderState(rec.State)) {
		f.refunds[req.OrderID] = activities.RefundRecord{OrderID: req.OrderID, State: string(statemachine.OrderRefundRequested), Outcome: "pending",
			Reasons: []string{}, UpdatedAt: req.RequestedAt, RequestedBy: req.By.Subject,
			Audit: []domain.AuditEntry{{Action: domain.AuditRefundRequested, At: req.RequestedAt, Actor: req.By}}}
	}
	req.State, req.UpdatedAt = ports.RequestPending, req.RequestedAt
	if req.LeaseOwner != "" {
		req.Attempts = 1 // the recording gateway's claim
	}
	if req.NextAttemptAt.IsZero() {
		req.NextAttemptAt = req.RequestedAt
	}
	if f.requests == nil {
		f.requests = map[string]ports.RefundRequest{}
	}
	f.requests[req.OrderID] = req
	return f.intake(req.OrderID), false, nil
}

func (f *fakeOrders) RefundIntake(ctx context.Context, orderID string) (ports.RefundIntake, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return ports.RefundIntake{}, f.err
	}
	if f.refundErr != nil {
		return ports.RefundIntake{}, f.refundErr
	}
	return f.intake(orderID), nil
}

func (f *fakeOrders) ClaimRefundRequest(ctx context.Context, orderID string, c ports.Claim, force bool) (ports.RefundRequest, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, ok := f.requests[orderID]
	if !ok || q.State != ports.RequestPending || (!force && q.LeaseOwner != c.Owner && q.LeaseUntil.After(c.Now)) {
		return ports.RefundRequest{}, false, nil
	}
	q.LeaseOwner, q.LeaseUntil, q.Attempts = c.Owner, c.Now.Add(c.Lease), q.Attempts+1
	f.requests[orderID] = q
	return q, true, nil
}

func (f *fakeOrders) ClaimRefundRequests(ctx context.Context, c ports.Claim, limit int) ([]ports.RefundRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ports.RefundRequest
	for id, q := range f.requests {
		if len(out) == limit {
			break
		}
		if q.State != ports.RequestPending || q.NextAttemptAt.After(c.Now) || q.LeaseUntil.After(c.Now) {
			continue
		}
		q.LeaseOwner, q.LeaseUntil, q.Attempts = c.Owner, c.Now.Add(c.Lease), q.Attempts+1
		f.requests[id] = q
		out = append(out, q)
	}
	return out, nil
}

// request applies change to the pending (or, for started, started)
// request requestID of orderID.
func (f *fakeOrders) request(orderID, requestID string, states []ports.RequestState, change func(q *ports.RefundRequest)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, ok := f.requests[orderID]
	if !ok || q.ID != requestID || !slices.Contains(states, q.State) {
		return
	}
	change(&q)
	f.requests[orderID] = q
}

func (f *fakeOrders) RefundRequestStarted(ctx context.Context, orderID, requestID, runID string, at time.Time) error {
	f.request(orderID, requestID, []ports.RequestState{ports.RequestPending, ports.RequestStarted}, func(q *ports.RefundRequest) {
		q.State, q.LeaseOwner, q.LeaseUntil = ports.RequestStarted, "", time.Time{}
		if q.RunID == "" {
			q.RunID = runID
		}
	})
	return nil
}

func (f *fakeOrders) RetryRefundRequest(ctx context.Context, orderID, requestID string, next time.Time, lastErr string, at time.Time) error {
	f.request(orderID, requestID, []ports.RequestState{ports.RequestPending}, func(q *ports.RefundRequest) {
		q.NextAttemptAt, q.LeaseOwner, q.LeaseUntil, q.LastError = next, "", time.Time{}, lastErr
	})
	return nil
}

func (f *fakeOrders) RefundRequestFailed(ctx context.Context, orderID, requestID, code, rule, message string, at time.Time) error {
	var failed *ports.RefundRequest
	f.request(orderID, requestID, []ports.RequestState{ports.RequestPending}, func(q *ports.RefundRequest) {
		q.State, q.ErrorCode, q.ErrorRule, q.ErrorMessage, q.LeaseOwner, q.LeaseUntil = ports.RequestFailed, code, rule, message, "", time.Time{}
		failed = q
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if rec, ok := f.refunds[orderID]; ok && failed != nil && rec.State == string(statemachine.OrderRefundRequested) && rec.UpdatedAt.Equal(failed.RequestedAt) {
		rec.State, rec.Outcome, rec.Reasons, rec.Message, rec.UpdatedAt = string(statemachine.OrderRejected), "rejected", []string{rule}, message, at
		f.refunds[orderID] = rec
	}
	return nil
}

// fakeEvents is an in-memory Events: an outbox of events whose cursors are
// their positions, and endpoints by name.
type fakeEvents struct {
	events    []ports.Event
	endpoints []ports.EndpointStatus
	// calls records the ListEvents calls as "after/limit".
	calls   []string
	enabled []string
	// err, when set, fails every call.
	err error
}

var _ Events = (*fakeEvents)(nil)

func (f *fakeEvents) ListEvents(ctx context.Context, after string, limit int) (ports.EventPage, error) {
	f.calls = append(f.calls, fmt.Sprintf("%s/%d", after, limit))
	if f.err != nil {
		return ports.EventPage{}, f.err
	}
	start := 0
	if after != "" {
		n, err := strconv.Atoi(after)
		if err != nil || n < 0 {
			return ports.EventPage{}, errs.E(errs.Invalid, "malformed cursor %q", after)
		}
		start = n
	}
	page := ports.EventPage{Next: after}
	for _, ev := range f.events[min(start, len(f.events)):] {
		if len(page.Events) == limit {
			break
		}
		page.Events = append(page.Events, ev)
		page.Next = ev.Cursor
	}
	return page, nil
}

func (f *fakeEvents) EndpointStatuses(ctx context.Context) ([]ports.EndpointStatus, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.endpoints, nil
}

func (f *fakeEvents) EnableEndpoint(ctx context.Context, name string) error {
	if f.err != nil {
		return f.err
	}
	for i := range f.endpoints {
		if f.endpoints[i].Name == name {
			f.endpoints[i].Enabled, f.endpoints[i].Disabled = true, ""
			f.enabled = append(f.enabled, name)
			return nil
		}
	}
	return errs.E(errs.NotFound, "event endpoint %s not found", name)
}

// validateNothing is a Validate that accepts every order.
func (f *fakeOrders) validateNothing(domain.Order, time.Time) error { return nil }

// fakeJudge records its calls and answers decision, err.
type fakeJudge struct {
	decision policy.Decision
	err      error
	orders   []domain.Order
	reqs     []domain.RefundRequest
	nows     []time.Time
}

func (j *fakeJudge) judge(ctx context.Context, o domain.Order, req domain.RefundRequest, now time.Time) (policy.Decision, error) {
	j.orders, j.reqs, j.nows = append(j.orders, o), append(j.reqs, req), append(j.nows, now)
	return j.decision, j.err
}

// env is a gateway over fakes, with its logs observed.
type env struct {
	h      http.Handler
	wf     *fakeWorkflows
	orders *fakeOrders
	events *fakeEvents
	judge  *fakeJudge
	logs   *observer.ObservedLogs
	// rateLimit, when set before build, replaces the default.
	rateLimit RateLimit
	clock     *time.Time
	// srv is the server; do waits for its dispatcher's background starts.
	srv *Server
}

// settle waits until the dispatcher's background starts are done.
func (e *env) settle(t testing.TB) {
	t.Helper()
	if e.srv == nil {
		return // a handler the test built itself
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.intake.busy.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the dispatcher's starts did not finish")
		}
		time.Sleep(time.Millisecond)
	}
}

// The test tokens: the console backend and two operators.
const (
	consoleToken   = "console-secret-0123456789"
	operatorToken  = "alice-secret-0123456789"
	operator2Token = "bob-secret-0123456789"
)

var testTokens = []string{
	"console-backend:console:" + consoleToken,
	"alice:operator:" + operatorToken,
	// bob is configured by hash only.
	"bob:operator:" + HashToken(operator2Token),
}

// asConsole, asAlice and asBob are the Authorization headers of do.
var (
	asConsole = []string{"Authorization", "Bearer " + consoleToken}
	asAlice   = []string{"Authorization", "Bearer " + operatorToken}
	asBob     = []string{"Authorization", "Bearer " + operator2Token}
	anonymous = []string{"Authorization", ""}
)

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, RateLimit{})
}

func newEnvWith(t testing.TB, rl RateLimit, opts ...func(*Config)) *env {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	e := &env{
		wf: newFakeWorkflows(),
		orders: &fakeOrders{
			orders: map[string]domain.Order{
				"o-1": sslOrder("o-1", domain.Certificate{ID: "c-1", State: statemachine.Issued}),
				"o-2": sslOrder("o-2"),
			},
			refunds:  map[string]activities.RefundRecord{},
			refunded: map[string]decimal.Decimal{},
			holders:  map[string]string{},
		},
		events:    &fakeEvents{},
		judge:     &fakeJudge{},
		logs:      logs,
		rateLimit: rl,
		clock:     &time.Time{},
	}
	*e.clock = testNow
	reg, err := policy.LoadRegistry()
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := NewTokens(testTokens...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Workflows:      e.wf,
		Orders:         e.orders,
		Events:         e.events,
		Judge:          e.judge.judge,
		Validate:       intake.Validator{Registry: reg}.Validate,
		Tokens:         tokens,
		RateLimit:      e.rateLimit,
		WebhookSecrets: [][]byte{[]byte("next-secret"), testSecret},
		Now:            func() time.Time { return *e.clock },
		Logger:         zap.New(core),
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.h, e.srv = s.Handler(), s
	t.Cleanup(s.Close)
	return e
}

func sslOrder(id string, certs ...domain.Certificate) domain.Order {
	return domain.Order{
		ID: id, Product: domain.SSLCertificate, PaidAt: testNow.Add(-48 * time.Hour), Currency: "USD",
		Price: decimal.RequireFromString("100"), Payment: domain.Payment{Cash: decimal.RequireFromString("100")},
		Certificates: certs, Profile: "aliyun-intl",
	}
}

// do sends a request as alice (an operator) unless headers name another
// Authorization; a non-empty body is sent as application/json unless
// headers say otherwise.
func (e *env) do(t *testing.T, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", "Bearer "+operatorToken)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			r.Header.Del(headers[i])
			continue
		}
		r.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, r)
	// The answer is the handler's; what the dispatcher started in the
	// background is done before the test looks.
	e.settle(t)
	return rec
}

// signed sends body to the callback route signed with secret at ts.
func (e *env) signed(t testing.TB, secret []byte, id string, ts time.Time, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/v1/ca/callbacks", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for k, v := range webhook.Headers(secret, id, ts, []byte(body)) {
		r.Header[k] = v
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, r)
	return rec
}

// wantStatus checks the status and that the answer is JSON.
func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
}

// wantError checks an error answer: status, an RFC 9457 problem
// (application/problem+json, every member present, type and title those
// of the code, status the answer's, instance a path, rules an array)
// with code, and a detail that mentions a text. It returns the problem.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code errs.Code, mentions string) Problem {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != ProblemContentType {
		t.Errorf("Content-Type = %q, want %q", ct, ProblemContentType)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &members); err != nil {
		t.Fatalf("error body %s: %v", rec.Body, err)
	}
	for _, m := range []string{"type", "title", "status", "detail", "instance", "code", "rules"} {
		if _, ok := members[m]; !ok {
			t.Errorf("problem %s has no %s", rec.Body, m)
		}
	}
	var p Problem
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("error body %s: %v", rec.Body, err)
	}
	if p.Code != code {
		t.Errorf("code = %s, want %s (detail %q)", p.Code, code, p.Detail)
	}
	if p.Type != ProblemTypeBase+string(code) || p.Title != ProblemTitle(code) || p.Title == "" {
		t.Errorf("type %q, title %q, want those of %s", p.Type, p.Title, code)
	}
	if p.Status != rec.Code {
		t.Errorf("status member = %d, answered %d", p.Status, rec.Code)
	}
	if !strings.HasPrefix(p.Instance, "/") {
		t.Errorf("instance = %q, want the request's path", p.Instance)
	}
	if p.Rules == nil {
		t.Errorf("rules = null, want an array")
	}
	if !strings.Contains(p.Detail, mentions) {
		t.Errorf("detail %q does not mention %q", p.Detail, mentions)
	}
	return p
}

func decodeInto[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	return v
}

func (f *fakeOrders) OrderRefunds(ctx context.Context, orderID string) (ports.OrderRefunds, error) {
	o, err := f.GetOrder(ctx, orderID)
	if err != nil {
		return ports.OrderRefunds{}, err
	}
	in, err := f.RefundIntake(ctx, orderID)
	if err != nil {
		return ports.OrderRefunds{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return ports.OrderRefunds{Order: o, Intake: in, PaidOut: !f.refunded[orderID].IsZero()}, nil
}
