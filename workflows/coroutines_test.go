package workflows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/sim"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
	"github.com/certflow/certflow/workflows/refund"
)

// Issue 20: a refund parked at the CA's review costs the worker that
// caches it two coroutines (each a goroutine): its main one and its inbox
// (the signals and the publisher, workflows/refund/workflow.go). A held
// certificate has a coroutine only while it has work, so the count does
// not grow with the certificates held. Counted on a dev server from the
// built-in stack-trace query, which lists every coroutine of the
// workflow.
func TestParkedRefundCostsTwoCoroutines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := devServer(ctx, t)

	paid := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	issued := paid.Add(time.Hour)
	three := recOrder("co-three-year", domain.SSLCertificate, paid, nil, []domain.Certificate{
		{ID: "co-three-year-y1", State: statemachine.Issued, IssuedAt: &issued},
		{ID: "co-three-year-y2", State: statemachine.NotActivated}, {ID: "co-three-year-y3", State: statemachine.NotActivated}})
	three.ValidityYears, three.Price, three.Payment.Cash = 3, mustDecimal("270.00"), mustDecimal("270.00")
	orders := map[string]domain.Order{
		"one certificate held":    recOrder("co-issued", domain.SSLCertificate, paid, nil, []domain.Certificate{{ID: "co-issued-c1", State: statemachine.Issued, IssuedAt: &issued}}),
		"three certificates held": three,
	}
	var all []domain.Order
	for _, o := range orders {
		all = append(all, o)
	}
	w := worker.New(c, workflows.TaskQueue, testenv.WorkerOptions())
	workflows.Register(w)
	// The CA keeps every review open: the refunds park.
	workflows.RegisterActivities(w, activities.Deps{CA: sim.NewFakeCA(nil), Payments: sim.NewFakePayments(time.Now), Store: sim.NewFakeStore(all...),
		Policies: &activities.RegistryPolicies{Registry: mustRegistry(t)}})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	for name, o := range orders {
		t.Run(name, func(t *testing.T) {
			// The review's worst-case deadline (T-3, in business days from
			// now) may fall after the window's end, by the day of the week
			// the test runs on: the request accepts that risk (SSL-9), so
			// the refund revokes whatever the day.
			req := domain.RefundRequest{OrderID: o.ID, Consent: true, ConfirmIrreversible: true, AcceptLateReviewRisk: true}
			if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: refund.WorkflowID(o.ID), TaskQueue: workflows.TaskQueue},
				refund.WorkflowName, refund.Input{OrderID: o.ID, Request: req}); err != nil {
				t.Fatal(err)
			}
			waitForRefund(ctx, t, c, o.ID, "the CA's review", func(st refund.Status) bool {
				return hasWait(st, domain.WaitCAReview) && len(st.Held) == len(o.Certificates)
			})
			v, err := c.QueryWorkflow(ctx, refund.WorkflowID(o.ID), "", client.QueryTypeStackTrace)
			if err != nil {
				t.Fatal(err)
			}
			var trace string
			if err := v.Get(&trace); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count("\n"+trace, "\ncoroutine "); n != 2 {
				t.Errorf("a refund parked at the review holding %d certificates runs %d coroutines, want 2 (main, inbox):\n%s",
					len(o.Certificates), n, trace)
			}
		})
	}
}
