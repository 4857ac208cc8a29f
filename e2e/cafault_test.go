package e2e

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"

	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/caclient"
	"github.com/certflow/certflow/activities/payclient"
	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/gateway"
	"github.com/certflow/certflow/intake"
	"github.com/certflow/certflow/paysim"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/webhook"
	"github.com/certflow/certflow/workflows"
)

// faultOptions tune a faulty system.
type faultOptions struct {
	reviewDelay time.Duration
	retry       casim.Retry
	reviewPoll  time.Duration
}

// faulty is the whole system with two gateways and a CA simulator that a
// test stops and restarts on their addresses, the simulator over its own
// SQLite file.
type faulty struct {
	*system
	opts     faultOptions
	key      []byte
	handlers []http.Handler
	gwAddrs  []string
	caAddr   string
	caDB     string
	sim      *casim.Sim
	pay      *paysim.Sim
}

// moved counts the refunds of the order that moved money at the payment
// provider.
func (f *faulty) moved(orderID string) int {
	f.t.Helper()
	refs, err := f.pay.List(context.Background(), orderID)
	if err != nil {
		f.t.Fatal(err)
	}
	n := 0
	for _, r := range refs {
		if r.Status == paysim.StatusSucceeded {
			n++
		}
	}
	return n
}

func startFaulty(t *testing.T, opts faultOptions) *faulty {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv := startTemporal(t, ctx)
	f := &faulty{system: &system{t: t, temporal: srv.client, address: srv.address, namespace: srv.namespace}, opts: opts, caDB: filepath.Join(t.TempDir(), "casim.db")}
	dsn := storeDSN(t)
	f.db = openStore(t, ctx, dsn)
	reg, err := policy.LoadRegistry()
	if err != nil {
		t.Fatal(err)
	}
	pols := &activities.RegistryPolicies{Registry: reg}
	if f.key, err = webhook.ParseSecret(secret); err != nil {
		t.Fatal(err)
	}
	tokens, err := gateway.NewTokens("e2e-console:console:" + consoleToken)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		g, err := gateway.New(gateway.Config{Workflows: gateway.NewTemporal(f.temporal), Orders: openStore(t, ctx, dsn), Judge: gateway.PolicyJudge(pols),
			Validate: intake.Validator{Registry: reg}.Validate, Tokens: tokens, WebhookSecrets: [][]byte{f.key}, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		runIntake(t, g)
		f.handlers = append(f.handlers, g.Handler())
		f.gwAddrs = append(f.gwAddrs, freeAddr(t))
	}
	f.caAddr = freeAddr(t)
	f.startGateways()
	f.startCA()
	t.Cleanup(func() { f.stopGateways(); f.stopCA() })

	ca, err := caclient.New(caclient.Config{BaseURL: "http://" + f.caAddr, Token: caToken})
	if err != nil {
		t.Fatal(err)
	}
	if f.pay, err = paysim.New(ctx, paysim.Config{Token: caToken, DB: filepath.Join(t.TempDir(), "paysim.db")}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.pay.Close() })
	paySrv := httptest.NewServer(f.pay.Handler())
	t.Cleanup(paySrv.Close)
	payments, err := payclient.New(payclient.Config{BaseURL: paySrv.URL, Token: caToken})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		w := worker.New(f.temporal, workflows.TaskQueue, testenv.WorkerOptions())
		workflows.Register(w)
		workflows.RegisterActivities(w, activities.Deps{CA: ca, Payments: payments, Store: openStore(t, ctx, dsn), Policies: pols, ReviewPoll: opts.reviewPoll,
			PayPollInterval: 100 * time.Millisecond})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
	}
	return f
}

// freeAddr is 127.0.0.1 and a port of freePort's.
func freeAddr(t *testing.T) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	var err error
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln
		}
	}
	t.Fatalf("listening on %s again: %v", addr, err)
	return nil
}

// startGateways starts both gateways on their addresses.
func (f *faulty) startGateways() {
	f.gws = nil
	for i, addr := range f.gwAddrs {
		gw := &httptest.Server{Listener: listen(f.t, addr), Config: &http.Server{Handler: f.handlers[i]}}
		gw.Start()
		f.gws = append(f.gws, gw)
	}
	f.gw = f.gws[0]
}

// stopGateways stops both gateways: nothing answers the CA's callbacks.
func (f *faulty) stopGateways() {
	for _, gw := range f.gws {
		gw.Close()
	}
}

// callbackURLs are both gateways' callback URLs, the CA's CallbackURL.
func (f *faulty) callbackURLs() string {
	var urls []string
	for _, addr := range f.gwAddrs {
		urls = append(urls, "http://"+addr+"/v1/ca/callbacks")
	}
	return strings.Join(urls, ",")
}

func (f *faulty) startCA() {
	sim, err := casim.New(casim.Config{Token: caToken, CallbackURL: f.callbackURLs(), WebhookSecret: f.key,
		ReviewDelay: f.opts.reviewDelay, Retry: f.opts.retry, DBPath: f.caDB, Logger: zap.NewNop()})
	if err != nil {
		f.t.Fatal(err)
	}
	f.sim = sim
	f.ca = &httptest.Server{Listener: listen(f.t, f.caAddr), Config: &http.Server{Handler: sim.Handler()}}
	f.ca.Start()
}

func (f *faulty) stopCA() {
	f.ca.Close()
	f.sim.Close()
}

// revocation is what the CA simulator says of a certificate's review.
type revocation struct {
	ReviewID  string     `json:"review_id"`
	Status    string     `json:"status"`
	EventID   string     `json:"event_id"`
	DecidedAt *time.Time `json:"decided_at"`
}

