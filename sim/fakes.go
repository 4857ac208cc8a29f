package sim

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
)

// Compile-time checks: the fakes are the activities' interfaces.
var (
	_ activities.CA       = (*FakeCA)(nil)
	_ activities.Payments = (*FakePayments)(nil)
	_ activities.Store    = (*FakeStore)(nil)
	_ activities.Policies = (*FakePolicies)(nil)
)

// FakeCA accepts every action at once, except a revocation (its review is
// decided only by Decide) and the resubmission of a certificate marked as
// rejected until the customer fixes it. It keeps one review per
// revocation, with an ID, and answers status queries truthfully.
type FakeCA struct {
	mu       sync.Mutex
	now      func() time.Time
	rejected map[string]string
	reviews  map[string]*fakeReview
	seq      int
	refuse   bool
	Actions  []string
}

// fakeReview is one revocation review at the FakeCA.
type fakeReview struct {
	status activities.ReviewStatus
}

// NewFakeCA returns a CA that rejects resubmissions of the certificates in
// rejected (ID → reason). Its clock is the wall clock until SetClock.
func NewFakeCA(rejected map[string]string) *FakeCA {
	r := map[string]string{}
	for k, v := range rejected {
		r[k] = v
	}
	return &FakeCA{now: time.Now, rejected: r, reviews: map[string]*fakeReview{}}
}

// SetClock sets the time reviews are submitted at (a test environment's).
func (f *FakeCA) SetClock(now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

// RefuseCredentials makes every call fail as a CA answering 401 would,
// until called with false.
func (f *FakeCA) RefuseCredentials(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuse = on
}

func (f *FakeCA) refusedLocked(op string) error {
	if !f.refuse {
		return nil
	}
	f.Actions = append(f.Actions, op+" refused: 401")
	return errs.Wrap(errs.Misconfigured, activities.ErrCARefusedCredentials, "%s: the CA refuses our credentials", op)
}

// Act performs a console action.
func (f *FakeCA) Act(_ context.Context, certID string, action statemachine.CertEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refusedLocked(fmt.Sprintf("%s %s", action, certID)); err != nil {
		return err
	}
	if reason, ok := f.rejected[certID]; ok && action == statemachine.Resubmit {
		f.Actions = append(f.Actions, fmt.Sprintf("%s %s refused", action, certID))
		return errs.E(errs.Invalid, "%s", reason)
	}
	f.Actions = append(f.Actions, fmt.Sprintf("%s %s", action, certID))
	return nil
}

// Revoke opens a review, or returns the one still pending (idempotent); it
// stays pending until Decide.
func (f *FakeCA) Revoke(_ context.Context, certID, _ string) (activities.ReviewReceipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refusedLocked("revoke " + certID); err != nil {
		return activities.ReviewReceipt{}, err
	}
	rv, ok := f.reviews[certID]
	if !ok || rv.status.Result != "" {
		rv = f.openLocked(certID, f.now())
	}
	f.Actions = append(f.Actions, "revoke "+certID)
	return activities.ReviewReceipt{ReviewID: rv.status.ReviewID, SubmittedAt: rv.status.SubmittedAt}, nil
}

// OpenReview opens a review submitted at submittedAt (a revocation under
// way before the story starts) and returns its ID.
func (f *FakeCA) OpenReview(certID string, submittedAt time.Time) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.openLocked(certID, submittedAt).status.ReviewID
}

func (f *FakeCA) openLocked(certID string, at time.Time) *fakeReview {
	f.seq++
	rv := &fakeReview{status: activities.ReviewStatus{ReviewID: fmt.Sprintf("rev-%s-%d", certID, f.seq), SubmittedAt: at}}
	f.reviews[certID] = rv
	return rv
}

// RevocationStatus reports the certificate's latest review as decided so
// far; NotFound when it has none.
func (f *FakeCA) RevocationStatus(_ context.Context, certID string) (activities.ReviewStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refusedLocked("revocation status " + certID); err != nil {
		return activities.ReviewStatus{}, err
	}
	rv, ok := f.reviews[certID]
	if !ok {
		return activities.ReviewStatus{}, errs.E(errs.NotFound, "no revocation for certificate %s", certID)
	}
	return rv.status, nil
}

// Reset resets a product.
func (f *FakeCA) Reset(_ context.Context, orderID string, product domain.Product) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refusedLocked(fmt.Sprintf("reset %s %s", product, orderID)); err != nil {
		return err
	}
	f.Actions = append(f.Actions, fmt.Sprintf("reset %s %s", product, orderID))
	return nil
}

