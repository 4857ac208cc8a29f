package refund_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/payclient"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/paysim"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
	"github.com/certflow/certflow/workflows/refund"
)

// clock is a settable clock shared by the store and the simulator.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type payEnv struct {
	db     *store.DB
	sim    *paysim.Sim
	client *payclient.Client
	clk    *clock
	acts   *refund.Activities
}

// newPayEnv is the ledger on SQLite, paysim behind HTTP with the given
// settle delay, and the Pay activity between them; order o-1 paid 80.00
// USD cash.
func newPayEnv(t *testing.T, settle time.Duration) *payEnv {
	t.Helper()
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)}
	db, err := store.Open(ctx, "sqlite::memory:", store.WithNow(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	issued := clk.Now().Add(-time.Hour)
	if err := db.PutOrder(ctx, domain.Order{ID: "o-1", Profile: "aliyun-intl", Product: domain.SSLCertificate, PaidAt: clk.Now().Add(-24 * time.Hour),
		Currency: "USD", Price: decimal.RequireFromString("100.00"), ValidityYears: 1,
		Payment:      domain.Payment{Cash: decimal.RequireFromString("80.00"), Voucher: decimal.RequireFromString("20.00")},
		Certificates: []domain.Certificate{{ID: "c-1", State: statemachine.Issued, IssuedAt: &issued}}}); err != nil {
		t.Fatal(err)
	}
	sim, err := paysim.New(ctx, paysim.Config{Token: "tok", DB: ":memory:", SettleDelay: settle, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	pay, err := payclient.New(payclient.Config{BaseURL: srv.URL, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	return &payEnv{db: db, sim: sim, client: pay, clk: clk,
		acts: &refund.Activities{Deps: activities.Deps{Store: db, Payments: pay, PayPollInterval: time.Millisecond}}}
}

func usd(t *testing.T, s string) money.Amount {
	t.Helper()
	a, err := money.New(decimal.RequireFromString(s), money.Currency{Code: "USD", Places: 2})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// pay runs the Pay activity; tick advances the clock on every poll, as
// time passing at the provider.
func (e *payEnv) pay(t *testing.T, req activities.PayoutRequest) (activities.PayoutReceipt, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(e.acts)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				e.clk.Advance(100 * time.Millisecond)
			}
		}
	}()
	v, err := env.ExecuteActivity(e.acts.Pay, refund.PayInput{PayoutRequest: req})
	if err != nil {
		return activities.PayoutReceipt{}, err
	}
	var rec activities.PayoutReceipt
	if err := v.Get(&rec); err != nil {
		t.Fatal(err)
	}
	return rec, nil
}

func refundsAt(t *testing.T, sim *paysim.Sim, orderID string) []paysim.Refund {
	t.Helper()
	refs, err := sim.List(context.Background(), orderID)
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

func req(t *testing.T, key, cash string, dest domain.Destination) activities.PayoutRequest {
	return activities.PayoutRequest{IdempotencyKey: key, OrderID: "o-1", Cash: usd(t, cash), Destination: dest}
}

// A refund the provider answers pending is waited for, then recorded paid.
func TestPayWaitsForAPendingRefund(t *testing.T) {
	e := newPayEnv(t, 2*time.Second)
	rec, err := e.pay(t, req(t, "refund/o-1", "80.00", domain.OriginalMethod))
	if err != nil {
		t.Fatal(err)
	}
	if rec.PaymentID != paysim.RefundID("refund/o-1") || rec.Destination != domain.OriginalMethod {
		t.Fatalf("receipt = %+v", rec)
	}
	p, err := e.db.GetPayout(context.Background(), "refund/o-1")
	if err != nil || p.Status != ports.PayoutPaid || p.ProviderID != rec.PaymentID {
		t.Fatalf("ledger = %+v, %v; want paid %s", p, err, rec.PaymentID)
	}
	refs := refundsAt(t, e.sim, "o-1")
	if len(refs) != 1 || refs[0].Status != paysim.StatusSucceeded {
		t.Fatalf("provider refunds = %+v, want one succeeded", refs)
	}
	// Recorded paid only once the provider settled it, never while pending.
	if due := refs[0].Created.Add(2 * time.Second); p.SettledAt.Before(due) {
		t.Fatalf("ledger settled at %s, before the provider settled the refund (%s)", p.SettledAt, due)
	}
	// M-4: the same payout again reconciles and moves nothing.
	again, err := e.pay(t, req(t, "refund/o-1", "80.00", domain.OriginalMethod))
	if err != nil || again.PaymentID != rec.PaymentID || len(refundsAt(t, e.sim, "o-1")) != 1 {
		t.Fatalf("replay = %+v, %v; provider refunds %d", again, err, len(refundsAt(t, e.sim, "o-1")))
	}
}

// GEN-4: the provider accepts the refund, then the original method fails;
// Pay reports it so the workflow pays to the balance, which goes through.
func TestPayOriginalMethodFailsAfterAcceptance(t *testing.T) {
	e := newPayEnv(t, 2*time.Second)
	ref, _, err := e.sim.Create(context.Background(), "probe", paysim.RefundRequest{OrderID: "o-2", Amount: "1.00", Currency: "USD", Destination: paysim.OriginalMethod})
	if err != nil || ref.Status != paysim.StatusPending {
		t.Fatalf("a new refund is %+v, %v; want pending", ref, err)
	}
	e.sim.FailOriginalMethod("o-1", true)
	_, err = e.pay(t, req(t, "refund/o-1", "80.00", domain.OriginalMethod))
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || errtemporal.CodeOf(err) != errs.OriginalMethodFailed || !appErr.NonRetryable() ||
		!slices.Equal(errtemporal.Rules(err), []string{"GEN-4"}) {
		t.Fatalf("err = %v (rules %v), want a non-retryable %s naming GEN-4", err, errtemporal.Rules(err), errs.OriginalMethodFailed)
	}
	if p, _ := e.db.GetPayout(context.Background(), "refund/o-1"); p.Status != ports.PayoutFailed || p.Reason == "" {
		t.Fatalf("ledger = %+v, want failed with the provider's reason", p)
	}
	rec, err := e.pay(t, req(t, "refund/o-1/account_balance", "80.00", domain.AccountBalance))
	if err != nil || rec.Destination != domain.AccountBalance {
		t.Fatalf("to the balance = %+v, %v", rec, err)
	}
	ps, _ := e.db.Payouts(context.Background(), "o-1")
	if len(ps) != 2 || ps[1].Status != ports.PayoutPaid {
		t.Fatalf("ledger = %+v, want failed then paid", ps)
	}
}

// failingBalance is a provider that fails every refund to the account
// balance (an account closed since), and has nothing for a lookup.
type failingBalance struct{ calls int }

func (f *failingBalance) Refund(_ context.Context, req activities.PayoutRequest) (activities.ProviderRefund, error) {
	f.calls++
	return activities.ProviderRefund{ID: "re_" + req.IdempotencyKey, IdempotencyKey: req.IdempotencyKey, Status: activities.RefundFailed,
		FailureReason: "account closed"}, nil
}

func (f *failingBalance) Lookup(context.Context, string) (activities.ProviderRefund, bool, error) {
	return activities.ProviderRefund{}, false, nil
}

// A refund to the balance that fails has no fallback: a non-retryable
// Conflict (its key is spent, recorded failed), and a replay of the same
// payout meets the failed ledger row without calling the provider again.
func TestPayToTheBalanceFails(t *testing.T) {
	e := newPayEnv(t, 0)
	prov := &failingBalance{}
	e.acts.Payments = prov
	for i := range 2 {
		_, err := e.pay(t, req(t, "refund/o-1/account_balance", "80.00", domain.AccountBalance))
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || errtemporal.CodeOf(err) != errs.Conflict || !appErr.NonRetryable() {
			t.Fatalf("attempt %d: err = %v, want a non-retryable %s", i+1, err, errs.Conflict)
		}
	}
	if prov.calls != 1 {
		t.Fatalf("the provider got %d refund requests, want 1", prov.calls)
	}
	if p, _ := e.db.GetPayout(context.Background(), "refund/o-1/account_balance"); p.Status != ports.PayoutFailed || p.Reason != "account closed" {
		t.Fatalf("ledger = %+v, want failed with the provider's reason", p)
	}
}

// M-3 is checked in certflow's ledger before the provider hears of the
// payout: the provider, which checks no business rule, gets no call.
func TestPayChecksM3BeforeTheProvider(t *testing.T) {
	e := newPayEnv(t, 0)
	_, err := e.pay(t, req(t, "refund/o-1", "80.01", domain.OriginalMethod))
	if errtemporal.CodeOf(err) != errs.Conflict || !slices.Equal(errtemporal.Rules(err), []string{"M-3"}) {
		t.Fatalf("err = %v (rules %v), want %s naming M-3", err, errtemporal.Rules(err), errs.Conflict)
	}
	if refs := refundsAt(t, e.sim, "o-1"); len(refs) != 0 {
		t.Fatalf("the provider got %d refund requests, want none", len(refs))
	}
}

// A worker that died after the provider call (the ledger pending, the
// provider's refund made) resumes by looking the refund up: one refund.
func TestPayResumesAfterACrashPastTheProviderCall(t *testing.T) {
	e := newPayEnv(t, 0)
	r := req(t, "refund/o-1", "80.00", domain.OriginalMethod)
	if _, _, err := e.db.ReservePayout(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Refund(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	rec, err := e.pay(t, r)
	if err != nil || rec.PaymentID != paysim.RefundID("refund/o-1") {
		t.Fatalf("resumed = %+v, %v", rec, err)
	}
	if refs := refundsAt(t, e.sim, "o-1"); len(refs) != 1 {
		t.Fatalf("provider refunds = %d, want 1", len(refs))
	}
}

// A refund the provider refuses outright (400) moved nothing: the ledger
// records it failed, so it holds no cash back, and the error is final.
func TestPayProviderRefusalReleasesTheReservation(t *testing.T) {
	e := newPayEnv(t, 0)
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":{"code":"invalid_request","message":"destination not supported for this payment"}}`))
	}))
	t.Cleanup(refusing.Close)
	pc, err := payclient.New(payclient.Config{BaseURL: refusing.URL, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	e.acts.Payments = pc
	_, err = e.pay(t, req(t, "refund/o-1", "80.00", domain.OriginalMethod))
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || errtemporal.CodeOf(err) != errs.Invalid || !appErr.NonRetryable() {
		t.Fatalf("err = %v, want a final %s", err, errs.Invalid)
	}
	p, err := e.db.GetPayout(context.Background(), "refund/o-1")
	if err != nil || p.Status != ports.PayoutFailed || p.Reason == "" {
		t.Fatalf("ledger = %+v, %v; want failed with the provider's reason", p, err)
	}
	// Nothing is held back: the whole 80.00 can still be paid elsewhere.
	if _, _, err := e.db.ReservePayout(context.Background(), req(t, "refund/o-1/account_balance", "80.00", domain.AccountBalance)); err != nil {
		t.Fatalf("the 80.00 after the refusal: %v", err)
	}
}
