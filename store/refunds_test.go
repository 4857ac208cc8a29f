package store_test

import (
	"context"
	"github.com/certflow/certflow/errs/errstest"
	"reflect"
	"testing"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
)

func TestSaveRefundGetRefund(t *testing.T) {
	ctx := context.Background()
	updated := time.Date(2026, 3, 4, 9, 0, 0, 5, shanghai)
	deadline := time.Date(2026, 3, 9, 18, 0, 0, 0, shanghai)
	tests := map[string]struct {
		saves []activities.RefundRecord
		want  activities.RefundRecord
	}{
		"round trip": {
			saves: []activities.RefundRecord{{OrderID: "o-1", State: "refunded", Outcome: "refunded", Reasons: []string{"SSL-5"},
				Cash: "80.00", Currency: "USD", PaymentID: "pay_1", UpdatedAt: updated}},
			want: activities.RefundRecord{OrderID: "o-1", State: "refunded", Outcome: "refunded", Reasons: []string{"SSL-5"},
				Cash: "80.00", Currency: "USD", PaymentID: "pay_1", UpdatedAt: updated.UTC(), WaitingOn: noWaits, Audit: noAudit},
		},
		"a later save replaces the record": {
			saves: []activities.RefundRecord{
				{OrderID: "o-1", State: "releasing", Reasons: []string{"SSL-6"}, UpdatedAt: updated},
				{OrderID: "o-1", State: "rejected", Outcome: "rejected", Reasons: []string{"SSL-2"}, UpdatedAt: updated.Add(time.Hour)},
			},
			want: activities.RefundRecord{OrderID: "o-1", State: "rejected", Outcome: "rejected", Reasons: []string{"SSL-2"}, UpdatedAt: updated.Add(time.Hour).UTC(), WaitingOn: noWaits, Audit: noAudit},
		},
		"no reasons read back as an empty list": {
			saves: []activities.RefundRecord{{OrderID: "o-1", State: "refund_requested", UpdatedAt: updated}},
			want:  activities.RefundRecord{OrderID: "o-1", State: "refund_requested", Reasons: []string{}, UpdatedAt: updated.UTC(), WaitingOn: noWaits, Audit: noAudit},
		},
		"waiting, escalation, audit, steps and the payout round trip, times in UTC": {
			saves: []activities.RefundRecord{{OrderID: "o-1", State: "refunded", Outcome: "refunded", Reasons: []string{},
				Cash: "80", GiftCard: "0.6", BenefitPoints: 150, Destination: domain.AccountBalance, PaymentID: "pay_1",
				Message: "paid", UpdatedAt: updated,
				WaitingOn:  []domain.Wait{{Kind: domain.WaitCAReview, Certificate: "c-1", Since: updated, Deadline: &deadline, Rule: "T-3", Detail: "review"}},
				Escalation: &domain.Escalation{Rule: "T-3", Reason: "review late", At: updated, Certificate: "c-1", Deadline: deadline},
				Audit: []domain.AuditEntry{{Action: domain.AuditRefundApproved, At: updated, Note: "ok",
					Actor: domain.Actor{Subject: "op-2", Role: domain.RoleOperator, IdempotencyKey: "k-1"}}},
				Steps: []domain.StepRecord{{At: updated, Step: "paid", Detail: "80.00 USD"}}}},
			want: activities.RefundRecord{OrderID: "o-1", State: "refunded", Outcome: "refunded", Reasons: []string{},
				Cash: "80.00", Currency: "USD", GiftCard: "0.60", BenefitPoints: 150, Destination: domain.AccountBalance, PaymentID: "pay_1",
				Message: "paid", UpdatedAt: updated.UTC(),
				WaitingOn:  []domain.Wait{{Kind: domain.WaitCAReview, Certificate: "c-1", Since: updated.UTC(), Deadline: at(deadline.UTC()), Rule: "T-3", Detail: "review"}},
				Escalation: &domain.Escalation{Rule: "T-3", Reason: "review late", At: updated.UTC(), Certificate: "c-1", Deadline: deadline.UTC()},
				Audit: []domain.AuditEntry{{Action: domain.AuditRefundApproved, At: updated.UTC(), Note: "ok",
					Actor: domain.Actor{Subject: "op-2", Role: domain.RoleOperator, IdempotencyKey: "k-1"}}},
				Steps: []domain.StepRecord{{At: updated.UTC(), Step: "paid", Detail: "80.00 USD"}}},
		},
		"the amount due round trips at the minor unit, in the order's currency": {
			saves: []activities.RefundRecord{{OrderID: "o-1", State: "awaiting_approval", Outcome: "awaiting_approval", UpdatedAt: updated,
				Due: &ports.RefundDue{Cash: "80", GiftCard: "0.6", BenefitPoints: 150, Destination: domain.OriginalMethod}}},
			want: activities.RefundRecord{OrderID: "o-1", State: "awaiting_approval", Outcome: "awaiting_approval", Reasons: []string{},
				UpdatedAt: updated.UTC(), WaitingOn: noWaits, Audit: noAudit,
				Due: &ports.RefundDue{Cash: "80.00", GiftCard: "0.60", BenefitPoints: 150, Currency: "USD", Destination: domain.OriginalMethod}},
		},
		"a zero amount due is kept, not read as none": {
			saves: []activities.RefundRecord{{OrderID: "o-1", State: "committed", UpdatedAt: updated,
				Due: &ports.RefundDue{Cash: "0", Currency: "USD", Destination: domain.AccountBalance}}},
			want: activities.RefundRecord{OrderID: "o-1", State: "committed", Reasons: []string{}, UpdatedAt: updated.UTC(), WaitingOn: noWaits, Audit: noAudit,
				Due: &ports.RefundDue{Cash: "0.00", Currency: "USD", Destination: domain.AccountBalance}},
		},
		"the amount due is kept after payment; a record without it clears it": {
			saves: []activities.RefundRecord{
				{OrderID: "o-1", State: "refunded", Outcome: "refunded", Cash: "80", PaymentID: "pay_1", Destination: domain.AccountBalance, UpdatedAt: updated,
					Due: &ports.RefundDue{Cash: "80", Destination: domain.OriginalMethod}},
			},
			want: activities.RefundRecord{OrderID: "o-1", State: "refunded", Outcome: "refunded", Reasons: []string{}, Cash: "80.00", Currency: "USD",
				PaymentID: "pay_1", Destination: domain.AccountBalance, UpdatedAt: updated.UTC(), WaitingOn: noWaits, Audit: noAudit,
				Due: &ports.RefundDue{Cash: "80.00", Currency: "USD", Destination: domain.OriginalMethod}},
		},
		"a later record without an amount due clears it": {
			saves: []activities.RefundRecord{
				{OrderID: "o-1", State: "committed", UpdatedAt: updated, Due: &ports.RefundDue{Cash: "80", GiftCard: "1", BenefitPoints: 3, Destination: domain.OriginalMethod}},
				{OrderID: "o-1", State: "rejected", Outcome: "rejected", UpdatedAt: updated.Add(time.Hour)},
			},
			want: activities.RefundRecord{OrderID: "o-1", State: "rejected", Outcome: "rejected", Reasons: []string{}, UpdatedAt: updated.Add(time.Hour).UTC(), WaitingOn: noWaits, Audit: noAudit},
		},
		"M-1 cash is kept at the minor unit, in the order's currency": {
			saves: []activities.RefundRecord{{OrderID: "o-1", State: "paying", Cash: "1.5", UpdatedAt: updated}},
			want:  activities.RefundRecord{OrderID: "o-1", State: "paying", Reasons: []string{}, Cash: "1.50", Currency: "USD", UpdatedAt: updated.UTC(), WaitingOn: noWaits, Audit: noAudit},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db, _ := openMem(t)
			put(t, db, sslOrder(t, "o-1"))
			for _, rec := range tc.saves {
				if err := db.SaveRefund(ctx, rec); err != nil {
					t.Fatal(err)
				}
			}
			got, err := db.GetRefund(ctx, "o-1")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("GetRefund = %+v, want %+v", got, tc.want)
			}
		})
	}
}

