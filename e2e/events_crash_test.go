package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/paysim"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
	"github.com/certflow/certflow/webhook"
	"github.com/certflow/certflow/workflows/refund"
)

// eventsSecret signs the outbound events (the console endpoint's secret).
var eventsSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("e2e-events-secret-0123456789abcdef"))

// proc is one program of the test run as a real process, started again
// on the same settings after a kill.
type proc struct {
	t    *testing.T
	name string
	bin  string
	args []string
	env  []string
	dir  string

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	starts   int
	logs     []string
	killedAt []time.Time // when each process of logs was killed
	stopped  bool        // the test ended: start no more
}

// start starts the process; it reports a failure with t.Errorf (it may
// run in a goroutine of the test).
func (p *proc) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.starts++
	logPath := filepath.Join(p.dir, fmt.Sprintf("%s-%d.log", p.name, p.starts))
	logf, err := os.Create(logPath)
	if err != nil {
		p.t.Errorf("starting %s: %v", p.name, err)
		return
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		p.t.Errorf("starting %s: %v", p.name, err)
		return
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	p.cmd, p.exited = cmd, exited
	p.logs = append(p.logs, logPath)
}

// kill kill -9s the process and waits until it is gone.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	if cmd != nil && len(p.killedAt) < len(p.logs) {
		p.killedAt = append(p.killedAt, time.Now())
	}
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// stop kills the process for good: it is not started again.
func (p *proc) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.kill()
}

// alive reports whether the current process still runs.
func (p *proc) alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// waitHealthy waits until GET url answers 200, failing when the process
// exits or the deadline passes.
func (p *proc) waitHealthy(url string, within time.Duration) {
	p.t.Helper()
	for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if !p.alive() {
			p.t.Fatalf("%s exited while starting; see %s: %s", p.name, p.logs[len(p.logs)-1], tail(p.logs[len(p.logs)-1]))
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	p.t.Fatalf("%s not healthy at %s within %s: %s", p.name, url, within, tail(p.logs[len(p.logs)-1]))
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// buildBinaries builds the worker, the gateway and the event receiver
// into dir.
func buildBinaries(t *testing.T, dir string) (worker, gw, sink string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"github.com/certflow/certflow/worker", "github.com/certflow/certflow/cmd/gateway", "github.com/certflow/certflow/cmd/eventsink")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return filepath.Join(dir, "worker"), filepath.Join(dir, "gateway"), filepath.Join(dir, "eventsink")
}

// sinkRecord is a line of the receiver's JSONL file.
type sinkRecord struct {
	ReceivedAt time.Time   `json:"received_at"`
	WebhookID  string      `json:"webhook_id"`
	Event      ports.Event `json:"event"`
}

// readSink reads the receiver's file; a line that does not parse is
// returned apart.
func readSink(t *testing.T, path string) (recs []sinkRecord, bad []string) {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		var r sinkRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.WebhookID == "" {
			bad = append(bad, sc.Text())
			continue
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return recs, bad
}

// duplicateIDs returns the webhook-ids of the duplicate deliveries the
// receiver logged (at debug, its -dev-log), once per duplicate.
func duplicateIDs(t *testing.T, paths []string) []string {
	t.Helper()
	var ids []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("reading %s: %v", p, err)
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, "duplicate delivery ignored") {
				continue
			}
			m := dupID.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("a duplicate without its webhook-id: %s", line)
				continue
			}
			ids = append(ids, m[1])
		}
	}
	return ids
}

var dupID = regexp.MustCompile(`"webhook_id": ?"(evt_[0-9a-f]+)"`)

