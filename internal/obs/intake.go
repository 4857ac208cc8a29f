package obs

import (
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
)

// Names of the intake dispatcher's metrics (the gateway's starts of
// recorded refund requests, gateway/dispatch.go).
const (
	MetricIntakeStarts   = "certflow_intake_starts_total"
	MetricIntakeStartLag = "certflow_intake_start_lag_seconds"
	MetricIntakeInFlight = "certflow_intake_starts_in_flight"
)

// The outcomes of one start of a recorded refund request (LabelOutcome of
// MetricIntakeStarts).
const (
	IntakeStarted = "started" // the workflow runs (started, or found started)
	IntakeRefused = "refused" // refused for good: the request failed (M-3)
	IntakeRetried = "retried" // not started (Temporal or the store out): tried again after a backoff
)

// IntakeMetrics counts the dispatcher's starts by outcome and times each
// request from its 202 to its workflow's start. A request that cannot
// start (Temporal down) is retried, never dropped, so the retries, not
// the lag, show an outage while it lasts; the lag shows it once it ends.
type IntakeMetrics struct {
	starts *prom.CounterVec
	lag    prom.Histogram
	reg    prom.Registerer
}

// NewIntakeMetrics registers the starts and the lag in reg.
func NewIntakeMetrics(reg prom.Registerer) (*IntakeMetrics, error) {
	m := &IntakeMetrics{
		starts: prom.NewCounterVec(prom.CounterOpts{
			Name: MetricIntakeStarts,
			Help: "Starts of recorded refund requests' workflows, by outcome (started, refused, retried).",
		}, []string{LabelOutcome}),
		lag: prom.NewHistogram(prom.HistogramOpts{
			Name:    MetricIntakeStartLag,
			Help:    "Time from a refund request's 202 to its workflow's start.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 1800},
		}),
		reg: reg,
	}
	for _, c := range []prom.Collector{m.starts, m.lag} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, o := range []string{IntakeStarted, IntakeRefused, IntakeRetried} {
		m.starts.WithLabelValues(o) // every outcome exported from the start, at 0
	}
	return m, nil
}

// Started counts a start made lag after the request was recorded.
func (m *IntakeMetrics) Started(lag time.Duration) {
	m.starts.WithLabelValues(IntakeStarted).Inc()
	m.lag.Observe(max(lag, 0).Seconds())
}

// Refused counts a request refused for good at its start.
func (m *IntakeMetrics) Refused() { m.starts.WithLabelValues(IntakeRefused).Inc() }

// Retried counts a start that failed and is tried again later.
func (m *IntakeMetrics) Retried() { m.starts.WithLabelValues(IntakeRetried).Inc() }

// WatchInFlight exports inFlight (the starts under way) as a gauge.
func (m *IntakeMetrics) WatchInFlight(inFlight func() int64) error {
	return m.reg.Register(prom.NewGaugeFunc(prom.GaugeOpts{
		Name: MetricIntakeInFlight,
		Help: "Starts of recorded refund requests under way in this gateway (at most its dispatch concurrency).",
	}, func() float64 { return float64(inFlight()) }))
}