var (
	noWaits = []domain.Wait{}
	noAudit = []domain.AuditEntry{}
)

func TestSaveRefundRefusals(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		rec  activities.RefundRecord
		code errs.Code
		want string
	}{
		"unknown order":                  {rec: activities.RefundRecord{OrderID: "o-9", State: "paying", UpdatedAt: now}, code: errs.NotFound, want: "order o-9 not found"},
		"empty order ID":                 {rec: activities.RefundRecord{State: "paying", UpdatedAt: now}, code: errs.Invalid, want: "order ID is empty"},
		"empty state":                    {rec: activities.RefundRecord{OrderID: "o-1", UpdatedAt: now}, code: errs.Invalid, want: "refund of order o-1: state is empty"},
		"missing update time":            {rec: activities.RefundRecord{OrderID: "o-1", State: "paying"}, code: errs.Invalid, want: "update time is missing"},
		"another currency":               {rec: activities.RefundRecord{OrderID: "o-1", State: "paying", Cash: "1", Currency: "EUR", UpdatedAt: now}, code: errs.Invalid, want: "refund of order o-1 is in EUR, the order in USD"},
		"cash is not a number":           {rec: activities.RefundRecord{OrderID: "o-1", State: "paying", Cash: "lots", UpdatedAt: now}, code: errs.Invalid, want: `cash "lots" is not a decimal number`},
		"M-1 gift card beyond the cent":  {rec: activities.RefundRecord{OrderID: "o-1", State: "paying", GiftCard: "0.001", UpdatedAt: now}, code: errs.Invalid, want: "gift card: amount"},
		"negative points":                {rec: activities.RefundRecord{OrderID: "o-1", State: "paying", BenefitPoints: -1, UpdatedAt: now}, code: errs.Invalid, want: "benefit points -1 are negative"},
		"unknown waiting kind":           {rec: activities.RefundRecord{OrderID: "o-1", State: "paying", WaitingOn: []domain.Wait{{Kind: "moon"}}, UpdatedAt: now}, code: errs.Invalid, want: `unknown waiting kind "moon"`},
		"unknown destination":            {rec: activities.RefundRecord{OrderID: "o-1", State: "paying", Destination: "pocket", UpdatedAt: now}, code: errs.Invalid, want: `unknown destination "pocket"`},
		"M-1 fraction of a cent":         {rec: activities.RefundRecord{OrderID: "o-1", State: "paying", Cash: "1.001", UpdatedAt: now}, code: errs.Invalid, want: "more than 2 decimal places"},
		"amount due without cash":        {rec: activities.RefundRecord{OrderID: "o-1", State: "paying", Due: &ports.RefundDue{Currency: "USD"}, UpdatedAt: now}, code: errs.Invalid, want: "the amount due has no cash"},
		"amount due in another currency": {rec: activities.RefundRecord{OrderID: "o-1", State: "paying", Due: &ports.RefundDue{Cash: "1", Currency: "EUR"}, UpdatedAt: now}, code: errs.Invalid, want: "refund of order o-1 is due in EUR, the order in USD"},
		"M-1 cash due beyond the cent":   {rec: activities.RefundRecord{OrderID: "o-1", State: "paying", Due: &ports.RefundDue{Cash: "1.001"}, UpdatedAt: now}, code: errs.Invalid, want: "cash due: amount"},
		"gift card due not a number":     {rec: activities.RefundRecord{OrderID: "o-1", State: "paying", Due: &ports.RefundDue{Cash: "1", GiftCard: "x"}, UpdatedAt: now}, code: errs.Invalid, want: `gift card due "x" is not a decimal number`},
		"negative points due":            {rec: activities.RefundRecord{OrderID: "o-1", State: "paying", Due: &ports.RefundDue{Cash: "1", BenefitPoints: -2}, UpdatedAt: now}, code: errs.Invalid, want: "benefit points due -2 are negative"},
		"unknown destination due":        {rec: activities.RefundRecord{OrderID: "o-1", State: "paying", Due: &ports.RefundDue{Cash: "1", Destination: "pocket"}, UpdatedAt: now}, code: errs.Invalid, want: `unknown destination "pocket" of the amount due`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db, _ := openMem(t)
			put(t, db, sslOrder(t, "o-1"))
			errstest.Want(t, db.SaveRefund(ctx, tc.rec), tc.code, tc.want)
		})
	}
}

