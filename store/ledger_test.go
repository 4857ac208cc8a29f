package store_test

import (
	"context"
	"fmt"
	"github.com/certflow/certflow/errs/errstest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/store"
)

// payout is a cash refund of order o-1 to the original method.
func payout(t testing.TB, key, cash string) ports.PayoutRequest {
	t.Helper()
	return ports.PayoutRequest{IdempotencyKey: key, OrderID: "o-1", Cash: usd(t, cash), Destination: domain.OriginalMethod}
}

func newLedger(t testing.TB, path string) (*store.DB, *fakeClock) {
	t.Helper()
	db, clock := openAt(t, path)
	put(t, db, sslOrder(t, "o-1"), sslOrder(t, "o-2"))
	return db, clock
}

func memPath(t testing.TB) string {
	t.Helper()
	if onPostgres() {
		return postgresDSN(t)
	}
	return ":memory:"
}

func reserve(t testing.TB, db *store.DB, req ports.PayoutRequest) ports.Payout {
	t.Helper()
	p, _, err := db.ReservePayout(context.Background(), req)
	if err != nil {
		t.Fatalf("reserving %s: %v", req.IdempotencyKey, err)
	}
	return p
}

func settle(t testing.TB, db *store.DB, key string, s ports.Settlement) ports.Payout {
	t.Helper()
	p, err := db.SettlePayout(context.Background(), key, s)
	if err != nil {
		t.Fatalf("settling %s: %v", key, err)
	}
	return p
}

func samePayout(a, b ports.Payout) bool {
	return a.Request.IdempotencyKey == b.Request.IdempotencyKey && a.Status == b.Status && a.ProviderID == b.ProviderID &&
		a.Reason == b.Reason && a.CreatedAt.Equal(b.CreatedAt) && a.SettledAt.Equal(b.SettledAt) &&
		a.Request.Cash.Equal(b.Request.Cash) && a.Request.Destination == b.Request.Destination
}

