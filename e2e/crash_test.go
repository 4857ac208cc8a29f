package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/workflows/refund"

	"github.com/shopspring/decimal"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/gateway"
	"github.com/certflow/certflow/intake"
	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/paysim"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
	"github.com/certflow/certflow/webhook"
	"github.com/certflow/certflow/workflows"
)

// The orders of the crash test, each named after the fault it meets.
const (
	orderKillBeforeRevoke = "crash-before-revoke" // the worker dies before the revoke reaches the CA
	orderKillInReview     = "crash-in-review"     // the worker dies while the CA reviews the revocation
	orderKillAfterPay     = "crash-after-pay"     // the worker dies right after the provider took the refund
	orderPlainIssued      = "crash-plain-issued"  // no fault of its own
	orderPlainUnused      = "crash-plain-unused"  // no fault of its own
	orderFallback         = "crash-fallback"      // the original method fails: paid to the balance (GEN-4)
)

// crashSystem is the system of the crash test: the Temporal dev server and
// the worker as real processes (the worker built from ./worker; one at a
// time, so that each fault kills the process that sent the request it
// meets), two gateways taking the CA's callbacks in turn, the CA simulator
// and the payment simulator in this process, with faults injected at their
// HTTP edges.
type crashSystem struct {
	t       *testing.T
	dir     string
	bin     string
	port    int
	dsn     string
	workerB string
	caURL   string
	// On a real server (CERTFLOW_TEMPORAL_ADDRESS): its address and the
	// test's namespace; the server is killed and started by
	// CERTFLOW_TEMPORAL_CTL. On the dev server namespace is default.
	real      bool
	address   string
	namespace string
	payURL    string

	mu       sync.Mutex
	server   *exec.Cmd
	exited   chan struct{} // closed when the current server process is gone
	worker   *exec.Cmd
	killed   bool     // the current worker process was killed by a fault
	workers  int      // worker processes started
	faults   []string // faults injected, in order
	fired    map[string]bool
	stopping bool
	done     chan struct{}
}

