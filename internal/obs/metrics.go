// Package obs owns what an on-call engineer sees of certflow: the
// Prometheus registry every process serves on /metrics (the Temporal SDK's
// metrics with timers as histograms, the gateway's request metrics and the
// domain metrics of the refund pipeline), the OpenTelemetry tracer
// provider (OTLP when configured, off otherwise), the zap logger with the
// SDK's debug lines off unless asked, and the worker interceptor that
// counts infrastructure retries and logs designed detours as warnings.
//
// The domain metrics are emitted through the SDK's client.MetricsHandler
// from a few named functions (domain.go), so a workflow records them with
// workflow.GetMetricsHandler (silent during replay) and the dashboard
// test can produce every name the code exports. Nothing here is global: a
// process builds one Metrics and one Tracing and owns them.
package obs

import (
	"io"
	"net/http"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// TimerBuckets are the histogram buckets, in seconds, of every timer the
// SDK and the domain record: from a millisecond (a task's latency) to a
// week (a CA review). Histograms, not summaries, so that quantiles can be
// aggregated across workers (histogram_quantile over sum by le).
var TimerBuckets = []float64{
	0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
	1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600,
}

// sanitize is the SDK's Prometheus naming, with '-' and '.' kept in label
// values: a rule ID reads SSL-6, as in RULES.md, not SSL_6.
var sanitize = tally.SanitizeOptions{
	NameCharacters:       sdktally.PrometheusSanitizeOptions.NameCharacters,
	KeyCharacters:        sdktally.PrometheusSanitizeOptions.KeyCharacters,
	ValueCharacters:      tally.ValidCharacters{Ranges: tally.AlphanumericRange, Characters: []rune{'_', '-', '.'}},
	ReplacementCharacter: tally.DefaultReplacementCharacter,
}

// Metrics is a process's Prometheus registry with the SDK's metrics
// handler reporting into it.
type Metrics struct {
	// Registry holds every collector; the gateway's HTTP metrics register
	// into it too.
	Registry *prom.Registry
	// SDK records the Temporal SDK's metrics and the domain metrics
	// (client.Options.MetricsHandler).
	SDK   client.MetricsHandler
	scope io.Closer
}

// NewMetrics builds a registry of its own (with the Go runtime and process
// collectors) and a tally scope reporting into it, named the OpenMetrics
// way Temporal's dashboards expect: counters end in _total, timers are
// histograms in _seconds. A registry per call, not the global one, so two
// in one process (tests) do not collide. Close flushes and stops the
// scope.
func NewMetrics() *Metrics {
	reg := prom.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:              reg,
		DefaultTimerType:        tallyprom.HistogramTimerType,
		DefaultHistogramBuckets: TimerBuckets,
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sanitize,
	}, time.Second)
	return &Metrics{
		Registry: reg,
		SDK:      sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)),
		scope:    closer,
	}
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Close flushes the scope to the registry and stops it.
func (m *Metrics) Close() error { return m.scope.Close() }
