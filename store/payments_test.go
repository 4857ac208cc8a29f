package store_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/certflow/certflow/errs/errstest"
	"slices"
	"testing"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/store"
)

// payout is a cash refund of order o-1 to the original method.
func payout(t testing.TB, key, cash string) activities.PayoutRequest {
	t.Helper()
	return activities.PayoutRequest{IdempotencyKey: key, OrderID: "o-1", Cash: usd(t, cash), Destination: domain.OriginalMethod}
}

func newPayments(t testing.TB, path string) (*store.Payments, *fakeClock) {
	t.Helper()
	db, clock := openAt(t, path)
	put(t, db, sslOrder(t, "o-1"), sslOrder(t, "o-2"))
	return store.NewPayments(db), clock
}

func TestRefundIdempotency(t *testing.T) {
	ctx := context.Background()
	p, clock := newPayments(t, ":memory:")

	first, err := p.Refund(ctx, payout(t, "refund/o-1", "50.00"))
	if err != nil {
		t.Fatal(err)
	}
	if first.PaymentID != store.PaymentID("refund/o-1") || first.IdempotencyKey != "refund/o-1" ||
		first.Destination != domain.OriginalMethod || !first.At.Equal(clock.Now()) {
		t.Fatalf("receipt = %+v", first)
	}

	t.Run("M-4 same key twice pays once and returns the same receipt", func(t *testing.T) {
		clock.Advance(time.Hour)
		again, err := p.Refund(ctx, payout(t, "refund/o-1", "50.00"))
		if err != nil || again != first {
			t.Fatalf("replay = %+v, %v; want %+v", again, err, first)
		}
		found, ok, err := p.Lookup(ctx, "refund/o-1")
		if err != nil || !ok || found != first {
			t.Fatalf("Lookup = %+v, %v, %v; want %+v", found, ok, err, first)
		}
		// Only one 50.00 left the account: 30.00 of the 80.00 is left, no more.
		if _, err := p.Refund(ctx, payout(t, "refund/o-1/rest", "30.01")); errs.CodeOf(err) != errs.Conflict {
			t.Fatalf("30.01 more = %v, want a conflict", err)
		}
		if _, err := p.Refund(ctx, payout(t, "refund/o-1/rest", "30.00")); err != nil {
			t.Fatalf("the 30.00 left: %v", err)
		}
	})

	conflicts := map[string]activities.PayoutRequest{
		"different amount":      payout(t, "refund/o-1", "49.99"),
		"different destination": {IdempotencyKey: "refund/o-1", OrderID: "o-1", Cash: usd(t, "50.00"), Destination: domain.AccountBalance},
		"different order":       {IdempotencyKey: "refund/o-1", OrderID: "o-2", Cash: usd(t, "50.00"), Destination: domain.OriginalMethod},
		"gift card added":       {IdempotencyKey: "refund/o-1", OrderID: "o-1", Cash: usd(t, "50.00"), GiftCard: usd(t, "1.00"), Destination: domain.OriginalMethod},
	}
	for name, req := range conflicts {
		t.Run("M-4 same key with "+name+" is a conflict", func(t *testing.T) {
			_, err := p.Refund(ctx, req)
			errstest.Want(t, err, errs.Conflict, "idempotency key refund/o-1 already paid order o-1 cash 50.00 USD")
			if r := errs.RulesOf(err); !slices.Equal(r, []string{"M-4"}) {
				t.Fatalf("rules = %v, want [M-4]", r)
			}
		})
	}

	t.Run("M-4 zero gift card without currency is the same payout", func(t *testing.T) {
		req := payout(t, "refund/o-1", "50.00")
		req.GiftCard = money.Amount{}
		if got, err := p.Refund(ctx, req); err != nil || got != first {
			t.Fatalf("replay = %+v, %v; want %+v", got, err, first)
		}
	})

	t.Run("unknown key is not found", func(t *testing.T) {
		if _, ok, err := p.Lookup(ctx, "refund/o-9"); ok || err != nil {
			t.Fatalf("Lookup = %v, %v; want not found", ok, err)
		}
	})
}