// freePort returns a port nobody listens on now, for a process the test
// starts later. It is picked from 10000–19999: below the kernel's ephemeral
// range (32768–60999), where outgoing connections would take a port
// between the pick and the child's bind, and below the ports
// scripts/with-temporal-server picks for the real server (20000–31999).
// A port is handed out once per test binary.
func freePort(t *testing.T) int {
	t.Helper()
	for range 1000 {
		p := 10000 + rand.IntN(10000)
		if _, taken := pickedPorts.LoadOrStore(p, true); taken {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = ln.Close()
		return p
	}
	t.Fatal("no free port in 10000-19999")
	return 0
}

// pickedPorts are the ports freePort handed out.
var pickedPorts sync.Map

func (s *crashSystem) addr() string {
	if s.real {
		return s.address
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// startServer starts the dev server on its database file and port (the
// same ones again after a restart).
func (s *crashSystem) startServer() {
	s.t.Helper()
	if s.real {
		temporalCtl(s.t, "start")
		return
	}
	args := []string{"server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--db-filename", filepath.Join(s.dir, "temporal.db"), "--log-level", "error"}
	for _, sa := range workflows.SearchAttributeTypes {
		args = append(args, "--search-attribute", sa)
	}
	cmd := exec.Command(s.bin, args...)
	logf, err := os.OpenFile(filepath.Join(s.dir, "temporal.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting the dev server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	s.mu.Lock()
	s.server, s.exited = cmd, exited
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := temporalx.Dial(ctx, client.Options{HostPort: s.addr(), Logger: quietLogger()}, 250*time.Millisecond)
	if err != nil {
		s.t.Fatalf("dev server not ready: %v", err)
	}
	c.Close()
}

func (s *crashSystem) serverName() string {
	if s.real {
		return "Temporal server"
	}
	return "dev server"
}

// killServer kill -9s the dev server and waits until it is gone.
func (s *crashSystem) killServer() {
	if s.real {
		temporalCtl(s.t, "kill")
		return
	}
	s.mu.Lock()
	cmd, exited := s.server, s.exited
	s.mu.Unlock()
	_ = cmd.Process.Kill()
	<-exited
}

// superviseWorker runs the worker binary, starting it again whenever it
// exits (killed by a fault, or on its own) until the test ends.
func (s *crashSystem) superviseWorker() {
	go func() {
		defer close(s.done)
		for {
			s.mu.Lock()
			if s.stopping {
				s.mu.Unlock()
				return
			}
			s.workers++
			n := s.workers
			cmd := exec.Command(s.workerB, "-metrics-addr=")
			cmd.Env = append(os.Environ(),
				"TEMPORAL_ADDRESS="+s.addr(), "TEMPORAL_NAMESPACE="+s.namespace,
				"CERTFLOW_DB="+s.dsn, "CERTFLOW_CA_URL="+s.caURL, "CERTFLOW_CA_TOKEN="+caToken,
				"CERTFLOW_PAY_URL="+s.payURL, "CERTFLOW_PAY_TOKEN="+caToken, "CERTFLOW_PAY_POLL_INTERVAL=100ms",
				"CERTFLOW_DIAL_TIMEOUT=3m", "CERTFLOW_STOP_TIMEOUT=2s")
			logf, err := os.Create(filepath.Join(s.dir, fmt.Sprintf("worker-%d.log", n)))
			if err == nil {
				cmd.Stdout, cmd.Stderr = logf, logf
			}
			if err := cmd.Start(); err != nil {
				s.mu.Unlock()
				s.t.Errorf("starting worker %d: %v", n, err)
				return
			}
			s.worker, s.killed = cmd, false
			s.mu.Unlock()
			err = cmd.Wait()
			if logf != nil {
				logf.Close()
			}
			s.mu.Lock()
			stopping := s.stopping
			s.mu.Unlock()
			if !stopping {
				s.t.Logf("worker process %d exited (%v); starting another", n, err)
				time.Sleep(200 * time.Millisecond)
			}
		}
	}()
}

// fault reports whether the fault name fires now: the first time it is
// reached while a worker process lives. senderDead reports a request that
// reached the fault while no worker lives (another fault killed it and the
// next has not started): its sender is gone, so the caller answers it 503
// without forwarding it, and the fault stays armed for the retry of the
// next worker. Each worker fault so kills a live process of its own, even
// when two faults meet in the requests of one worker.
func (s *crashSystem) fault(name string) (fire, senderDead bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fire, senderDead = s.armedLocked(name); fire {
		s.fired[name] = true
	}
	return fire, senderDead
}

// fire marks the fault fired, whatever the sender's state; false when it
// had fired already.
func (s *crashSystem) fire(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fired[name] {
		return false
	}
	s.fired[name] = true
	return true
}

// armed is fault without firing it: whether it would fire now, or the
// sender is dead.
func (s *crashSystem) armed(name string) (armed, senderDead bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.armedLocked(name)
}

// armedLocked is armed, s.mu held.
func (s *crashSystem) armedLocked(name string) (armed, senderDead bool) {
	if s.fired[name] {
		return false, false
	}
	if s.worker == nil || s.killed {
		return false, true
	}
	return true, false
}

// killWorker kill -9s the running worker process, recording why. When the
// current process was already killed by another fault, it waits for the
// next one and kills that.
func (s *crashSystem) killWorker(why string) {
	for end := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		s.mu.Lock()
		if (s.worker != nil && !s.killed) || s.stopping || time.Now().After(end) {
			break
		}
		s.mu.Unlock()
	}
	defer s.mu.Unlock()
	s.faults = append(s.faults, why)
	if s.worker != nil && s.worker.Process != nil && !s.killed {
		_ = s.worker.Process.Kill()
		s.killed = true
	}
}

// dropDead answers a request whose sender is dead: it is not forwarded.
func (s *crashSystem) dropDead(w http.ResponseWriter, r *http.Request) {
	s.t.Logf("%s %s from a killed worker dropped; its fault waits for the next worker", r.Method, r.URL.Path)
	http.Error(w, `{"error":{"code":"unavailable","message":"the worker that sent this is gone"}}`, http.StatusServiceUnavailable)
}

func (s *crashSystem) record(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, what)
}

// caFaults wraps the CA simulator: the first revoke of orderKillBeforeRevoke's
// certificate kills the worker and never reaches the CA; the first revoke of
// orderKillInReview's reaches it, and the worker is killed while the review
// is still pending.
func (s *crashSystem) caFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/certificates/c-"+orderKillBeforeRevoke+"/revocations" {
			switch fire, dead := s.fault("before-revoke"); {
			case fire:
				s.killWorker("kill -9 before the revoke reached the CA")
				http.Error(w, `{"error":{"code":"unavailable","message":"injected fault"}}`, http.StatusServiceUnavailable)
				return
			case dead:
				s.dropDead(w, r)
				return
			}
		}
		inReview := false
		if r.Method == http.MethodPost && r.URL.Path == "/v1/certificates/c-"+orderKillInReview+"/revocations" {
			fire, dead := s.fault("in-review")
			if dead {
				s.dropDead(w, r)
				return
			}
			inReview = fire
		}
		next.ServeHTTP(w, r)
		if inReview {
			go func() {
				time.Sleep(300 * time.Millisecond)
				st := s.reviewStatus("c-" + orderKillInReview)
				s.killWorker("kill -9 while the CA review was " + st)
			}()
		}
	})
}

