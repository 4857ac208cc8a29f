package bench

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Report is the figures of one run.
type Report struct {
	Config     Config       `json:"-"`
	Throughput []Phase      `json:"throughput,omitempty"`
	Paths      []PathEvents `json:"paths,omitempty"`
	Waiting    *Waiting     `json:"waiting,omitempty"`
	Callbacks  []Phase      `json:"callbacks,omitempty"`
	// Retries counts requests (refund starts, callbacks) the gateway answered 503 (Temporal did
	// not answer in time), retried after a second; their latency includes
	// the retries.
	Retries int `json:"retries"`
	// TimeoutRetries counts the waiting mode's calls to Temporal (baseline
	// signals, waits for a result) that timed out on a loaded server and
	// were made again, as a CA delivers a callback again.
	TimeoutRetries int `json:"timeout_retries,omitempty"`
	// Incomplete says why the run stopped early; the figures before it
	// are kept.
	Incomplete string `json:"incomplete,omitempty"`
}

// Header says where and how a report was made.
type Header struct {
	Date    time.Time
	Machine string
	Commit  string
	Go      string
	Command string
	// Load is /proc/loadavg at the start: the machine is shared.
	Load string
}

// The targets (issue 10).
const (
	targetIssuedEvents    = 45
	targetUnusedEvents    = 25
	targetThreeYearEvents = 90
	targetThroughputRatio = 0.75
	targetP50Ratio        = 1.5
	targetWaitingRSS      = 300 << 20 // at targetWaitingSize waiting
	targetWaitingSize     = 10000
	targetDrainRatio      = 0.75
	targetCallbackRate    = 0.9
	targetCallbackP99     = 1.1
)

// Check reports whether the report is well formed: every figure its
// modes promise is there and plausible (counts positive, p99 ≥ p50, CPU
// not negative). It judges no figure against a target.
func (r *Report) Check() error {
	var problems []error
	if r.Incomplete != "" {
		problems = append(problems, fmt.Errorf("incomplete: %s", r.Incomplete))
	}
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	checkPhases := func(mode string, phases []Phase, names ...string) {
		for _, name := range names {
			n := 0
			for _, p := range phases {
				if p.Name != name {
					continue
				}
				n++
				switch {
				case p.Count < 1 || p.Wall <= 0 || p.PerSec <= 0:
					bad("%s %s round %d: count %d, wall %s, rate %f", mode, name, p.Round, p.Count, p.Wall, p.PerSec)
				case p.P50 <= 0 || p.P99 < p.P50:
					bad("%s %s round %d: p50 %s, p99 %s", mode, name, p.Round, p.P50, p.P99)
				case p.Worker.CPU < 0 || p.Server.CPU <= 0 || p.Worker.RSS <= 0 || p.Server.RSS <= 0:
					bad("%s %s round %d: usage worker %+v server %+v", mode, name, p.Round, p.Worker, p.Server)
				}
			}
			if n != r.Config.Rounds {
				bad("%s: %d rounds of %s, want %d", mode, n, name, r.Config.Rounds)
			}
		}
	}
	if r.Config.runs(ModeThroughput) {
		checkPhases(ModeThroughput, r.Throughput, PhaseCertflow, PhaseBaseline)
		// One workflow per path: the refund holds its certificates and runs
		// their release itself (docs/orchestration.md, step 5).
		want := map[string]int{PathIssued: 1, PathUnused: 1, PathThreeYear: 1, PathBaseline: 1}
		for _, p := range r.Paths {
			if len(p.Workflows) != want[p.Path] {
				bad("events of %s: %d workflows, want %d", p.Path, len(p.Workflows), want[p.Path])
			}
			sum := 0
			for _, w := range p.Workflows {
				byType := 0
				for _, n := range w.ByType {
					byType += n
				}
				if w.Events < 3 || byType != w.Events {
					bad("events of %s: %d, %d by type", w.WorkflowID, w.Events, byType)
				}
				sum += w.Events
			}
			if sum != p.Total {
				bad("events of %s: total %d, sum %d", p.Path, p.Total, sum)
			}
			delete(want, p.Path)
		}
		for p := range want {
			bad("events of path %s missing", p)
		}
	}
	if r.Config.runs(ModeWaiting) {
		w := r.Waiting
		switch {
		case w == nil:
			bad("waiting figures missing")
		case w.Refunds != r.Config.Waiting || w.Park <= 0 || w.Drain <= 0 || w.DrainRate <= 0 || w.BaselineDrainRate <= 0:
			bad("waiting: %d refunds, park %s, drain %s (%f/s), baseline %f/s", w.Refunds, w.Park, w.Drain, w.DrainRate, w.BaselineDrainRate)
		case w.WorkerRSS <= 0 || w.ServerRSS <= 0 || w.Goroutines < 1 || w.StickyCacheSize < 0 || w.ForcedEvictions < 0:
			bad("waiting: worker RSS %d, server RSS %d, goroutines %f, sticky cache %f, evictions %f",
				w.WorkerRSS, w.ServerRSS, w.Goroutines, w.StickyCacheSize, w.ForcedEvictions)
		}
	}
	if r.Config.runs(ModeCallbacks) {
		checkPhases(ModeCallbacks, r.Callbacks, PhaseGateway, PhaseDirect, PhasePairedGateway, PhasePairedDirect)
	}
	return errors.Join(problems...)
}

