package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errstest"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
)

// SaveRecords is one workflow task's writes in one transaction.
func TestSaveRecords(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 3, 4, 9, 0, 0, 0, shanghai)
	revoked := cert("c-1", statemachine.Revoked)
	revoked.RevokedAt, revoked.QuotaReturned = &at, true
	refund := &ports.RefundRecord{OrderID: "o-1", State: "releasing", UpdatedAt: at}
	tests := map[string]struct {
		recs ports.Records
		// code is the error's, "" for none; then nothing of recs is written.
		code         errs.Code
		wantState    statemachine.CertState
		wantQuota    int
		wantRule     string
		wantRefunded bool
	}{
		"VAS-3 the quota return, the certificate with its quota returned and the refund record, together": {
			recs: ports.Records{OrderID: "o-1", QuotaReturns: []ports.QuotaReturn{{CertificateID: "c-1", Rule: "VAS-3", At: at}},
				Certificates: []ports.CertificateRecord{{Certificate: revoked, At: at}}, Refund: refund},
			wantState: statemachine.Revoked, wantQuota: 1, wantRule: "VAS-3", wantRefunded: true,
		},
		"a certificate alone": {
			recs:      ports.Records{OrderID: "o-1", Certificates: []ports.CertificateRecord{{Certificate: cert("c-1", statemachine.ValidatingRevocation), At: at}}},
			wantState: statemachine.ValidatingRevocation,
		},
		"nothing to write": {
			recs: ports.Records{OrderID: "o-1"}, wantState: statemachine.Issued,
		},
		"a certificate of another order rolls the quota return and the refund back": {
			recs: ports.Records{OrderID: "o-1", QuotaReturns: []ports.QuotaReturn{{CertificateID: "c-1", Rule: "VAS-3", At: at}},
				Certificates: []ports.CertificateRecord{{Certificate: cert("c-2", statemachine.Revoked), At: at}}, Refund: refund},
			code: errs.Conflict, wantState: statemachine.Issued,
		},
		"a quota return without its rule is refused before anything is written": {
			recs: ports.Records{OrderID: "o-1", QuotaReturns: []ports.QuotaReturn{{CertificateID: "c-1", At: at}}, Refund: refund},
			code: errs.Invalid, wantState: statemachine.Issued,
		},
		"a refund record of another order is refused": {
			recs: ports.Records{OrderID: "o-1", Refund: &ports.RefundRecord{OrderID: "o-2", State: "releasing", UpdatedAt: at}},
			code: errs.Invalid, wantState: statemachine.Issued,
		},
		"no order": {
			recs: ports.Records{Refund: refund}, code: errs.Invalid, wantState: statemachine.Issued,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db, _ := openMem(t)
			put(t, db, sslOrder(t, "o-1", cert("c-1", statemachine.Issued)), sslOrder(t, "o-2", cert("c-2", statemachine.Issued)))
			err := db.SaveRecords(ctx, tc.recs)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("SaveRecords: %v", err)
				}
			} else {
				errstest.Want(t, err, tc.code)
			}
			if _, c, err := db.GetCertificate(ctx, "c-1"); err != nil || c.State != tc.wantState {
				t.Errorf("c-1 = %s (%v), want %s", c.State, err, tc.wantState)
			}
			if n, err := db.QuotaReturned(ctx, "o-1"); err != nil || n != tc.wantQuota {
				t.Errorf("quota returned = %d (%v), want %d", n, err, tc.wantQuota)
			}
			if rule, err := store.QuotaReturnRule(ctx, db, "c-1"); err != nil || rule != tc.wantRule {
				t.Errorf("quota ledger rule = %q (%v), want %q", rule, err, tc.wantRule)
			}
			_, err = db.GetRefund(ctx, "o-1")
			if got := err == nil; got != tc.wantRefunded {
				t.Errorf("refund record written = %v (%v), want %v", got, err, tc.wantRefunded)
			}
		})
	}
}
