package caclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/errs/errstest"

	"go.uber.org/zap/zaptest"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/caclient"
	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpjson"
	"github.com/certflow/certflow/internal/tlsfiles/tlstest"
	"github.com/certflow/certflow/statemachine"
)

const (
	token       = "test-token"
	reviewDelay = 5 * time.Second
)

var start = time.Date(2026, 3, 6, 2, 0, 0, 0, time.UTC)

// simCA is a casim on a fake clock behind httptest.
type simCA struct {
	clock *casim.FakeClock
	srv   *httptest.Server
}

func newSimCA(t *testing.T, behaviours map[string]casim.Behaviour) *simCA {
	t.Helper()
	clock := casim.NewFakeClock(start)
	sim, err := casim.New(casim.Config{
		Token:       token,
		ReviewDelay: reviewDelay,
		Behaviours:  behaviours,
		Clock:       clock,
		Logger:      zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); sim.Close() })
	return &simCA{clock: clock, srv: srv}
}

func newClient(t *testing.T, baseURL, tok string, hc *http.Client) *caclient.Client {
	t.Helper()
	c, err := caclient.New(caclient.Config{BaseURL: baseURL, Token: tok, HTTPClient: hc, MaxResponseBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stub serves one canned answer.
func stub(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestActAccepted(t *testing.T) {
	ca := newSimCA(t, nil)
	c := newClient(t, ca.srv.URL, token, nil)
	ctx := context.Background()
	for _, a := range []statemachine.CertEvent{
		statemachine.Submit, statemachine.Withdraw, statemachine.Resubmit,
		statemachine.Activate, statemachine.Cancel, statemachine.Delete,
	} {
		for range 2 { // idempotent: a retried activity succeeds again
			if err := c.Act(ctx, "c1", a); err != nil {
				t.Fatalf("%s: %v", a, err)
			}
		}
	}
}

func TestSSL6ResubmissionRejectedCarriesReason(t *testing.T) {
	ca := newSimCA(t, map[string]casim.Behaviour{"c1": {ResubmitRejected: "missing contact ID number"}})
	c := newClient(t, ca.srv.URL, token, nil)
	err := c.Act(context.Background(), "c1", statemachine.Resubmit)
	errstest.Want(t, err, errs.Invalid)
	if got := errs.MessageOf(err); got != "missing contact ID number" {
		t.Fatalf("message %q, want the CA's reason", got)
	}
	if !slices.Equal(errs.RulesOf(err), []string{"SSL-6"}) {
		t.Fatalf("rules %v, want [SSL-6]", errs.RulesOf(err))
	}
	var apiErr *caclient.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != caclient.CodeResubmissionRejected || apiErr.Status != http.StatusConflict {
		t.Fatalf("APIError %+v", apiErr)
	}
}

func TestErrorMappingAgainstSim(t *testing.T) {
	ca := newSimCA(t, nil)
	good := newClient(t, ca.srv.URL, token, nil)
	ctx := context.Background()
	if err := good.Act(ctx, "removed", statemachine.Cancel); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		call func(c *caclient.Client) error
		tok  string
		code errs.Code
	}{
		"401 is a misconfiguration": {
			call: func(c *caclient.Client) error {
				err := c.Act(ctx, "c1", statemachine.Submit)
				if !errors.Is(err, activities.ErrCARefusedCredentials) {
					return fmt.Errorf("%w does not wrap ErrCARefusedCredentials", err)
				}
				return err
			},
			tok: "wrong", code: errs.Misconfigured,
		},
		"409 on a removed certificate is a conflict": {
			call: func(c *caclient.Client) error { return c.Act(ctx, "removed", statemachine.Submit) },
			code: errs.Conflict,
		},
		"revoking a removed certificate is a conflict": {
			call: func(c *caclient.Client) error { _, err := c.Revoke(ctx, "removed", "refund"); return err },
			code: errs.Conflict,
		},
		"404 when there is no revocation": {
			call: func(c *caclient.Client) error { _, err := c.RevocationStatus(ctx, "c9"); return err },
			code: errs.NotFound,
		},
		"400 for a product that cannot be reset": {
			call: func(c *caclient.Client) error { return c.Reset(ctx, "o1", domain.SSLCertificate) },
			code: errs.Invalid,
		},
		"revoke is not an action": {
			call: func(c *caclient.Client) error { return c.Act(ctx, "c1", statemachine.Revoke) },
			code: errs.Invalid,
		},
		"empty certificate ID": {
			call: func(c *caclient.Client) error { return c.Act(ctx, "", statemachine.Submit) },
			code: errs.Invalid,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tok := token
			if tc.tok != "" {
				tok = tc.tok
			}
			errstest.Want(t, tc.call(newClient(t, ca.srv.URL, tok, nil)), tc.code)
		})
	}
}

func TestErrorMappingOfTransport(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := map[string]struct {
		url  func(t *testing.T) string
		code errs.Code
	}{
		"503 is retryable": {
			url: func(t *testing.T) string {
				return stub(t, 503, `{"error":{"code":"overloaded","message":"try later"}}`).URL
			},
			code: errs.Unavailable,
		},
		"500 without a body is retryable": {url: func(t *testing.T) string { return stub(t, 500, "").URL }, code: errs.Unavailable},
		"429 is retryable":                {url: func(t *testing.T) string { return stub(t, 429, "").URL }, code: errs.Unavailable},
		"connection refused is retryable": {url: func(*testing.T) string { return closed.URL }, code: errs.Unavailable},
		"a redirect is not followed":      {url: func(t *testing.T) string { return stub(t, 307, "").URL }, code: errs.Internal},
		"an unexpected 4xx is internal":   {url: func(t *testing.T) string { return stub(t, 418, "").URL }, code: errs.Internal},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, tc.url(t), token, nil)
			_, err := c.Revoke(context.Background(), "c1", "refund")
			errstest.Want(t, err, tc.code)
		})
	}
}