// mean is the mean rate and the mean p50/p99 of the named phases.
func mean(phases []Phase, name string) (rate float64, p50, p99 time.Duration) {
	n := 0
	for _, p := range phases {
		if p.Name == name {
			rate += p.PerSec
			p50 += p.P50
			p99 += p.P99
			n++
		}
	}
	if n == 0 {
		return 0, 0, 0
	}
	return rate / float64(n), p50 / time.Duration(n), p99 / time.Duration(n)
}

// rounds counts the finished rounds of the named phase.
func rounds(phases []Phase, name string) int {
	n := 0
	for _, p := range phases {
		if p.Name == name {
			n++
		}
	}
	return n
}

func (r *Report) path(name string) (PathEvents, bool) {
	for _, p := range r.Paths {
		if p.Path == name {
			return p, true
		}
	}
	return PathEvents{}, false
}

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

func ratio(a, b float64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// Markdown renders the report as a section of docs/BENCHMARKS.md.
func (r *Report) Markdown(h Header) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	c := r.Config
	w("## %s, mode %s\n\n", h.Date.UTC().Format("2006-01-02 15:04 UTC"), c.Mode)
	w("- machine: %s\n- load average at start: %s\n- commit: `%s`\n- Go: %s\n- command: `%s`\n", h.Machine, h.Load, h.Commit, h.Go, h.Command)
	if r.Incomplete != "" {
		w("- **incomplete**: %s\n", r.Incomplete)
	}
	if r.Retries > 0 {
		w("- the gateway answered 503 (Temporal did not answer in time) %d times (refund starts or callbacks), each retried after 1 s\n", r.Retries)
	}
	if r.TimeoutRetries > 0 {
		w("- %d calls to Temporal in the drain (baseline signals, waits for a result) timed out and were made again after 1 s\n", r.TimeoutRetries)
	}
	if len(c.WorkerEnv) > 0 {
		w("- worker settings: `%s`\n", strings.Join(c.WorkerEnv, " "))
	}
	w("\n")

	w("| what | certflow | baseline / direct | ratio | target | met |\n|---|---|---|---|---|---|\n")
	met := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	if len(r.Throughput) > 0 {
		cr, cp50, cp99 := mean(r.Throughput, PhaseCertflow)
		br, bp50, bp99 := mean(r.Throughput, PhaseBaseline)
		w("| refunds/s, %d refunds, %d in flight (mean of %d rounds) | %.2f | %.2f wf/s | %s | ≥ %.2f× | %s |\n",
			c.Refunds, c.Concurrency, rounds(r.Throughput, PhaseCertflow), cr, br, ratio(cr, br), targetThroughputRatio, met(cr >= targetThroughputRatio*br))
		w("| p50 start → refunded | %s | %s | %s | ≤ %.1f× | %s |\n", ms(cp50), ms(bp50), ratio(cp50.Seconds(), bp50.Seconds()), targetP50Ratio, met(cp50.Seconds() <= targetP50Ratio*bp50.Seconds()))
		w("| p99 start → refunded | %s | %s | %s | — | — |\n", ms(cp99), ms(bp99), ratio(cp99.Seconds(), bp99.Seconds()))
	}
	base, _ := r.path(PathBaseline)
	for _, t := range []struct {
		path, what string
		target     int
	}{
		{PathIssued, "history events, 1 issued certificate: revoke → review → delete → pay", targetIssuedEvents},
		{PathUnused, "history events, unused quota refund", targetUnusedEvents},
		{PathThreeYear, "history events, 3-year order, first issued", targetThreeYearEvents},
	} {
		p, ok := r.path(t.path)
		if !ok {
			continue
		}
		var parts []string
		for _, wf := range p.Workflows {
			parts = append(parts, fmt.Sprintf("%d", wf.Events))
		}
		bcol, rcol := "—", "—"
		if t.path == PathIssued && base.Total > 0 {
			bcol, rcol = fmt.Sprintf("%d", base.Total), ratio(float64(p.Total), float64(base.Total))
		}
		w("| %s | %d (%s) | %s | %s | ≤ %d | %s |\n", t.what, p.Total, strings.Join(parts, " + "), bcol, rcol, t.target, met(p.Total <= t.target))
	}
	if wt := r.Waiting; wt != nil {
		w("| %d refunds waiting for CA review: worker RSS | %s (peak %s; %.0f goroutines; sticky cache %.0f, %.0f forced evictions; server RSS %s) | — | — | < 300 MB at 10,000 | %s |\n",
			wt.Refunds, mb(wt.WorkerRSS), mb(wt.WorkerPeak), wt.Goroutines, wt.StickyCacheSize, wt.ForcedEvictions, mb(wt.ServerRSS),
			waitingMet(wt))
		drain := met(wt.DrainRate >= targetDrainRatio*wt.BaselineDrainRate)
		if wt.DrainRate <= 0 || wt.BaselineDrainRate <= 0 {
			drain = "**no** (not measured: the drain did not finish)"
		}
		w("| drain after the reviews arrive | %.2f refunds/s (%s) | %.2f wf/s (%s) | %s | ≥ %.2f× | %s |\n",
			wt.DrainRate, ms(wt.Drain), wt.BaselineDrainRate, ms(wt.BaselineDrain), ratio(wt.DrainRate, wt.BaselineDrainRate), targetDrainRatio,
			drain)
	}
	if len(r.Callbacks) > 0 {
		gr, _, gp99 := mean(r.Callbacks, PhasePairedGateway)
		dr, _, dp99 := mean(r.Callbacks, PhasePairedDirect)
		sgr, _, sgp99 := mean(r.Callbacks, PhaseGateway)
		sdr, _, sdp99 := mean(r.Callbacks, PhaseDirect)
		w("| CA callbacks through the gateway vs direct SignalWorkflow, both at once, %d in flight each (mean of %d paired rounds): /s | %.0f | %.0f | %s | ≥ %.1f× | %s |\n",
			max(c.Concurrency/2, 1), rounds(r.Callbacks, PhasePairedGateway), gr, dr, ratio(gr, dr), targetCallbackRate, met(gr >= targetCallbackRate*dr))
		w("| … p99 | %s | %s | %s | ≤ %.1f× | %s |\n", ms(gp99), ms(dp99), ratio(gp99.Seconds(), dp99.Seconds()), targetCallbackP99,
			met(gp99.Seconds() <= targetCallbackP99*dp99.Seconds()))
		w("| for reference, separate alternating rounds, %d in flight (mean of %d each): /s | %.0f | %.0f | %s | — | — |\n",
			c.Concurrency, rounds(r.Callbacks, PhaseGateway), sgr, sdr, ratio(sgr, sdr))
		w("| … p99 | %s | %s | %s | — | — |\n", ms(sgp99), ms(sdp99), ratio(sgp99.Seconds(), sdp99.Seconds()))
	}

	if phases := append(append([]Phase(nil), r.Throughput...), r.Callbacks...); len(phases) > 0 {
		w("\nRounds, in the order they ran (CPU in cores of the 2, RSS the largest sampled):\n\n")
		w("| phase | round | n | wall | rate/s | p50 | p99 | server CPU | server RSS | worker CPU | worker RSS |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, p := range phases {
			w("| %s | %d | %d | %s | %.2f | %s | %s | %.2f | %s | %.2f | %s |\n", p.Name, p.Round, p.Count, ms(p.Wall), p.PerSec,
				ms(p.P50), ms(p.P99), p.Server.CPU, mb(p.Server.RSS), p.Worker.CPU, mb(p.Worker.RSS))
		}
	}
	if wt := r.Waiting; wt != nil {
		w("\nWaiting: %d refunds parked in %s; drain used %.2f server cores (RSS up to %s) and %.2f worker cores (RSS up to %s).\n",
			wt.Refunds, ms(wt.Park), wt.DrainServer.CPU, mb(wt.DrainServer.RSS), wt.DrainWorker.CPU, mb(wt.DrainWorker.RSS))
	}
	if len(r.Paths) > 0 {
		w("\nHistory events per workflow, by type (one refund of each path on a quiet server):\n\n")
		for _, p := range r.Paths {
			for _, wf := range p.Workflows {
				w("- `%s` (%s): %d — %s\n", wf.WorkflowID, p.Path, wf.Events, byType(wf.ByType))
			}
		}
	}
	w("\n")
	return b.String()
}

// waitingMet judges the worker's RSS only at the target's size.
func waitingMet(w *Waiting) string {
	switch {
	case w.Refunds < targetWaitingSize:
		return fmt.Sprintf("n/a (measured at %d)", w.Refunds)
	case w.WorkerRSS < targetWaitingRSS:
		return "yes"
	}
	return "**no**"
}

// byType lists event counts, largest first.
func byType(m map[string]int) string {
	type kv struct {
		k string
		v int
	}
	var s []kv
	for k, v := range m {
		s = append(s, kv{k, v})
	}
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j].v > s[i].v || (s[j].v == s[i].v && s[j].k < s[i].k) {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	var parts []string
	for _, e := range s {
		parts = append(parts, fmt.Sprintf("%s %d", e.k, e.v))
	}
	return strings.Join(parts, ", ")
}
