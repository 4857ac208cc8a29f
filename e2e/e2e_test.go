// Package e2e tests the whole system against a real Temporal dev server: the
// console API of the gateway, the worker with the store and its refund
// ledger, the payment simulator over HTTP, and the CA simulator posting
// signed callbacks over HTTP.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/caclient"
	"github.com/certflow/certflow/activities/payclient"
	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/gateway"
	"github.com/certflow/certflow/intake"
	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/paysim"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
	"github.com/certflow/certflow/webhook"
	"github.com/certflow/certflow/workflows"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

const (
	caToken = "e2e-ca-token"
	secret  = "whsec_ZTJlLXNlY3JldC1rZXktMDEyMzQ1Njc4OWFi"

	// The console API tokens: the console backend and two operators.
	consoleToken   = "e2e-console-token-0123456789"
	operatorToken  = "e2e-operator-token-0123456789"
	operator2Token = "e2e-operator2-token-0123456789"
)

type system struct {
	t        *testing.T
	temporal client.Client
	db       *store.DB
	// gws are the two gateways, each with its own store connection, as
	// two gateway processes behind a load balancer: calls to gw's URL go
	// to them in turn (callAs), and so do the CA's callbacks. gw is the
	// first.
	gws  []*httptest.Server
	gw   *httptest.Server
	next atomic.Uint64
	ca   *httptest.Server
	// acts are the activities a worker of the system registers.
	acts activities.Deps
	// address is the Temporal frontend (host:port), namespace the test's
	// namespace there (default on a dev server of its own).
	address   string
	namespace string
	// pay is the payment simulator (what the provider paid).
	pay *paysim.Sim
}

// start starts the whole system with two unversioned workers.
func start(t *testing.T) *system {
	t.Helper()
	s := startWithoutWorker(t)
	for range 2 {
		s.startWorker(testenv.WorkerOptions(), workflows.Register)
	}
	return s
}

// storeDSN is the test's certflow database: on the real server (make
// test-real-temporal) a PostgreSQL schema of its own, as in production;
// on the dev server a SQLite file.
func storeDSN(t *testing.T) string {
	t.Helper()
	if testenv.TemporalAddress() != "" {
		return postgresDSN(t)
	}
	return "sqlite:" + filepath.Join(t.TempDir(), "certflow.db")
}