// Decide decides the certificate's pending review with st (its Result,
// EventID, Reason and At) and returns the review's ID; ok is false when no
// review is pending.
func (f *FakeCA) Decide(certID string, st activities.ReviewStatus) (reviewID string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rv, found := f.reviews[certID]
	if !found || rv.status.Result != "" {
		return "", false
	}
	rv.status.Result, rv.status.EventID, rv.status.Reason, rv.status.At = st.Result, st.EventID, st.Reason, st.At
	return rv.status.ReviewID, true
}

// Fix lets the customer's corrected data through the next resubmission.
func (f *FakeCA) Fix(certID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.rejected, certID)
}

// FakePayments is a payment provider with an idempotency ledger. Refunds
// succeed at once unless Pending makes them wait, or the original method
// is switched to fail (GEN-4).
type FakePayments struct {
	mu       sync.Mutex
	now      func() time.Time
	failOrig bool
	refunds  map[string]*fakeRefund
	Payouts  []activities.PayoutRequest
	// TimeoutsAfterPay makes that many calls move the money and then fail
	// as a timeout would (tests of M-4).
	TimeoutsAfterPay int
	// Pending makes a new refund answer pending for that many Lookups
	// before it settles.
	Pending int
	// Outage makes that many Refund and Lookup calls fail as an
	// unreachable provider would, moving no money.
	Outage int
	// Calls counts Refund calls.
	Calls int
}

type fakeRefund struct {
	ref     activities.ProviderRefund
	req     activities.PayoutRequest
	lookups int
	fail    bool
}

// NewFakePayments returns an empty payment provider using now for refunds.
func NewFakePayments(now func() time.Time) *FakePayments {
	return &FakePayments{now: now, refunds: map[string]*fakeRefund{}}
}

// FailOriginalMethod makes refunds to the original method fail from now on
// (those still pending too: a failure after acceptance).
func (f *FakePayments) FailOriginalMethod(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failOrig = on
}

// Refund creates a refund once per idempotency key.
func (f *FakePayments) Refund(_ context.Context, req activities.PayoutRequest) (activities.ProviderRefund, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls++
	if f.Outage > 0 {
		f.Outage--
		return activities.ProviderRefund{}, errs.E(errs.Unavailable, "payment provider unreachable")
	}
	if r, ok := f.refunds[req.IdempotencyKey]; ok {
		return r.ref, nil
	}
	r := &fakeRefund{req: req, ref: activities.ProviderRefund{ID: fmt.Sprintf("pay-%d", len(f.refunds)+1), IdempotencyKey: req.IdempotencyKey,
		Status: activities.RefundPending, Created: f.now()}}
	f.refunds[req.IdempotencyKey] = r
	if f.Pending == 0 {
		f.settle(r)
	}
	if f.TimeoutsAfterPay > 0 {
		f.TimeoutsAfterPay--
		return activities.ProviderRefund{}, errs.E(errs.Unavailable, "payment system timed out")
	}
	return r.ref, nil
}

// settle decides a pending refund: failed to a failing original method,
// else succeeded (the money moves).
func (f *FakePayments) settle(r *fakeRefund) {
	if r.req.Destination == domain.OriginalMethod && f.failOrig {
		r.ref.Status, r.ref.FailureReason = activities.RefundFailed, "card declined"
		return
	}
	r.ref.Status = activities.RefundSucceeded
	f.Payouts = append(f.Payouts, r.req)
}

// Lookup finds a refund by key; a pending one settles after Pending
// lookups.
func (f *FakePayments) Lookup(_ context.Context, key string) (activities.ProviderRefund, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Outage > 0 {
		f.Outage--
		return activities.ProviderRefund{}, false, errs.E(errs.Unavailable, "payment provider unreachable")
	}
	r, ok := f.refunds[key]
	if !ok {
		return activities.ProviderRefund{}, false, nil
	}
	if r.ref.Status == activities.RefundPending {
		if r.lookups++; r.lookups >= f.Pending {
			f.settle(r)
		}
	}
	return r.ref, true, nil
}

// PayoutsOf returns the payouts made for an order.
func (f *FakePayments) PayoutsOf(orderID string) []activities.PayoutRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []activities.PayoutRequest
	for _, p := range f.Payouts {
		if p.OrderID == orderID {
			out = append(out, p)
		}
	}
	return out
}

