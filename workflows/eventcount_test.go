package workflows_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/bench"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/sim"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
)

// eventBudgets holds, per path, the history events its workflows may
// write together (the refund plus every certificate workflow), as counted
// by TestEventBudgets on a real dev server, in two parts:
//
//   - other: every event but the workflow tasks' own (activities, signals,
//     timers, search-attribute upserts, child workflows, start and close).
//     These follow from the code alone, so the budget is exact.
//   - tasks: completed workflow tasks, each written as three events
//     (scheduled, started, completed). A signal that arrives while a task
//     of its workflow is running joins the next task, so this count varies
//     from run to run by a few; the budget is the largest seen.
//
// A change that adds an event fails the test; a change that removes some
// must lower the budget to the new count, so the saving cannot be lost
// again. Target is issue 20's bound for the summed events (the baseline's
// 30 for the issued path, 12 for unused quota, 40 for the 3-year order);
// the test logs whether each count meets it, and the budgets hold what is
// met. Each path with a review runs in both review timings (parked,
// instant). Counts and where the events go: docs/orchestration.md.
var eventBudgets = map[string]struct {
	other, tasks, target int
}{
	// 1 issued certificate: revoke → review → delete → pay. Before lean
	// orchestration (2026-11-30): 147–153 events (refund 66–72 +
	// certificate 81–84). Lean step 1 (local activities for store reads
	// and writes, the revocation judged by what the refund's command
	// brought, the first command sent with the certificate's start,
	// certificate upserts only on change): 99. Step 2 (the refund's
	// attributes and record written once per workflow task): 88–91.
	// Step 3 (the report on a removal is the child's result): 85. Step 4
	// (one release command per certificate: the deletion chained after
	// the approved revocation, one report): 64–67. Step 5 (the refund
	// holds the certificate and runs its release itself: no certificate
	// workflow, no messages): 40. Step 6 (one store transaction per
	// workflow task: the held certificates' records written with the
	// refund's): 37. Issue 15 (the WaitingOn and CertificateState search
	// attributes): 39, two upserts more, as the review's wait begins and
	// as it ends; the payout's single first attempt adds none. Issue 16:
	// 39 still. The review's poll timer is cancelled as the review ends
	// (a TimerCanceled more: a paid refund no longer shows a timer
	// "Started" in the Web UI), and the search attributes are not
	// upserted as the payout's single first attempt starts (one upsert
	// fewer; the store record is still written). Issue 20: 36, three
	// markers fewer: the records of the task that schedules the revoke,
	// the deletion or the payout ride with that activity, written by it
	// before it acts (docs/orchestration.md, "Records ride with the next
	// activity"). Then 34: the search attributes are upserted only when
	// an operators' list gains the refund (publishedAttrs.calls): not as
	// the release starts, nor as the review ends. Then 33: the paid
	// refund's last record rides with the payout, written as the money
	// moved (refund.PaidRecord): no local activity as the refund closes.
	// The baseline writes 33 in this timing (its signal in a task of its
	// own). Then 28: the payout's first attempt is a local activity
	// (calls.PayFirstLocal: the refund committed before the revoke, in a
	// task long completed), so on the happy path the payout, the
	// outcome's upsert and the close are one workflow task (a marker for
	// the activity's three events and its task's three).
	bench.PathIssued + "/" + parked: {other: 16, tasks: 5, target: 30},
	// The same, the CA answering while the revoke returns: 27, with no
	// review wait (no timer, no upsert, no record of a wait already
	// over). Then 26 (the last record with the payout). The baseline
	// writes 30–33: its signal lands with the revoke's completion, or
	// just before it in a task of its own. Then 21 (the payout's first
	// attempt a local activity).
	bench.PathIssued + "/" + instant: {other: 12, tasks: 4, target: 30},
	// Unused quota: the refund alone. Before: 30–34. Lean step 1: 19.
	// Step 2: 16. Step 5: 16. Issue 16 (no upsert as the payout's first
	// attempt starts): 15. Issue 20 (the paying record rides with the
	// payout): 14; 13, the last record with the payout too. Then 8: the
	// payout's first attempt a local activity in the task that judged the
	// refund (judgedInThisTask): that task run again judges again, and
	// the ledger's judgement fence makes the lost try's payout either
	// found and paid again by its key or never made (OpenJudgement). One
	// workflow task: the start, two markers, the upsert, the close.
	bench.PathUnused: {other: 5, tasks: 2, target: 12},
	// 3-year order, year 1 issued: refund + year 1 (revoke → review →
	// delete) + years 2 and 3 (cascade removal). Before: 233–242. Lean
	// step 1: 154–157. Step 2: 151–157. Step 3: 133. Step 4: 112–115.
	// Step 5 (the refund holds all three): 56. Step 6: 52. Issue 15: 55,
	// three upserts more (the review's wait begins and ends; a held
	// year's removal in a task of its own shows in CertificateState).
	// Issue 16: 55 still (the review's timer cancelled, one upsert
	// fewer as the payout starts; see the issued path). Issue 20: 50,
	// five markers fewer (the records of the tasks that schedule the
	// three CA actions, the deletion and the payout ride with them); 49,
	// one upsert fewer (year 2's removal alone changes no attribute the
	// operators' lists filter by). Then 46: no upsert as the release
	// starts or as the review ends (see the issued path); 45, the last
	// record with the payout; 39, the later years' cancels one activity
	// (certificate.Batch): three events and a workflow task fewer. Then
	// 34: the payout's first attempt a local activity.
	bench.PathThreeYear + "/" + parked: {other: 19, tasks: 6, target: 40},
	// The CA answering at once: 38 (no review wait); 32 with the batch;
	// 27 with the payout's first attempt a local activity.
	bench.PathThreeYear + "/" + instant: {other: 15, tasks: 5, target: 40},
}

