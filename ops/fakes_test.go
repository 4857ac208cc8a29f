package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/refund"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeStack is the store and the refund workflows in one, behaving as the
// workflow does where the pages can tell: GW-4's four eyes (the requester
// cannot approve), an approval pays the refund, a cancel records its
// reason in the audit trail and is refused once the refund committed
// (CAN-1), and an update ID already answered returns its first outcome.
type fakeStack struct {
	mu      sync.Mutex
	now     func() time.Time
	orders  map[string]domain.Order
	records map[string]*ports.RefundRecord
	steps   map[string][]refund.StepRecord
	events  []ports.Event
	updates map[string]refund.Status
	// actions counts the approvals and cancels that changed a refund.
	actions int
	// statusErr, when set, is what RefundStatus answers.
	statusErr error
}

var (
	_ Reader  = (*fakeStack)(nil)
	_ Actions = (*fakeStack)(nil)
)

func newFakeStack(now func() time.Time) *fakeStack {
	return &fakeStack{now: now, orders: map[string]domain.Order{}, records: map[string]*ports.RefundRecord{},
		steps: map[string][]refund.StepRecord{}, updates: map[string]refund.Status{}}
}

// addOrder registers an SSL order with one certificate; rec, when not
// nil, is its refund record (OrderID filled in).
func (f *fakeStack) addOrder(id string, rec *ports.RefundRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	issued := f.now().Add(-40 * 24 * time.Hour)
	f.orders[id] = domain.Order{ID: id, Product: domain.SSLCertificate, PaidAt: issued, Currency: "USD",
		Price: decimal.RequireFromString("120.00"), Payment: domain.Payment{Cash: decimal.RequireFromString("120.00")},
		Certificates: []domain.Certificate{{ID: id + "-c1", State: statemachine.Issued, IssuedAt: &issued}}}
	if rec != nil {
		rec.OrderID = id
		if rec.Currency == "" {
			rec.Currency = "USD"
		}
		f.records[id] = rec
		f.steps[id] = []refund.StepRecord{{At: rec.UpdatedAt, Step: "refund_requested", Detail: "by " + rec.RequestedBy}}
		f.event(id, ports.EventRefundRequested, rec.UpdatedAt)
	}
}

// event appends an outbox event (the caller holds mu).
func (f *fakeStack) event(id string, t ports.EventType, at time.Time) {
	n := len(f.events) + 1
	f.events = append(f.events, ports.Event{ID: fmt.Sprintf("ev-%06d", n), Type: t, OrderID: id, OccurredAt: at,
		Data: json.RawMessage(`{}`), Cursor: strconv.Itoa(n)})
}

func (f *fakeStack) record(id string) ports.RefundRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return cloneRecord(*f.records[id])
}

// actionCount is how many approvals and cancels changed a refund.
func (f *fakeStack) actionCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.actions
}

func cloneRecord(r ports.RefundRecord) ports.RefundRecord {
	r.WaitingOn, r.Audit, r.Reasons = slices.Clone(r.WaitingOn), slices.Clone(r.Audit), slices.Clone(r.Reasons)
	return r
}

func matches(f ports.OrderFilter, o domain.Order, rec *ports.RefundRecord) bool {
	if f.Product != "" && o.Product != f.Product {
		return false
	}
	if f.RefundState == ports.NoRefund {
		return rec == nil
	}
	if f.RefundState == "" && f.WaitingOn == "" && f.Escalated == nil && f.Outcome == "" {
		return true
	}
	if rec == nil {
		return false
	}
	switch {
	case f.RefundState != "" && rec.State != f.RefundState,
		f.Outcome != "" && rec.Outcome != f.Outcome,
		f.Escalated != nil && rec.Escalated != *f.Escalated:
		return false
	}
	if f.WaitingOn != "" {
		return slices.ContainsFunc(rec.WaitingOn, func(w domain.Wait) bool { return w.Kind == f.WaitingOn })
	}
	return true
}

