package activities_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// holdEnv is the store on SQLite with order o-1 (certificates c-1, c-2)
// and the hold activities over it, run through Temporal's activity test
// environment (inputs and results cross its data converter).
type holdEnv struct {
	db  *store.DB
	env *testsuite.TestActivityEnvironment
	a   *certificate.Activities
	r   *refund.Activities
}

func newHoldEnv(t *testing.T) *holdEnv {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.PutOrder(ctx, domain.Order{ID: "o-1", Profile: "aliyun-intl", Product: domain.SSLCertificate,
		PaidAt: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), Currency: "USD", Price: decimal.RequireFromString("100.00"),
		ValidityYears: 2, Payment: domain.Payment{Cash: decimal.RequireFromString("100.00")},
		Certificates: []domain.Certificate{{ID: "c-1", State: statemachine.Issued}, {ID: "c-2", State: statemachine.PendingSubmission}}}); err != nil {
		t.Fatal(err)
	}
	var s testsuite.WorkflowTestSuite
	e := &holdEnv{db: db, env: s.NewTestActivityEnvironment(), a: &certificate.Activities{Deps: activities.Deps{Store: db}}, r: &refund.Activities{Deps: activities.Deps{Store: db}}}
	e.env.RegisterActivity(e.a)
	e.env.RegisterActivity(e.r)
	return e
}

func (e *holdEnv) hold(t *testing.T, in certificate.HoldInput) (map[string]string, error) {
	t.Helper()
	v, err := e.env.ExecuteActivity(e.a.HoldCertificates, in)
	if err != nil {
		return nil, err
	}
	var out map[string]string
	if err := v.Get(&out); err != nil {
		t.Fatal(err)
	}
	return out, nil
}

func (e *holdEnv) release(t *testing.T, in refund.ReleaseInput) error {
	t.Helper()
	_, err := e.env.ExecuteActivity(e.r.ReleaseCertificates, in)
	return err
}

func (e *holdEnv) holders(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, id := range []string{"c-1", "c-2"} {
		h, err := e.db.CertificateHolder(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		out[id] = h
	}
	return out
}

func TestHoldCertificates(t *testing.T) {
	const refundID, cert1 = "refund/o-1", "certificate/c-1"
	e := newHoldEnv(t)
	// c-1's own workflow holds it; the refund takes c-2 and is told c-1's holder.
	if _, err := e.db.HoldCertificate(context.Background(), "c-1", cert1, ""); err != nil {
		t.Fatal(err)
	}
	got, err := e.hold(t, certificate.HoldInput{Holder: refundID, Certificates: []string{"c-1", "c-2"}})
	if want := map[string]string{"c-1": cert1, "c-2": refundID}; err != nil || !maps.Equal(got, want) {
		t.Fatalf("HoldCertificates = %v, %v; want %v", got, err, want)
	}
	// Taking c-1 over from its workflow (a hand-over); again is the same.
	for range 2 {
		got, err = e.hold(t, certificate.HoldInput{Holder: refundID, From: cert1, Certificates: []string{"c-1", "c-2"}})
		if want := map[string]string{"c-1": refundID, "c-2": refundID}; err != nil || !maps.Equal(got, want) {
			t.Fatalf("hand-over = %v, %v; want %v", got, err, want)
		}
	}
	// Releasing c-1 by another leaves it; by the refund frees it, twice harmlessly.
	if err := e.release(t, refund.ReleaseInput{Holder: cert1, Certificates: []string{"c-1"}}); err != nil {
		t.Fatal(err)
	}
	if h := e.holders(t); h["c-1"] != refundID {
		t.Fatalf("after a release by another: %v", h)
	}
	for range 2 {
		if err := e.release(t, refund.ReleaseInput{Holder: refundID, Certificates: []string{"c-1", "c-2"}}); err != nil {
			t.Fatal(err)
		}
	}
	if h := e.holders(t); h["c-1"] != "" || h["c-2"] != "" {
		t.Fatalf("after the refund's release: %v", h)
	}
	// Nothing to hold is an empty answer.
	if got, err := e.hold(t, certificate.HoldInput{Holder: refundID}); err != nil || len(got) != 0 {
		t.Fatalf("holding nothing = %v, %v", got, err)
	}
}

// The store's refusals reach the workflow as final application errors
// typed by their code.
func TestHoldCertificatesErrors(t *testing.T) {
	tests := map[string]struct {
		run  func(t *testing.T, e *holdEnv) error
		code errs.Code
	}{
		"hold of an unknown certificate": {
			run: func(t *testing.T, e *holdEnv) error {
				_, err := e.hold(t, certificate.HoldInput{Holder: "refund/o-1", Certificates: []string{"c-1", "c-9"}})
				return err
			},
			code: errs.NotFound,
		},
		"hold without a holder": {
			run: func(t *testing.T, e *holdEnv) error {
				_, err := e.hold(t, certificate.HoldInput{Certificates: []string{"c-1"}})
				return err
			},
			code: errs.Invalid,
		},
		"release of an unknown certificate": {
			run: func(t *testing.T, e *holdEnv) error {
				return e.release(t, refund.ReleaseInput{Holder: "refund/o-1", Certificates: []string{"c-9"}})
			},
			code: errs.NotFound,
		},
		"release without a holder": {
			run: func(t *testing.T, e *holdEnv) error {
				return e.release(t, refund.ReleaseInput{Certificates: []string{"c-1"}})
			},
			code: errs.Invalid,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.run(t, newHoldEnv(t))
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || errtemporal.CodeOf(err) != tc.code || !appErr.NonRetryable() {
				t.Fatalf("error = %v, want a non-retryable %s", err, tc.code)
			}
		})
	}
}
