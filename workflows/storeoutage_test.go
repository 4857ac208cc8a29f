package workflows_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/sim"
	"github.com/certflow/certflow/workflows"
	"github.com/certflow/certflow/workflows/refund"
)

// A store that does not answer as the refund starts holds the refund for
// as long as it lasts: LoadAndHold (a local activity, 10 s per attempt) is
// tried again with backoff past 10 s in all, and the refund goes on once
// the store answers. Before, a local activity's total time defaulted to
// one attempt's, so a store slow or down for more than 10 s (a loaded
// SQLite under the api benchmark) refused the refund. On a dev server:
// Temporal's time-skipping test environment gives a retried local
// activity an attempt deadline in its own clock, which the real one does
// not, so its retries cannot be observed there.
func TestStoreOutageAtTheStartHoldsTheRefund(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := devServer(ctx, t)
	paid := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	o := recOrder("outage-1", domain.SSLCertificate, paid, nil, nil)
	// Four reads fail: attempts at 0, 1, 3 and 7 s, the fifth at 15 s.
	store := &downStore{FakeStore: sim.NewFakeStore(o), failing: 4}
	w := worker.New(c, workflows.TaskQueue, testenv.WorkerOptions())
	workflows.Register(w)
	workflows.RegisterActivities(w, activities.Deps{CA: sim.NewFakeCA(nil), Payments: sim.NewFakePayments(time.Now), Store: store,
		Policies: &activities.RegistryPolicies{Registry: mustRegistry(t)}})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: refund.WorkflowID(o.ID), TaskQueue: workflows.TaskQueue},
		refund.WorkflowName, refund.Input{OrderID: o.ID, Request: domain.RefundRequest{OrderID: o.ID, Consent: true, ConfirmIrreversible: true}})
	if err != nil {
		t.Fatal(err)
	}
	var st refund.Status
	if err := run.Get(ctx, &st); err != nil {
		t.Fatal(err)
	}
	if st.Outcome != refund.OutcomeRefunded || store.reads.Load() < 5 {
		t.Fatalf("outcome %s (%s) after %d reads of the order; want refunded once the store answers (read 5)", st.Outcome, st.Message, store.reads.Load())
	}
}

// downStore does not answer the first failing reads of an order.
type downStore struct {
	*sim.FakeStore
	failing int64
	reads   atomic.Int64
}

func (s *downStore) GetOrder(ctx context.Context, id string) (domain.Order, error) {
	if s.reads.Add(1) <= s.failing {
		return domain.Order{}, errs.E(errs.Unavailable, "store: connection refused")
	}
	return s.FakeStore.GetOrder(ctx, id)
}