// reviewStatus asks the CA simulator where a certificate's review stands.
func (s *crashSystem) reviewStatus(certID string) string {
	req, _ := http.NewRequest(http.MethodGet, s.caURL+"/admin/certificates/"+certID, nil)
	req.Header.Set("Authorization", "Bearer "+caToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	defer resp.Body.Close()
	var v struct {
		Revocation *struct {
			Status string `json:"status"`
		} `json:"revocation"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.Revocation == nil {
		return "unknown"
	}
	return v.Revocation.Status
}

// payFaults wraps the payment simulator: the first refund request for
// orderKillAfterPay that creates the refund at the provider (201) is
// answered, and the worker is killed before it reads the answer (the next
// worker, when another fault killed the sender meanwhile). A first
// request the provider did not take (a 500 on a machine so loaded that
// the worker gave up on the call) is passed on and logged: the fault
// waits for the request that creates the refund.
func (s *crashSystem) payFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/refunds" ||
			r.Header.Get("Idempotency-Key") != refund.PaymentKey(orderKillAfterPay, domain.OriginalMethod) {
			next.ServeHTTP(w, r)
			return
		}
		armed, dead := s.armed("after-pay")
		switch {
		case dead:
			s.dropDead(w, r)
			return
		case !armed:
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		if rec.Code != http.StatusCreated {
			s.t.Logf("the payment call of %s answered %d %s; the after-pay fault waits for the call that creates the refund",
				orderKillAfterPay, rec.Code, bytes.TrimSpace(rec.Body.Bytes()))
		} else if s.fire("after-pay") {
			// Fired even if another fault killed the sender while the
			// provider created the refund: killWorker then kills the next
			// worker, and the refund is as the fault wants it (created,
			// its answer never read by the worker that asked).
			s.killWorker(fmt.Sprintf("kill -9 right after the payment call (provider answered %d)", rec.Code))
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

func quietLogger() *temporalx.ZapLogger { return temporalx.NewZapLogger(zap.NewNop()) }

// buildWorker builds the worker binary into dir.
func buildWorker(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "certflow-worker")
	cmd := exec.Command("go", "build", "-o", out, "github.com/certflow/certflow/worker")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./worker: %v\n%s", err, b)
	}
	return out
}

// Crash safety: with the worker process killed (kill -9) before a revoke
// reaches the CA, while the CA reviews a revocation, and right after a
// payment call, and the dev server killed and restarted on its database
// mid-run, every refund completes, and the ledger and the provider hold
// exactly one payment per order.
func TestCrashSafety(t *testing.T) {
	t.Parallel() // mostly waiting out activity timeouts
	s := &crashSystem{t: t, dir: t.TempDir(), fired: map[string]bool{}, done: make(chan struct{}), namespace: "default"}
	s.dsn = "sqlite:" + filepath.Join(s.dir, "certflow.db")
	if os.Getenv("CERTFLOW_TEST_POSTGRES") != "" {
		s.dsn = postgresDSN(t)
	}
	s.workerB = buildWorker(t, s.dir)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	if s.address = testenv.TemporalAddress(); s.address != "" {
		// The real server: this test kills and restarts it, so it runs on
		// its own (make test-real-temporal runs it after the others).
		s.real = true
		s.namespace = realNamespace(t, ctx, s.address)
	} else {
		s.bin, s.port = testenv.TemporalBin(t), freePort(t)
		s.startServer()
		t.Cleanup(func() { s.killServer() })
	}
	tc, err := temporalx.Dial(ctx, client.Options{HostPort: s.addr(), Namespace: s.namespace, Logger: quietLogger()}, 250*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)

	db, err := store.Open(ctx, s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	reg, err := policy.LoadRegistry()
	if err != nil {
		t.Fatal(err)
	}
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	// Two gateways, each with its own store connection, take the CA's
	// callbacks in turn; the console API is not used, but a gateway
	// always has its token.
	tokens, err := gateway.NewTokens("e2e-console:console:" + consoleToken)
	if err != nil {
		t.Fatal(err)
	}
	var callbacks []string
	for range 2 {
		g, err := gateway.New(gateway.Config{Workflows: gateway.NewTemporal(tc), Orders: openStore(t, ctx, s.dsn),
			Judge: gateway.PolicyJudge(&activities.RegistryPolicies{Registry: reg}), Validate: intake.Validator{Registry: reg}.Validate,
			Tokens: tokens, WebhookSecrets: [][]byte{key}, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		runIntake(t, g)
		gw := httptest.NewServer(g.Handler())
		t.Cleanup(gw.Close)
		callbacks = append(callbacks, gw.URL+"/v1/ca/callbacks")
	}

	ca, err := casim.New(casim.Config{Token: caToken, CallbackURL: strings.Join(callbacks, ","), WebhookSecret: key, ReviewDelay: 5 * time.Second,
		Retry: casim.Retry{Initial: 500 * time.Millisecond, Max: 5 * time.Second, Attempts: 60}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ca.Close)
	caSrv := httptest.NewUnstartedServer(nil)
	caSrv.Config.Handler = s.caFaults(ca.Handler())
	caSrv.Start()
	t.Cleanup(caSrv.Close)
	s.caURL = caSrv.URL

	// Its errors (a 500 names no cause but its log) go to the test's log.
	pay, err := paysim.New(ctx, paysim.Config{Token: caToken, DB: filepath.Join(s.dir, "paysim.db"), SettleDelay: 500 * time.Millisecond,
		FailOriginalMethod: []string{orderFallback}, Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pay.Close() })
	paySrv := httptest.NewServer(s.payFaults(pay.Handler()))
	t.Cleanup(paySrv.Close)
	s.payURL = paySrv.URL

	paid := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	issued := paid.Add(time.Hour)
	orders := []string{orderKillBeforeRevoke, orderKillInReview, orderKillAfterPay, orderPlainIssued, orderPlainUnused, orderFallback}
	for _, id := range orders {
		o := domain.Order{ID: id, Product: domain.SSLCertificate, Profile: "aliyun-intl", PaidAt: paid, Currency: "USD", ValidityYears: 1,
			Price: decimal.RequireFromString("100.00"), Payment: domain.Payment{Cash: decimal.RequireFromString("80.00"), Voucher: decimal.RequireFromString("20.00")}}
		switch id {
		case orderKillBeforeRevoke, orderKillInReview, orderPlainIssued:
			o.Certificates = []domain.Certificate{{ID: "c-" + id, State: statemachine.Issued, IssuedAt: &issued}}
		}
		if err := db.PutOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	s.superviseWorker()
	t.Cleanup(func() {
		s.mu.Lock()
		s.stopping = true
		if s.worker != nil && s.worker.Process != nil {
			_ = s.worker.Process.Kill()
		}
		s.mu.Unlock()
		<-s.done
	})

	for _, id := range orders {
		_, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: refund.WorkflowID(id), TaskQueue: workflows.TaskQueue},
			refund.WorkflowName, refund.Input{OrderID: id, Request: domain.RefundRequest{OrderID: id, RequestedAt: time.Now(),
				Consent: true, ConfirmIrreversible: true, AcceptLateReviewRisk: true}})
		if err != nil {
			t.Fatalf("starting refund %s: %v", id, err)
		}
	}

	// The dev server is killed and restarted on its database once the
	// three worker faults have fired, with refunds still under way.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s.mu.Lock()
		n := len(s.faults)
		s.mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			for _, id := range orders {
				t.Logf("refund of %s: %s", id, describeRun(ctx, tc, refund.WorkflowID(id)))
			}
			t.Fatalf("only %d of the 3 worker faults fired in 2 minutes: %v", n, s.faults)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Mid-run: the payout the third fault interrupted is in the ledger,
	// pending, or already reconciled by the next attempt (the payout's
	// first attempt is a local activity: the workflow task it ran in times
	// out and is run again by the next worker within seconds, which finds
	// the refund at the provider by its key). Either way once (below).
	if p, err := db.GetPayout(ctx, refund.PaymentKey(orderKillAfterPay, domain.OriginalMethod)); err != nil ||
		(p.Status != ports.PayoutPending && p.Status != ports.PayoutPaid) {
		t.Fatalf("before the server restart, the interrupted payout is %+v, %v; want pending or paid", p, err)
	} else {
		t.Logf("the interrupted payout is %s before the server restart", p.Status)
	}
	s.killServer()
	s.record("kill -9 of the " + s.serverName())
	s.startServer()
	s.record(s.serverName() + " restarted on its database")

	for _, id := range orders {
		st := waitRefunded(ctx, t, tc, id)
		wantDest := domain.OriginalMethod
		if id == orderFallback {
			wantDest = domain.AccountBalance // GEN-4
		}
		if st.Payout == nil || st.Payout.Cash != "80.00" || st.Payout.Destination != wantDest {
			t.Errorf("%s: payout %+v, want 80.00 to %s", id, st.Payout, wantDest)
		}
		ps, err := db.Payouts(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var paidRows []ports.Payout
		for _, p := range ps {
			if p.Status == ports.PayoutPaid {
				paidRows = append(paidRows, p)
			}
			if p.Status == ports.PayoutPending {
				t.Errorf("%s: payout %s still pending", id, p.Request.IdempotencyKey)
			}
		}
		if len(paidRows) != 1 {
			t.Errorf("M-4: %s has %d paid payouts in the ledger, want exactly 1: %+v", id, len(paidRows), ps)
			continue
		}
		refs, err := pay.List(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		succeeded := 0
		for _, r := range refs {
			if r.Status == paysim.StatusSucceeded {
				succeeded++
				if r.ID != paidRows[0].ProviderID {
					t.Errorf("%s: provider refund %s is not the ledger's %s", id, r.ID, paidRows[0].ProviderID)
				}
			}
		}
		if succeeded != 1 {
			t.Errorf("M-4: the provider paid %s %d times, want once: %+v", id, succeeded, refs)
		}
	}

	s.mu.Lock()
	faults := append([]string(nil), s.faults...)
	workersStarted := s.workers
	s.mu.Unlock()
	t.Logf("faults: %s; worker processes started: %d", strings.Join(faults, "; "), workersStarted)
	if len(faults) != 5 || workersStarted < 4 {
		t.Fatalf("faults %v with %d worker processes, want the 5 faults and at least 4 workers", faults, workersStarted)
	}
	for _, f := range faults {
		if strings.HasPrefix(f, "kill -9 while the CA review was") && f != "kill -9 while the CA review was pending" {
			t.Fatalf("the in-review fault did not hit a pending review: %q", f)
		}
		if strings.HasPrefix(f, "kill -9 right after the payment call") && !strings.Contains(f, "201") {
			t.Fatalf("the after-pay fault did not follow a created refund: %q", f)
		}
	}
}

// describeRun says where a workflow stands, for a failure's log: its
// status, its pending workflow task and activities with their last
// failure.
func describeRun(ctx context.Context, tc client.Client, id string) string {
	d, err := tc.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return err.Error()
	}
	out := d.GetWorkflowExecutionInfo().GetStatus().String()
	if d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		var st refund.Status
		if err := tc.GetWorkflow(ctx, id, "").Get(ctx, &st); err == nil {
			out += fmt.Sprintf(" %s (%s): %s", st.Outcome, st.State, st.Message)
		}
	}
	if wt := d.GetPendingWorkflowTask(); wt != nil {
		out += fmt.Sprintf("; workflow task %s, attempt %d", wt.GetState(), wt.GetAttempt())
	}
	for _, a := range d.GetPendingActivities() {
		out += fmt.Sprintf("; activity %s %s, attempt %d, last failure %q", a.GetActivityType().GetName(), a.GetState(), a.GetAttempt(), a.GetLastFailure().GetMessage())
	}
	return out
}

// waitRefunded waits for the refund workflow of orderID to end refunded,
// asking again through the dev server's restart.
func waitRefunded(ctx context.Context, t *testing.T, tc client.Client, orderID string) refund.Status {
	t.Helper()
	var (
		st   refund.Status
		last error
	)
	for ctx.Err() == nil {
		last = tc.GetWorkflow(ctx, refund.WorkflowID(orderID), "").Get(ctx, &st)
		if last == nil {
			if st.Outcome != refund.OutcomeRefunded {
				t.Fatalf("%s ended %s: %s", orderID, st.Outcome, st.Message)
			}
			return st
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: refund did not end: %v", orderID, last)
	return st
}