// taskEvents are the events of a workflow task; every other event is the
// work itself.
var taskEvents = []string{"WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted", "WorkflowTaskFailed", "WorkflowTaskTimedOut"}

// Review timings: when the CA's review result reaches the refund.
const (
	// parked: the certificate is in review (stored validating_revocation)
	// before the result comes, as every real review (hours to days).
	parked = "parked"
	// instant: the CA answers while its revoke call is still returning, so
	// the result lands with the revoke's completion, as the baseline's
	// SelfSignal does (bench.BaselineWorkflow); there is no review wait.
	instant = "instant"
)

// TestEventBudgets records fresh histories of the three paths of issue 10
// on a real dev server, in both review timings, and holds each path's
// summed event count to its budget; the baseline workflow runs beside it
// in the same timings and its counts are logged with certflow's.
func TestEventBudgets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := devServer(ctx, t)

	paid := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	issued := paid.Add(time.Hour)
	issuedCert := func(id string) domain.Certificate {
		return domain.Certificate{ID: id, State: statemachine.Issued, IssuedAt: &issued}
	}
	pathOrder := func(name, timing string) domain.Order {
		id := "ev-" + name + "-" + timing
		switch name {
		case bench.PathUnused:
			return recOrder(id, domain.SSLCertificate, paid, nil, nil)
		case bench.PathThreeYear:
			o := recOrder(id, domain.SSLCertificate, paid, nil, []domain.Certificate{issuedCert(id + "-y1"),
				{ID: id + "-y2", State: statemachine.NotActivated}, {ID: id + "-y3", State: statemachine.NotActivated}})
			o.ValidityYears, o.Price, o.Payment.Cash = 3, mustDecimal("270.00"), mustDecimal("270.00")
			return o
		}
		return recOrder(id, domain.SSLCertificate, paid, nil, []domain.Certificate{issuedCert(id + "-c1")})
	}
	paths := map[string]domain.Order{}
	for key := range eventBudgets {
		name, timing, _ := strings.Cut(key, "/")
		paths[key] = pathOrder(name, timing)
	}
	var orders []domain.Order
	for _, o := range paths {
		orders = append(orders, o)
	}
	store := sim.NewFakeStore(orders...)
	ca := &answeringCA{FakeCA: sim.NewFakeCA(nil), answer: func(certID string) {
		if strings.Contains(certID, "-"+instant+"-") {
			deliverCAResult(ctx, t, c, store, certificate.CAResult{EventID: "ev-" + certID, Certificate: certID,
				Result: statemachine.RevocationApproved, At: time.Now()})
		}
	}}
	w := worker.New(c, workflows.TaskQueue, testenv.WorkerOptions())
	workflows.Register(w)
	workflows.RegisterActivities(w, activities.Deps{CA: ca, Payments: sim.NewFakePayments(time.Now), Store: store,
		Policies: &activities.RegistryPolicies{Registry: mustRegistry(t)}})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	baseline := baselineEvents(ctx, t, c)

	for key, lim := range eventBudgets {
		t.Run(key, func(t *testing.T) {
			_, timing, _ := strings.Cut(key, "/")
			n := runPath(ctx, t, c, store, paths[key], timing)
			t.Logf("%s: %d events = %d other + %d workflow tasks (%s); budget %d other + %d tasks = %d at most; target %d; the baseline (issued shape) writes %d in this timing",
				key, n.total, n.other, n.tasks, n.detail, lim.other, lim.tasks, lim.other+3*lim.tasks, lim.target, baseline[timing])
			if n.other > lim.other {
				t.Errorf("%s path writes %d events besides its workflow tasks, over its budget of %d: a change added events (%s)",
					key, n.other, lim.other, n.detail)
			}
			if n.total > lim.target {
				// Not met yet: docs/BENCHMARKS.md and the README's known
				// limits say so; the budgets above hold the count.
				t.Logf("%s: %d events, over issue 20's target of %d (not met)", key, n.total, lim.target)
			}
			if n.tasks > lim.tasks {
				t.Errorf("%s path ran %d workflow tasks, over its budget of %d: a change added workflow tasks (%s)",
					key, n.tasks, lim.tasks, n.detail)
			}
		})
	}
}

