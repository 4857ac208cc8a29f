package outbound

import (
	prom "github.com/prometheus/client_golang/prometheus"
)

// Names of the dispatcher's metrics.
const (
	MetricAttempts         = "certflow_event_delivery_attempts_total"
	MetricDelivered        = "certflow_events_delivered_total"
	MetricFailures         = "certflow_event_delivery_failures_total"
	MetricInFlight         = "certflow_event_deliveries_in_flight"
	MetricLatency          = "certflow_event_delivery_duration_seconds"
	MetricEndpointDisabled = "certflow_event_endpoint_disabled"
	MetricPending          = "certflow_event_endpoint_pending"
)

// Attempt results, the values of the result label.
const (
	ResultDelivered = "delivered"
	ResultGone      = "gone"    // 410: the endpoint is disabled
	ResultStatus    = "status"  // another non-2xx answer
	ResultTimeout   = "timeout" // no answer within the timeout
	ResultError     = "error"   // connection refused, reset, DNS…
)

// Metrics are the dispatcher's Prometheus collectors. Labels are the
// configured endpoint names and the fixed results, so the label set stays
// bounded.
type Metrics struct {
	attempts  *prom.CounterVec
	delivered *prom.CounterVec
	failures  *prom.CounterVec
	inFlight  prom.Gauge
	latency   *prom.HistogramVec
	disabled  *prom.GaugeVec
	pending   *prom.GaugeVec
}

// NewMetrics registers the dispatcher's metrics in reg.
func NewMetrics(reg prom.Registerer) (*Metrics, error) {
	m := &Metrics{
		attempts: prom.NewCounterVec(prom.CounterOpts{
			Name: MetricAttempts,
			Help: "Event delivery attempts, by endpoint and result (delivered, gone, status, timeout, error).",
		}, []string{"endpoint", "result"}),
		delivered: prom.NewCounterVec(prom.CounterOpts{
			Name: MetricDelivered,
			Help: "Events an endpoint accepted (2xx), by endpoint.",
		}, []string{"endpoint"}),
		failures: prom.NewCounterVec(prom.CounterOpts{
			Name: MetricFailures,
			Help: "Failed event delivery attempts (retried with backoff), by endpoint and result.",
		}, []string{"endpoint", "result"}),
		inFlight: prom.NewGauge(prom.GaugeOpts{
			Name: MetricInFlight,
			Help: "Event delivery attempts in flight in this process.",
		}),
		latency: prom.NewHistogramVec(prom.HistogramOpts{
			Name:    MetricLatency,
			Help:    "Time of one delivery attempt, by endpoint and result.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint", "result"}),
		disabled: prom.NewGaugeVec(prom.GaugeOpts{
			Name: MetricEndpointDisabled,
			Help: "1 when the endpoint is disabled (it answered 410 Gone), 0 when enabled.",
		}, []string{"endpoint"}),
		pending: prom.NewGaugeVec(prom.GaugeOpts{
			Name: MetricPending,
			Help: "Events not yet delivered to the endpoint, as the outbox last said.",
		}, []string{"endpoint"}),
	}
	for _, c := range []prom.Collector{m.attempts, m.delivered, m.failures, m.inFlight, m.latency, m.disabled, m.pending} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) attempt(endpoint, result string, seconds float64) {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(endpoint, result).Inc()
	m.latency.WithLabelValues(endpoint, result).Observe(seconds)
	switch result {
	case ResultDelivered:
		m.delivered.WithLabelValues(endpoint).Inc()
	case ResultGone:
		m.disabled.WithLabelValues(endpoint).Set(1)
	default:
		m.failures.WithLabelValues(endpoint, result).Inc()
	}
}

func (m *Metrics) setInFlight(n int) {
	if m != nil {
		m.inFlight.Set(float64(n))
	}
}

func (m *Metrics) status(name string, enabled bool, pending int64) {
	if m == nil {
		return
	}
	v := 0.0
	if !enabled {
		v = 1
	}
	m.disabled.WithLabelValues(name).Set(v)
	m.pending.WithLabelValues(name).Set(float64(pending))
}
