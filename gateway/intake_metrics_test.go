package gateway

import (
	"net/http"
	"testing"

	prom "github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/obs"
)

// The dispatcher's metrics: a start that fails counts as retried, the
// start that follows as started, timed from the request's 202; the
// gauge shows the starts under way.
func TestIntakeMetrics(t *testing.T) {
	reg := prom.NewRegistry()
	im, err := obs.NewIntakeMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, RateLimit{}, func(c *Config) { c.Dispatch.Observer = im })
	if err := im.WatchInFlight(e.srv.Intake().InFlight); err != nil {
		t.Fatal(err)
	}
	e.judge.decision = eligible
	e.wf.startErr = errs.E(errs.Unavailable, "Temporal did not answer")
	wantStatus(t, e.do(t, http.MethodPost, "/v1/orders/o-1/refund", `{"consent":true}`, asConsole...), http.StatusAccepted)
	e.settle(t)
	e.wf.mu.Lock()
	e.wf.startErr = nil
	e.wf.mu.Unlock()
	*e.clock = e.requestOf().NextAttemptAt
	e.sweep(t)

	for outcome, want := range map[string]float64{obs.IntakeRetried: 1, obs.IntakeStarted: 1, obs.IntakeRefused: 0} {
		var got float64
		for _, m := range gather(t, reg, obs.MetricIntakeStarts).GetMetric() {
			if m.GetLabel()[0].GetValue() == outcome {
				got = m.GetCounter().GetValue()
			}
		}
		if got != want {
			t.Errorf("%s starts = %v, want %v", outcome, got, want)
		}
	}
	// The lag is the time from the 202 to the start: the first backoff.
	h := gather(t, reg, obs.MetricIntakeStartLag).GetMetric()[0].GetHistogram()
	if want := DefaultDispatchMinBackoff.Seconds(); h.GetSampleCount() != 1 || h.GetSampleSum() != want {
		t.Errorf("lag: %d observations summing %vs, want 1 of %vs", h.GetSampleCount(), h.GetSampleSum(), want)
	}
	if got := gather(t, reg, obs.MetricIntakeInFlight).GetMetric()[0].GetGauge().GetValue(); got != 0 {
		t.Errorf("in flight after the sweep = %v, want 0", got)
	}
}

// gather is metric family name as reg exports it.
func gather(t *testing.T, reg *prom.Registry, name string) *dto.MetricFamily {
	t.Helper()
	fs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.GetName() == name {
			return f
		}
	}
	t.Fatalf("%s not exported", name)
	return nil
}