func TestTimeoutIsUnavailable(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	c := newClient(t, srv.URL, token, &http.Client{Timeout: 50 * time.Millisecond})
	errstest.Want(t, c.Act(context.Background(), "c1", statemachine.Submit), errs.Unavailable)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := newClient(t, srv.URL, token, nil).Act(ctx, "c1", statemachine.Submit)
	errstest.Want(t, err, errs.Unavailable)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v does not wrap the deadline", err)
	}
}

func TestRevocationStatus(t *testing.T) {
	tests := map[string]struct {
		behaviour casim.Behaviour
		result    statemachine.CertEvent
		reason    string
	}{
		"approved": {result: statemachine.RevocationApproved, reason: "refund"},
		"rejected": {
			behaviour: casim.Behaviour{Revocation: casim.RevocationReject, RejectionReason: "domain still in use"},
			result:    statemachine.RevocationRejected, reason: "domain still in use",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ca := newSimCA(t, map[string]casim.Behaviour{"c1": tc.behaviour})
			c := newClient(t, ca.srv.URL, token, nil)
			ctx := context.Background()
			var review activities.ReviewReceipt
			for range 2 {
				rec, err := c.Revoke(ctx, "c1", "refund")
				if err != nil {
					t.Fatal(err)
				}
				if review.ReviewID != "" && rec.ReviewID != review.ReviewID {
					t.Fatalf("a repeated revoke opened review %q, want the same %q", rec.ReviewID, review.ReviewID)
				}
				review = rec
			}
			if review.ReviewID == "" || !review.SubmittedAt.Equal(start) {
				t.Fatalf("revoke receipt %+v, want a review ID submitted at %v", review, start)
			}
			rs, err := c.RevocationStatus(ctx, "c1")
			if err != nil || rs.Result != "" || rs.ReviewID != review.ReviewID || !rs.SubmittedAt.Equal(start) {
				t.Fatalf("pending review: %+v, %v", rs, err)
			}

			bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := ca.clock.BlockUntil(bctx, 1); err != nil {
				t.Fatal(err)
			}
			ca.clock.Advance(reviewDelay)
			for rs.Result == "" {
				if bctx.Err() != nil {
					t.Fatal("review never decided")
				}
				time.Sleep(time.Millisecond)
				if rs, err = c.RevocationStatus(ctx, "c1"); err != nil {
					t.Fatal(err)
				}
			}
			if rs.Result != tc.result || rs.Reason != tc.reason || rs.EventID == "" || rs.ReviewID != review.ReviewID || !rs.At.Equal(start.Add(reviewDelay)) {
				t.Fatalf("status %+v, want %s %q at %v", rs, tc.result, tc.reason, start.Add(reviewDelay))
			}
		})
	}
}