func TestGetRefundNotFound(t *testing.T) {
	db, _ := openMem(t)
	put(t, db, sslOrder(t, "o-1"))
	_, err := db.GetRefund(context.Background(), "o-1")
	errstest.Want(t, err, errs.NotFound, "no refund for order o-1")
}

// A paid refund's last record is written by its payout's activity; when
// that answer is lost the workflow goes on as if unpaid, and its records
// of the detour (a wait on the payment side) must not take the refund
// back from refunded, nor emit its events again. Another refund of the
// order (another run) is not held back.
func TestSaveRefundKeepsAPaidRefundRefunded(t *testing.T) {
	ctx := context.Background()
	updated := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	db, _ := openMem(t)
	put(t, db, sslOrder(t, "o-1"))
	req := payout(t, "refund/o-1/original_method", "80.00")
	req.RefundRun = "run-1"
	reserve(t, db, req)
	settle(t, db, req.IdempotencyKey, ports.Settlement{Status: ports.PayoutPaid, ProviderID: "pay_1"})
	paid := activities.RefundRecord{OrderID: "o-1", RefundRun: "run-1", State: "refunded", Outcome: "refunded", Reasons: []string{},
		Cash: "80.00", PaymentID: "pay_1", UpdatedAt: updated}
	if err := db.SaveRefund(ctx, paid); err != nil {
		t.Fatal(err)
	}
	detour := activities.RefundRecord{OrderID: "o-1", RefundRun: "run-1", State: "paying", Outcome: "pending",
		Waiting: "the payment side does not answer", UpdatedAt: updated.Add(time.Minute)}
	if err := db.SaveRefund(ctx, detour); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetRefund(ctx, "o-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != "refunded" || got.PaymentID != "pay_1" {
		t.Fatalf("after the detour's record the refund is %s (payment %q), want refunded (pay_1)", got.State, got.PaymentID)
	}
	// The same refund's final record again (the workflow's) is taken.
	again := paid
	again.UpdatedAt = updated.Add(2 * time.Minute)
	again.Message = "paid"
	if err := db.SaveRefund(ctx, again); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetRefund(ctx, "o-1"); got.Message != "paid" {
		t.Fatalf("a final record after the paid one was not taken: %+v", got)
	}
	// A refund of another run, and a record naming no run (the intake's),
	// replace it.
	for i, run := range []string{"run-2", ""} {
		base := updated.Add(time.Duration(i+1) * time.Hour)
		if err := db.SaveRefund(ctx, stampedAt(paid, base)); err != nil {
			t.Fatal(err)
		}
		next := activities.RefundRecord{OrderID: "o-1", RefundRun: run, State: "releasing", Outcome: "pending", UpdatedAt: base.Add(time.Minute)}
		if err := db.SaveRefund(ctx, next); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.GetRefund(ctx, "o-1"); got.State != "releasing" {
			t.Fatalf("run %q: a record of another refund was held back: %+v", run, got)
		}
	}
}

func stampedAt(r activities.RefundRecord, at time.Time) activities.RefundRecord {
	r.UpdatedAt = at
	return r
}