func TestReserveIdempotency(t *testing.T) {
	ctx := context.Background()
	db, clock := newLedger(t, memPath(t))

	first, created, err := db.ReservePayout(ctx, payout(t, "refund/o-1", "50.00"))
	if err != nil || !created {
		t.Fatalf("first reservation: created %v, %v", created, err)
	}
	if first.Status != ports.PayoutPending || first.ProviderID != "" || !first.CreatedAt.Equal(clock.Now()) || !first.SettledAt.IsZero() ||
		first.Request.Cash.String() != "50.00" {
		t.Fatalf("payout = %+v", first)
	}

	t.Run("M-4 same key twice reserves once and returns the first payout", func(t *testing.T) {
		clock.Advance(time.Hour)
		again, created, err := db.ReservePayout(ctx, payout(t, "refund/o-1", "50.00"))
		if err != nil || created || !samePayout(again, first) {
			t.Fatalf("replay = %+v, created %v, %v; want %+v", again, created, err, first)
		}
		got, err := db.GetPayout(ctx, "refund/o-1")
		if err != nil || !samePayout(got, first) {
			t.Fatalf("GetPayout = %+v, %v; want %+v", got, err, first)
		}
	})

	t.Run("M-3 a pending payout counts against the cash", func(t *testing.T) {
		// 50.00 reserved: 30.00 of the 80.00 is left, no more.
		if _, _, err := db.ReservePayout(ctx, payout(t, "refund/o-1/rest", "30.01")); errs.CodeOf(err) != errs.Conflict {
			t.Fatalf("30.01 more = %v, want a conflict", err)
		}
	})

	conflicts := map[string]ports.PayoutRequest{
		"different amount":      payout(t, "refund/o-1", "49.99"),
		"different destination": {IdempotencyKey: "refund/o-1", OrderID: "o-1", Cash: usd(t, "50.00"), Destination: domain.AccountBalance},
		"different order":       {IdempotencyKey: "refund/o-1", OrderID: "o-2", Cash: usd(t, "50.00"), Destination: domain.OriginalMethod},
		"gift card added":       {IdempotencyKey: "refund/o-1", OrderID: "o-1", Cash: usd(t, "50.00"), GiftCard: usd(t, "1.00"), Destination: domain.OriginalMethod},
	}
	for name, req := range conflicts {
		t.Run("M-4 same key with "+name+" is a conflict", func(t *testing.T) {
			_, _, err := db.ReservePayout(ctx, req)
			errstest.Want(t, err, errs.Conflict, "idempotency key refund/o-1 already names a payout of order o-1 cash 50.00 USD")
			if r := errs.RulesOf(err); !slices.Equal(r, []string{"M-4"}) {
				t.Fatalf("rules = %v, want [M-4]", r)
			}
		})
	}

	t.Run("M-4 zero gift card without currency is the same payout", func(t *testing.T) {
		req := payout(t, "refund/o-1", "50.00")
		req.GiftCard = money.Amount{}
		if got, created, err := db.ReservePayout(ctx, req); err != nil || created || !samePayout(got, first) {
			t.Fatalf("replay = %+v, %v, %v; want %+v", got, created, err, first)
		}
	})

	t.Run("paid: the replay returns the paid payout", func(t *testing.T) {
		paid := settle(t, db, "refund/o-1", ports.Settlement{Status: ports.PayoutPaid, ProviderID: "re_1"})
		if paid.Status != ports.PayoutPaid || paid.ProviderID != "re_1" || !paid.SettledAt.Equal(clock.Now()) {
			t.Fatalf("settled = %+v", paid)
		}
		again, created, err := db.ReservePayout(ctx, payout(t, "refund/o-1", "50.00"))
		if err != nil || created || !samePayout(again, paid) {
			t.Fatalf("replay = %+v, %v, %v; want %+v", again, created, err, paid)
		}
		if _, _, err := db.ReservePayout(ctx, payout(t, "refund/o-1/rest", "30.00")); err != nil {
			t.Fatalf("the 30.00 left: %v", err)
		}
	})

	t.Run("unknown key is not found", func(t *testing.T) {
		_, err := db.GetPayout(ctx, "refund/o-9")
		errstest.Want(t, err, errs.NotFound, "payout refund/o-9 not found")
	})
}

