package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errstest"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
)

func TestIntakeOrder(t *testing.T) {
	ctx := context.Background()
	db, clock := openMem(t)
	o := sslOrder(t, "o-1", cert("c-1", statemachine.Issued))
	if created, err := db.IntakeOrder(ctx, o, nil); err != nil || !created {
		t.Fatalf("first intake: created %v, %v; want created", created, err)
	}
	// The certificate's workflow revoked it; a later intake that still
	// says issued must not overwrite the workflow's state.
	c := cert("c-1", statemachine.ValidatingRevocation)
	if err := db.SaveCertificate(ctx, "o-1", c, clock.Now()); err != nil {
		t.Fatal(err)
	}
	o.Certificates[0].DomainChanged = true
	if created, err := db.IntakeOrder(ctx, o, []string{"c-1"}); err != nil || created {
		t.Fatalf("second intake: created %v, %v; want an update", created, err)
	}
	got, err := db.GetOrder(ctx, "o-1")
	if err != nil {
		t.Fatal(err)
	}
	if s := got.Certificates[0]; s.State != statemachine.ValidatingRevocation || !s.DomainChanged {
		t.Fatalf("certificate after intake = %+v, want the workflow's state and the new domain flag", s)
	}
	// Listed as owned or not, a state a workflow wrote stays
	// (TestIntakeKeepsWorkflowCertificates); a state only intake ever
	// wrote follows the console.
	o.Certificates = append(o.Certificates, cert("c-2", statemachine.Issued))
	if _, err := db.IntakeOrder(ctx, o, nil); err != nil {
		t.Fatal(err)
	}
	o.Certificates[1].State = statemachine.Removed
	if _, err := db.IntakeOrder(ctx, o, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetOrder(ctx, "o-1"); got.Certificates[0].State != statemachine.ValidatingRevocation || got.Certificates[1].State != statemachine.Removed {
		t.Fatalf("states = %s, %s; want validating_revocation (a workflow's), removed (the console's)", got.Certificates[0].State, got.Certificates[1].State)
	}

	// A running refund blocks intake, a cancelled one does not, a payout does.
	rec := ports.RefundRecord{OrderID: "o-1", State: string(statemachine.OrderReleasing), Outcome: "pending", UpdatedAt: clock.Now()}
	if err := db.SaveRefund(ctx, rec); err != nil {
		t.Fatal(err)
	}
	_, err = db.IntakeOrder(ctx, o, nil)
	errstest.Want(t, err, errs.Conflict, "while its refund runs", "releasing")
	rec.State, rec.Outcome = string(statemachine.OrderCancelled), "cancelled"
	if err := db.SaveRefund(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := db.IntakeOrder(ctx, o, nil); err != nil {
		t.Fatalf("intake after a cancelled refund: %v", err)
	}
	// A pending payout blocks intake (M-3 checks it against the order's
	// payment), and so does a paid one.
	reserve(t, db, payout(t, "refund/o-1/original_method", "80.00"))
	_, err = db.IntakeOrder(ctx, o, nil)
	errstest.Want(t, err, errs.Conflict, "being paid out")
	settle(t, db, "refund/o-1/original_method", ports.Settlement{Status: ports.PayoutPaid, ProviderID: "re_1"})
	_, err = db.IntakeOrder(ctx, o, nil)
	errstest.Want(t, err, errs.Conflict, "was paid out")
}

// A certificate a workflow holds, or whose state a workflow ever wrote,
// keeps its state, revocation time, quota and resubmission flag through
// intake whatever owned says: a refund may release a certificate that has
// no workflow of its own. The facts intake owns (domain change, position)
// still follow the console.
func TestIntakeKeepsWorkflowCertificates(t *testing.T) {
	ctx := context.Background()
	revoked := t0.Add(48 * time.Hour)
	tests := map[string]struct {
		// prepare makes c-1 a workflow's (or not) after the first intake.
		prepare func(t *testing.T, db *store.DB, now time.Time)
		owned   []string
		kept    bool
	}{
		"held by a refund, never written": {
			prepare: func(t *testing.T, db *store.DB, _ time.Time) { hold(t, db, "c-1", "refund/o-1") },
			kept:    true,
		},
		"held by its certificate workflow": {
			prepare: func(t *testing.T, db *store.DB, _ time.Time) { hold(t, db, "c-1", "certificate/c-1") },
			kept:    true,
		},
		"written by a refund, then released": {
			prepare: func(t *testing.T, db *store.DB, now time.Time) {
				hold(t, db, "c-1", "refund/o-1")
				saveRevoked(t, db, now, revoked)
				if err := db.ReleaseCertificate(ctx, "c-1", "refund/o-1"); err != nil {
					t.Fatal(err)
				}
			},
			kept: true,
		},
		"written, never held": {
			prepare: func(t *testing.T, db *store.DB, now time.Time) { saveRevoked(t, db, now, revoked) },
			kept:    true,
		},
		"listed as owned (as before)": {
			prepare: func(*testing.T, *store.DB, time.Time) {},
			owned:   []string{"c-1"},
			kept:    true,
		},
		"neither held, written nor owned": {
			prepare: func(*testing.T, *store.DB, time.Time) {},
		},
		"held, then released without writing": {
			prepare: func(t *testing.T, db *store.DB, _ time.Time) {
				hold(t, db, "c-1", "refund/o-1")
				if err := db.ReleaseCertificate(ctx, "c-1", "refund/o-1"); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db, clock := openMem(t)
			issued := t0.Add(time.Hour)
			first := cert("c-1", statemachine.Issued)
			first.IssuedAt = &issued
			o := sslOrder(t, "o-1", first)
			if _, err := db.IntakeOrder(ctx, o, nil); err != nil {
				t.Fatal(err)
			}
			tc.prepare(t, db, clock.Now())
			before, err := db.GetOrder(ctx, "o-1")
			if err != nil {
				t.Fatal(err)
			}
			// The console says otherwise about everything.
			other := t0.Add(72 * time.Hour)
			o.Certificates[0] = domain.Certificate{ID: "c-1", State: statemachine.Removed, IssuedAt: &issued, RevokedAt: &other,
				DomainChanged: true, QuotaReturned: true, ResubmitRejected: "console"}
			o.Certificates = append([]domain.Certificate{cert("c-0", statemachine.Issued)}, o.Certificates...)
			if _, err := db.IntakeOrder(ctx, o, tc.owned); err != nil {
				t.Fatal(err)
			}
			after, err := db.GetOrder(ctx, "o-1")
			if err != nil {
				t.Fatal(err)
			}
			if len(after.Certificates) != 2 || after.Certificates[1].ID != "c-1" {
				t.Fatalf("certificates after intake = %+v, want c-0 then c-1", after.Certificates)
			}
			got, was := after.Certificates[1], before.Certificates[0]
			if !got.DomainChanged {
				t.Errorf("the domain change, intake's fact, was not taken: %+v", got)
			}
			want := o.Certificates[1]
			if tc.kept {
				want = was
				want.DomainChanged = true
			}
			if got.State != want.State || !sameTime(got.RevokedAt, want.RevokedAt) || got.QuotaReturned != want.QuotaReturned ||
				got.ResubmitRejected != want.ResubmitRejected || !sameTime(got.IssuedAt, want.IssuedAt) {
				t.Fatalf("c-1 after intake = %+v\nwant %+v (kept %v)", got, want, tc.kept)
			}
		})
	}
}

// An intake that no longer lists a certificate a workflow holds is
// refused, naming it and its holder, and changes nothing; once released,
// the certificate can be dropped.
func TestIntakeRefusesToDropAHeldCertificate(t *testing.T) {
	ctx := context.Background()
	db, _ := openMem(t)
	o := sslOrder(t, "o-1", cert("c-1", statemachine.Issued), cert("c-2", statemachine.Issued))
	if _, err := db.IntakeOrder(ctx, o, nil); err != nil {
		t.Fatal(err)
	}
	hold(t, db, "c-2", "certificate/c-2")
	without := o
	without.Certificates = o.Certificates[:1]
	_, err := db.IntakeOrder(ctx, without, nil)
	errstest.Want(t, err, errs.Conflict, "certificate c-2", "certificate/c-2 holds it")
	if got, err := db.GetOrder(ctx, "o-1"); err != nil || len(got.Certificates) != 2 {
		t.Fatalf("order after the refused intake: %+v, %v; want both certificates", got.Certificates, err)
	}
	// Dropping the unheld one is fine.
	keepHeld := o
	keepHeld.Certificates = o.Certificates[1:]
	if _, err := db.IntakeOrder(ctx, keepHeld, nil); err != nil {
		t.Fatalf("dropping the unheld c-1: %v", err)
	}
	if err := db.ReleaseCertificate(ctx, "c-2", "certificate/c-2"); err != nil {
		t.Fatal(err)
	}
	keepHeld.Certificates = nil
	if _, err := db.IntakeOrder(ctx, keepHeld, nil); err != nil {
		t.Fatalf("dropping c-2 once released: %v", err)
	}
}

func hold(t *testing.T, db *store.DB, certID, holder string) {
	t.Helper()
	if got, err := db.HoldCertificate(context.Background(), certID, holder, ""); err != nil || got != holder {
		t.Fatalf("holding %s for %s: %q, %v", certID, holder, got, err)
	}
}

func saveRevoked(t *testing.T, db *store.DB, now, revoked time.Time) {
	t.Helper()
	issued := t0.Add(time.Hour)
	c := domain.Certificate{ID: "c-1", State: statemachine.Revoked, IssuedAt: &issued, RevokedAt: &revoked, ResubmitRejected: "ca"}
	if err := db.SaveCertificate(context.Background(), "o-1", c, now); err != nil {
		t.Fatal(err)
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// M-3 counts what the ledger paid out: paid payouts only, cash and gift
// card; a pending one belongs to a refund still running, a failed one
// moved nothing.
func TestRefundedAmount(t *testing.T) {
	ctx := context.Background()
	db, _ := openMem(t)
	o := sslOrder(t, "o-1")
	o.Payment.Cash, o.Payment.GiftCard = dec(t, "60.00"), dec(t, "20.00")
	put(t, db, o, sslOrder(t, "o-2"))
	want := func(what, amount string) {
		t.Helper()
		got, err := db.RefundedAmount(ctx, "o-1")
		if err != nil || !got.Equal(dec(t, amount)) {
			t.Fatalf("%s: RefundedAmount = %s, %v; want %s", what, got, err, amount)
		}
	}
	want("before any payout", "0")
	reserve(t, db, payout(t, "k-1", "30.00"))
	want("with a pending payout", "0")
	settle(t, db, "k-1", ports.Settlement{Status: ports.PayoutPaid, ProviderID: "re_1"})
	want("after a 30.00 payout", "30")
	reserve(t, db, payout(t, "k-2", "20.00"))
	settle(t, db, "k-2", ports.Settlement{Status: ports.PayoutFailed, Reason: "card cancelled"})
	want("after a failed payout", "30")
	gift := ports.PayoutRequest{IdempotencyKey: "k-3", OrderID: "o-1", Cash: usd(t, "5.50"), GiftCard: usd(t, "20.00"), Destination: domain.AccountBalance}
	reserve(t, db, gift)
	settle(t, db, "k-3", ports.Settlement{Status: ports.PayoutPaid, ProviderID: "re_3"})
	want("after a cash and gift card payout", "55.50")
	if got, err := db.RefundedAmount(ctx, "o-2"); err != nil || !got.IsZero() {
		t.Fatalf("another order's payouts counted: %s, %v", got, err)
	}
	_, err := db.RefundedAmount(ctx, "o-9")
	errstest.Want(t, err, errs.NotFound)
}

// A refund that judges again counts every paid payout of the order but
// its own (those its run reserved): RefundedByOthers.
func TestRefundedByOthers(t *testing.T) {
	ctx := context.Background()
	db, _ := openMem(t)
	put(t, db, sslOrder(t, "o-1"))
	mine := payout(t, "k-mine", "30.00")
	mine.RefundRun = "run-a"
	reserve(t, db, mine)
	settle(t, db, "k-mine", ports.Settlement{Status: ports.PayoutPaid, ProviderID: "re_1"})
	other := payout(t, "k-other", "20.00")
	other.RefundRun = "run-b"
	reserve(t, db, other)
	settle(t, db, "k-other", ports.Settlement{Status: ports.PayoutPaid, ProviderID: "re_2"})
	for run, want := range map[string]string{"run-a": "20", "run-b": "30", "run-c": "50", "": "50"} {
		got, err := db.RefundedByOthers(ctx, "o-1", run)
		if err != nil || !got.Equal(dec(t, want)) {
			t.Errorf("RefundedByOthers(%q) = %s, %v; want %s", run, got, err, want)
		}
	}
}

func TestRefundRecordReadModel(t *testing.T) {
	ctx := context.Background()
	db, clock := openMem(t)
	put(t, db, sslOrder(t, "o-1"))
	rec := ports.RefundRecord{OrderID: "o-1", State: string(statemachine.OrderCommitted), Outcome: "pending", Reasons: []string{},
		UpdatedAt: clock.Now(), Waiting: "revocation review of c-1", Escalated: true, RequestedBy: "console-backend"}
	if err := db.SaveRefund(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// An older write arriving late does not roll the record back.
	old := rec
	old.State, old.UpdatedAt = string(statemachine.OrderRefundRequested), clock.Now().Add(-1)
	if err := db.SaveRefund(ctx, old); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetRefund(ctx, "o-1")
	if err != nil || got.State != rec.State || got.Waiting != rec.Waiting || !got.Escalated || got.RequestedBy != "console-backend" {
		t.Fatalf("GetRefund = %+v, %v; want %+v", got, err, rec)
	}
	page, err := db.ListOrders(ctx, store.OrderFilter{RefundState: string(statemachine.OrderCommitted)})
	if err != nil || len(page.Orders) != 1 || page.Orders[0].Refund == nil || !page.Orders[0].Refund.Escalated {
		t.Fatalf("list by committed = %+v, %v", page, err)
	}
}

// The gateway's "requested" record never hides a running refund's state.
func TestRecordRefundRequested(t *testing.T) {
	ctx := context.Background()
	db, clock := openMem(t)
	put(t, db, sslOrder(t, "o-1"))
	if err := db.RecordRefundRequested(ctx, "o-1", domain.Actor{Subject: "console-backend"}, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetRefund(ctx, "o-1"); got.State != "refund_requested" || got.RequestedBy != "console-backend" {
		t.Fatalf("record = %+v", got)
	}
	running := ports.RefundRecord{OrderID: "o-1", State: "awaiting_approval", Outcome: "awaiting_approval", UpdatedAt: clock.Now().Add(time.Second)}
	if err := db.SaveRefund(ctx, running); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordRefundRequested(ctx, "o-1", domain.Actor{Subject: "console-backend"}, clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetRefund(ctx, "o-1"); got.State != "awaiting_approval" {
		t.Fatalf("a running refund's record was overwritten: %+v", got)
	}
	// After a cancelled refund, a new request's record replaces it.
	running.State, running.Outcome = "cancelled", "cancelled"
	if err := db.SaveRefund(ctx, running); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordRefundRequested(ctx, "o-1", domain.Actor{Subject: "alice"}, clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetRefund(ctx, "o-1"); got.State != "refund_requested" || got.RequestedBy != "alice" {
		t.Fatalf("after a cancelled refund: %+v", got)
	}
	errstest.Want(t, db.RecordRefundRequested(ctx, "o-9", domain.Actor{Subject: "x"}, clock.Now()), errs.NotFound)
}
