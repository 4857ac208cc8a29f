package payclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/payclient"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errstest"
	"github.com/certflow/certflow/internal/httpjson"
	"github.com/certflow/certflow/internal/tlsfiles/tlstest"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/paysim"
)

func usd(t *testing.T, s string) money.Amount {
	t.Helper()
	a, err := money.New(decimal.RequireFromString(s), money.Currency{Code: "USD", Places: 2})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newClient(t *testing.T, h http.Handler, token string) *payclient.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := payclient.New(payclient.Config{BaseURL: srv.URL, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAgainstPaysim(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	sim, err := paysim.New(ctx, paysim.Config{Token: "tok", DB: ":memory:", SettleDelay: time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	c := newClient(t, sim.Handler(), "tok")
	req := activities.PayoutRequest{IdempotencyKey: "refund/o-1", OrderID: "o-1", Cash: usd(t, "80.00"), Destination: domain.OriginalMethod}

	first, err := c.Refund(ctx, req)
	if err != nil || first.Status != activities.RefundPending || first.ID != paysim.RefundID("refund/o-1") {
		t.Fatalf("create = %+v, %v; want pending", first, err)
	}
	t.Run("the same key again is the same refund", func(t *testing.T) {
		again, err := c.Refund(ctx, req)
		if err != nil || again.ID != first.ID {
			t.Fatalf("replay = %+v, %v", again, err)
		}
	})
	t.Run("the same key for another amount is a conflict", func(t *testing.T) {
		other := req
		other.Cash = usd(t, "79.99")
		_, err := c.Refund(ctx, other)
		errstest.Want(t, err, errs.Conflict, "was used for another refund request")
	})
	t.Run("a malformed request is invalid", func(t *testing.T) {
		bad := req
		bad.IdempotencyKey, bad.Destination = "refund/o-bad", "pocket"
		_, err := c.Refund(ctx, bad)
		errstest.Want(t, err, errs.Invalid, `destination "pocket"`)
	})
	t.Run("lookup by key settles when due", func(t *testing.T) {
		got, found, err := c.Lookup(ctx, "refund/o-1")
		if err != nil || !found || got.Status != activities.RefundPending {
			t.Fatalf("lookup = %+v, %v, %v; want pending", got, found, err)
		}
		now = now.Add(time.Second)
		got, found, err = c.Lookup(ctx, "refund/o-1")
		if err != nil || !found || got.Status != activities.RefundSucceeded {
			t.Fatalf("lookup = %+v, %v, %v; want succeeded", got, found, err)
		}
	})
	t.Run("GEN-4 a failing original method fails when it settles", func(t *testing.T) {
		sim.FailOriginalMethod("o-2", true)
		r := req
		r.IdempotencyKey, r.OrderID = "refund/o-2", "o-2"
		if got, err := c.Refund(ctx, r); err != nil || got.Status != activities.RefundPending {
			t.Fatalf("create = %+v, %v", got, err)
		}
		now = now.Add(time.Second)
		got, _, err := c.Lookup(ctx, "refund/o-2")
		if err != nil || got.Status != activities.RefundFailed || got.FailureReason == "" {
			t.Fatalf("lookup = %+v, %v; want failed with a reason", got, err)
		}
	})
	t.Run("an unknown key is not found", func(t *testing.T) {
		if _, found, err := c.Lookup(ctx, "refund/o-9"); found || err != nil {
			t.Fatalf("lookup = %v, %v; want not found", found, err)
		}
	})
	t.Run("a wrong token is not retryable as unavailable", func(t *testing.T) {
		bad := newClient(t, sim.Handler(), "wrong")
		_, err := bad.Refund(ctx, req)
		errstest.Want(t, err, errs.Internal, "a valid bearer token is required")
	})
}

func TestProviderAnswers(t *testing.T) {
	tests := map[string]struct {
		status int
		body   string
		code   errs.Code
		want   string
	}{
		"unknown status is never paid": {200, `{"id":"re_1","status":"processing"}`, errs.Internal, `unknown refund status "processing"`},
		"no ID":                        {200, `{"status":"succeeded"}`, errs.Internal, "the refund has no ID"},
		"server error is retryable":    {503, `{"error":{"code":"down","message":"maintenance"}}`, errs.Unavailable, "maintenance"},
		"rate limit is retryable":      {429, ``, errs.Unavailable, "answered 429"},
		"garbage":                      {200, `<html>`, errs.Internal, "undecodable answer"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Idempotency-Key") != "k" {
					t.Errorf("Idempotency-Key = %q", r.Header.Get("Idempotency-Key"))
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}), "tok")
			_, err := c.Refund(context.Background(), activities.PayoutRequest{IdempotencyKey: "k", OrderID: "o", Cash: usd(t, "1.00"), Destination: domain.OriginalMethod})
			errstest.Want(t, err, tc.code, tc.want)
		})
	}
}

// The provider over https with a certificate of a private CA: refused
// without its bundle (retryable, never paid blind), paid with it.
func TestHTTPSWithCABundle(t *testing.T) {
	ctx := context.Background()
	sim, err := paysim.New(ctx, paysim.Config{Token: "tok", DB: ":memory:"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ca := tlstest.NewCA(t, "provider CA")
	srv := ca.Serve(t, sim.Handler())
	req := activities.PayoutRequest{IdempotencyKey: "refund/o-tls", OrderID: "o-tls", Cash: usd(t, "10.00"), Destination: domain.OriginalMethod}

	untrusting, err := payclient.New(payclient.Config{BaseURL: srv.URL, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = untrusting.Refund(ctx, req)
	errstest.Want(t, err, errs.Unavailable, "unreachable")
	if refs, _ := sim.List(ctx, "o-tls"); len(refs) != 0 {
		t.Fatalf("the provider got %d refunds through a connection the client refused", len(refs))
	}
	tr, err := httpjson.Transport(ca.WriteCA(t, t.TempDir(), "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	trusting, err := payclient.New(payclient.Config{BaseURL: srv.URL, Token: "tok", HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := trusting.Refund(ctx, req); err != nil || got.ID == "" {
		t.Fatalf("with the bundle: %+v, %v", got, err)
	}
}
