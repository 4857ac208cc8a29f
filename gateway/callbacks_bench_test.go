package gateway

import (
	"net/http"
	"testing"

	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/certificate"
)

// BenchmarkCallbackToRunningWorkflow is the gateway's own cost of a CA
// callback on its usual path (verify, decode, one plain signal to the
// certificate's running workflow), with an in-memory Temporal port: what
// the gateway adds to a direct signal, before the network.
//
//	go test -run '^$' -bench CallbackToRunningWorkflow -benchmem ./gateway
func BenchmarkCallbackToRunningWorkflow(b *testing.B) {
	e := newEnv(b)
	e.wf.certs["c-1"] = certificate.Status{ID: "c-1", State: statemachine.ValidatingRevocation}
	b.ReportAllocs()
	for b.Loop() {
		if rec := e.signed(b, testSecret, "msg-1", testNow, approved); rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
