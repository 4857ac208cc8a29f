package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/internal/tlsfiles/tlstest"
	"github.com/certflow/certflow/paysim"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
	"github.com/certflow/certflow/webhook"
	"github.com/certflow/certflow/workflows"
	"github.com/certflow/certflow/workflows/refund"
)

// terminate sends the process SIGTERM and waits up to within for it to
// exit; it returns the exit code (-1 when it had to be killed) and how long
// the exit took.
func (p *proc) terminate(within time.Duration) (code int, took time.Duration) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Errorf("SIGTERM %s: %v", p.name, err)
	}
	select {
	case <-exited:
		return cmd.ProcessState.ExitCode(), time.Since(start)
	case <-time.After(within):
		p.t.Errorf("%s did not exit within %s of SIGTERM; killing it", p.name, within)
		p.kill()
		return -1, time.Since(start)
	}
}

// The graceful-shutdown test: the gateway and the worker as real
// processes (built from ./cmd/gateway and ./worker) on a dev server, one
// SQLite store, the CA and payment simulators served over HTTPS by a
// private CA the worker trusts through CERTFLOW_CA_TLS_CA_FILE and
// CERTFLOW_PAY_TLS_CA_FILE. 50 refunds are requested; in the middle both
// processes get SIGTERM: each exits 0 within its bound (the gateway drains:
// 503 to new requests, requests in flight answered; the worker stops
// polling and lets running activities finish), both start again, and every
// refund completes, paid exactly once (the ledger and the provider).
func TestGracefulShutdownLosesNothing(t *testing.T) {
	temporalBin := testenv.TemporalBin(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	workerBin, gatewayBin, _ := buildBinaries(t, dir)

	var extra []string
	for _, sa := range workflows.SearchAttributeTypes {
		extra = append(extra, "--search-attribute", sa)
	}
	quiet := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{ExistingPath: temporalBin, ExtraArgs: extra, LogLevel: "error",
		ClientOptions: &client.Options{Logger: quiet}, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatalf("dev server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })

	dsn := "sqlite:" + filepath.Join(dir, "certflow.db")
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	gwAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	metricsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))

	// The simulators over HTTPS, their certificates signed by a CA only
	// the worker's bundle files name.
	private := tlstest.NewCA(t, "simulators' CA")
	bundle := private.WriteCA(t, dir, "simulators-ca.pem")
	ca, err := casim.New(casim.Config{Token: caToken, CallbackURL: "http://" + gwAddr + "/v1/ca/callbacks", WebhookSecret: key,
		ReviewDelay: 2 * time.Second, Retry: casim.Retry{Initial: 300 * time.Millisecond, Max: 2 * time.Second, Attempts: 200}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ca.Close)
	caSrv := private.Serve(t, ca.Handler())
	pay, err := paysim.New(ctx, paysim.Config{Token: caToken, DB: filepath.Join(dir, "paysim.db"), SettleDelay: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pay.Close() })
	// Each payment takes a second at the provider, so payments are in
	// flight when the worker gets SIGTERM: they must be answered to a
	// worker still waiting for them (its activities not cut short).
	var (
		termAt                         atomic.Pointer[time.Time]
		payInFlight, payAcrossTerm     atomic.Int64
		payInFlightAtTerm, payCutShort atomic.Int64
	)
	payH := pay.Handler()
	paySrv := private.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/refunds" {
			payH.ServeHTTP(w, r)
			return
		}
		payInFlight.Add(1)
		defer payInFlight.Add(-1)
		start := time.Now()
		// The body read first: the server then watches the connection, and
		// the request's context ends if the worker goes away.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		time.Sleep(time.Second)
		// Ready to answer: is the worker still waiting?
		if at := termAt.Load(); at != nil && start.Before(*at) && time.Now().After(*at) {
			if r.Context().Err() != nil {
				payCutShort.Add(1) // the worker gave up on it
			} else {
				payAcrossTerm.Add(1)
			}
		}
		payH.ServeHTTP(w, r)
	}))

	const (
		drainDelay      = time.Second
		shutdownTimeout = 15 * time.Second
		stopTimeout     = 10 * time.Second
	)
	gw := &proc{t: t, name: "gateway", bin: gatewayBin, dir: dir, env: []string{
		"TEMPORAL_ADDRESS=" + srv.FrontendHostPort(), "TEMPORAL_NAMESPACE=default", "CERTFLOW_DB=" + dsn,
		"CERTFLOW_GATEWAY_ADDR=" + gwAddr, "CERTFLOW_TOKENS=e2e-console:console:" + consoleToken,
		"CERTFLOW_WEBHOOK_SECRETS=" + secret, "CERTFLOW_DIAL_TIMEOUT=2m",
		"CERTFLOW_DRAIN_DELAY=" + drainDelay.String(), "CERTFLOW_SHUTDOWN_TIMEOUT=" + shutdownTimeout.String()}}
	wk := &proc{t: t, name: "worker", bin: workerBin, dir: dir, args: []string{"-metrics-addr=" + metricsAddr}, env: []string{
		"TEMPORAL_ADDRESS=" + srv.FrontendHostPort(), "TEMPORAL_NAMESPACE=default", "CERTFLOW_DB=" + dsn,
		"CERTFLOW_CA_URL=" + caSrv.URL, "CERTFLOW_CA_TOKEN=" + caToken, "CERTFLOW_CA_TLS_CA_FILE=" + bundle,
		"CERTFLOW_PAY_URL=" + paySrv.URL, "CERTFLOW_PAY_TOKEN=" + caToken, "CERTFLOW_PAY_TLS_CA_FILE=" + bundle,
		"CERTFLOW_PAY_POLL_INTERVAL=100ms", "CERTFLOW_REVIEW_POLL=2s",
		"CERTFLOW_DIAL_TIMEOUT=2m", "CERTFLOW_STOP_TIMEOUT=" + stopTimeout.String()}}
	t.Cleanup(func() { gw.stop(); wk.stop() })
	gw.start()
	wk.start()
	gw.waitHealthy("http://"+gwAddr+"/readyz", 2*time.Minute)
	wk.waitHealthy("http://"+metricsAddr+"/readyz", 2*time.Minute)

	// 50 orders: every fifth with an issued certificate (a revocation,
	// the CA's review and callback), a third pending application, the
	// rest without a certificate.
	const orders = 50
	paid := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	issued := paid.Add(time.Hour)
	ids := make([]string, orders)
	for i := range orders {
		ids[i] = fmt.Sprintf("sd-%02d", i)
		o := domain.Order{ID: ids[i], Product: domain.SSLCertificate, Profile: "aliyun-intl", PaidAt: paid, Currency: "USD",
			Price: decimal.RequireFromString("100.00"), ValidityYears: 1,
			Payment: domain.Payment{Cash: decimal.RequireFromString("80.00"), Voucher: decimal.RequireFromString("20.00")}}
		switch {
		case i%5 == 0:
			o.Certificates = []domain.Certificate{{ID: "c-" + ids[i], State: statemachine.Issued, IssuedAt: &issued}}
		case i%3 == 0:
			o.Certificates = []domain.Certificate{{ID: "c-" + ids[i], State: statemachine.PendingApplication}}
		}
		if err := db.PutOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	// The console's client: each refund request is retried, with its
	// Idempotency-Key, until it is accepted, over connection errors (the
	// gateway down) and 503s (the gateway draining). A request answered
	// 409 after a retry was accepted by an earlier attempt whose answer
	// was lost, and its refund has paid since.
	var (
		accepted, drained503, connErrs, spanning atomic.Int64
		mu                                       sync.Mutex
		final                                    = map[string]string{}
	)
	hc := &http.Client{Timeout: 30 * time.Second}
	request := func(id string) {
		body, _ := json.Marshal(map[string]any{"consent": true, "confirm_irreversible": true, "accept_late_review_risk": true})
		retried := false
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+gwAddr+"/v1/orders/"+id+"/refund", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+consoleToken)
			req.Header.Set("Idempotency-Key", "refund-"+id)
			sent := time.Now()
			resp, err := hc.Do(req)
			if err != nil {
				connErrs.Add(1)
				retried = true
				time.Sleep(200 * time.Millisecond)
				continue
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests:
				if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(out), "shutting down") {
					drained503.Add(1)
				}
				retried = true
				time.Sleep(200 * time.Millisecond)
				continue
			case resp.StatusCode == http.StatusAccepted, resp.StatusCode == http.StatusConflict && retried:
				accepted.Add(1)
				if at := termAt.Load(); at != nil && sent.Before(*at) && time.Now().After(*at) {
					spanning.Add(1) // in flight when the gateway got SIGTERM, and answered in full
				}
			}
			mu.Lock()
			final[id] = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(out))
			mu.Unlock()
			return
		}
	}
	var reqWG sync.WaitGroup
	sem := make(chan struct{}, 6)
	for _, id := range ids {
		reqWG.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			request(id)
			time.Sleep(50 * time.Millisecond) // spread the requests over the shutdown
		})
	}

	// In the middle: SIGTERM to both at once, then both start again.
	for accepted.Load() < 15 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	now := time.Now()
	termAt.Store(&now)
	payInFlightAtTerm.Store(payInFlight.Load())
	var (
		termWG             sync.WaitGroup
		gwCode, wkCode     int
		gwTook, wkTook     time.Duration
		acceptedAtTerm     = accepted.Load()
		readyWhileDraining = -1
		readyProbe         = make(chan int, 1)
	)
	termWG.Go(func() { gwCode, gwTook = gw.terminate(drainDelay + shutdownTimeout + 10*time.Second) })
	termWG.Go(func() { wkCode, wkTook = wk.terminate(stopTimeout + 15*time.Second) })
	// While the gateway drains, its readiness fails.
	go func() {
		time.Sleep(drainDelay / 3)
		resp, err := http.Get("http://" + gwAddr + "/readyz")
		if err != nil {
			readyProbe <- 0
			return
		}
		resp.Body.Close()
		readyProbe <- resp.StatusCode
	}()
	readyWhileDraining = <-readyProbe
	termWG.Wait()
	t.Logf("SIGTERM with %d of %d refunds accepted: gateway exited %d after %s, worker exited %d after %s",
		acceptedAtTerm, orders, gwCode, gwTook.Round(time.Millisecond), wkCode, wkTook.Round(time.Millisecond))
	if gwCode != 0 || wkCode != 0 {
		t.Errorf("exit codes: gateway %d, worker %d; want 0 (a clean stop)", gwCode, wkCode)
	}
	t.Logf("payments at the provider when the worker got SIGTERM: %d; answered to the waiting worker after it: %d; abandoned by it: %d",
		payInFlightAtTerm.Load(), payAcrossTerm.Load(), payCutShort.Load())
	if payCutShort.Load() > 0 || payAcrossTerm.Load() < payInFlightAtTerm.Load() {
		t.Errorf("the worker's running payments were not let finish: %d in flight at SIGTERM, %d answered to it, %d abandoned",
			payInFlightAtTerm.Load(), payAcrossTerm.Load(), payCutShort.Load())
	}
	if readyWhileDraining != http.StatusServiceUnavailable {
		t.Errorf("/readyz while the gateway drained: %d, want 503", readyWhileDraining)
	}
	for _, c := range []struct {
		p    *proc
		want string
	}{{gw, "draining: new requests are refused 503"}, {gw, "gateway stopped"}, {wk, "worker stopped"}} {
		if b, _ := os.ReadFile(c.p.logs[len(c.p.logs)-1]); !bytes.Contains(b, []byte(c.want)) {
			t.Errorf("%s's log lacks %q: %s", c.p.name, c.want, tail(c.p.logs[len(c.p.logs)-1]))
		}
	}
	time.Sleep(time.Second)
	gw.start()
	wk.start()
	gw.waitHealthy("http://"+gwAddr+"/readyz", 2*time.Minute)
	reqWG.Wait()

	for _, id := range ids {
		if f := final[id]; !strings.HasPrefix(f, "202 ") && !strings.HasPrefix(f, "409 ") {
			t.Errorf("refund request %s ended %q", id, f)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// None lost: every refund finishes refunded (the store's records) …
	for _, id := range ids {
		for {
			rec, err := db.GetRefund(ctx, id)
			if err == nil && rec.Outcome == string(refund.OutcomeRefunded) {
				break
			}
			if err == nil && (rec.Outcome == string(refund.OutcomeRejected) || rec.Outcome == string(refund.OutcomeCancelled)) {
				t.Fatalf("%s ended %s: %s", id, rec.Outcome, rec.Message)
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: the refund did not finish: %+v, %v", id, rec, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// … and none paid twice: one paid payout in the ledger, one succeeded
	// refund at the provider (its admin endpoint).
	admin := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: private.Pool()}}}
	for _, id := range ids {
		ps, err := db.Payouts(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 1 || ps[0].Status != ports.PayoutPaid {
			t.Errorf("M-4: ledger of %s = %+v, want exactly one paid payout", id, ps)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, paySrv.URL+"/admin/refunds?order_id="+id, nil)
		req.Header.Set("Authorization", "Bearer "+caToken)
		resp, err := admin.Do(req)
		if err != nil {
			t.Fatalf("paysim admin: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var list struct {
			Refunds []paysim.Refund `json:"refunds"`
		}
		if err := json.Unmarshal(b, &list); err != nil || resp.StatusCode != 200 {
			t.Fatalf("paysim admin answered %d %s: %v", resp.StatusCode, b, err)
		}
		if len(list.Refunds) != 1 || list.Refunds[0].Status != paysim.StatusSucceeded {
			t.Errorf("provider refunds of %s = %s, want exactly one succeeded", id, b)
		}
	}
	t.Logf("requests: %d answered 503 while the gateway drained, %d connection errors while it was down, %d in flight at SIGTERM and accepted; process starts: gateway %d, worker %d",
		drained503.Load(), connErrs.Load(), spanning.Load(), gw.starts, wk.starts)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Error("the test ran out of time")
	}
}