func TestRefundCaps(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		// order changes the 100 USD order o-1 (80.00 cash, 20.00 voucher).
		order func(t *testing.T, o *domain.Order)
		// paid are payouts made before req, each of them accepted.
		paid []activities.PayoutRequest
		req  activities.PayoutRequest
		code errs.Code
		want string
		rule string
	}{
		"M-3 all the cash": {req: payout(t, "k", "80.00")},
		"M-3 a cent over the cash": {
			req: payout(t, "k", "80.01"), code: errs.Conflict, rule: "M-3",
			want: "payout of 80.01 USD cash for order o-1 exceeds what is left: cash paid 80.00, refunded before 0.00, paid out 0.00",
		},
		"M-3 minus what was refunded before": {
			order: func(t *testing.T, o *domain.Order) { o.AlreadyRefunded = dec(t, "30.00") },
			req:   payout(t, "k", "50.01"), code: errs.Conflict, rule: "M-3",
			want: "cash paid 80.00, refunded before 30.00, paid out 0.00",
		},
		"M-3 what is left after refunds before": {
			order: func(t *testing.T, o *domain.Order) { o.AlreadyRefunded = dec(t, "30.00") },
			req:   payout(t, "k", "50.00"),
		},
		"M-3 minus what other keys paid out": {
			paid: []activities.PayoutRequest{payout(t, "k1", "60.00"), payout(t, "k2", "20.00")},
			req:  payout(t, "k3", "0.01"), code: errs.Conflict, rule: "M-3",
			want: "payout of 0.01 USD cash for order o-1 exceeds what is left: cash paid 80.00, refunded before 0.00, paid out 80.00",
		},
		"GEN-3 the voucher is not cash": {
			req: payout(t, "k", "100.00"), code: errs.Conflict, rule: "M-3", want: "cash paid 80.00",
		},
		"TC-6 gift card back as gift card": {
			order: func(t *testing.T, o *domain.Order) {
				o.Payment.GiftCard, o.Payment.Voucher = dec(t, "20.00"), dec(t, "0")
			},
			req: activities.PayoutRequest{IdempotencyKey: "k", OrderID: "o-1", Cash: usd(t, "80.00"), GiftCard: usd(t, "20.00"), Destination: domain.AccountBalance},
		},
		"TC-6 gift card over what was paid with it": {
			order: func(t *testing.T, o *domain.Order) {
				o.Payment.GiftCard, o.Payment.Voucher = dec(t, "20.00"), dec(t, "0")
			},
			paid: []activities.PayoutRequest{{IdempotencyKey: "k1", OrderID: "o-1", GiftCard: usd(t, "15.00"), Destination: domain.AccountBalance}},
			req:  activities.PayoutRequest{IdempotencyKey: "k2", OrderID: "o-1", GiftCard: usd(t, "5.01"), Destination: domain.AccountBalance},
			code: errs.Conflict, rule: "TC-6",
			want: "payout of 5.01 USD gift card for order o-1 exceeds what is left: gift card paid 20.00, paid out 15.00",
		},
		"TC-6 benefit points over what was paid with them": {
			order: func(_ *testing.T, o *domain.Order) { o.Payment.BenefitPoints = 100 },
			req:   activities.PayoutRequest{IdempotencyKey: "k", OrderID: "o-1", BenefitPoints: 101, Destination: domain.AccountBalance},
			code:  errs.Conflict, rule: "TC-6", want: "payout of 101 benefit points for order o-1 exceeds what is left: 100 paid, 0 paid out",
		},
		"another currency": {
			req:  activities.PayoutRequest{IdempotencyKey: "k", OrderID: "o-1", Cash: amount(t, "10", "EUR"), Destination: domain.OriginalMethod},
			code: errs.Invalid, want: "payout k: cash is in EUR, order o-1 was paid in USD",
		},
		"cash and gift card in different currencies": {
			req:  activities.PayoutRequest{IdempotencyKey: "k", OrderID: "o-1", Cash: usd(t, "1"), GiftCard: amount(t, "1", "CNY"), Destination: domain.OriginalMethod},
			code: errs.Invalid, want: "payout k: cash in USD and gift card in CNY",
		},
		"unknown order": {
			req:  activities.PayoutRequest{IdempotencyKey: "k", OrderID: "o-9", Cash: usd(t, "1"), Destination: domain.OriginalMethod},
			code: errs.NotFound, want: "order o-9 not found",
		},
		"empty key": {
			req:  activities.PayoutRequest{OrderID: "o-1", Cash: usd(t, "1"), Destination: domain.OriginalMethod},
			code: errs.Invalid, want: "idempotency key is empty",
		},
		"unknown destination": {
			req:  activities.PayoutRequest{IdempotencyKey: "k", OrderID: "o-1", Cash: usd(t, "1"), Destination: "pocket"},
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
			p := store.NewPayments(db)
			for _, req := range tc.paid {
				if _, err := p.Refund(ctx, req); err != nil {
					t.Fatalf("payout %s: %v", req.IdempotencyKey, err)
				}
			}
			rec, err := p.Refund(ctx, tc.req)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got, ok, err := p.Lookup(ctx, tc.req.IdempotencyKey); err != nil || !ok || got != rec {
					t.Fatalf("Lookup = %+v, %v, %v; want %+v", got, ok, err, rec)
				}
				return
			}
			errstest.Want(t, err, tc.code, tc.want)
			if tc.rule != "" && !slices.Equal(errs.RulesOf(err), []string{tc.rule}) {
				t.Fatalf("rules = %v, want [%s]", errs.RulesOf(err), tc.rule)
			}
			if tc.req.IdempotencyKey != "" {
				if _, ok, err := p.Lookup(ctx, tc.req.IdempotencyKey); ok || err != nil {
					t.Fatalf("refused payout is in the ledger: %v, %v", ok, err)
				}
			}
		})
	}
}