func TestRevocationStatusAnswers(t *testing.T) {
	tests := map[string]struct {
		status int
		body   string
		want   activities.ReviewStatus
		code   errs.Code
	}{
		"unknown fields are tolerated": {
			status: 200,
			body:   `{"status":"approved","event_id":"evt_1","reason":"refund","decided_at":"2026-03-06T02:00:05Z","review_id":"r","future":{"x":[1]}}`,
			want:   activities.ReviewStatus{ReviewID: "r", Result: statemachine.RevocationApproved, EventID: "evt_1", Reason: "refund", At: start.Add(reviewDelay)},
		},
		"an unknown review status is not guessed": {status: 200, body: `{"status":"escalated"}`, code: errs.Internal},
		"an undecodable answer":                   {status: 200, body: `{"status":`, code: errs.Internal},
		"an oversized answer":                     {status: 200, body: `{"status":"pending","pad":"` + strings.Repeat("x", 2048) + `"}`, code: errs.Internal},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, stub(t, tc.status, tc.body).URL, token, nil)
			rs, err := c.RevocationStatus(context.Background(), "c1")
			if tc.code != "" {
				errstest.Want(t, err, tc.code)
				return
			}
			if err != nil || rs != tc.want {
				t.Fatalf("got %+v, %v; want %+v", rs, err, tc.want)
			}
		})
	}
}

func TestRequests(t *testing.T) {
	type seen struct{ method, path, auth, key, body string }
	var (
		mu   sync.Mutex
		reqs []seen
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, seen{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), string(body)})
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"status":"accepted","review_id":"r"}`)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL+"/ca/", token, nil)
	ctx := context.Background()
	if err := c.Act(ctx, "a/b", statemachine.Withdraw); err != nil {
		t.Fatal(err)
	}
	if rec, err := c.Revoke(ctx, "c1", "refund"); err != nil || rec.ReviewID != "r" {
		t.Fatalf("revoke: %+v, %v", rec, err)
	}
	if err := c.Reset(ctx, "o1", domain.PrivateCA); err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{"POST", "/ca/v1/certificates/a%2Fb/actions/withdraw", "Bearer " + token, "cert/a%2Fb/withdraw", ""},
		{"POST", "/ca/v1/certificates/c1/revocations", "Bearer " + token, "cert/c1/revoke", `{"reason":"refund"}`},
		{"POST", "/ca/v1/orders/o1/reset", "Bearer " + token, "order/o1/reset/private_ca", `{"product":"private_ca"}`},
	}
	if !slices.Equal(reqs, want) {
		t.Fatalf("requests\n%+v\nwant\n%+v", reqs, want)
	}
}

func TestResetAgainstSim(t *testing.T) {
	ca := newSimCA(t, nil)
	c := newClient(t, ca.srv.URL, token, nil)
	for _, p := range []domain.Product{domain.HTTPSGateway, domain.PrivateCA} {
		for range 2 {
			if err := c.Reset(context.Background(), "o1", p); err != nil {
				t.Fatalf("GW-3/PCA-3 reset of %s: %v", p, err)
			}
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	tests := map[string]caclient.Config{
		"no token":          {BaseURL: "http://localhost:1"},
		"relative base URL": {BaseURL: "/ca", Token: "t"},
		"no scheme":         {BaseURL: "localhost:8090", Token: "t"},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := caclient.New(cfg)
			errstest.Want(t, err, errs.Invalid)
		})
	}
}

// The CA over https with a certificate of a private CA: refused without
// its bundle, reached with it.
func TestHTTPSWithCABundle(t *testing.T) {
	sim, err := casim.New(casim.Config{Token: token, ReviewDelay: reviewDelay, Clock: casim.NewFakeClock(start), Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	ca := tlstest.NewCA(t, "CA's CA")
	srv := ca.Serve(t, sim.Handler())
	err = newClient(t, srv.URL, token, nil).Act(context.Background(), "c1", statemachine.Submit)
	errstest.Want(t, err, errs.Unavailable, "unreachable")
	if !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("error %q does not say why", err)
	}
	tr, err := httpjson.Transport(ca.WriteCA(t, t.TempDir(), "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := newClient(t, srv.URL, token, &http.Client{Transport: tr}).Act(context.Background(), "c1", statemachine.Submit); err != nil {
		t.Errorf("with the bundle: %v", err)
	}
}