// answeringCA is the fake CA, which answers a revocation review before its
// revoke call returns when answer says so (the instant timing).
type answeringCA struct {
	*sim.FakeCA
	answer func(certID string)
}

func (a *answeringCA) Revoke(ctx context.Context, certID, reason string) (activities.ReviewReceipt, error) {
	rec, err := a.FakeCA.Revoke(ctx, certID, reason)
	if err == nil {
		a.answer(certID)
	}
	return rec, err
}

// baselineEvents runs the baseline workflow (bench.BaselineWorkflow: the
// issued path's shape at its leanest) on its own worker in both review
// timings and returns its events per timing.
func baselineEvents(ctx context.Context, t *testing.T, c client.Client) map[string]int {
	t.Helper()
	parkedCh := make(chan struct{}, 1)
	w := worker.New(c, bench.BaselineTaskQueue, testenv.WorkerOptions())
	w.RegisterWorkflow(bench.BaselineWorkflow)
	w.RegisterActivity(&bench.BaselineActivities{Client: c, Parked: func() { parkedCh <- struct{}{} }})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	out := map[string]int{}
	for _, timing := range []string{parked, instant} {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "ev-baseline-" + timing, TaskQueue: bench.BaselineTaskQueue},
			bench.BaselineWorkflow, bench.BaselineInput{SelfSignal: timing == instant})
		if err != nil {
			t.Fatal(err)
		}
		if timing == parked {
			select {
			case <-parkedCh:
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			}
			// The revoke's completion is in history before the review's
			// result comes.
			waitForEvent(ctx, t, c, run.GetID(), enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, 3)
			if err := c.SignalWorkflow(ctx, run.GetID(), "", bench.SignalBaselineReview, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := run.Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
		wes, err := bench.CountEvents(ctx, c, run.GetID())
		if err != nil {
			t.Fatal(err)
		}
		out[timing] = wes[0].Events
	}
	return out
}

