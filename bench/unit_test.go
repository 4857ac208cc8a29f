package bench

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/refund"
)

func TestParseCountsReadsListsAndNamesTheBadItem(t *testing.T) {
	for in, want := range map[string][]int{"50,200": {50, 200}, " 5 , 10 ": {5, 10}, "1": {1}} {
		got, err := ParseCounts(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseCounts(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":       "empty list",
		"50,":    "item 2 is empty",
		"50,x":   `"x" is not a whole number`,
		"0":      "0: must be at least 1",
		"10,-3":  "-3: must be at least 1",
		"1.5":    `"1.5" is not a whole number`,
		" , 200": "item 1 is empty",
	} {
		if _, err := ParseCounts(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCounts(%q): error %v, want one containing %q", in, err, want)
		}
	}
}

// The api mode's figures of one endpoint: nearest-rank p50 and p99, the
// largest latency as max, the rate over the wall.
func TestAPIPhasePercentilesAndMax(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 200; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	p := apiPhase(EndpointStatusGET, 50, lat, 2*time.Second)
	if p.P50 != 100*time.Millisecond || p.P99 != 198*time.Millisecond || p.Max != 200*time.Millisecond {
		t.Errorf("p50 %s p99 %s max %s, want 100ms 198ms 200ms", p.P50, p.P99, p.Max)
	}
	if p.Count != 200 || p.PerSec != 100 || p.Clients != 50 {
		t.Errorf("count %d rate %f clients %d", p.Count, p.PerSec, p.Clients)
	}
	if one := apiPhase(EndpointCancel, 1, []time.Duration{7}, time.Second); one.P50 != 7 || one.P99 != 7 || one.Max != 7 {
		t.Errorf("one request: %+v", one)
	}
	if none := apiPhase(EndpointCancel, 1, nil, 0); none.P50 != 0 || none.PerSec != 0 {
		t.Errorf("no requests: %+v", none)
	}
}

// driveTimed keeps the latency each op reports (the refund POST times
// only its POST, not the PUT before it), not the op's own duration.
func TestDriveTimedKeepsReportedLatency(t *testing.T) {
	lat, _, err := driveTimed(context.Background(), 10, 3, func(_ context.Context, i int) (time.Duration, error) {
		time.Sleep(time.Millisecond)
		return time.Duration(i), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range lat {
		if d != time.Duration(i) {
			t.Fatalf("latency %d = %d, want %d", i, d, i)
		}
	}
	_, _, err = driveTimed(context.Background(), 10, 3, func(_ context.Context, i int) (time.Duration, error) {
		if i == 4 {
			return 0, errors.New("refused")
		}
		return 1, nil
	})
	if err == nil || err.Error() != "refused" {
		t.Errorf("error %v, want the op's", err)
	}
}

// drainPaired releases and awaits every item of both paths from one
// start, each path on half the release slots, and times each path to its
// own last finish.
func TestDrainPairedSplitsSlotsAndTimesEachPath(t *testing.T) {
	var running, most [2]atomic.Int64
	var released, awaited [2]atomic.Int64
	release := func(k int, d time.Duration) func(context.Context, int) error {
		return func(context.Context, int) error {
			n := running[k].Add(1)
			for m := most[k].Load(); n > m && !most[k].CompareAndSwap(m, n); m = most[k].Load() {
			}
			time.Sleep(d)
			running[k].Add(-1)
			released[k].Add(1)
			return nil
		}
	}
	await := func(k int) func(context.Context, int) error {
		return func(context.Context, int) error { awaited[k].Add(1); return nil }
	}
	took, err := drainPaired(context.Background(), 20, 4,
		[2]func(context.Context, int) error{release(0, 10*time.Millisecond), release(1, time.Millisecond)},
		[2]func(context.Context, int) error{await(0), await(1)})
	if err != nil {
		t.Fatal(err)
	}
	for k := range 2 {
		if released[k].Load() != 20 || awaited[k].Load() != 20 {
			t.Errorf("path %d: %d released, %d awaited, want 20 each", k, released[k].Load(), awaited[k].Load())
		}
		if m := most[k].Load(); m > 2 {
			t.Errorf("path %d ran %d releases at once, want at most half of 4", k, m)
		}
	}
	if took[0] <= took[1] {
		t.Errorf("slow path took %s, fast path %s: want the slow one longer", took[0], took[1])
	}
	_, err = drainPaired(context.Background(), 20, 4,
		[2]func(context.Context, int) error{func(context.Context, int) error { return errors.New("casim down") }, release(1, 0)},
		[2]func(context.Context, int) error{await(0), await(1)})
	if err == nil || !strings.Contains(err.Error(), "casim down") {
		t.Errorf("error %v, want the failing release's", err)
	}
}

func TestPerRoundListsEveryRoundWithItsRatio(t *testing.T) {
	phases := []Phase{
		{Name: PhaseCertflow, Round: 1, PerSec: 1}, {Name: PhaseBaseline, Round: 1, PerSec: 2},
		{Name: PhaseCertflow, Round: 2, PerSec: 3}, {Name: PhaseBaseline, Round: 2, PerSec: 4},
		{Name: PhaseCertflow, Round: 3, PerSec: 5}, // its baseline half missing
	}
	got := perRound(phases, PhaseCertflow, PhaseBaseline, func(p Phase) float64 { return p.PerSec })
	want := "round 1: 1.00 / 2.00 (0.50×); round 2: 3.00 / 4.00 (0.75×)"
	if got != want {
		t.Errorf("perRound = %q, want %q", got, want)
	}
	if got := perRound(nil, PhaseCertflow, PhaseBaseline, func(p Phase) float64 { return p.PerSec }); got != "—" {
		t.Errorf("no rounds: %q", got)
	}
}

// The throughput target holds in every paired round, not on the mean: one
// round under the baseline misses it.
func TestEveryRoundJudgesEachPairedRound(t *testing.T) {
	atLeast := func(c, b Phase) bool { return c.PerSec >= b.PerSec }
	round := func(r int, c, b float64) []Phase {
		return []Phase{{Name: PhaseCertflow, Round: r, PerSec: c}, {Name: PhaseBaseline, Round: r, PerSec: b}}
	}
	for name, tc := range map[string]struct {
		phases []Phase
		want   bool
	}{
		"every round above":          {append(round(1, 5, 4), round(2, 4, 4)...), true},
		"one round under, mean over": {append(round(1, 9, 4), round(2, 3.9, 4)...), false},
		"no round":                   {nil, false},
		"unpaired round ignored":     {append(round(1, 5, 4), Phase{Name: PhaseCertflow, Round: 2, PerSec: 1}), true},
	} {
		if got := everyRound(tc.phases, PhaseCertflow, PhaseBaseline, atLeast); got != tc.want {
			t.Errorf("%s: everyRound = %v, want %v", name, got, tc.want)
		}
	}
}

func TestAPITargetJudgesOnlyAtTheIssuesSize(t *testing.T) {
	full := &API{InFlight: 2000}
	for _, c := range []struct {
		a    *API
		p    APIPhase
		want string
	}{
		{full, APIPhase{Clients: 200, P99: 499 * time.Millisecond}, "met"},
		{full, APIPhase{Clients: 200, P99: 500 * time.Millisecond}, "**not met**"},
		{full, APIPhase{Clients: 50, P99: time.Second}, "—"},
		{&API{InFlight: 20}, APIPhase{Clients: 200, P99: time.Millisecond}, "n/a (measured with 20 in flight)"},
	} {
		if _, got := apiTarget(c.a, c.p, targetRefundPOSTP99); got != c.want {
			t.Errorf("%d clients, %d in flight, p99 %s: %q, want %q", c.p.Clients, c.a.InFlight, c.p.P99, got, c.want)
		}
	}
}

// apiReport is a well-formed api report at the issue's sizes.
func apiReport(clients ...int) *Report {
	a := &API{InFlight: 2000, AwaitingApproval: 8000, BaselineParked: 2000, Park: time.Minute, Requests: 10, Background: 2,
		BackgroundDone: 30, BackgroundWall: time.Minute}
	u := Usages{Worker: Usage{CPU: 0.1, RSS: 1 << 20}, Server: Usage{CPU: 0.5, RSS: 1 << 20}, BaselineWorker: Usage{CPU: 0, RSS: 1 << 20},
		Harness: Usage{CPU: 0.3, RSS: 1 << 20}, Simulators: Usage{CPU: 0.2, RSS: 1 << 20}, MachineCPU: 1.9}
	for _, c := range clients {
		for _, e := range APIEndpoints {
			p99 := 100 * time.Millisecond
			if e == EndpointRefundPOST {
				p99 = 600 * time.Millisecond
			}
			a.Phases = append(a.Phases, APIPhase{Endpoint: e, Clients: c, Count: 10, Wall: time.Second, PerSec: 10,
				P50: 10 * time.Millisecond, P99: p99, Max: p99 + time.Millisecond, Usages: u})
		}
	}
	return &Report{Config: Config{Mode: ModeAPI, InFlight: 2000, APIClients: clients, APIRequests: 10}, API: a}
}

func TestAPIMarkdownTableAndTargets(t *testing.T) {
	md := apiReport(50, 200).Markdown(Header{Date: time.Now(), Machine: "m", Commit: "c", Command: "bench-e2e -mode api", Load: "0.10 0.20 0.30"})
	for _, want := range []string{
		"- load average at start: 0.10 0.20 0.30",
		"- command: `bench-e2e -mode api`",
		"2000 refunds parked at the CA's review and 8000 GW-4 refunds awaiting approval",
		"| refund POST | 200 | 10 ms | 600 ms | 601 ms | ExecuteWorkflow | 10 ms | 100 ms | 101 ms | 6.00× | p99 < 500 ms at 200 clients, 2000 in flight | **not met** |",
		"| status GET | 200 | 10 ms | 100 ms | 101 ms | DescribeWorkflowExecution | 10 ms | 100 ms | 101 ms | 1.00× | p99 < 200 ms at 200 clients, 2000 in flight | met |",
		"| status GET | 50 | 10 ms | 100 ms | 101 ms | DescribeWorkflowExecution |",
		"| list GET | 200 | 10 ms | 100 ms | 101 ms | DescribeWorkflowExecution |",
		"| approve | 200 | 10 ms | 100 ms | 101 ms | — | — | — | — | — | — | — |",
		"| cancel | 50 |",
		"| ExecuteWorkflow | 50 | 10 | 1000 ms | 10.0 | 10 ms | 100 ms | 101 ms | 0 | 0.50 | 1 MB | 0.10 | 1 MB | 0.00 | 1 MB | 0.30 | 0.20 | 1.90 | 0.80 |",
		"(30 finished in 60.0 s, 0.50/s)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "| what | certflow |") {
		t.Errorf("an api-only report has an empty summary table:\n%s", md)
	}
	md = apiReport(5).Markdown(Header{Date: time.Now()})
	if !strings.Contains(md, "were not judged: 200 clients were not measured") {
		t.Errorf("a run without 200 clients does not say the targets were not judged:\n%s", md)
	}
}

func TestCheckRefusesMalformedAPIFigures(t *testing.T) {
	if err := apiReport(50, 200).Check(); err != nil {
		t.Fatalf("well-formed api report refused: %v", err)
	}
	for name, spoil := range map[string]func(r *Report){
		"missing":         func(r *Report) { r.API = nil },
		"missing phase":   func(r *Report) { r.API.Phases = r.API.Phases[1:] },
		"max below p99":   func(r *Report) { r.API.Phases[2].Max = time.Millisecond },
		"short count":     func(r *Report) { r.API.Phases[3].Count = 9 },
		"wrong in flight": func(r *Report) { r.API.InFlight = 20 },
		"no baseline RSS": func(r *Report) { r.API.Phases[0].BaselineWorker.RSS = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			r := apiReport(50, 200)
			spoil(r)
			if r.Check() == nil {
				t.Error("malformed report accepted")
			}
		})
	}
}

// The throughput section reports every paired round, not only the mean,
// and the baseline worker's usage beside certflow's.
func TestMarkdownReportsEveryRoundAndTheBaselineWorker(t *testing.T) {
	u := Usage{CPU: 0.25, RSS: 40 << 20}
	r := &Report{Config: Config{Mode: ModeThroughput, Rounds: 2, Refunds: 5, Concurrency: 10}, Throughput: []Phase{
		{Name: PhaseCertflow, Round: 1, Count: 4, Wall: time.Second, PerSec: 4, P50: time.Second, P99: time.Second, BaselineWorker: u},
		{Name: PhaseBaseline, Round: 1, Count: 6, Wall: time.Second, PerSec: 6, P50: time.Second / 2, P99: time.Second, BaselineWorker: u},
		{Name: PhaseCertflow, Round: 2, Count: 5, Wall: time.Second, PerSec: 5, P50: time.Second, P99: time.Second, BaselineWorker: u},
		{Name: PhaseBaseline, Round: 2, Count: 5, Wall: time.Second, PerSec: 5, P50: time.Second / 2, P99: time.Second, BaselineWorker: u},
	}, Paths: []PathEvents{{Path: PathIssued, Total: 39, Workflows: []WorkflowEvents{{WorkflowID: "refund/x", Events: 39, ByType: map[string]int{"X": 39}}}}}}
	md := r.Markdown(Header{Date: time.Now()})
	for _, want := range []string{
		"both at once, 5 in flight each, 10 ops a round (mean of 2 paired rounds) | 4.50 | 5.50 wf/s | 0.82× | ≥ 1.00× in every round | **no** |",
		"| history events, 1 issued certificate: revoke → review → delete → pay | 39 (39) | — | — | ≤ 30 | **no** |",
		"| … each round: /s | round 1: 4.00 / 6.00 (0.67×); round 2: 5.00 / 5.00 (1.00×) |",
		"| … each round: p50 | round 1: 1.00 / 0.50 (2.00×); round 2: 1.00 / 0.50 (2.00×) |",
		"| baseline worker CPU | baseline worker RSS |",
		"| certflow | 2 | 5 | 1000 ms | 5.00 | 1000 ms | 1000 ms | 0.00 | 0 MB | 0.00 | 0 MB | 0.25 | 40 MB |",
		"Review timing: the CA simulator answers each revocation review at once",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// The api mode's plan: the parked and GW-4 orders are registered before
// the worker starts, the POSTs' orders are not (the clients PUT them);
// the parked and the POSTed refunds' reviews are held by the CA.
func TestPlanAPIOrders(t *testing.T) {
	p := newPlan(Config{Mode: ModeAPI, InFlight: 3, APIClients: []int{5, 2}, APIRequests: 4}, time.Now())
	all := map[string]bool{}
	for _, o := range p.all() {
		all[o.ID] = true
	}
	if len(all) != 3+2*2*4 {
		t.Errorf("%d orders registered, want 3 parked + 16 GW-4", len(all))
	}
	for _, c := range []int{2, 5} {
		if len(p.apiPost[c]) != 4 || len(p.apiApprove[c]) != 4 || len(p.apiCancel[c]) != 4 {
			t.Errorf("%d clients: %d posts, %d approvals, %d cancels, want 4 each", c, len(p.apiPost[c]), len(p.apiApprove[c]), len(p.apiCancel[c]))
		}
		for _, o := range p.apiPost[c] {
			if all[o.ID] {
				t.Errorf("POST order %s registered before the run", o.ID)
			}
			if p.behaviours()[o.Certificates[0].ID].Revocation != "never" {
				t.Errorf("POST order %s: its review is not held", o.ID)
			}
		}
		for _, o := range p.apiApprove[c] {
			if o.Usage == nil || o.Usage.GRCQConsumed == 0 {
				t.Errorf("approve order %s would not await approval (GW-4): %+v", o.ID, o.Usage)
			}
		}
	}
	if got := len(p.behaviours()); got != 3+2*4 {
		t.Errorf("%d reviews held, want 3 parked + 8 POSTed", got)
	}
}

// The callback mode's held path: one refund per certificate of the
// certificate path, each of one issued certificate (its refund revokes
// it and waits at the review, holding it), registered before the worker
// starts, its review held by the CA, and no order shared with the
// certificate path.
func TestPlanCallbacksHeldOrders(t *testing.T) {
	p := newPlan(Config{Mode: ModeCallbacks, Callbacks: 10, CallbackCertificates: 3, Rounds: 1}, time.Now())
	if len(p.callbacksHeld) != 3 || len(p.callbacks) != 3 {
		t.Fatalf("%d held refunds, %d certificates, want 3 each", len(p.callbacksHeld), len(p.callbacks))
	}
	registered := map[string]bool{}
	for _, o := range p.all() {
		registered[o.ID] = true
	}
	certPath := map[string]bool{}
	for _, o := range p.callbacks {
		certPath[o.ID] = true
	}
	held := p.behaviours()
	for _, o := range p.callbacksHeld {
		switch {
		case !registered[o.ID]:
			t.Errorf("held order %s is not registered before the run", o.ID)
		case certPath[o.ID]:
			t.Errorf("held order %s is the certificate path's too", o.ID)
		case len(o.Certificates) != 1 || o.Certificates[0].State != statemachine.Issued:
			t.Errorf("held order %s: certificates %+v, want one issued (its refund revokes it)", o.ID, o.Certificates)
		case held[o.Certificates[0].ID].Revocation != casim.RevocationNever:
			t.Errorf("held order %s: the CA does not hold its review, the refund would move on", o.ID)
		}
	}
	if len(registered) != 6 {
		t.Errorf("%d orders registered, want 3 + 3", len(registered))
	}
	if q := newPlan(Config{Mode: ModeThroughput, Refunds: 1, Rounds: 1, CallbackCertificates: 3}, time.Now()); len(q.callbacksHeld) != 0 {
		t.Errorf("a throughput run plans %d held refunds", len(q.callbacksHeld))
	}
}

// The held path's result must be taken and never applied: it answers
// another review than the open one and occurred before the revocation
// was submitted (either makes it a stray), and every callback repeats one
// event ID, which the refund drops as seen. The body the gateway gets and
// the result the direct path signals say the same.
func TestHeldResultIsALateResultOfAnotherReview(t *testing.T) {
	paid := time.Date(2026, 12, 5, 9, 30, 15, 500, time.UTC)
	o := issuedOrder("cb-held-00007", paid, paid.Add(time.Hour))
	res := heldResult(o, paid)
	switch {
	case res.Certificate != "cb-held-00007-c1" || res.EventID == "" || res.EventID != heldResult(o, paid).EventID:
		t.Errorf("result %+v: want a fixed event ID for the order's certificate", res)
	case res.ReviewID == "" || res.ReviewID != heldReviewID:
		t.Errorf("review ID %q: want one naming an earlier review", res.ReviewID)
	case !res.At.Before(paid.Add(time.Hour)) || !res.At.Equal(paid.Truncate(time.Second)):
		t.Errorf("occurred %s: want the paid time to the second, before any revocation", res.At)
	case res.Result != statemachine.RevocationApproved || res.Stray != "":
		t.Errorf("result %s, stray %q", res.Result, res.Stray)
	}
	var set callbackSet
	if err := set.add(res, refund.WorkflowID(o.ID)); err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	if err := json.Unmarshal(set.bodies[0], &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"event_id": res.EventID, "review_id": heldReviewID, "type": "revocation_approved",
		"certificate": res.Certificate, "reason": res.Reason, "occurred_at": "2026-12-05T09:30:15Z"}
	if !maps.Equal(body, want) {
		t.Errorf("callback body %v, want %v", body, want)
	}
	if set.workflows[0] != "refund/cb-held-00007" || !slices.Equal(set.certificates(), []string{res.Certificate}) {
		t.Errorf("direct signals go to %q for %v", set.workflows[0], set.certificates())
	}
}

// callbacksReport is a well-formed callback report of two rounds; the
// held path's gateway does 95 and 90 callbacks/s against 100 direct, p99
// 110 ms against 100 ms.
func callbacksReport() *Report {
	u := Usages{Worker: Usage{CPU: 0.1, RSS: 1 << 20}, Server: Usage{CPU: 0.5, RSS: 1 << 20}, BaselineWorker: Usage{CPU: 0, RSS: 1 << 20},
		Harness: Usage{CPU: 0.3, RSS: 1 << 20}, Simulators: Usage{CPU: 0.2, RSS: 1 << 20}, MachineCPU: 1.9}
	phase := func(name string, round int, rate float64, p99 time.Duration) Phase {
		return Phase{Name: name, Round: round, Count: int(rate), Wall: time.Second, PerSec: rate, P50: p99 / 2, P99: p99,
			Worker: u.Worker, Server: u.Server, BaselineWorker: u.BaselineWorker}
	}
	r := &Report{Config: Config{Mode: ModeCallbacks, Rounds: 2, Callbacks: 200, CallbackCertificates: 20, Concurrency: 10},
		HeldCallbacks: &HeldCallbacks{Refunds: 20, Sent: 500, Signals: 500, Added: map[string]int{
			"WorkflowExecutionSignaled": 500, "WorkflowTaskScheduled": 410, "WorkflowTaskStarted": 400, "WorkflowTaskCompleted": 400,
			"WorkflowTaskTimedOut": 10}}}
	for round, held := range map[int]float64{1: 95, 2: 90} {
		r.Callbacks = append(r.Callbacks,
			phase(PhaseGateway, round, 100, 100*time.Millisecond), phase(PhaseDirect, round, 100, 100*time.Millisecond),
			phase(PhasePairedGateway, round, 100, 100*time.Millisecond), phase(PhasePairedDirect, round, 100, 100*time.Millisecond),
			phase(PhaseHeldGateway, round, held, 110*time.Millisecond), phase(PhaseHeldDirect, round, 100, 100*time.Millisecond))
	}
	slices.SortStableFunc(r.Callbacks, func(a, b Phase) int { return a.Round - b.Round })
	return r
}

// The held path is judged on its paired rounds against the issue's
// targets (≥ 0.95× the direct rate, p99 ≤ 1.1×), each round listed with
// its rate, p99 and ratio, and what the harness checked of the refunds'
// histories is said.
func TestMarkdownHeldCallbacksRowsAndTargets(t *testing.T) {
	md := callbacksReport().Markdown(Header{Date: time.Now()})
	for _, want := range []string{
		"held path (the certificate's holding refund, `refund/<order>`), both at once, 5 in flight each (mean of 2 paired rounds): /s | 92 | 100 | 0.93× | ≥ 0.95× | **no** |",
		"| … p99 | 110 ms | 100 ms | 1.10× | ≤ 1.1× | yes |",
		"| … each paired round: /s | round 1: 95.00 / 100 (0.95×); round 2: 90.00 / 100 (0.90×) |",
		"| … each paired round: p99 | round 1: 0.11 / 0.10 (1.10×); round 2: 0.11 / 0.10 (1.10×) |",
		"| held, paired: gateway | 2 | 90 |",
		"| held, paired: direct | 1 | 100 |",
		"Held path: 20 refunds parked at the CA's review, each holding its certificate, were sent 500 ca-result signals after priming",
		"their histories gained 500, adding WorkflowExecutionSignaled 500, WorkflowTaskScheduled 410, WorkflowTaskCompleted 400, WorkflowTaskStarted 400, WorkflowTaskTimedOut 10;",
		"0 held certificates had a workflow of their own",
		"certificate path (to `certificate/<id>`)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	r := callbacksReport()
	for i := range r.Callbacks {
		if r.Callbacks[i].Name == PhaseHeldGateway {
			r.Callbacks[i].PerSec = 96
		}
	}
	if md := r.Markdown(Header{Date: time.Now()}); !strings.Contains(md, "| 96 | 100 | 0.96× | ≥ 0.95× | yes |") {
		t.Errorf("0.96× is not met:\n%s", md)
	}
}

func TestCheckRefusesHeldPathFaults(t *testing.T) {
	if err := callbacksReport().Check(); err != nil {
		t.Fatalf("well-formed callback report refused: %v", err)
	}
	for name, spoil := range map[string]func(r *Report){
		"held check missing":      func(r *Report) { r.HeldCallbacks = nil },
		"a callback not received": func(r *Report) { r.HeldCallbacks.Signals-- },
		"fallback ran":            func(r *Report) { r.HeldCallbacks.CertificateWorkflows = 1 },
		"the callbacks wrote":     func(r *Report) { r.HeldCallbacks.Added["UpsertWorkflowSearchAttributes"] = 1 },
		"a task failed":           func(r *Report) { r.HeldCallbacks.Added["WorkflowTaskFailed"] = 1 },
		"continued as new":        func(r *Report) { r.HeldCallbacks.Added["WorkflowExecutionContinuedAsNew"] = 1 },
		"other refund count":      func(r *Report) { r.HeldCallbacks.Refunds = 19 },
		"held round missing": func(r *Report) {
			r.Callbacks = slices.DeleteFunc(r.Callbacks, func(p Phase) bool { return p.Name == PhaseHeldDirect && p.Round == 2 })
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := callbacksReport()
			spoil(r)
			if r.Check() == nil {
				t.Error("malformed report accepted")
			}
		})
	}
}

// The machine's busy time is every state of /proc/stat's cpu line but
// idle and iowait, in USER_HZ ticks; what the measured processes do not
// use is the others' (never below zero).
func TestMachineCPUFromProcStat(t *testing.T) {
	t0 := time.Unix(1000, 0)
	m0, err := parseMachine([]byte("cpu  100 5 50 900 40 3 2 0 0 0\ncpu0 50 2 25 450 20 1 1 0 0 0\n"), t0)
	if err != nil {
		t.Fatal(err)
	}
	m1, err := parseMachine([]byte("cpu  250 5 100 1000 90 3 2 0 0 0\n"), t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := m1.coresSince(m0); got != 2.0 { // (150 + 50) ticks in 1 s, idle and iowait left out
		t.Errorf("machine cores = %v, want 2", got)
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu  1 2 x 4 5 6 7 8\n", "cpu 1 2 3\n"} {
		if _, err := parseMachine([]byte(bad), t0); err == nil {
			t.Errorf("parseMachine(%q) = no error", bad)
		}
	}
	u := Usages{Worker: Usage{CPU: 0.5}, Server: Usage{CPU: 0.7}, Harness: Usage{CPU: 0.3}, Simulators: Usage{CPU: 0.1}, MachineCPU: 1.5}
	if got := u.OtherCPU(); got != 0 {
		t.Errorf("others = %v when the processes account for more than the machine, want 0", got)
	}
	u.MachineCPU = 2
	if got := u.OtherCPU(); got < 0.399 || got > 0.401 {
		t.Errorf("others = %v, want 0.4", got)
	}
}