// FakeStore keeps one scenario's orders in memory.
type FakeStore struct {
	mu      sync.Mutex
	orders  map[string]domain.Order
	quotas  map[string]string
	refunds map[string]activities.RefundRecord
	payouts map[string]ports.Payout
	// judgements counts each refund run's judgements (OpenJudgement), by
	// order and run.
	judgements map[[2]string]int64
	// holders names each held certificate's one writer (absent: nobody).
	holders map[string]string
	// holdSeqs counts the holds taken of each certificate (ports.Hold).
	holdSeqs map[string]int64
	// batches are the SaveRecords calls, each one transaction in a store.
	batches []ports.Records
}

// NewFakeStore returns a store holding the given orders.
func NewFakeStore(orders ...domain.Order) *FakeStore {
	s := &FakeStore{orders: map[string]domain.Order{}, quotas: map[string]string{}, refunds: map[string]activities.RefundRecord{},
		payouts: map[string]ports.Payout{}, judgements: map[[2]string]int64{}, holders: map[string]string{}, holdSeqs: map[string]int64{}}
	for _, o := range orders {
		s.orders[o.ID] = o
	}
	return s
}

// GetOrder returns an order with its certificates' latest states.
func (s *FakeStore) GetOrder(_ context.Context, id string) (domain.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	if !ok {
		return domain.Order{}, errs.E(errs.NotFound, "order %q not found", id)
	}
	o.Certificates = append([]domain.Certificate(nil), o.Certificates...)
	return o, nil
}

// SaveCertificate records a certificate's state.
func (s *FakeStore) SaveCertificate(_ context.Context, orderID string, cert domain.Certificate, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[orderID]
	if !ok {
		return errs.E(errs.NotFound, "order %q not found", orderID)
	}
	certs := append([]domain.Certificate(nil), o.Certificates...)
	for i := range certs {
		if certs[i].ID == cert.ID {
			certs[i] = cert
		}
	}
	o.Certificates = certs
	s.orders[orderID] = o
	if cert.State == statemachine.Removed {
		// A removed certificate has no writer left (as in the store).
		delete(s.holders, cert.ID)
	}
	return nil
}

// ReturnQuota returns a certificate's quota once.
func (s *FakeStore) ReturnQuota(_ context.Context, _, certID, rule string, _ time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.quotas[certID]; ok {
		return false, nil
	}
	s.quotas[certID] = rule
	return true, nil
}

// SaveRefund records a refund's status.
func (s *FakeStore) SaveRefund(_ context.Context, rec activities.RefundRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.refunds[rec.OrderID]; ok && prev.UpdatedAt.After(rec.UpdatedAt) {
		// As the store: a record older than the stored one is not
		// written (a write that rode with an activity, overtaken).
		return nil
	}
	if prev, ok := s.refunds[rec.OrderID]; ok && prev.State == string(statemachine.OrderRefunded) &&
		!statemachine.IsOrderFinal(statemachine.OrderState(rec.State)) && rec.RefundRun != "" {
		// As the store: a refund whose own payout is paid stays refunded.
		for _, p := range s.payouts {
			if p.Request.OrderID == rec.OrderID && p.Request.RefundRun == rec.RefundRun && p.Status == ports.PayoutPaid {
				return nil
			}
		}
	}
	s.refunds[rec.OrderID] = rec
	return nil
}

// SaveRecords writes one workflow task's records in the store's order:
// quota returns, certificates, refund record.
func (s *FakeStore) SaveRecords(ctx context.Context, recs ports.Records) error {
	s.mu.Lock()
	s.batches = append(s.batches, recs)
	s.mu.Unlock()
	for _, q := range recs.QuotaReturns {
		if _, err := s.ReturnQuota(ctx, recs.OrderID, q.CertificateID, q.Rule, q.At); err != nil {
			return err
		}
	}
	for _, c := range recs.Certificates {
		if err := s.SaveCertificate(ctx, recs.OrderID, c.Certificate, c.At); err != nil {
			return err
		}
	}
	if recs.Refund != nil {
		return s.SaveRefund(ctx, *recs.Refund)
	}
	return nil
}