func (f *faulty) waitCA(certID string, done func(revocation) bool) revocation {
	f.t.Helper()
	var v struct {
		Revocation revocation `json:"revocation"`
	}
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if f.call("GET", f.ca.URL+"/admin/certificates/"+certID, nil, &v) == 200 && done(v.Revocation) {
			return v.Revocation
		}
	}
	f.t.Fatalf("the CA simulator never got there for %s: %+v", certID, v.Revocation)
	return v.Revocation
}

func (f *faulty) requestRefund(orderID string) {
	f.t.Helper()
	req := map[string]any{"consent": true, "confirm_irreversible": true, "accept_late_review_risk": true}
	if code := f.call("POST", f.gw.URL+"/v1/orders/"+orderID+"/refund", req, nil); code != http.StatusAccepted {
		f.t.Fatalf("POST refund: %d", code)
	}
}

// The gateways are down while the CA decides the review, and the CA gives up
// on its callback: the refund learns the decision by asking the CA, is paid
// once, with the revocation completed at the CA's decision time (inside
// the window); a late redelivery of the callback changes nothing.
func TestLostCallbackStillPaidOnce(t *testing.T) {
	f := startFaulty(t, faultOptions{reviewDelay: 2 * time.Second, retry: casim.Retry{Initial: 100 * time.Millisecond, Max: 100 * time.Millisecond, Attempts: 3},
		reviewPoll: 2 * time.Second})
	f.putIssuedOrder("o-lost", "c-lost")
	f.requestRefund("o-lost")
	f.waitCA("c-lost", func(r revocation) bool { return r.ReviewID != "" })
	f.stopGateways() // down while the CA decides and retries

	rv := f.waitCA("c-lost", func(r revocation) bool { return r.Status == "approved" })
	time.Sleep(time.Second) // the three attempts (100ms apart) are spent
	st := f.waitRefundFromTemporal("o-lost")
	if st.Outcome != refund.OutcomeRefunded || st.Payout == nil || st.Payout.Cash != "80.00" {
		t.Fatalf("refund = %+v", st)
	}
	if n := f.moved("o-lost"); n != 1 {
		t.Fatalf("money moved %d times, want once", n)
	}
	asked := false
	for _, s := range st.Steps {
		asked = asked || s.Step == "ca result asked"
	}
	if !asked {
		t.Fatalf("the refund never asked the CA; steps %+v", st.Steps)
	}
	// The refund held the certificate: its status carries the
	// certificate's as the certificate's workflow would have.
	var cert certificate.Status
	for _, h := range st.Held {
		if h.ID == "c-lost" {
			cert = h
		}
	}
	var approved *certificate.Transition
	for i := range cert.Transitions {
		if cert.Transitions[i].Event == statemachine.RevocationApproved {
			approved = &cert.Transitions[i]
		}
	}
	if approved == nil || approved.EventID != rv.EventID || !approved.At.Equal(*rv.DecidedAt) {
		t.Fatalf("approval %+v, want event %s at the CA's decision %v", approved, rv.EventID, rv.DecidedAt)
	}
	if w := st.Decision.Window; w == nil || approved.At.After(w.End) {
		t.Fatalf("completed at %v, window %+v", approved.At, st.Decision.Window)
	}

	// The gateways are back and the CA sends the old callback once more: it
	// is acknowledged, and applied to nothing (already applied by event ID).
	f.startGateways()
	var resent struct {
		Delivered bool `json:"delivered"`
	}
	if code := f.call("POST", f.ca.URL+"/admin/callbacks/"+rv.EventID+"/resend", nil, &resent); code != 200 || !resent.Delivered {
		t.Fatalf("resend: %d %+v", code, resent)
	}
	if n := f.moved("o-lost"); n != 1 {
		t.Fatalf("money moved %d times after the redelivery, want once", n)
	}
}

// The CA simulator restarts while the review is open: the review is
// decided by the new run, its callback arrives, and the refund completes.
func TestCASimRestartWithOpenReview(t *testing.T) {
	f := startFaulty(t, faultOptions{reviewDelay: 3 * time.Second, reviewPoll: time.Hour})
	f.putIssuedOrder("o-restart", "c-restart")
	f.requestRefund("o-restart")
	before := f.waitCA("c-restart", func(r revocation) bool { return r.ReviewID != "" })
	if before.Status != "pending" {
		t.Fatalf("review %+v, want pending before the restart", before)
	}
	f.stopCA()
	time.Sleep(500 * time.Millisecond)
	f.startCA()

	after := f.waitCA("c-restart", func(r revocation) bool { return r.Status == "approved" })
	if after.ReviewID != before.ReviewID {
		t.Fatalf("review %s after the restart, want %s", after.ReviewID, before.ReviewID)
	}
	st := f.waitRefundFromTemporal("o-restart")
	if st.Outcome != refund.OutcomeRefunded {
		t.Fatalf("refund = %+v", st)
	}
	if n := f.moved("o-restart"); n != 1 {
		t.Fatalf("money moved %d times, want once", n)
	}
	// With an hourly poll, only the callback of the restarted CA can have
	// brought the result.
	for _, s := range st.Steps {
		if s.Step == "ca result asked" {
			t.Fatalf("the result came by poll, not by the resumed callback: %+v", st.Steps)
		}
	}
}

// waitRefundFromTemporal waits for the refund's end through Temporal (the
// gateway may be down).
func (f *faulty) waitRefundFromTemporal(orderID string) refund.Status {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var st refund.Status
	if err := f.temporal.GetWorkflow(ctx, refund.WorkflowID(orderID), "").Get(ctx, &st); err != nil {
		f.t.Fatalf("refund of %s: %v", orderID, err)
	}
	return st
}
