package temporalx

import (
	"io"
	"net/http"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/uber-go/tally/v4"
	"github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// Metrics is the SDK's metrics in Prometheus form: Handler goes into the
// client options, HTTP serves /metrics.
type Metrics struct {
	// Handler records the SDK's metrics (client.Options.MetricsHandler).
	Handler client.MetricsHandler
	// HTTP is the Prometheus scrape handler.
	HTTP  http.Handler
	scope io.Closer
}

// NewMetrics builds a tally scope reporting to a Prometheus registry of
// its own (with the Go runtime and process collectors), named the
// OpenMetrics way Temporal's dashboards expect (counters end in _total,
// timers in _seconds). A registry per call, not the global one,
// so two in one process (tests) do not collide. Close flushes and stops
// the scope.
func NewMetrics() *Metrics {
	reg := prom.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reporter := prometheus.NewReporter(prometheus.Options{Registerer: reg})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       prometheus.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	return &Metrics{
		Handler: sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)),
		HTTP:    reporter.HTTPHandler(),
		scope:   closer,
	}
}

// Close flushes and stops the scope.
func (m *Metrics) Close() error { return m.scope.Close() }