func TestRefundConcurrency(t *testing.T) {
	ctx := context.Background()
	const n = 8
	for kind, path := range kinds {
		t.Run("M-4 "+kind+" same key from 8 goroutines pays once", func(t *testing.T) {
			p, _ := newPayments(t, path(t))
			receipts := make(chan activities.PayoutReceipt, n)
			errc := make(chan error, n)
			for range n {
				go func() {
					rec, err := p.Refund(ctx, payout(t, "refund/o-1", "50.00"))
					receipts <- rec
					errc <- err
				}()
			}
			var got []activities.PayoutReceipt
			for range n {
				if err := <-errc; err != nil {
					t.Error(err)
				}
				got = append(got, <-receipts)
			}
			for _, rec := range got[1:] {
				if rec != got[0] {
					t.Fatalf("receipts differ: %+v and %+v", got[0], rec)
				}
			}
			// Had the key paid twice, 100.00 of 80.00 would be out already.
			if _, err := p.Refund(ctx, payout(t, "refund/o-1/rest", "30.00")); err != nil {
				t.Fatalf("the 30.00 left after one payout: %v", err)
			}
		})

		t.Run("M-3 "+kind+" different keys from 8 goroutines never pay out more than the cash", func(t *testing.T) {
			p, _ := newPayments(t, path(t))
			errc := make(chan error, n)
			for i := range n {
				go func() {
					_, err := p.Refund(ctx, payout(t, fmt.Sprintf("refund/o-1/%d", i), "20.00"))
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
				t.Fatalf("%d paid and %d refused, want 4 and 4 (80.00 in 20.00 parts)", paid, refused)
			}
		})
	}
}

func TestOriginalMethodFailure(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		// switches are FailOriginalMethod calls: order ID ("" for all) and on.
		switches []struct {
			order string
			on    bool
		}
		fails map[string]bool // order → whether its original-method refund fails
	}{
		"GEN-4 one order": {
			switches: []struct {
				order string
				on    bool
			}{{"o-1", true}},
			fails: map[string]bool{"o-1": true, "o-2": false},
		},
		"GEN-4 every order": {
			switches: []struct {
				order string
				on    bool
			}{{"", true}},
			fails: map[string]bool{"o-1": true, "o-2": true},
		},
		"GEN-4 switched off again": {
			switches: []struct {
				order string
				on    bool
			}{{"o-1", true}, {"", true}, {"o-1", false}, {"", false}},
			fails: map[string]bool{"o-1": false, "o-2": false},
		},
		"GEN-4 the global switch outlasts an order's": {
			switches: []struct {
				order string
				on    bool
			}{{"", true}, {"o-1", false}},
			fails: map[string]bool{"o-1": true, "o-2": true},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, _ := newPayments(t, ":memory:")
			for _, s := range tc.switches {
				p.FailOriginalMethod(s.order, s.on)
			}
			for _, order := range []string{"o-1", "o-2"} {
				key := "refund/" + order
				req := activities.PayoutRequest{IdempotencyKey: key, OrderID: order, Cash: usd(t, "80.00"), Destination: domain.OriginalMethod}
				_, err := p.Refund(ctx, req)
				if !tc.fails[order] {
					if err != nil {
						t.Fatalf("%s: %v", order, err)
					}
					continue
				}
				if !store.IsOriginalMethodFailed(err) || !errors.Is(err, activities.ErrOriginalMethodFailed) {
					t.Fatalf("%s: got %v, want the original method to fail", order, err)
				}
				errstest.Want(t, err, errs.Unavailable, "refund to the original payment method of order "+order+" failed")
				if !slices.Equal(errs.RulesOf(err), []string{"GEN-4"}) {
					t.Fatalf("rules = %v, want [GEN-4]", errs.RulesOf(err))
				}
				if _, ok, err := p.Lookup(ctx, key); ok || err != nil {
					t.Fatalf("%s: a failed payout is in the ledger: %v, %v", order, ok, err)
				}
				// GEN-4: the same key to the account balance pays, all of it:
				// the failed attempt moved nothing.
				req.Destination = domain.AccountBalance
				rec, err := p.Refund(ctx, req)
				if err != nil || rec.Destination != domain.AccountBalance || rec.PaymentID != store.PaymentID(key) {
					t.Fatalf("%s: to the balance = %+v, %v", order, rec, err)
				}
			}
		})
	}

	t.Run("GEN-4 a payout made before the failure replays", func(t *testing.T) {
		p, _ := newPayments(t, ":memory:")
		first, err := p.Refund(ctx, payout(t, "refund/o-1", "80.00"))
		if err != nil {
			t.Fatal(err)
		}
		p.FailOriginalMethod("o-1", true)
		if again, err := p.Refund(ctx, payout(t, "refund/o-1", "80.00")); err != nil || again != first {
			t.Fatalf("replay = %+v, %v; want %+v", again, err, first)
		}
	})

	t.Run("other errors are not the original method failing", func(t *testing.T) {
		p, _ := newPayments(t, ":memory:")
		_, err := p.Refund(ctx, payout(t, "k", "80.01"))
		if err == nil || store.IsOriginalMethodFailed(err) {
			t.Fatalf("IsOriginalMethodFailed(%v) = true", err)
		}
	})
}

func TestPaymentIDIsDeterministic(t *testing.T) {
	a, b := store.PaymentID("refund/o-1"), store.PaymentID("refund/o-2")
	if a != store.PaymentID("refund/o-1") || a == b || len(a) != len("pay_")+16 {
		t.Fatalf("PaymentID = %q, %q", a, b)
	}
}