func TestSettlePayout(t *testing.T) {
	ctx := context.Background()
	db, _ := newLedger(t, memPath(t))
	reserve(t, db, payout(t, "refund/o-1", "80.00"))

	t.Run("GEN-4 a failed payout releases the cash for the balance", func(t *testing.T) {
		failed := settle(t, db, "refund/o-1", ports.Settlement{Status: ports.PayoutFailed, Reason: "card cancelled"})
		if failed.Status != ports.PayoutFailed || failed.Reason != "card cancelled" || failed.ProviderID != "" {
			t.Fatalf("failed = %+v", failed)
		}
		// The key stays failed: the provider would answer it failed again.
		again := reserve(t, db, payout(t, "refund/o-1", "80.00"))
		if again.Status != ports.PayoutFailed {
			t.Fatalf("replay of a failed key = %+v, want failed", again)
		}
		bal := ports.PayoutRequest{IdempotencyKey: "refund/o-1/account_balance", OrderID: "o-1", Cash: usd(t, "80.00"), Destination: domain.AccountBalance}
		if p := reserve(t, db, bal); p.Status != ports.PayoutPending {
			t.Fatalf("to the balance = %+v", p)
		}
		settle(t, db, bal.IdempotencyKey, ports.Settlement{Status: ports.PayoutPaid, ProviderID: "re_2"})
		ps, err := db.Payouts(ctx, "o-1")
		if err != nil || len(ps) != 2 || ps[0].Status != ports.PayoutFailed || ps[1].Status != ports.PayoutPaid {
			t.Fatalf("Payouts = %+v, %v", ps, err)
		}
	})

	refusals := map[string]struct {
		key  string
		s    ports.Settlement
		code errs.Code
		want string
	}{
		"paid without an ID":    {"refund/o-1/account_balance", ports.Settlement{Status: ports.PayoutPaid}, errs.Invalid, "paid without the provider's refund ID"},
		"pending is not final":  {"refund/o-1/account_balance", ports.Settlement{Status: ports.PayoutPending}, errs.Invalid, `cannot settle as "pending"`},
		"paid, then failed":     {"refund/o-1/account_balance", ports.Settlement{Status: ports.PayoutFailed}, errs.Conflict, "is already paid, cannot settle it failed"},
		"paid under another ID": {"refund/o-1/account_balance", ports.Settlement{Status: ports.PayoutPaid, ProviderID: "re_x"}, errs.Conflict, "is already paid"},
		"failed, then paid":     {"refund/o-1", ports.Settlement{Status: ports.PayoutPaid, ProviderID: "re_3"}, errs.Conflict, "is already failed, cannot settle it paid"},
		"unknown key":           {"refund/o-9", ports.Settlement{Status: ports.PayoutPaid, ProviderID: "re_4"}, errs.NotFound, "payout refund/o-9 not found"},
		"empty key":             {"", ports.Settlement{Status: ports.PayoutPaid, ProviderID: "re_5"}, errs.Invalid, "idempotency key is empty"},
	}
	for name, tc := range refusals {
		t.Run(name, func(t *testing.T) {
			_, err := db.SettlePayout(ctx, tc.key, tc.s)
			errstest.Want(t, err, tc.code, tc.want)
		})
	}

	t.Run("settling again the same way is a no-op", func(t *testing.T) {
		p := settle(t, db, "refund/o-1/account_balance", ports.Settlement{Status: ports.PayoutPaid, ProviderID: "re_2"})
		if p.ProviderID != "re_2" {
			t.Fatalf("payout = %+v", p)
		}
	})
	t.Run("payouts of an unknown order", func(t *testing.T) {
		_, err := db.Payouts(ctx, "o-9")
		errstest.Want(t, err, errs.NotFound, "order o-9 not found")
	})
}