// waitForEvent waits until workflow id's history holds n events of type typ.
func waitForEvent(ctx context.Context, t *testing.T, c client.Client, id string, typ enumspb.EventType, n int) {
	t.Helper()
	for {
		got := 0
		it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if ev.GetEventType() == typ {
				got++
			}
		}
		if got >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %d %s events, waiting for %d: %v", id, got, typ, n, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// pathCount is one path's events.
type pathCount struct {
	total, other, tasks int
	detail              string
}

// runPath refunds o, answering each revocation review as the CA would
// once the certificate is in review, and counts the events of the refund
// and of every certificate workflow (none when the refund held them).
func runPath(ctx context.Context, t *testing.T, c client.Client, store *sim.FakeStore, o domain.Order, timing string) pathCount {
	t.Helper()
	req := domain.RefundRequest{OrderID: o.ID, Consent: true, ConfirmIrreversible: true, AcceptLateReviewRisk: true}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: refund.WorkflowID(o.ID), TaskQueue: workflows.TaskQueue},
		refund.WorkflowName, refund.Input{OrderID: o.ID, Request: req})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{run.GetID()}
	for _, cert := range o.Certificates {
		ids = append(ids, certificate.WorkflowID(cert.ID))
		if cert.State != statemachine.Issued || timing == instant {
			continue
		}
		waitForStoredState(ctx, t, store, o.ID, cert.ID, statemachine.ValidatingRevocation)
		deliverCAResult(ctx, t, c, store, certificate.CAResult{EventID: "ev-" + cert.ID, Certificate: cert.ID, Result: statemachine.RevocationApproved, At: time.Now()})
	}
	var st refund.Status
	if err := run.Get(ctx, &st); err != nil {
		t.Fatal(err)
	}
	if st.State != statemachine.OrderRefunded {
		t.Fatalf("refund of %s ended %s (%s %v)", o.ID, st.State, st.Message, st.Reasons)
	}
	wes, err := bench.CountEvents(ctx, c, ids...)
	if err != nil {
		t.Fatal(err)
	}
	var n pathCount
	var parts []string
	for _, we := range wes {
		n.total += we.Events
		n.other += we.Events
		for _, typ := range taskEvents {
			n.other -= we.ByType[typ]
		}
		n.tasks += we.ByType["WorkflowTaskCompleted"]
		parts = append(parts, fmt.Sprintf("%s %d", we.WorkflowID, we.Events))
	}
	n.detail = strings.Join(parts, " + ")
	t.Cleanup(func() {
		if t.Failed() {
			// Which events: the history of each workflow of the path.
			for _, we := range wes {
				t.Logf("%s:\n%s", we.WorkflowID, eventList(context.Background(), c, we.WorkflowID))
			}
		}
	})
	return n
}

// eventList is a workflow's history, one event a line, naming the
// activity, marker, signal or attributes an event is about.
func eventList(ctx context.Context, c client.Client, id string) string {
	var b strings.Builder
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return b.String() + err.Error()
		}
		fmt.Fprintf(&b, "%d %s", ev.GetEventId(), strings.TrimPrefix(ev.GetEventType().String(), "EVENT_TYPE_"))
		switch {
		case ev.GetActivityTaskScheduledEventAttributes() != nil:
			fmt.Fprintf(&b, " %s", ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName())
		case ev.GetWorkflowExecutionSignaledEventAttributes() != nil:
			fmt.Fprintf(&b, " %s", ev.GetWorkflowExecutionSignaledEventAttributes().GetSignalName())
		case ev.GetUpsertWorkflowSearchAttributesEventAttributes() != nil:
			var ks []string
			for k := range ev.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields() {
				ks = append(ks, k)
			}
			slices.Sort(ks)
			fmt.Fprintf(&b, " %s", strings.Join(ks, ","))
		}
		b.WriteString("\n")
	}
	return b.String()
}
