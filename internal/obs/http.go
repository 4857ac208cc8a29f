package obs

import (
	"bytes"
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
		sw := &StatusWriter{ResponseWriter: w}
		defer func() {
			status := sw.Status
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

// StatusWriter remembers the status a handler wrote (0 until it writes)
// and, when KeepErrorBody is set, the start of an error answer's body
// (status 300 or above): writes are kept while fewer than KeepErrorBody
// bytes are. It is the one status-capturing ResponseWriter of certflow's
// servers.
type StatusWriter struct {
	http.ResponseWriter
	Status        int
	KeepErrorBody int
	ErrorBody     bytes.Buffer
}

func (s *StatusWriter) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *StatusWriter) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	if s.Status >= 300 && s.ErrorBody.Len() < s.KeepErrorBody {
		s.ErrorBody.Write(b)
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *StatusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
