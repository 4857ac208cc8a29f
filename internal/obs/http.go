package obs

import (
	"net/http"
	"strconv"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
)

// Names of the gateway's request metrics.
const (
	MetricHTTPRequests = "certflow_http_requests_total"
	MetricHTTPDuration = "certflow_http_request_duration_seconds"
)

// HTTPMetrics counts and times a server's requests by route pattern,
// method and status. The route comes from the server's own mux (a pattern
// like "POST /v1/orders/{id}/refund"), never from the raw path, so the
// label set stays bounded.
type HTTPMetrics struct {
	requests *prom.CounterVec
	duration *prom.HistogramVec
}

// NewHTTPMetrics registers the request metrics in reg.
func NewHTTPMetrics(reg prom.Registerer) (*HTTPMetrics, error) {
	m := &HTTPMetrics{
		requests: prom.NewCounterVec(prom.CounterOpts{
			Name: MetricHTTPRequests,
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "status"}),
		duration: prom.NewHistogramVec(prom.HistogramOpts{
			Name:    MetricHTTPDuration,
			Help:    "Time to serve an HTTP request, by route pattern, method and status code.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method", "status"}),
	}
	for _, c := range []prom.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Middleware wraps next, labelling each request with route(r) ("unmatched"
// when empty).
func (m *HTTPMetrics) Middleware(route func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rt := route(r)
		if rt == "" {
			rt = "unmatched"
		}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			labels := prom.Labels{"route": rt, "method": r.Method, "status": strconv.Itoa(status)}
			m.requests.With(labels).Inc()
			m.duration.With(labels).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
