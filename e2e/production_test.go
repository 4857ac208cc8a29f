package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/paysim"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/refund"
)

// productionMark is the environment variable the production topology's
// test marks the command with: every process it starts inherits it, so
// the test finds them all in /proc, those that left their parent's
// process group or session (PostgreSQL's, the children of the runner)
// included.
const productionMark = "CERTFLOW_PRODUCTION_TEST_MARK"

// The "one command runs the production topology": make
// run-production, as printed in docs/operations.md, starts the real
// Temporal server on a throwaway PostgreSQL of its own, the store on it,
// two workers and two gateways, the simulators and the demo. Both gateways
// answer /readyz; refunds registered and requested through both (each
// requested through both at once) are paid exactly once at the payment
// simulator, the CA's callbacks reach both gateways; a SIGTERM to make
// stops everything cleanly (the runner reports no child that had to be
// killed) and leaves no process behind.
func TestProductionTopology(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Fatalf("this test finds the topology's processes in /proc (Linux): %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	realBin := testenv.RealServerBin(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// make's BIN: the cached server and CLI, what the runner builds.
	links := map[string]string{"temporal": testenv.TemporalBin(t)}
	for _, f := range []string{"temporal-server", "temporal-sql-tool", "temporal-schema"} {
		links[f] = filepath.Join(realBin, f)
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	mark := make([]byte, 8)
	_, _ = rand.Read(mark)
	markValue := hex.EncodeToString(mark)

	// The ports are picked free, but bound seconds later, after the
	// builds and the server's start: another process (a parallel test's
	// server, an outgoing connection) may take one meanwhile. Such a start
	// (the runner refused the bind and everything stopped) is made again
	// on other ports, in a new folder, up to three times.
	var (
		cmd     *exec.Cmd
		exited  chan error
		runDir  string
		out     string
		ep      productionEndpoints
		stopped bool
	)
	for attempt := 1; ; attempt++ {
		runDir = filepath.Join(dir, fmt.Sprintf(".run-%d", attempt))
		out = filepath.Join(dir, fmt.Sprintf("run-production-%d.log", attempt))
		var err error
		cmd, exited, err = startProduction(t, root, bin, runDir, out, markValue)
		if err != nil {
			t.Fatal(err)
		}
		cmd, exited, runDir, out := cmd, exited, runDir, out
		t.Cleanup(func() {
			if stopped {
				return
			}
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(2 * time.Minute):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
			for _, p := range markedProcesses(t, markValue) {
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			}
			dumpTail(t, out)
			for _, f := range []string{"worker.log", "worker2.log", "gateway.log", "gateway2.log"} {
				dumpTail(t, filepath.Join(runDir, f))
			}
		})
		started := time.Now()
		var taken bool
		ep, taken = waitProductionEndpoints(t, filepath.Join(runDir, "endpoints.json"), exited, out)
		if !taken {
			t.Logf("make run-production: endpoints.json after %s", time.Since(started).Round(time.Second))
			break
		}
		if attempt == 3 {
			dumpTail(t, out)
			t.Fatal("make run-production: a port it was given was taken before it bound it, three times")
		}
		t.Logf("start %d: a port was taken before the runner bound it; starting again on other ports", attempt)
	}
	if ep.Topology != "production" || len(ep.Gateways) != 2 || ep.WebUI != "" {
		t.Fatalf("endpoints.json: topology %q, gateways %v, Web UI %q; want production, two gateways, no Web UI (the real server has none)",
			ep.Topology, ep.Gateways, ep.WebUI)
	}
	for _, gw := range ep.Gateways {
		if code := getStatus(t, gw+"/readyz"); code != http.StatusOK {
			t.Fatalf("GET %s/readyz: %d, want 200", gw, code)
		}
	}
	running := markedProcesses(t, markValue)
	counts := map[string]int{}
	for _, p := range running {
		counts[p.name]++
	}
	t.Logf("processes of the topology: %v", counts)
	for name, want := range map[string]int{"certflow-worker": 2, "certflow-gateway": 2, "temporal-server": 1, "casim": 1, "paysim": 1, "eventsink": 1} {
		if counts[name] != want {
			t.Errorf("%d %s processes, want %d", counts[name], name, want)
		}
	}
	if counts["postgres"] == 0 {
		t.Errorf("no postgres process among %v", counts)
	}
	if t.Failed() {
		t.FailNow()
	}

	c := productionClient{t: t, ep: ep}
	orders := productionOrders(12)
	for i, o := range orders {
		if code, body := c.send(ep.Gateways[i%2], http.MethodPut, "/v1/orders/"+o.ID, o); code != http.StatusCreated {
			t.Fatalf("PUT order %s through %s: %d %s", o.ID, ep.Gateways[i%2], code, body)
		}
	}
	// Every refund requested through both gateways at once: one workflow,
	// one payment.
	var wg sync.WaitGroup
	errs := make(chan string, 2*len(orders))
	for _, o := range orders {
		for _, gw := range ep.Gateways {
			wg.Go(func() {
				code, body := c.send(gw, http.MethodPost, "/v1/orders/"+o.ID+"/refund",
					map[string]any{"consent": true, "confirm_irreversible": true, "accept_late_review_risk": true})
				// The other gateway's request may have been paid already.
				if code != http.StatusAccepted && !(code == http.StatusConflict && strings.Contains(body, `"M-3"`)) {
					errs <- fmt.Sprintf("%s via %s: %d %s", o.ID, gw, code, body)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("refund request %s", e)
	}
	if t.Failed() {
		t.FailNow()
	}
	for i, o := range orders {
		// Read back through the gateway the order was not registered by.
		c.waitRefunded(ep.Gateways[(i+1)%2], o.ID)
		refs := c.paid(o.ID)
		succeeded := 0
		for _, r := range refs {
			if r.Status == paysim.StatusSucceeded {
				succeeded++
				if r.Amount != "80.00" {
					t.Errorf("%s: paid %s, want 80.00", o.ID, r.Amount)
				}
			}
		}
		if succeeded != 1 {
			t.Errorf("M-4: the payment simulator paid %s %d times, want once: %+v", o.ID, succeeded, refs)
		}
	}
	for i, gw := range ep.Gateways {
		if n := acceptedCallbacks(t, gw); n == 0 {
			t.Errorf("gateway %d (%s) accepted no CA callback: the CA's callbacks should reach both", i+1, gw)
		} else {
			t.Logf("gateway %d accepted %g CA callbacks", i+1, n)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// SIGTERM to make, as a process manager stops it: it reaches the
	// scripts, which stop the runner first (it stops its children), then
	// the server and PostgreSQL.
	stopAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		// make passes the SIGTERM on to its recipe, waits for it, and
		// then dies of the signal itself, as it always does.
		stopped = true
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGTERM) {
			t.Errorf("make run-production after SIGTERM: %v, want an exit by that SIGTERM", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("make run-production did not exit within 2 minutes of SIGTERM")
	}
	t.Logf("stopped %s after SIGTERM", time.Since(stopAt).Round(time.Millisecond))
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// The runner prints "everything stopped" only when every child
	// stopped by itself within its grace period (one it had to kill, or
	// that exited with an error, is an error it prints and exits 1 with).
	for _, want := range []string{"· stopped gateway2", "· stopped worker2", "· everything stopped"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("the output has no %q", want)
		}
	}
	for _, bad := range []string{"certflow-dev:", "Temporal server did not", "make: *** [Makefile"} {
		if i := bytes.Index(b, []byte(bad)); i >= 0 {
			t.Errorf("the output reports a failure: %s", b[i:min(len(b), i+300)])
		}
	}
	var left []markedProcess
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if left = markedProcesses(t, markValue); len(left) == 0 {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("processes left after make run-production stopped: %+v", left)
	}
	if t.Failed() {
		dumpTail(t, out)
	}
}

// productionEnv is the test's environment without what would make the
// command use the suite's own server and PostgreSQL (make
// test-real-temporal runs the tests under scripts/with-temporal-server)
// or its make's jobserver.
func productionEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "CERTFLOW_TEST_POSTGRES", "TEMPORAL_ADDRESS", "CERTFLOW_TEMPORAL_ADDRESS", "CERTFLOW_TEMPORAL_CTL", "CERTFLOW_TEMPORAL_STATE",
			"CERTFLOW_TEMPORAL_WANTS_PG", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", productionMark:
			continue
		}
		env = append(env, kv)
	}
	return env
}

// productionEndpoints is the part of the runner's endpoints.json this test
// reads.
type productionEndpoints struct {
	Topology string            `json:"topology"`
	Gateways []string          `json:"gateways"`
	WebUI    string            `json:"web_ui"`
	Tokens   map[string]string `json:"tokens"`
	Pay      struct {
		URL   string `json:"url"`
		Token string `json:"token"`
	} `json:"pay"`
}

// waitProductionEndpoints waits for the runner's endpoints.json (written
// once the gateways are ready), failing when the command exits first.
func waitProductionEndpoints(t *testing.T, path string, exited chan error, log string) (ep productionEndpoints, portTaken bool) {
	t.Helper()
	for end := time.Now().Add(8 * time.Minute); time.Now().Before(end); {
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &ep) == nil && len(ep.Gateways) > 0 {
			return ep, false
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			if b, _ := os.ReadFile(log); bytes.Contains(b, []byte(" is taken (listen tcp ")) {
				return ep, true // everything stopped: the runner checks its ports first
			}
			dumpTail(t, log)
			t.Fatalf("make run-production exited before writing %s: %v", path, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not appear within 8 minutes", path)
	return ep, false
}

// startProduction starts make run-production on fresh ports, its output
// in out, its state in runDir, its processes marked with markValue; the
// channel gets make's exit.
func startProduction(t *testing.T, root, bin, runDir, out, markValue string) (*exec.Cmd, chan error, error) {
	t.Helper()
	args := strings.Join([]string{"-dir", runDir, "-gateway-addr", addrOf(freePort(t)), "-gateway2-addr", addrOf(freePort(t)),
		"-casim-addr", addrOf(freePort(t)), "-paysim-addr", addrOf(freePort(t)), "-eventsink-addr", addrOf(freePort(t)),
		"-metrics-addr", addrOf(freePort(t)), "-metrics2-addr", addrOf(freePort(t)),
		"-review-delay", "1s", "-approve-after", "1s", "-refresh", "1h"}, " ")
	cmd := exec.Command("make", "--no-print-directory", "run-production", "BIN="+bin, "ARGS="+args)
	cmd.Dir = root
	cmd.Env = append(productionEnv(), productionMark+"="+markValue)
	// A group of its own: should the test fail midway, its cleanup kills
	// whatever is left of it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logf, err := os.Create(out)
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, err
	}
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		logf.Close()
		exited <- err
	}()
	return cmd, exited, nil
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// productionOrders are n orders of 100.00 (80.00 cash): every third with
// an issued certificate (revoke, the CA's review and its callback, delete),
// every third with a pending application (withdraw, cancel), the others
// unused.
func productionOrders(n int) []domain.Order {
	paid := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	issued := paid.Add(time.Hour)
	orders := make([]domain.Order, n)
	for i := range orders {
		id := fmt.Sprintf("prod-%02d", i)
		o := domain.Order{ID: id, Product: domain.SSLCertificate, Profile: "aliyun-intl", PaidAt: paid, Currency: "USD",
			Price: decimal.RequireFromString("100.00"), ValidityYears: 1,
			Payment: domain.Payment{Cash: decimal.RequireFromString("80.00"), Voucher: decimal.RequireFromString("20.00")}}
		switch i % 3 {
		case 0:
			o.Certificates = []domain.Certificate{{ID: "c-" + id, State: statemachine.Issued, IssuedAt: &issued}}
		case 1:
			o.Certificates = []domain.Certificate{{ID: "c-" + id, State: statemachine.PendingApplication}}
		}
		orders[i] = o
	}
	return orders
}

// productionClient calls the topology's gateways and payment simulator.
type productionClient struct {
	t  *testing.T
	ep productionEndpoints
}

// send calls a gateway's console API with the demo's console token.
func (c productionClient) send(gw, method, path string, body any) (int, string) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, gw+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.ep.Tokens["console"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitRefunded waits until the gateway says the order's refund ended
// refunded.
func (c productionClient) waitRefunded(gw, orderID string) {
	c.t.Helper()
	var last string
	for end := time.Now().Add(3 * time.Minute); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
		code, body := c.send(gw, http.MethodGet, "/v1/orders/"+orderID+"/refund", nil)
		last = fmt.Sprintf("%d %s", code, body)
		var v refundView
		if code == http.StatusOK && json.Unmarshal([]byte(body), &v) == nil {
			switch v.Status.Outcome {
			case refund.OutcomeRefunded:
				return
			case refund.OutcomeRejected, refund.OutcomeCancelled:
				c.t.Fatalf("%s ended %s: %s", orderID, v.Status.Outcome, v.Status.Message)
			}
		}
	}
	c.t.Fatalf("the refund of %s did not end refunded within 3 minutes; last %s", orderID, last)
}

// paid lists the payment simulator's refunds of an order.
func (c productionClient) paid(orderID string) []paysim.Refund {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.ep.Pay.URL+"/admin/refunds?order_id="+orderID, nil)
	req.Header.Set("Authorization", "Bearer "+c.ep.Pay.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Refunds []paysim.Refund `json:"refunds"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
		c.t.Fatalf("GET %s/admin/refunds?order_id=%s: %s", c.ep.Pay.URL, orderID, resp.Status)
	}
	return v.Refunds
}

// acceptedCallbacks sums a gateway's certflow_ca_callbacks{result="accepted"}
// from its /metrics.
func acceptedCallbacks(t *testing.T, gw string) float64 {
	t.Helper()
	resp, err := http.Get(gw + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var n float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "certflow_ca_callbacks") || !strings.Contains(line, `result="accepted"`) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		n += v
	}
	return n
}

// markedProcess is a live process carrying the test's mark.
type markedProcess struct {
	pid  int
	name string // the base name of its executable
}

// markedProcesses lists the live processes whose environment carries
// productionMark=value (zombies, already exited, are not counted).
func markedProcesses(t *testing.T, value string) []markedProcess {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	want := []byte(productionMark + "=" + value + "\x00")
	var out []markedProcess
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			// The state follows the parenthesised command: "pid (comm) S ...".
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
				continue
			}
		}
		name := ""
		if cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil {
			first, _, _ := bytes.Cut(cmdline, []byte{0})
			name = filepath.Base(string(first))
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && name == "" {
			name = filepath.Base(exe)
		}
		out = append(out, markedProcess{pid: pid, name: name})
	}
	return out
}