// openStore opens the store at dsn until the test ends.
func openStore(t *testing.T, ctx context.Context, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// startWithoutWorker starts the dev server (with extraServerArgs), the
// store, the two gateways, the CA and the payment simulators; startWorker
// adds workers.
func startWithoutWorker(t *testing.T, extraServerArgs ...string) *system {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv := startTemporal(t, ctx, extraServerArgs...)
	s := &system{t: t, temporal: srv.client, address: srv.address, namespace: srv.namespace}

	dsn := storeDSN(t)
	s.db = openStore(t, ctx, dsn)
	var err error
	reg, err := policy.LoadRegistry()
	if err != nil {
		t.Fatal(err)
	}
	pols := &activities.RegistryPolicies{Registry: reg}
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}

	// The gateways' listeners come first: the CA posts callbacks to them.
	tokens, err := gateway.NewTokens("e2e-console:console:"+consoleToken, "e2e-operator:operator:"+operatorToken,
		"e2e-operator2:operator:"+gateway.HashToken(operator2Token))
	if err != nil {
		t.Fatal(err)
	}
	var callbacks []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		g, err := gateway.New(gateway.Config{Workflows: gateway.NewTemporal(s.temporal), Orders: openStore(t, ctx, dsn), Judge: gateway.PolicyJudge(pols),
			Validate: intake.Validator{Registry: reg}.Validate, Tokens: tokens, WebhookSecrets: [][]byte{key}, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		runIntake(t, g)
		gw := &httptest.Server{Listener: ln, Config: &http.Server{Handler: g.Handler()}}
		gw.Start()
		t.Cleanup(gw.Close)
		s.gws = append(s.gws, gw)
		callbacks = append(callbacks, gw.URL+"/v1/ca/callbacks")
	}
	s.gw = s.gws[0]

	sim, err := casim.New(casim.Config{Token: caToken, CallbackURL: strings.Join(callbacks, ","), WebhookSecret: key, ReviewDelay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	s.ca = httptest.NewServer(sim.Handler())
	t.Cleanup(s.ca.Close)
	ca, err := caclient.New(caclient.Config{BaseURL: s.ca.URL, Token: caToken})
	if err != nil {
		t.Fatal(err)
	}

	pay, err := paysim.New(ctx, paysim.Config{Token: caToken, DB: filepath.Join(t.TempDir(), "paysim.db"), SettleDelay: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pay.Close() })
	s.pay = pay
	paySrv := httptest.NewServer(pay.Handler())
	t.Cleanup(paySrv.Close)
	payments, err := payclient.New(payclient.Config{BaseURL: paySrv.URL, Token: caToken})
	if err != nil {
		t.Fatal(err)
	}

	s.acts = activities.Deps{CA: ca, Payments: payments, Store: s.db, Policies: pols, PayPollInterval: 100 * time.Millisecond,
		Runs: temporalx.WorkflowRuns{Client: s.temporal}}
	return s
}

// startWorker starts a worker of the system's activities with opts, its
// workflows registered by register; it stops when the test ends.
func (s *system) startWorker(opts worker.Options, register func(workflows.Registry)) worker.Worker {
	s.t.Helper()
	w := worker.New(s.temporal, workflows.TaskQueue, opts)
	register(w)
	workflows.RegisterActivities(w, s.acts)
	if err := w.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(w.Stop)
	return w
}

// putIssuedOrder registers an order with one issued certificate through
// PUT /v1/orders/{id}, as the console backend does.
func (s *system) putIssuedOrder(orderID, certID string) {
	s.t.Helper()
	paid := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	issued := paid.Add(time.Hour)
	o := domain.Order{ID: orderID, Product: domain.SSLCertificate, PaidAt: paid, Currency: "USD", Profile: "aliyun-intl", ValidityYears: 1,
		Price: decimal.RequireFromString("100.00"), Payment: domain.Payment{Cash: decimal.RequireFromString("80.00"), Voucher: decimal.RequireFromString("20.00")},
		Certificates: []domain.Certificate{{ID: certID, State: statemachine.Issued, IssuedAt: &issued}}}
	var v gateway.OrderView
	if code := s.callAs(consoleToken, "PUT", s.gw.URL+"/v1/orders/"+orderID, o, &v); code != http.StatusCreated || !v.Created {
		s.t.Fatalf("PUT order %s: %d %+v", orderID, code, v)
	}
}

// call sends a request with the console token (the CA simulator's token on
// its URLs).
func (s *system) call(method, url string, body any, out any) int {
	s.t.Helper()
	return s.callAs(consoleToken, method, url, body, out)
}

// callAs sends a request with a console API token ("" for none).
func (s *system) callAs(token, method, url string, body any, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	url = s.spread(url)
	req, _ := http.NewRequest(method, url, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case strings.HasPrefix(url, s.ca.URL):
		req.Header.Set("Authorization", "Bearer "+caToken)
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

// spread sends a call to the first gateway's URL to the gateways in turn,
// as a load balancer in front of them would.
func (s *system) spread(url string) string {
	if len(s.gws) < 2 || !strings.HasPrefix(url, s.gw.URL) {
		return url
	}
	next := s.gws[(s.next.Add(1)-1)%uint64(len(s.gws))]
	return next.URL + strings.TrimPrefix(url, s.gw.URL)
}

type refundView struct {
	Status refund.Status `json:"status"`
}

func (s *system) waitRefund(orderID string, want statemachine.OrderState) refund.Status {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var v refundView
	for time.Now().Before(deadline) {
		if s.call("GET", s.gw.URL+"/v1/orders/"+orderID+"/refund", nil, &v) == 200 && v.Status.State == want {
			return v.Status
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("refund of %s never reached %s; last status %+v", orderID, want, v.Status)
	return v.Status
}

func (s *system) waitVisible(query string) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := s.temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err == nil && len(resp.Executions) > 0 {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	s.t.Fatalf("no workflow matches %q", query)
}

// An issued certificate's refund, through the HTTP API: revoke at the CA
// simulator, its signed callback, delete, and payment of the cash part.
func TestRefundIssuedCertificateOverHTTP(t *testing.T) {
	s := start(t)
	s.putIssuedOrder("o-e2e", "c-e2e")

	var elig struct {
		Decision policy.Decision `json:"decision"`
	}
	// SSL-9: without the confirmations the console must ask for them.
	if code := s.call("GET", s.gw.URL+"/v1/orders/o-e2e/refund-eligibility", nil, &elig); code != 200 || elig.Decision.Eligible ||
		len(elig.Decision.MissingConfirmations) == 0 || elig.Decision.MissingConfirmations[0].Field != "confirm_irreversible" {
		t.Fatalf("eligibility without confirmations: %d %+v, want SSL-9 asking for confirm_irreversible", code, elig.Decision)
	}
	if code := s.call("GET", s.gw.URL+"/v1/orders/o-e2e/refund-eligibility?confirm_irreversible=true&accept_late_review_risk=true", nil, &elig); code != 200 || !elig.Decision.Eligible {
		t.Fatalf("eligibility with confirmations: %d %+v", code, elig.Decision)
	}
	// Without a token: 401, and nothing starts.
	if code := s.callAs("", "POST", s.gw.URL+"/v1/orders/o-e2e/refund", map[string]any{}, nil); code != http.StatusUnauthorized {
		t.Fatalf("POST refund without a token: %d, want 401", code)
	}
	// Without the confirmations the rules refuse the request at once: 422
	// with the rule IDs, and nothing is started, so it can be sent again.
	var refused gateway.Problem
	if code := s.call("POST", s.gw.URL+"/v1/orders/o-e2e/refund", map[string]any{}, &refused); code != http.StatusUnprocessableEntity ||
		!slices.Contains(refused.Rules, "SSL-9") {
		t.Fatalf("POST refund without confirmations: %d %+v, want 422 citing SSL-9", code, refused)
	}
	if _, err := s.temporal.DescribeWorkflowExecution(context.Background(), "refund/o-e2e", ""); err == nil {
		t.Fatal("a refused request started the refund workflow")
	}
	// Four concurrent requests: one workflow (and, below, one payment).
	req := map[string]any{"consent": true, "confirm_irreversible": true, "accept_late_review_risk": true}
	codes := make(chan int, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { codes <- s.call("POST", s.gw.URL+"/v1/orders/o-e2e/refund", req, nil) })
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusAccepted {
			t.Fatalf("concurrent POST refund: %d, want 202", code)
		}
	}
	// In flight, the operator's order list shows it (the read model
	// follows every state change), and intake refuses to change the order.
	s.waitListed("o-e2e", string(statemachine.OrderReleasing), string(statemachine.OrderCommitted))
	o, err := s.db.GetOrder(context.Background(), "o-e2e")
	if err != nil {
		t.Fatal(err)
	}
	if code := s.call("PUT", s.gw.URL+"/v1/orders/o-e2e", o, nil); code != http.StatusConflict {
		t.Fatalf("PUT while the refund runs: %d, want 409", code)
	}
	if code := s.callAs(consoleToken, "GET", s.gw.URL+"/v1/orders", nil, nil); code != http.StatusForbidden {
		t.Fatalf("order list with the console token: %d, want 403", code)
	}
	// The same request again joins the running refund.
	if code := s.call("POST", s.gw.URL+"/v1/orders/o-e2e/refund", req, nil); code != http.StatusAccepted {
		t.Fatalf("second POST refund: %d, want 202 (joins)", code)
	}

	// A forged callback is refused before anything reaches a workflow.
	forged := []byte(`{"event_id":"forged-1","type":"revocation_approved","certificate":"c-e2e","occurred_at":"2026-01-01T00:00:00Z"}`)
	fr, _ := http.NewRequest("POST", s.gw.URL+"/v1/ca/callbacks", bytes.NewReader(forged))
	fr.Header.Set("Content-Type", "application/json")
	for k, v := range webhook.Headers([]byte("not-the-secret"), "forged-1", time.Now(), forged) {
		fr.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(fr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged callback: %d, want 401", resp.StatusCode)
	}

	st := s.waitRefund("o-e2e", statemachine.OrderRefunded)
	if st.Payout == nil || st.Payout.Cash != "80.00" || st.Payout.Destination != domain.OriginalMethod {
		t.Fatalf("payout = %+v, want 80.00 to the original method (GEN-3)", st.Payout)
	}
	// The store's projection follows the workflow's state by one activity.
	var rec activities.RefundRecord
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if rec, err = s.db.GetRefund(context.Background(), "o-e2e"); err == nil {
			break
		}
	}
	if err != nil || rec.Outcome != "refunded" || rec.PaymentID == "" {
		t.Fatalf("store refund record = %+v, %v", rec, err)
	}
	if n, _ := s.db.QuotaReturned(context.Background(), "o-e2e"); n != 1 {
		t.Fatalf("SSL-7: quota returned %d, want 1", n)
	}
	s.waitVisible(`OrderId = "o-e2e" AND RefundStatus = "refunded"`)
	// The refund held the certificate and released it itself: no
	// certificate workflow ran; the store has its last state, unheld.
	if _, c, err := s.db.GetCertificate(context.Background(), "c-e2e"); err != nil || c.State != statemachine.Removed {
		t.Fatalf("store certificate c-e2e = %+v, %v; want removed", c, err)
	}
	if h, err := s.db.CertificateHolder(context.Background(), "c-e2e"); err != nil || h != "" {
		t.Fatalf("certificate c-e2e held by %q (%v) after its removal", h, err)
	}

	// Once paid, eligibility refuses it with M-3 and the amount, a new
	// request is 409, and the list shows it refunded.
	var elig2 struct {
		Decision        policy.Decision `json:"decision"`
		AlreadyRefunded string          `json:"already_refunded"`
	}
	if code := s.call("GET", s.gw.URL+"/v1/orders/o-e2e/refund-eligibility?consent=true&confirm_irreversible=true&accept_late_review_risk=true", nil, &elig2); code != 200 ||
		elig2.Decision.Eligible || !slices.Contains(elig2.Decision.Reasons(), "M-3") || elig2.AlreadyRefunded != "80.00" {
		t.Fatalf("eligibility once paid: %d %+v, want refused with M-3 and 80.00 refunded", code, elig2)
	}
	if code := s.call("POST", s.gw.URL+"/v1/orders/o-e2e/refund", req, nil); code != http.StatusConflict {
		t.Fatalf("POST refund once paid: %d, want 409", code)
	}
	runs, err := s.temporal.CountWorkflow(context.Background(), &workflowservice.CountWorkflowExecutionsRequest{Query: `WorkflowId = "refund/o-e2e"`})
	if err != nil || runs.GetCount() != 1 {
		t.Fatalf("refund runs of o-e2e: %d, %v; want exactly 1", runs.GetCount(), err)
	}
	s.waitListed("o-e2e", string(statemachine.OrderRefunded))
}

// waitListed waits until the operator's order list, filtered by one of
// states, shows the order.
func (s *system) waitListed(orderID string, states ...string) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, st := range states {
			var list gateway.OrderList
			if code := s.callAs(operatorToken, "GET", s.gw.URL+"/v1/orders?refund_state="+st, nil, &list); code != 200 {
				s.t.Fatalf("order list: %d", code)
			}
			for _, o := range list.Orders {
				if o.Order.ID == orderID && o.Refund != nil && string(o.Refund.State) == st {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("order %s never listed in state %v", orderID, states)
}

// The same signed callback delivered twice is acknowledged twice and
// applied once (a console revocation outside any refund).
func TestDuplicateCallbackAppliedOnce(t *testing.T) {
	s := start(t)
	s.putIssuedOrder("o-dup", "c-dup")
	// A revoke without its confirmation is refused with SSL-9 and leaves
	// no certificate workflow behind.
	var refused gateway.Problem
	if code := s.call("POST", s.gw.URL+"/v1/certificates/c-dup/actions/revoke", map[string]any{}, &refused); code != http.StatusUnprocessableEntity ||
		!slices.Equal(refused.Rules, []string{"SSL-9"}) {
		t.Fatalf("revoke without confirmation: %d %+v, want 422 [SSL-9]", code, refused)
	}
	if _, err := s.temporal.DescribeWorkflowExecution(context.Background(), "certificate/c-dup", ""); err == nil {
		t.Fatal("a refused certificate action left a workflow")
	}
	body := map[string]any{"confirm_irreversible": true}
	if code := s.call("POST", s.gw.URL+"/v1/certificates/c-dup/actions/revoke", body, nil); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	var inspect struct {
		Revocation struct {
			EventID string `json:"event_id"`
			Status  string `json:"status"`
		} `json:"revocation"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && inspect.Revocation.EventID == "" {
		time.Sleep(200 * time.Millisecond)
		s.call("GET", s.ca.URL+"/admin/certificates/c-dup", nil, &inspect)
	}
	if inspect.Revocation.EventID == "" {
		t.Fatal("the CA simulator never decided the review")
	}
	waitCert := func() certificate.Status {
		var v struct {
			Status certificate.Status `json:"status"`
		}
		for time.Now().Before(deadline) {
			s.call("GET", s.gw.URL+"/v1/certificates/c-dup", nil, &v)
			if v.Status.State == statemachine.Revoked {
				return v.Status
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("certificate never revoked: %+v", v.Status)
		return v.Status
	}
	waitCert()
	var resent struct {
		Delivered  bool `json:"delivered"`
		StatusCode int  `json:"status_code"`
	}
	if code := s.call("POST", s.ca.URL+"/admin/callbacks/"+inspect.Revocation.EventID+"/resend", nil, &resent); code != 200 || !resent.Delivered {
		t.Fatalf("resend: %d %+v, want the duplicate acknowledged", code, resent)
	}
	time.Sleep(time.Second) // let the duplicate reach the workflow
	st := waitCert()
	approvals := 0
	for _, tr := range st.Transitions {
		if tr.Event == statemachine.RevocationApproved {
			approvals++
		}
	}
	if approvals != 1 {
		t.Fatalf("revocation_approved applied %d times, want 1: %+v", approvals, st.Transitions)
	}
	// The quota goes back by an activity after the transition: wait for it.
	n := 0
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if n, _ = s.db.QuotaReturned(context.Background(), "o-dup"); n > 0 {
			break
		}
	}
	if n != 1 {
		t.Fatalf("SSL-7: quota returned %d, want 1", n)
	}
	s.waitVisible(fmt.Sprintf(`CertificateId = %q AND CertificateState = "revoked"`, "c-dup"))
}

// A GW-4 refund over HTTP: the operator's list shows it awaiting approval;
// cancelled before any irreversible step, it does not block a new request;
// the requesting operator cannot approve it (four eyes), a second one can.
func TestGatewayRefundFourEyesAndCancelThenRetry(t *testing.T) {
	s := start(t)
	paid := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	o := domain.Order{ID: "o-gw", Product: domain.HTTPSGateway, PaidAt: paid, Currency: "USD", Profile: "aliyun-intl",
		Price: decimal.RequireFromString("1.60"), Payment: domain.Payment{Cash: decimal.RequireFromString("1.60")},
		Usage: &domain.Usage{GRCQTotal: 300, GRCQConsumed: 60, DomainAdded: true}}
	if code := s.call("PUT", s.gw.URL+"/v1/orders/o-gw", o, nil); code != http.StatusCreated {
		t.Fatalf("PUT: %d", code)
	}
	if code := s.callAs(operatorToken, "POST", s.gw.URL+"/v1/orders/o-gw/refund", map[string]any{}, nil); code != http.StatusAccepted {
		t.Fatalf("POST refund: %d", code)
	}
	s.waitListed("o-gw", string(statemachine.OrderAwaitingApproval))
	var cancelled refundView
	if code := s.call("POST", s.gw.URL+"/v1/orders/o-gw/refund/cancel", map[string]any{"reason": "wrong order"}, &cancelled); code != 200 ||
		cancelled.Status.Outcome != refund.OutcomeCancelled {
		t.Fatalf("cancel: %d %+v", code, cancelled.Status)
	}
	s.waitListed("o-gw", string(statemachine.OrderCancelled))
	// Cancelled before any irreversible step: a new request starts a new run.
	if code := s.callAs(operatorToken, "POST", s.gw.URL+"/v1/orders/o-gw/refund", map[string]any{}, nil); code != http.StatusAccepted {
		t.Fatalf("POST refund after the cancel: %d, want 202", code)
	}
	s.waitListed("o-gw", string(statemachine.OrderAwaitingApproval))
	var refused gateway.Problem
	if code := s.callAs(operatorToken, "POST", s.gw.URL+"/v1/orders/o-gw/refund/approve", map[string]any{}, &refused); code != http.StatusForbidden ||
		!slices.Equal(refused.Rules, []string{"GW-4"}) {
		t.Fatalf("approval by the requester: %d %+v, want 403 [GW-4]", code, refused)
	}
	if code := s.callAs(operator2Token, "POST", s.gw.URL+"/v1/orders/o-gw/refund/approve", map[string]any{"note": "checked"}, nil); code != 200 {
		t.Fatalf("approval by a second operator: %d", code)
	}
	st := s.waitRefund("o-gw", statemachine.OrderRefunded)
	if st.Payout == nil || st.Payout.Cash != "1.28" {
		t.Fatalf("payout = %+v, want 1.28 (GW-4: 1.60 × 240/300)", st.Payout)
	}
}

// runIntake runs the sweeper of g's refund requests, as the gateway's
// main does (a POST's 202 comes before its workflow's start; the sweeper
// starts the requests whose start must be tried again), until the test
// ends; then it closes g's dispatcher.
func runIntake(t testing.TB, g *gateway.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Intake().Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		g.Close()
	})
}