// The kill -9 test: two gateways (each dispatching events) and two
// workers as real processes on one PostgreSQL store refund 200 orders;
// while the events are delivered, each gateway with a worker, and the
// receiver (cmd/eventsink) between them, is killed with SIGKILL and started
// again. Every event of the outbox reaches the receiver, once in its
// deduplicated file and under its own ID, each order's events in outbox
// order; an event the gateways delivered twice was first delivered by one
// killed right after (never by two dispatchers at once); every refund is
// paid once.
// The dispatchers' lease and attempt timeout in this test: short, so a
// delivery held by a killed gateway is taken over quickly.
const (
	eventLease   = 3 * time.Second
	eventTimeout = 1 * time.Second
)

func TestEventsSurviveKills(t *testing.T) {
	t.Parallel()
	dsn := postgresDSN(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	workerBin, gatewayBin, sinkBin := buildBinaries(t, dir)

	srv := startTemporal(t, ctx)

	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if db.Dialect() != "postgres" {
		t.Fatalf("dialect %s, want postgres", db.Dialect())
	}
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}

	gwAddrs := []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))), net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))}
	sinkAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	sinkOut := filepath.Join(dir, "events.jsonl")

	// The CA calls back both gateways in turn, as a load balancer in front
	// of them would: its callbacks meet each kill and are retried (on the
	// other gateway).
	ca, err := casim.New(casim.Config{Token: caToken, CallbackURL: "http://" + gwAddrs[0] + "/v1/ca/callbacks,http://" + gwAddrs[1] + "/v1/ca/callbacks", WebhookSecret: key,
		ReviewDelay: 2 * time.Second, Retry: casim.Retry{Initial: 300 * time.Millisecond, Max: 3 * time.Second, Attempts: 100}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ca.Close)
	caSrv := httptest.NewServer(ca.Handler())
	t.Cleanup(caSrv.Close)
	pay, err := paysim.New(ctx, paysim.Config{Token: caToken, DB: filepath.Join(dir, "paysim.db"), SettleDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pay.Close() })
	paySrv := httptest.NewServer(pay.Handler())
	t.Cleanup(paySrv.Close)

	sink := &proc{t: t, name: "eventsink", bin: sinkBin, dir: dir,
		args: []string{"-addr", sinkAddr, "-out", sinkOut, "-dev-log"}, env: []string{"EVENTSINK_SECRETS=" + eventsSecret}}
	var gws, workers []*proc
	for i, addr := range gwAddrs {
		gws = append(gws, &proc{t: t, name: fmt.Sprintf("gateway%d", i), bin: gatewayBin, dir: dir, env: []string{
			"TEMPORAL_ADDRESS=" + srv.address, "TEMPORAL_NAMESPACE=" + srv.namespace, "CERTFLOW_DB=" + dsn,
			"CERTFLOW_GATEWAY_ADDR=" + addr, "CERTFLOW_TOKENS=e2e-console:console:" + consoleToken,
			"CERTFLOW_WEBHOOK_SECRETS=" + secret, "CERTFLOW_DIAL_TIMEOUT=2m", "CERTFLOW_LOG_LEVEL=debug",
			"CERTFLOW_EVENT_ENDPOINTS=console=http://" + sinkAddr + "/hooks", "CERTFLOW_EVENT_SECRETS=console=" + eventsSecret,
			"CERTFLOW_EVENT_LEASE=" + eventLease.String(), "CERTFLOW_EVENT_TIMEOUT=" + eventTimeout.String(), "CERTFLOW_EVENT_MAX_IN_FLIGHT=8"}})
		workers = append(workers, &proc{t: t, name: fmt.Sprintf("worker%d", i), bin: workerBin, dir: dir, args: []string{"-metrics-addr="}, env: []string{
			"TEMPORAL_ADDRESS=" + srv.address, "TEMPORAL_NAMESPACE=" + srv.namespace, "CERTFLOW_DB=" + dsn,
			"CERTFLOW_CA_URL=" + caSrv.URL, "CERTFLOW_CA_TOKEN=" + caToken, "CERTFLOW_PAY_URL=" + paySrv.URL,
			"CERTFLOW_PAY_TOKEN=" + caToken, "CERTFLOW_PAY_POLL_INTERVAL=100ms", "CERTFLOW_REVIEW_POLL=3s",
			"CERTFLOW_DIAL_TIMEOUT=2m", "CERTFLOW_STOP_TIMEOUT=2s", "CERTFLOW_LOG_LEVEL=warn"}})
	}
	all := append(append([]*proc{sink}, gws...), workers...)
	t.Cleanup(func() {
		for _, p := range all {
			p.stop()
		}
	})
	sink.start()
	for _, p := range append(slices.Clone(gws), workers...) {
		p.start()
	}
	sink.waitHealthy("http://"+sinkAddr+"/healthz", 30*time.Second)
	for i, g := range gws {
		g.waitHealthy("http://"+gwAddrs[i]+"/readyz", 2*time.Minute)
	}

	// The dispatchers made the endpoint known to the outbox: it receives
	// the events written from then on.
	for end := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		st, err := db.EndpointStatuses(ctx)
		if err == nil && len(st) == 1 && st[0].Name == "console" && st[0].Enabled {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the endpoint is not known to the outbox: %+v, %v", st, err)
		}
	}

	// send calls a gateway's console API, trying the other gateway while
	// one is down and waiting out 429s.
	send := func(gw int, method, path string, body any) (int, string) {
		b, _ := json.Marshal(body)
		var last string
		for attempt := 0; ctx.Err() == nil; attempt++ {
			if attempt > 200 {
				break
			}
			req, _ := http.NewRequestWithContext(ctx, method, "http://"+gwAddrs[(gw+attempt)%2]+path, bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+consoleToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				last = err.Error()
				time.Sleep(100 * time.Millisecond)
				continue
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
				last = fmt.Sprintf("%d %s", resp.StatusCode, out)
				time.Sleep(500 * time.Millisecond)
				continue
			}
			return resp.StatusCode, string(out)
		}
		return 0, last
	}

	// 200 orders: most without a certificate or with one pending
	// application (quick refunds), every tenth with an issued certificate
	// (revoke, the CA's review and callback, delete).
	const orders = 200
	paid := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	issued := paid.Add(time.Hour)
	ids := make([]string, orders)
	certOf := map[string]string{}
	for i := range orders {
		ids[i] = fmt.Sprintf("ev-%03d", i)
		o := domain.Order{ID: ids[i], Product: domain.SSLCertificate, Profile: "aliyun-intl", PaidAt: paid, Currency: "USD",
			Price: decimal.RequireFromString("100.00"), ValidityYears: 1,
			Payment: domain.Payment{Cash: decimal.RequireFromString("80.00"), Voucher: decimal.RequireFromString("20.00")}}
		switch i % 10 {
		case 0:
			o.Certificates = []domain.Certificate{{ID: "c-" + ids[i], State: statemachine.Issued, IssuedAt: &issued}}
		case 1, 2, 3:
			o.Certificates = []domain.Certificate{{ID: "c-" + ids[i], State: statemachine.PendingApplication}}
		}
		if len(o.Certificates) > 0 {
			certOf[ids[i]] = o.Certificates[0].ID
		}
		if code, body := send(i%2, http.MethodPut, "/v1/orders/"+o.ID, o); code != http.StatusCreated {
			t.Fatalf("PUT order %s: %d %s", o.ID, code, body)
		}
	}

	// The kills, while the events are delivered: when the receiver holds
	// enough events (or a while has passed), a gateway and a worker; then
	// the receiver; then the other gateway and worker.
	received := func() int {
		recs, _ := readSink(t, sinkOut)
		return len(recs)
	}
	var (
		killLog   []string
		killTimes []time.Time
		lastKill  time.Time
		restarts  sync.WaitGroup
	)
	killsDone := make(chan struct{})
	t.Cleanup(func() { <-killsDone; restarts.Wait() }) // before the processes are stopped: no start after
	go func() {
		defer close(killsDone)
		step := func(atLeast int, what string, kill func()) {
			for end := time.Now().Add(40 * time.Second); ctx.Err() == nil && time.Now().Before(end) && received() < atLeast; {
				time.Sleep(50 * time.Millisecond)
			}
			if ctx.Err() != nil {
				return
			}
			n := received()
			killTimes = append(killTimes, time.Now())
			kill()
			lastKill = time.Now()
			killLog = append(killLog, fmt.Sprintf("%s with %d events received", what, n))
		}
		restart := func(p *proc, after time.Duration) {
			restarts.Go(func() {
				time.Sleep(after)
				p.start()
			})
		}
		step(60, "kill -9 gateway0 and worker0", func() {
			gws[0].kill()
			workers[0].kill()
			restart(gws[0], 1500*time.Millisecond)
			restart(workers[0], time.Second)
		})
		step(250, "kill -9 eventsink", func() {
			sink.kill()
			restart(sink, 2*time.Second)
			restarts.Wait()
		})
		step(450, "kill -9 gateway1 and worker1", func() {
			gws[1].kill()
			workers[1].kill()
			restart(gws[1], 1500*time.Millisecond)
			restart(workers[1], time.Second)
		})
	}()

	// Every refund is requested, through both gateways, while the kills
	// go on.
	var reqWG sync.WaitGroup
	sem := make(chan struct{}, 8)
	reqErrs := make(chan string, orders)
	for i, id := range ids {
		reqWG.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			code, body := send(i%2, http.MethodPost, "/v1/orders/"+id+"/refund",
				map[string]any{"consent": true, "confirm_irreversible": true, "accept_late_review_risk": true})
			if code != http.StatusAccepted {
				reqErrs <- fmt.Sprintf("%s: %d %s", id, code, body)
			}
		})
	}
	reqWG.Wait()
	close(reqErrs)
	for e := range reqErrs {
		t.Errorf("refund request %s", e)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Every refund finishes (the store's read model).
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
	refundsDone := time.Now()
	<-killsDone
	restarts.Wait()

	// The whole outbox, paged through the gateway.
	listOutbox := func() []ports.Event {
		var evs []ports.Event
		after := ""
		for {
			code, body := send(1, http.MethodGet, "/v1/events?limit=500&after="+after, nil)
			if code != http.StatusOK {
				t.Fatalf("GET /v1/events: %d %s", code, body)
			}
			var page ports.EventPage
			if err := json.Unmarshal([]byte(body), &page); err != nil {
				t.Fatal(err)
			}
			if len(page.Events) == 0 {
				return evs
			}
			evs = append(evs, page.Events...)
			after = page.Next
		}
	}
	outbox := listOutbox()

	// The receiver gets every event, with a generous deadline.
	deadline := time.Now().Add(6 * time.Minute)
	var recs []sinkRecord
	for {
		recs, _ = readSink(t, sinkOut)
		have := map[string]bool{}
		for _, r := range recs {
			have[r.WebhookID] = true
		}
		missing := 0
		for _, e := range outbox {
			if !have[e.ID] {
				missing++
			}
		}
		if missing == 0 {
			// Nothing written since? Page again: events of the last
			// moments count too.
			if again := listOutbox(); len(again) != len(outbox) {
				outbox = again
				continue
			}
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Errorf("%d of %d outbox events never reached the receiver", missing, len(outbox))
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	recs, bad := readSink(t, sinkOut)
	var drained time.Time // when the receiver took its last new event
	for _, r := range recs {
		if r.ReceivedAt.After(drained) {
			drained = r.ReceivedAt
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d lines of the receiver's file do not parse: %q", len(bad), bad)
	}

	// Each event once in the file, under an ID of the outbox, each order's
	// events in outbox order.
	inOutbox := map[string]ports.Event{}
	for _, e := range outbox {
		inOutbox[e.ID] = e
	}
	seen := map[string]int{}
	lastCursor := map[string]int64{}
	byOrder := map[string][]ports.Event{}
	var outOfOrder, missing []string
	for _, r := range recs {
		seen[r.WebhookID]++
		if seen[r.WebhookID] == 2 {
			t.Errorf("event %s is in the receiver's file twice", r.WebhookID)
		}
		e, ok := inOutbox[r.WebhookID]
		if !ok {
			t.Errorf("the receiver got event %s (%s of %s), which is not in the outbox: a new ID", r.WebhookID, r.Event.Type, r.Event.OrderID)
			continue
		}
		if r.Event.ID != e.ID || r.Event.Cursor != e.Cursor || r.Event.Type != e.Type || r.Event.OrderID != e.OrderID {
			t.Errorf("event %s arrived as %+v, the outbox has %+v", e.ID, r.Event, e)
		}
		c, err := strconv.ParseInt(e.Cursor, 10, 64)
		if err != nil {
			t.Fatalf("cursor %q: %v", e.Cursor, err)
		}
		if prev, ok := lastCursor[e.OrderID]; ok && c <= prev {
			outOfOrder = append(outOfOrder, fmt.Sprintf("order %s: event %s (cursor %d, %s) arrived after cursor %d", e.OrderID, e.ID, c, e.Type, prev))
		}
		lastCursor[e.OrderID] = c
		byOrder[e.OrderID] = append(byOrder[e.OrderID], r.Event)
	}
	for _, e := range outbox {
		if seen[e.ID] == 0 {
			missing = append(missing, fmt.Sprintf("event %s (%s of %s, cursor %s)", e.ID, e.Type, e.OrderID, e.Cursor))
		}
	}
	if n := len(outOfOrder); n > 0 {
		t.Errorf("%d events arrived out of their order's order, e.g.:\n%s", n, strings.Join(outOfOrder[:min(n, 10)], "\n"))
	}
	if n := len(missing); n > 0 {
		t.Errorf("%d of %d events are missing at the receiver, e.g.:\n%s", n, len(outbox), strings.Join(missing[:min(n, 10)], "\n"))
	}

	// The expected events of each order, and one payout each.
	paths := map[string]int{} // the certificates' paths, as their events tell them
	reviewed, waited := 0, 0  // revoke orders, and those whose refund said it waited on the review
	for _, id := range ids {
		evs := byOrder[id]
		var types []ports.EventType
		for _, e := range evs {
			types = append(types, e.Type)
		}
		req, paidAt := slices.Index(types, ports.EventRefundRequested), slices.Index(types, ports.EventRefundPaid)
		if req < 0 || paidAt < 0 || paidAt < req {
			t.Errorf("%s: events %v, want refund.requested … refund.paid", id, types)
		}
		if i := slices.Index(ids, id); i%10 == 0 {
			// A revoke's order: the refund waits on the CA's review and
			// says so, unless the CA's answer came before the refund
			// learnt its revoke went through (a worker killed during
			// the revoke, its activity retried after the review's 2 s):
			// then it never waited. The certificate's chain below shows
			// the review either way.
			reviewed++
			if slices.Contains(types, ports.EventRefundWaitingChanged) {
				waited++
			}
		}
		if n := strings.Count(fmt.Sprint(types), string(ports.EventRefundPaid)); n != 1 {
			t.Errorf("%s: %d refund.paid events, want 1: %v", id, n, types)
		}
		if cert, ok := certOf[id]; ok {
			// The certificate's changes chain from one state to the next
			// and end in its state in the store.
			_, c, err := db.GetCertificate(ctx, cert)
			if err != nil {
				t.Fatal(err)
			}
			var chain []string
			state := ""
			for _, e := range evs {
				if e.Type != ports.EventCertificateStateChanged {
					continue
				}
				var ch ports.CertificateChange
				if err := json.Unmarshal(e.Data, &ch); err != nil || ch.CertificateID != cert {
					t.Errorf("%s: certificate event %s: %+v, %v", id, e.ID, ch, err)
					continue
				}
				if state != "" && ch.From != state {
					t.Errorf("%s: certificate change %s→%s follows state %s", id, ch.From, ch.State, state)
				}
				state = ch.State
				chain = append(chain, ch.From+"→"+ch.State)
			}
			paths[strings.Join(chain, " ")]++
			if len(chain) == 0 || state != string(c.State) {
				t.Errorf("%s: certificate changes %v, want some ending in its state %s", id, chain, c.State)
			}
			// Every state is an event of its own: a revoked certificate
			// was revoked before it was removed.
			if strings.HasPrefix(chain[0], "issued→") && !slices.Contains(chain, "validating_revocation→revoked") {
				t.Errorf("%s: certificate changes %v, want validating_revocation→revoked among them", id, chain)
			}
		}
		ps, err := db.Payouts(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 1 || ps[0].Status != ports.PayoutPaid {
			t.Errorf("M-4: ledger of %s = %+v, want exactly one paid payout", id, ps)
		}
		refs, err := pay.List(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) != 1 || refs[0].Status != paysim.StatusSucceeded {
			t.Errorf("provider refunds of %s = %+v, want exactly one succeeded", id, refs)
		}
	}

	if reviewed > 0 && waited == 0 {
		t.Errorf("none of the %d revoke orders' refunds said it waited on the CA's review (refund.waiting_changed)", reviewed)
	}
	t.Logf("revoke orders: %d, of which %d said they waited on the CA's review", reviewed, waited)

	// Figures: the receiver's duplicates (and how many came within a few
	// seconds of a kill, i.e. from a delivery a kill cut short), each
	// gateway's attempts (its debug log), the outbox's attempts.
	dupIDs := duplicateIDs(t, sink.logs)
	dups := len(dupIDs)
	firstAt := map[string]time.Time{}
	for _, r := range recs {
		firstAt[r.WebhookID] = r.ReceivedAt
	}
	nearKill := 0
	for _, id := range dupIDs {
		for _, k := range killTimes {
			if d := k.Sub(firstAt[id]); d > -time.Second && d < 5*time.Second {
				nearKill++
				break
			}
		}
	}
	// Each gateway's attempts, from its debug log. Two dispatchers never
	// hold one delivery at once: an event the receiver accepted twice was
	// first accepted by a dispatcher killed moments later, before it could
	// record the answer.
	type accepted struct {
		at       time.Time
		process  string
		killedAt time.Time // zero: not killed
	}
	acceptedBy := map[string][]accepted{}
	var perGateway []string
	for _, g := range gws {
		g.mu.Lock()
		logs, killedAt := slices.Clone(g.logs), slices.Clone(g.killedAt)
		g.mu.Unlock()
		for i, path := range logs {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Error(err)
				continue
			}
			process := fmt.Sprintf("%s#%d", g.name, i+1)
			var killed time.Time
			if i < len(killedAt) {
				killed = killedAt[i]
			}
			attempts, delivered := 0, 0
			for _, line := range strings.Split(string(b), "\n") {
				if !strings.Contains(line, `"event delivery attempt"`) {
					continue
				}
				var l struct {
					TS     string `json:"ts"`
					Event  string `json:"event"`
					Result string `json:"result"`
				}
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Errorf("%s: a log line that does not parse: %s", process, line)
					continue
				}
				attempts++
				if l.Result != "delivered" {
					continue
				}
				delivered++
				at, err := time.Parse("2006-01-02T15:04:05.000Z0700", l.TS)
				if err != nil {
					t.Errorf("%s: time %q: %v", process, l.TS, err)
				}
				acceptedBy[l.Event] = append(acceptedBy[l.Event], accepted{at: at, process: process, killedAt: killed})
			}
			perGateway = append(perGateway, fmt.Sprintf("%s %d attempts (%d accepted)", process, attempts, delivered))
		}
	}
	acceptedTwice := 0
	var twoDispatchers []string
	for id, as := range acceptedBy {
		if len(as) < 2 {
			continue
		}
		acceptedTwice++
		slices.SortFunc(as, func(a, b accepted) int { return a.at.Compare(b.at) })
		var by []string
		for _, a := range as {
			by = append(by, a.process+" at "+a.at.Format("15:04:05.000"))
		}
		// A second copy is legitimate when the first sender was killed
		// right after, or when its lease had run out before the copy was
		// sent (a sender too slow to record the delivery within the lease,
		// as on a loaded machine: at least once). A lease is taken before
		// its attempt, and an attempt takes at most eventTimeout, so a copy
		// accepted less than eventLease-eventTimeout after the first was
		// sent under a live lease: two dispatchers held the event at once.
		for i, a := range as[:len(as)-1] {
			killed := !a.killedAt.IsZero() && a.killedAt.Sub(a.at) <= 5*time.Second && !a.killedAt.Before(a.at.Add(-time.Second))
			if !killed && as[i+1].at.Sub(a.at) < eventLease-eventTimeout {
				twoDispatchers = append(twoDispatchers, fmt.Sprintf("%s accepted by %s", id, strings.Join(by, ", ")))
				break
			}
		}
	}
	if n := len(twoDispatchers); n > 0 {
		// Reported below as an error; the copies after an expired lease are
		// counted with the duplicates.
		slices.Sort(twoDispatchers)
		t.Errorf("%d events were accepted twice though the dispatcher that sent the first copy was not killed right after (two dispatchers held them at once), e.g.:\n%s",
			n, strings.Join(twoDispatchers[:min(n, 5)], "\n"))
	}
	// Delivery lag: from the change to the receiver's file.
	var lags []time.Duration
	for _, r := range recs {
		lags = append(lags, r.ReceivedAt.Sub(r.Event.OccurredAt))
	}
	slices.Sort(lags)
	lag := func(q float64) time.Duration {
		if len(lags) == 0 {
			return 0
		}
		return lags[min(len(lags)-1, int(q*float64(len(lags))))].Round(time.Millisecond)
	}
	sqlDB, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	var nDeliveries, nAttempts, nRetried int64
	if err := sqlDB.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(attempts), 0), COUNT(*) FILTER (WHERE attempts > 1)
		FROM deliveries WHERE delivered = 1`).Scan(&nDeliveries, &nAttempts, &nRetried); err != nil {
		t.Errorf("reading the deliveries: %v", err)
	}
	types := map[ports.EventType]int{}
	for _, e := range outbox {
		types[e.Type]++
	}
	t.Logf("kills: %s", strings.Join(killLog, "; "))
	t.Logf("process starts: eventsink %d, gateways %d+%d, workers %d+%d", sink.starts, gws[0].starts, gws[1].starts, workers[0].starts, workers[1].starts)
	t.Logf("events: %d in the outbox (%v), %d in the receiver's file; deliveries accepted by the receiver %d, duplicates %d (%d of them first received less than 5 s before a kill)",
		len(outbox), types, len(recs), len(recs)+dups, dups, nearKill)
	t.Logf("outbox: %d deliveries done, %d claims (attempts), %d deliveries claimed more than once, %d events accepted twice by the gateways; by process: %s",
		nDeliveries, nAttempts, nRetried, acceptedTwice, strings.Join(perGateway, ", "))
	t.Logf("certificate paths: %v", paths)
	t.Logf("delivery lag (occurred_at to the receiver's file): median %s, p95 %s, max %s", lag(0.5), lag(0.95), lag(1))
	t.Logf("after the last kill: refunds done in %s, the receiver's last new event at %s",
		refundsDone.Sub(lastKill).Round(time.Millisecond), drained.Sub(lastKill).Round(time.Millisecond))
	if len(killLog) != 3 {
		t.Errorf("kills %v, want 3 rounds", killLog)
	}
}