// Batches returns every SaveRecords call's records, in order.
func (s *FakeStore) Batches() []ports.Records {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

// ReservePayout records a pending payout once per key, refusing cash
// beyond what was paid minus refunded before and reserved since (M-3).
func (s *FakeStore) ReservePayout(_ context.Context, req ports.PayoutRequest) (ports.Payout, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.payouts[req.IdempotencyKey]; ok {
		return p, false, nil
	}
	o, ok := s.orders[req.OrderID]
	if !ok {
		return ports.Payout{}, false, errs.E(errs.NotFound, "order %q not found", req.OrderID)
	}
	if n, ok := s.judgements[[2]string{req.OrderID, req.RefundRun}]; ok && req.RefundRun != "" && req.Judgement != 0 && n != req.Judgement {
		return ports.Payout{}, false, &errs.Error{Code: errs.Conflict, Rules: []string{"M-4"},
			Message: fmt.Sprintf("payout %s: refund %s was judged again (judgement %d, not %d); nothing paid", req.IdempotencyKey, req.RefundRun, n, req.Judgement)}
	}
	used := o.AlreadyRefunded.Add(req.Cash.Decimal())
	for _, p := range s.payouts {
		if p.Request.OrderID == req.OrderID && p.Status != ports.PayoutFailed {
			used = used.Add(p.Request.Cash.Decimal())
		}
	}
	if used.GreaterThan(o.Payment.Cash) {
		return ports.Payout{}, false, &errs.Error{Code: errs.Conflict, Message: fmt.Sprintf("payout %s exceeds the cash left of order %s", req.IdempotencyKey, req.OrderID), Rules: []string{"M-3"}}
	}
	p := ports.Payout{Request: req, Status: ports.PayoutPending}
	s.payouts[req.IdempotencyKey] = p
	return p, true, nil
}

// OpenJudgement draws the run's next judgement number and returns its
// own pending or paid payout (a paid one first), as the store does.
func (s *FakeStore) OpenJudgement(_ context.Context, orderID, refundRun string) (ports.RunJudgement, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orders[orderID]; !ok {
		return ports.RunJudgement{}, errs.E(errs.NotFound, "order %q not found", orderID)
	}
	k := [2]string{orderID, refundRun}
	s.judgements[k]++
	out := ports.RunJudgement{Number: s.judgements[k]}
	for _, p := range s.payouts {
		if p.Request.OrderID != orderID || p.Request.RefundRun != refundRun || p.Status == ports.PayoutFailed {
			continue
		}
		paidFirst := p.Status == ports.PayoutPaid && out.Payout != nil && out.Payout.Status != ports.PayoutPaid
		if out.Payout == nil || paidFirst || (p.Status == out.Payout.Status && p.Request.IdempotencyKey < out.Payout.Request.IdempotencyKey) {
			p := p
			out.Payout = &p
		}
	}
	return out, nil
}

// SettlePayout records a pending payout's outcome.
func (s *FakeStore) SettlePayout(_ context.Context, key string, st ports.Settlement) (ports.Payout, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payouts[key]
	if !ok {
		return ports.Payout{}, errs.E(errs.NotFound, "payout %s not found", key)
	}
	if p.Status == ports.PayoutPending {
		p.Status, p.ProviderID, p.Reason = st.Status, st.ProviderID, st.Reason
		s.payouts[key] = p
	}
	return p, nil
}

// GetPayout returns the payout recorded under key.
func (s *FakeStore) GetPayout(_ context.Context, key string) (ports.Payout, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payouts[key]
	if !ok {
		return ports.Payout{}, errs.E(errs.NotFound, "payout %s not found", key)
	}
	return p, nil
}

// RefundedAmount sums the cash and gift card of the order's paid payouts.
func (s *FakeStore) RefundedAmount(ctx context.Context, orderID string) (decimal.Decimal, error) {
	return s.RefundedByOthers(ctx, orderID, "")
}

// RefundedByOthers is RefundedAmount without the payouts refundRun
// reserved.
func (s *FakeStore) RefundedByOthers(_ context.Context, orderID, refundRun string) (decimal.Decimal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orders[orderID]; !ok {
		return decimal.Decimal{}, errs.E(errs.NotFound, "order %q not found", orderID)
	}
	var total decimal.Decimal
	for _, p := range s.payouts {
		if p.Request.OrderID == orderID && p.Status == ports.PayoutPaid && (refundRun == "" || p.Request.RefundRun != refundRun) {
			total = total.Add(p.Request.Cash.Decimal()).Add(p.Request.GiftCard.Decimal())
		}
	}
	return total, nil
}

// HoldCertificate makes holder the one writer of certID when nobody holds
// it, holder already does, or from does, and returns who holds it after
// the call (the store's compare-and-set, under the fake's lock).
func (s *FakeStore) HoldCertificate(_ context.Context, certID, holder, from string) (string, error) {
	switch {
	case certID == "":
		return "", errs.E(errs.Invalid, "holding a certificate needs its ID")
	case holder == "":
		return "", errs.E(errs.Invalid, "certificate %s: the holder is empty", certID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasCertificate(certID) {
		return "", errs.E(errs.NotFound, "certificate %s not found", certID)
	}
	switch now := s.holders[certID]; now {
	case "", holder, from:
		s.holders[certID] = holder
		s.holdSeqs[certID]++
		return holder, nil
	default:
		return now, nil
	}
}

// ReleaseCertificate ends holder's hold of certID; a certificate held by
// another, or by nobody, is left as it is.
func (s *FakeStore) ReleaseCertificate(_ context.Context, certID, holder string) error {
	switch {
	case certID == "":
		return errs.E(errs.Invalid, "releasing a certificate needs its ID")
	case holder == "":
		return errs.E(errs.Invalid, "certificate %s: the holder to release is empty", certID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasCertificate(certID) {
		return errs.E(errs.NotFound, "certificate %s not found", certID)
	}
	if s.holders[certID] == holder {
		delete(s.holders, certID)
	}
	return nil
}

// CertificateHolder returns who holds certID ("" when nobody does).
func (s *FakeStore) CertificateHolder(_ context.Context, certID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasCertificate(certID) {
		return "", errs.E(errs.NotFound, "certificate %s not found", certID)
	}
	return s.holders[certID], nil
}

// CertificateHold returns who holds certID and the hold's sequence number.
func (s *FakeStore) CertificateHold(_ context.Context, certID string) (ports.Hold, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasCertificate(certID) {
		return ports.Hold{}, errs.E(errs.NotFound, "certificate %s not found", certID)
	}
	return ports.Hold{Holder: s.holders[certID], Seq: s.holdSeqs[certID]}, nil
}

// TakeOverCertificate makes holder the one writer of certID in place of
// dead when dead still holds it with the same sequence number, and returns
// who holds it after the call (the store's compare-and-set).
func (s *FakeStore) TakeOverCertificate(_ context.Context, certID, holder string, dead ports.Hold) (string, error) {
	switch {
	case certID == "":
		return "", errs.E(errs.Invalid, "taking a certificate over needs its ID")
	case holder == "":
		return "", errs.E(errs.Invalid, "certificate %s: the holder is empty", certID)
	case dead.Holder == "":
		return "", errs.E(errs.Invalid, "certificate %s: the holder to take over from is empty", certID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasCertificate(certID) {
		return "", errs.E(errs.NotFound, "certificate %s not found", certID)
	}
	if s.holders[certID] == dead.Holder && s.holdSeqs[certID] == dead.Seq {
		s.holders[certID] = holder
		s.holdSeqs[certID]++
	}
	return s.holders[certID], nil
}

// Holder returns who holds certID ("" when nobody does, or when there is
// no such certificate).
func (s *FakeStore) Holder(certID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holders[certID]
}

// hasCertificate reports whether an order lists certID; s.mu is held.
func (s *FakeStore) hasCertificate(certID string) bool {
	for _, o := range s.orders {
		for _, c := range o.Certificates {
			if c.ID == certID {
				return true
			}
		}
	}
	return false
}

// QuotaReturned counts the quotas given back.
func (s *FakeStore) QuotaReturned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.quotas)
}

// Certificates returns an order's certificate states, by ID.
func (s *FakeStore) Certificates(orderID string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for _, c := range s.orders[orderID].Certificates {
		out[c.ID] = string(c.State)
	}
	return out
}

// Refund returns an order's refund record.
func (s *FakeStore) Refund(orderID string) (activities.RefundRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.refunds[orderID]
	return r, ok
}

// FakePolicies resolves profiles from the embedded registry and gives every
// order the same calendar.
type FakePolicies struct {
	Registry *policy.Registry
	Calendar calendar.Spec
}

// Resolve returns the profile version in force at paidAt and the calendar.
func (p *FakePolicies) Resolve(_ context.Context, name string, paidAt time.Time) (policy.Profile, calendar.Spec, error) {
	prof, err := p.Registry.Resolve(name, paidAt)
	if err != nil {
		return policy.Profile{}, calendar.Spec{}, err
	}
	return prof, p.Calendar, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