func (f *fakeStack) ListOrders(_ context.Context, flt ports.OrderFilter) (ports.OrderPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	limit := flt.Limit
	if limit <= 0 {
		limit = ports.DefaultPageSize
	}
	limit = min(limit, ports.MaxPageSize)
	start := 0
	if flt.Cursor != "" {
		var err error
		if start, err = strconv.Atoi(flt.Cursor); err != nil {
			return ports.OrderPage{}, errs.E(errs.Invalid, "malformed cursor")
		}
	}
	ids := make([]string, 0, len(f.orders))
	for id := range f.orders {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var p ports.OrderPage
	for i := start; i < len(ids); i++ {
		o, rec := f.orders[ids[i]], f.records[ids[i]]
		if !matches(flt, o, rec) {
			continue
		}
		if len(p.Orders) == limit {
			p.Next = strconv.Itoa(i)
			break
		}
		s := ports.OrderSummary{Order: o}
		if rec != nil {
			c := cloneRecord(*rec)
			s.Refund = &c
		}
		p.Orders = append(p.Orders, s)
	}
	return p, nil
}

func (f *fakeStack) GetOrder(_ context.Context, id string) (domain.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.orders[id]
	if !ok {
		return domain.Order{}, errs.E(errs.NotFound, "order %s not found", id)
	}
	return o, nil
}

func (f *fakeStack) GetRefund(_ context.Context, id string) (ports.RefundRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rec, ok := f.records[id]
	if !ok {
		return ports.RefundRecord{}, errs.E(errs.NotFound, "no refund for order %s", id)
	}
	return cloneRecord(*rec), nil
}

func (f *fakeStack) ListEvents(_ context.Context, after string, limit int) (ports.EventPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	start := 0
	if after != "" {
		var err error
		if start, err = strconv.Atoi(after); err != nil {
			return ports.EventPage{}, errs.E(errs.Invalid, "malformed cursor")
		}
	}
	if limit <= 0 {
		limit = ports.DefaultEventPage
	}
	end := min(start+min(limit, ports.MaxEventPage), len(f.events))
	p := ports.EventPage{Events: slices.Clone(f.events[min(start, end):end]), Next: after}
	if n := len(p.Events); n > 0 {
		p.Next = p.Events[n-1].Cursor
	}
	return p, nil
}

func (f *fakeStack) status(id string) refund.Status {
	rec := f.records[id]
	st := refund.Status{OrderID: id, State: statemachine.OrderState(rec.State), Outcome: refund.Outcome(rec.Outcome),
		Reasons: slices.Clone(rec.Reasons), Message: rec.Message, Waiting: rec.Waiting, WaitingOn: slices.Clone(rec.WaitingOn),
		Escalated: rec.Escalated, Escalation: rec.Escalation, Audit: slices.Clone(rec.Audit), Steps: slices.Clone(f.steps[id])}
	if rec.PaymentID != "" {
		st.Payout = &refund.Payout{PaymentID: rec.PaymentID, Cash: rec.Cash, Currency: rec.Currency, Destination: rec.Destination, At: rec.UpdatedAt}
	}
	return st
}

func (f *fakeStack) RefundStatus(_ context.Context, id string) (refund.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.statusErr != nil {
		return refund.Status{}, f.statusErr
	}
	if _, ok := f.records[id]; !ok {
		return refund.Status{}, errs.E(errs.NotFound, "no refund workflow for order %s", id)
	}
	return f.status(id), nil
}

// update runs an approve or cancel as the workflow's update would: the
// validator (check) first, then the change; a known update ID returns
// its first outcome.
func (f *fakeStack) update(id, updateID string, check func(*ports.RefundRecord) error, apply func(*ports.RefundRecord, time.Time)) (refund.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st, ok := f.updates[updateID]; ok && updateID != "" {
		return st, nil
	}
	rec, ok := f.records[id]
	if !ok {
		return refund.Status{}, errs.E(errs.NotFound, "no refund workflow for order %s", id)
	}
	if err := check(rec); err != nil {
		return refund.Status{}, err
	}
	now := f.now()
	apply(rec, now)
	rec.UpdatedAt = now
	f.actions++
	st := f.status(id)
	if updateID != "" {
		f.updates[updateID] = st
	}
	return st, nil
}

func (f *fakeStack) ApproveRefund(_ context.Context, id, updateID string, req refund.ApproveRequest) (refund.Status, error) {
	return f.update(id, updateID, func(rec *ports.RefundRecord) error {
		if rec.Outcome != string(refund.OutcomeAwaitingApproval) {
			return errs.R(errs.Conflict, []string{"GW-4"}, "the refund of %s is not awaiting approval (it is %s)", id, rec.State)
		}
		if req.Operator == rec.RequestedBy {
			return errs.R(errs.Forbidden, []string{"GW-4"}, "%s requested the refund of %s and cannot also approve it", req.Operator, id)
		}
		return nil
	}, func(rec *ports.RefundRecord, now time.Time) {
		rec.State, rec.Outcome = string(statemachine.OrderRefunded), string(refund.OutcomeRefunded)
		rec.WaitingOn, rec.Waiting = nil, ""
		rec.PaymentID, rec.Destination = "pay-"+id, domain.OriginalMethod
		rec.Audit = append(rec.Audit, domain.AuditEntry{Action: domain.AuditRefundApproved, At: now, Actor: req.By, Note: req.Note})
		f.steps[id] = append(f.steps[id], refund.StepRecord{At: now, Step: "approved", Detail: "by " + req.Operator},
			refund.StepRecord{At: now, Step: "paid", Detail: rec.Cash + " " + rec.Currency + " to original_method"})
		f.event(id, ports.EventRefundApproved, now)
		f.event(id, ports.EventRefundPaid, now)
	})
}

func (f *fakeStack) CancelRefund(_ context.Context, id, updateID string, req refund.CancelRequest) (refund.Status, error) {
	return f.update(id, updateID, func(rec *ports.RefundRecord) error {
		switch statemachine.OrderState(rec.State) {
		case statemachine.OrderRefundRequested, statemachine.OrderReleasing, statemachine.OrderAwaitingApproval:
			return nil
		}
		return errs.R(errs.Conflict, []string{"CAN-1"}, "the refund of %s can no longer be cancelled: it is %s", id, rec.State)
	}, func(rec *ports.RefundRecord, now time.Time) {
		rec.State, rec.Outcome = string(statemachine.OrderCancelled), string(refund.OutcomeCancelled)
		rec.WaitingOn, rec.Waiting, rec.Message = nil, "", "cancelled by "+req.Actor
		rec.Audit = append(rec.Audit, domain.AuditEntry{Action: domain.AuditRefundCancelled, At: now, Actor: req.By, Note: req.Reason})
		f.steps[id] = append(f.steps[id], refund.StepRecord{At: now, Step: "cancelled", Detail: req.Reason})
		f.event(id, ports.EventRefundCancelled, now)
	})
}

// tokens is the fake token table: subject and role by token.
var tokens = map[string][2]string{
	"alice-operator-token-0123456789": {"alice", domain.RoleOperator},
	"bob-operator-token-0123456789ab": {"bob", domain.RoleOperator},
	"console-token-0123456789abcdef":  {"console-backend", domain.RoleConsole},
}

func fakeAuth(_ context.Context, token string) (string, string, error) {
	if e, ok := refusedTokens[token]; ok {
		return "", "", e
	}
	p, ok := tokens[token]
	if !ok {
		return "", "", errs.E(errs.Unauthenticated, "the bearer token is not known")
	}
	return p[0], p[1], nil
}

// refusedTokens are OIDC tokens the fake refuses as the gateway would.
var refusedTokens = map[string]error{
	"eyJ.expired.sig":  errs.E(errs.Unauthenticated, "the token expired at 2026-12-01T08:00:00Z"),
	"eyJ.norole.sig":   errs.E(errs.Forbidden, `oidc:dave's token has no "roles" claim, so no certflow role`),
	"eyJ.idp-down.sig": errs.E(errs.Unavailable, "the identity provider https://idp.example cannot be reached to verify the token; retry later"),
}

// seed fills the stack with one refund per situation, as of now:
//   - o-approve-1: awaiting approval, requested by alice (GW-4);
//   - o-approve-2: awaiting approval, requested by carol, older;
//   - o-escalated: CA review past T-3, escalated;
//   - o-customer: waiting for the customer to resubmit (SSL-6);
//   - o-ca: waiting on the CA's review;
//   - o-paying: the payment provider does not answer;
//   - o-cancel: releasing, cancellable;
//   - o-committed: committed, no longer cancellable (CAN-1);
//   - o-paid, o-rejected, o-cancelled: finished.
func seed(f *fakeStack, now time.Time) {
	at := func(d time.Duration) time.Time { return now.Add(d) }
	ptr := func(t time.Time) *time.Time { return &t }
	f.addOrder("o-approve-1", &ports.RefundRecord{State: "awaiting_approval", Outcome: "awaiting_approval", Cash: "80.00", RequestedBy: "alice", UpdatedAt: at(-2 * time.Hour),
		WaitingOn: []domain.Wait{{Kind: domain.WaitOperatorApproval, Since: at(-2 * time.Hour), Rule: "GW-4", Detail: "80.00 USD exceeds the approval threshold"}},
		Audit:     []domain.AuditEntry{{Action: domain.AuditRefundRequested, At: at(-2 * time.Hour), Actor: domain.Actor{Subject: "alice", Role: "operator"}}}})
	f.addOrder("o-approve-2", &ports.RefundRecord{State: "awaiting_approval", Outcome: "awaiting_approval", Cash: "300.00", RequestedBy: "carol", UpdatedAt: at(-26 * time.Hour),
		WaitingOn: []domain.Wait{{Kind: domain.WaitOperatorApproval, Since: at(-26 * time.Hour), Rule: "GW-4", Detail: "300.00 USD exceeds the approval threshold"}}})
	f.addOrder("o-escalated", &ports.RefundRecord{State: "committed", Outcome: "pending", Cash: "60.00", RequestedBy: "console", UpdatedAt: at(-4 * 24 * time.Hour), Escalated: true,
		Escalation: &domain.Escalation{Rule: "T-3", Reason: "the CA has not decided the revocation review after 3 business days", At: at(-time.Hour), Certificate: "o-escalated-c1", Deadline: at(-time.Hour)},
		WaitingOn:  []domain.Wait{{Kind: domain.WaitCAReview, Certificate: "o-escalated-c1", Since: at(-4 * 24 * time.Hour), Deadline: ptr(at(5 * 24 * time.Hour)), Rule: "SSL-7", Detail: "revocation review"}}})
	f.addOrder("o-customer", &ports.RefundRecord{State: "releasing", Outcome: "pending", Cash: "45.00", RequestedBy: "console", UpdatedAt: at(-30 * time.Hour),
		WaitingOn: []domain.Wait{{Kind: domain.WaitCustomer, Certificate: "o-customer-c1", Since: at(-30 * time.Hour), Deadline: ptr(at(3 * 24 * time.Hour)), Rule: "SSL-6", Detail: "the CA refused the resubmission: missing organisation data"}}})
	f.addOrder("o-ca", &ports.RefundRecord{State: "committed", Outcome: "pending", Cash: "99.00", RequestedBy: "console", UpdatedAt: at(-20 * time.Hour),
		WaitingOn: []domain.Wait{{Kind: domain.WaitCAReview, Certificate: "o-ca-c1", Since: at(-20 * time.Hour), Deadline: ptr(at(30 * time.Hour)), Rule: "T-3", Detail: "revocation review"}}})
	f.addOrder("o-paying", &ports.RefundRecord{State: "paying", Outcome: "pending", Cash: "12.00", RequestedBy: "console", UpdatedAt: at(-10 * time.Minute),
		WaitingOn: []domain.Wait{{Kind: domain.WaitPaymentProvider, Since: at(-10 * time.Minute), Rule: "GEN-4", Detail: "the payment provider did not answer (3 attempts)"}}})
	f.addOrder("o-cancel", &ports.RefundRecord{State: "releasing", Outcome: "pending", Cash: "20.00", RequestedBy: "console", UpdatedAt: at(-time.Hour),
		WaitingOn: []domain.Wait{{Kind: domain.WaitCustomer, Certificate: "o-cancel-c1", Since: at(-time.Hour), Rule: "SSL-6", Detail: "the customer must confirm the domain"}}})
	f.addOrder("o-committed", &ports.RefundRecord{State: "committed", Outcome: "pending", Cash: "70.00", RequestedBy: "console", UpdatedAt: at(-3 * time.Hour),
		WaitingOn: []domain.Wait{{Kind: domain.WaitCAReview, Certificate: "o-committed-c1", Since: at(-3 * time.Hour), Deadline: ptr(at(2 * 24 * time.Hour)), Rule: "T-3", Detail: "revocation review"}}})
	f.addOrder("o-paid", &ports.RefundRecord{State: "refunded", Outcome: "refunded", Cash: "55.00", PaymentID: "pay-1", Destination: domain.AccountBalance, UpdatedAt: at(-5 * time.Hour)})
	f.addOrder("o-rejected", &ports.RefundRecord{State: "rejected", Outcome: "rejected", Reasons: []string{"GEN-1", "SSL-2"}, UpdatedAt: at(-6 * time.Hour)})
	f.addOrder("o-cancelled", &ports.RefundRecord{State: "cancelled", Outcome: "cancelled", UpdatedAt: at(-7 * time.Hour),
		Audit: []domain.AuditEntry{{Action: domain.AuditRefundCancelled, At: at(-7 * time.Hour), Actor: domain.Actor{Subject: "dave", Role: "operator"}, Note: "customer withdrew the request"}}})
	f.addOrder("o-none", nil)
}
