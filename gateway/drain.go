package gateway

import (
	"net/http"
	"sync/atomic"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/httpapi"
)

// Drain is the gateway's shutdown switch. Once Start is called (at
// SIGTERM), Handler refuses every new request 503 with Retry-After and
// Connection: close, before routing (the client goes to another gateway;
// every API call is safe to repeat), and Draining tells the readiness
// check to fail, so a load balancer stops sending. Requests already in a
// handler are not touched: http.Server.Shutdown lets them finish. The
// liveness and metrics paths still answer, the process being alive.
type Drain struct {
	on atomic.Bool
}

// Start turns draining on.
func (d *Drain) Start() { d.on.Store(true) }

// Draining reports whether Start was called.
func (d *Drain) Draining() bool { return d.on.Load() }

// drainExempt are the paths answered while draining.
var drainExempt = map[string]bool{"/healthz": true, "/metrics": true}

// Handler wraps next with the switch.
func (d *Drain) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.on.Load() && !drainExempt[r.URL.Path] {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Connection", "close")
			httpapi.WriteProblem(w, httpapi.NewProblem(r, http.StatusServiceUnavailable, errs.Unavailable,
				"this gateway is shutting down; retry the request (another gateway answers it)", nil))
			return
		}
		next.ServeHTTP(w, r)
	})
}