func TestReserveCaps(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		// order changes the 100 USD order o-1 (80.00 cash, 20.00 voucher).
		order func(t *testing.T, o *domain.Order)
		// paid are payouts made before req, each of them accepted.
		paid []ports.PayoutRequest
		req  ports.PayoutRequest
		code errs.Code
		want string
		rule string
	}{
		"M-3 all the cash": {req: payout(t, "k", "80.00")},
		"M-3 a cent over the cash": {
			req: payout(t, "k", "80.01"), code: errs.Conflict, rule: "M-3",
			want: "payout of 80.01 USD cash for order o-1 exceeds what is left: cash paid 80.00, refunded before 0.00, paid out or pending 0.00",
		},
		"M-3 minus what was refunded before": {
			order: func(t *testing.T, o *domain.Order) { o.AlreadyRefunded = dec(t, "30.00") },
			req:   payout(t, "k", "50.01"), code: errs.Conflict, rule: "M-3",
			want: "cash paid 80.00, refunded before 30.00, paid out or pending 0.00",
		},
		"M-3 what is left after refunds before": {
			order: func(t *testing.T, o *domain.Order) { o.AlreadyRefunded = dec(t, "30.00") },
			req:   payout(t, "k", "50.00"),
		},
		"M-3 minus what other keys paid out": {
			paid: []ports.PayoutRequest{payout(t, "k1", "60.00"), payout(t, "k2", "20.00")},
			req:  payout(t, "k3", "0.01"), code: errs.Conflict, rule: "M-3",
			want: "payout of 0.01 USD cash for order o-1 exceeds what is left: cash paid 80.00, refunded before 0.00, paid out or pending 80.00",
		},
		"GEN-3 the voucher is not cash": {
			req: payout(t, "k", "100.00"), code: errs.Conflict, rule: "M-3", want: "cash paid 80.00",
		},
		"TC-6 gift card back as gift card": {
			order: func(t *testing.T, o *domain.Order) {
				o.Payment.GiftCard, o.Payment.Voucher = dec(t, "20.00"), dec(t, "0")
			},
			req: ports.PayoutRequest{IdempotencyKey: "k", OrderID: "o-1", Cash: usd(t, "80.00"), GiftCard: usd(t, "20.00"), Destination: domain.AccountBalance},
		},
		"TC-6 gift card over what was paid with it": {
			order: func(t *testing.T, o *domain.Order) {
				o.Payment.GiftCard, o.Payment.Voucher = dec(t, "20.00"), dec(t, "0")
			},
			paid: []ports.PayoutRequest{{IdempotencyKey: "k1", OrderID: "o-1", GiftCard: usd(t, "15.00"), Destination: domain.AccountBalance}},
			req:  ports.PayoutRequest{IdempotencyKey: "k2", OrderID: "o-1", GiftCard: usd(t, "5.01"), Destination: domain.AccountBalance},
			code: errs.Conflict, rule: "TC-6",
			want: "payout of 5.01 USD gift card for order o-1 exceeds what is left: gift card paid 20.00, paid out or pending 15.00",
		},
		"TC-6 benefit points over what was paid with them": {
			order: func(_ *testing.T, o *domain.Order) { o.Payment.BenefitPoints = 100 },
			req:   ports.PayoutRequest{IdempotencyKey: "k", OrderID: "o-1", BenefitPoints: 101, Destination: domain.AccountBalance},
			code:  errs.Conflict, rule: "TC-6", want: "payout of 101 benefit points for order o-1 exceeds what is left: 100 paid, 0 paid out or pending",
		},
		"another currency": {
			req:  ports.PayoutRequest{IdempotencyKey: "k", OrderID: "o-1", Cash: amount(t, "10", "EUR"), Destination: domain.OriginalMethod},
			code: errs.Invalid, want: "payout k: cash is in EUR, order o-1 was paid in USD",
		},
		"cash and gift card in different currencies": {
			req:  ports.PayoutRequest{IdempotencyKey: "k", OrderID: "o-1", Cash: usd(t, "1"), GiftCard: amount(t, "1", "CNY"), Destination: domain.OriginalMethod},
			code: errs.Invalid, want: "payout k: cash in USD and gift card in CNY",
		},
		"unknown order": {
			req:  ports.PayoutRequest{IdempotencyKey: "k", OrderID: "o-9", Cash: usd(t, "1"), Destination: domain.OriginalMethod},
			code: errs.NotFound, want: "order o-9 not found",
		},
		"empty key": {
			req:  ports.PayoutRequest{OrderID: "o-1", Cash: usd(t, "1"), Destination: domain.OriginalMethod},
			code: errs.Invalid, want: "idempotency key is empty",
		},
		"unknown destination": {
			req:  ports.PayoutRequest{IdempotencyKey: "k", OrderID: "o-1", Cash: usd(t, "1"), Destination: "pocket"},
			code: errs.Invalid, want: `payout k: unknown destination "pocket"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db, _ := openMem(t)
			o := sslOrder(t, "o-1")
			if tc.order != nil {
				tc.order(t, &o)
			}
			put(t, db, o)
			for _, req := range tc.paid {
				reserve(t, db, req)
				settle(t, db, req.IdempotencyKey, ports.Settlement{Status: ports.PayoutPaid, ProviderID: "re_" + req.IdempotencyKey})
			}
			rec, _, err := db.ReservePayout(ctx, tc.req)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got, err := db.GetPayout(ctx, tc.req.IdempotencyKey); err != nil || !samePayout(got, rec) {
					t.Fatalf("GetPayout = %+v, %v; want %+v", got, err, rec)
				}
				return
			}
			errstest.Want(t, err, tc.code, tc.want)
			if tc.rule != "" && !slices.Equal(errs.RulesOf(err), []string{tc.rule}) {
				t.Fatalf("rules = %v, want [%s]", errs.RulesOf(err), tc.rule)
			}
			if tc.req.IdempotencyKey != "" {
				if _, err := db.GetPayout(ctx, tc.req.IdempotencyKey); errs.CodeOf(err) != errs.NotFound {
					t.Fatalf("refused payout is in the ledger: %v", err)
				}
			}
		})
	}
}

func TestReserveConcurrency(t *testing.T) {
	ctx := context.Background()
	const n = 8
	for kind, path := range kinds {
		t.Run("M-4 "+kind+" same key from 8 goroutines reserves once", func(t *testing.T) {
			db, _ := newLedger(t, path(t))
			type result struct {
				p       ports.Payout
				created bool
				err     error
			}
			results := make(chan result, n)
			for range n {
				go func() {
					p, created, err := db.ReservePayout(ctx, payout(t, "refund/o-1", "50.00"))
					results <- result{p, created, err}
				}()
			}
			created := 0
			var first ports.Payout
			for i := range n {
				r := <-results
				if r.err != nil {
					t.Fatal(r.err)
				}
				if r.created {
					created++
				}
				if i == 0 {
					first = r.p
				} else if !samePayout(r.p, first) {
					t.Fatalf("payouts differ: %+v and %+v", first, r.p)
				}
			}
			if created != 1 {
				t.Fatalf("%d calls created the payout, want 1", created)
			}
			// Had the key been reserved twice, 100.00 of 80.00 would be out.
			reserve(t, db, payout(t, "refund/o-1/rest", "30.00"))
		})

		t.Run("M-3 "+kind+" different keys from 8 goroutines never reserve more than the cash", func(t *testing.T) {
			db, _ := newLedger(t, path(t))
			errc := make(chan error, n)
			for i := range n {
				go func() {
					_, _, err := db.ReservePayout(ctx, payout(t, fmt.Sprintf("refund/o-1/%d", i), "20.00"))
					errc <- err
				}()
			}
			paid, refused := 0, 0
			for range n {
				switch err := <-errc; errs.CodeOf(err) {
				case "":
					paid++
				case errs.Conflict:
					refused++
				default:
					t.Error(err)
				}
			}
			if paid != 4 || refused != 4 {
				t.Fatalf("%d reserved and %d refused, want 4 and 4 (80.00 in 20.00 parts)", paid, refused)
			}
		})
	}
}

// runPayout is payout for refund run run, decided by its judgement n.
func runPayout(t testing.TB, key, cash, run string, n int64) ports.PayoutRequest {
	t.Helper()
	req := payout(t, key, cash)
	req.RefundRun, req.Judgement = run, n
	return req
}

func openJudgement(t testing.TB, db *store.DB, orderID, run string) ports.RunJudgement {
	t.Helper()
	j, err := db.OpenJudgement(context.Background(), orderID, run)
	if err != nil {
		t.Fatalf("opening a judgement of %s by %s: %v", orderID, run, err)
	}
	return j
}

// A refund run judged again finds the payout an earlier judgement
// reserved, and a payout an overtaken judgement decided is never made.
func TestOpenJudgementFencesPayouts(t *testing.T) {
	ctx := context.Background()
	db, _ := newLedger(t, memPath(t))
	if j := openJudgement(t, db, "o-1", "run-1"); j.Number != 1 || j.Payout != nil {
		t.Fatalf("first judgement = %+v, want number 1 and no payout", j)
	}
	first := reserve(t, db, runPayout(t, "refund/o-1/original", "50.00", "run-1", 1))

	j := openJudgement(t, db, "o-1", "run-1")
	if j.Number != 2 || j.Payout == nil || !samePayout(*j.Payout, first) || j.Payout.Request.RefundRun != "run-1" {
		t.Fatalf("second judgement = %+v, want number 2 and the pending payout %+v of run-1", j, first)
	}
	t.Run("M-4 a new payout decided by an overtaken judgement is refused", func(t *testing.T) {
		_, _, err := db.ReservePayout(ctx, runPayout(t, "refund/o-1/balance", "10.00", "run-1", 1))
		if errs.CodeOf(err) != errs.Conflict || !slices.Equal(errs.RulesOf(err), []string{"M-4"}) {
			t.Fatalf("reserving under judgement 1 of 2: %v, want a conflict citing M-4", err)
		}
		if _, err := db.GetPayout(ctx, "refund/o-1/balance"); errs.CodeOf(err) != errs.NotFound {
			t.Fatalf("refused payout is in the ledger: %v", err)
		}
	})
	t.Run("M-4 the payout reserved before is the same payout under any judgement", func(t *testing.T) {
		for _, n := range []int64{1, 2} {
			if p := reserve(t, db, runPayout(t, "refund/o-1/original", "50.00", "run-1", n)); !samePayout(p, first) {
				t.Fatalf("judgement %d: %+v, want %+v", n, p, first)
			}
		}
	})
	t.Run("the latest judgement reserves", func(t *testing.T) {
		reserve(t, db, runPayout(t, "refund/o-1/balance", "10.00", "run-1", 2))
	})
	t.Run("a paid payout is returned before a pending one; a failed one never", func(t *testing.T) {
		settle(t, db, "refund/o-1/balance", ports.Settlement{Status: ports.PayoutPaid, ProviderID: "pay-1"})
		if j := openJudgement(t, db, "o-1", "run-1"); j.Number != 3 || j.Payout == nil || j.Payout.Request.IdempotencyKey != "refund/o-1/balance" {
			t.Fatalf("third judgement = %+v, want number 3 and the paid payout", j)
		}
		db2, _ := newLedger(t, memPath(t))
		openJudgement(t, db2, "o-1", "run-1")
		reserve(t, db2, runPayout(t, "refund/o-1/original", "50.00", "run-1", 1))
		settle(t, db2, "refund/o-1/original", ports.Settlement{Status: ports.PayoutFailed, Reason: "card closed"})
		if j := openJudgement(t, db2, "o-1", "run-1"); j.Payout != nil {
			t.Fatalf("judgement after a failed payout = %+v, want no payout", j)
		}
	})
	t.Run("runs and orders are counted apart; no number checks nothing", func(t *testing.T) {
		if j := openJudgement(t, db, "o-1", "run-2"); j.Number != 1 || j.Payout != nil {
			t.Fatalf("run-2's first judgement = %+v", j)
		}
		if j := openJudgement(t, db, "o-2", "run-1"); j.Number != 1 || j.Payout != nil {
			t.Fatalf("order o-2's first judgement by run-1 = %+v", j)
		}
		reserve(t, db, runPayout(t, "refund/o-1/run-0", "1.00", "run-1", 0))
	})
	t.Run("bad input", func(t *testing.T) {
		if _, err := db.OpenJudgement(ctx, "o-404", "run-1"); errs.CodeOf(err) != errs.NotFound {
			t.Fatalf("unknown order: %v, want not found", err)
		}
		if _, err := db.OpenJudgement(ctx, "o-1", ""); errs.CodeOf(err) != errs.Invalid {
			t.Fatalf("empty run: %v, want invalid", err)
		}
	})
}

// A reservation racing a new judgement of its run is either found by the
// judgement or refused: never made unseen.
func TestOpenJudgementRacingReservation(t *testing.T) {
	ctx := context.Background()
	const n = 16
	db, _ := newLedger(t, memPath(t))
	type outcome struct {
		reserved bool
		found    bool
	}
	outcomes := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		run := fmt.Sprintf("run-%d", i)
		openJudgement(t, db, "o-1", run)
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _, err := db.ReservePayout(ctx, runPayout(t, "refund/o-1/"+run, "1.00", run, 1))
			if err != nil && errs.CodeOf(err) != errs.Conflict {
				t.Errorf("%s: %v", run, err)
			}
			outcomes[i].reserved = err == nil
		}()
		go func() {
			defer wg.Done()
			j, err := db.OpenJudgement(ctx, "o-1", run)
			if err != nil {
				t.Errorf("%s: %v", run, err)
				return
			}
			outcomes[i].found = j.Payout != nil
		}()
	}
	wg.Wait()
	for i, o := range outcomes {
		if o.reserved != o.found {
			t.Errorf("run-%d: reserved %v, found by the judgement after it %v", i, o.reserved, o.found)
		}
	}
}
