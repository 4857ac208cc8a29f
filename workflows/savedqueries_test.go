package workflows_test

import (
	"context"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/sim"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
	"github.com/certflow/certflow/workflows/refund"
)

// savedQuery is one row of docs/operations.md's "Saved queries for the
// Web UI" table.
type savedQuery struct {
	situation, query, link string
}

var savedQueryRow = regexp.MustCompile("^\\| ([^|]+) \\| `([^`]+)` \\| \\[open\\]\\(([^)]+)\\) \\|$")

// readSavedQueries parses the table, so the documented queries are the
// tested ones.
func readSavedQueries(t *testing.T) []savedQuery {
	t.Helper()
	b, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "### Saved queries for the Web UI\n")
	if !ok {
		t.Fatal(`docs/operations.md has no "Saved queries for the Web UI" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var qs []savedQuery
	for _, line := range strings.Split(section, "\n") {
		if m := savedQueryRow.FindStringSubmatch(line); m != nil {
			qs = append(qs, savedQuery{situation: m[1], query: m[2], link: m[3]})
		}
	}
	if len(qs) == 0 {
		t.Fatal("no saved queries in docs/operations.md")
	}
	return qs
}

// downFor is a payment provider unreachable for one order's payouts.
type downFor struct {
	*sim.FakePayments
	order string
}

func (d downFor) Refund(ctx context.Context, req activities.PayoutRequest) (activities.ProviderRefund, error) {
	if req.OrderID == d.order {
		return activities.ProviderRefund{}, errs.E(errs.Unavailable, "payment provider unreachable")
	}
	return d.FakePayments.Refund(ctx, req)
}

func (d downFor) Lookup(ctx context.Context, key string) (activities.ProviderRefund, bool, error) {
	if strings.HasPrefix(key, "refund/"+d.order+"/") {
		return activities.ProviderRefund{}, false, errs.E(errs.Unavailable, "payment provider unreachable")
	}
	return d.FakePayments.Lookup(ctx, key)
}

// TestSavedQueries parks refunds in each situation on a dev server (real
// workflows, fake CA, payments and store) and runs every documented query
// through the visibility API: each finds exactly the refunds in its
// situation, and its Web UI link carries the query.
func TestSavedQueries(t *testing.T) {
	queries := readSavedQueries(t)
	want := map[string][]string{
		"Awaiting approval (GW-4)":                                       {"refund/q-approval"},
		"Escalated (T-3), still running":                                 {"refund/q-escalated"},
		"Waiting for the customer (SSL-6)":                               {"refund/q-customer"},
		"Waiting on the CA's revocation review":                          {"refund/q-escalated", "refund/q-review"},
		"A certificate under review (refunds and certificate workflows)": {"refund/q-escalated", "refund/q-review"},
		"The CA unreachable or refusing our credentials":                 nil,
		"Payment provider unreachable (M-4)":                             {"refund/q-payment"},
		"Finished: paid":                                                 {"refund/q-paid"},
		"Finished: rejected":                                             {"refund/q-rejected"},
		"Finished: cancelled":                                            {"refund/q-cancelled"},
	}
	for _, q := range queries {
		if _, ok := want[q.situation]; !ok {
			t.Fatalf("saved query %q has no expectation in this test", q.situation)
		}
		link, err := url.Parse(q.link)
		if err != nil || link.Query().Get("query") != q.query || !strings.HasSuffix(link.Path, "/namespaces/default/workflows") {
			t.Errorf("%s: link %s does not open the Web UI's list with the query %s", q.situation, q.link, q.query)
		}
	}
	if len(queries) != len(want) {
		t.Errorf("%d saved queries documented, %d expected", len(queries), len(want))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := devServer(ctx, t)

	now := time.Now().Truncate(time.Second)
	paid := now.Add(-24 * time.Hour)
	issued := paid.Add(time.Hour)
	gateway := func(id string) domain.Order {
		return recOrder(id, domain.HTTPSGateway, paid, &domain.Usage{GRCQTotal: 300, GRCQConsumed: 60, DomainAdded: true}, nil)
	}
	issuedCert := func(id string) []domain.Certificate {
		return []domain.Certificate{{ID: id, State: statemachine.Issued, IssuedAt: &issued}}
	}
	orders := []domain.Order{
		gateway("q-approval"),
		gateway("q-cancelled"),
		recOrder("q-review", domain.SSLCertificate, paid, nil, issuedCert("q-review-c1")),
		recOrder("q-escalated", domain.SSLCertificate, paid, nil, issuedCert("q-escalated-c1")),
		recOrder("q-customer", domain.SSLCertificate, paid, nil, []domain.Certificate{{ID: "q-customer-c1", State: statemachine.ValidationFailed}}),
		recOrder("q-payment", domain.SSLCertificate, paid, nil, nil),
		recOrder("q-paid", domain.SSLCertificate, paid, nil, nil),
		recOrder("q-rejected", domain.SSLCertificate, paid.Add(-30*24*time.Hour), nil, nil),
	}
	store := sim.NewFakeStore(orders...)
	ca := sim.NewFakeCA(map[string]string{"q-customer-c1": "missing contact ID number"})
	// A review submitted three weeks ago is past its T-3 deadline at once.
	ca.OpenReview("q-escalated-c1", now.Add(-21*24*time.Hour))
	w := worker.New(c, workflows.TaskQueue, testenv.WorkerOptions())
	workflows.Register(w)
	workflows.RegisterActivities(w, activities.Deps{CA: ca, Payments: downFor{FakePayments: sim.NewFakePayments(time.Now), order: "q-payment"},
		Store: store, Policies: &activities.RegistryPolicies{Registry: mustRegistry(t)}})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	runs := map[string]client.WorkflowRun{}
	for _, o := range orders {
		req := domain.RefundRequest{OrderID: o.ID, Consent: true, ConfirmIrreversible: true, AcceptLateReviewRisk: true, RequestedBy: "demo-operator"}
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: refund.WorkflowID(o.ID), TaskQueue: workflows.TaskQueue},
			refund.WorkflowName, refund.Input{OrderID: o.ID, Request: req})
		if err != nil {
			t.Fatal(err)
		}
		runs[o.ID] = run
	}
	for _, id := range []string{"q-paid", "q-rejected"} {
		if err := runs[id].Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitForRefundWaiting(ctx, t, c, "q-cancelled")
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: refund.WorkflowID("q-cancelled"), UpdateName: refund.UpdateCancel,
		WaitForStage: client.WorkflowUpdateStageCompleted, Args: []any{refund.CancelRequest{Actor: "demo-operator", Reason: "asked by the customer"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}

	for _, q := range queries {
		t.Run(q.situation, func(t *testing.T) {
			exp := slices.Clone(want[q.situation])
			slices.Sort(exp)
			// Visibility is eventually consistent: ask until it agrees.
			var got []string
			for ctx.Err() == nil {
				got = listIDs(ctx, t, c, q.query)
				if slices.Equal(got, exp) {
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
			t.Errorf("%s finds %v, want %v", q.query, got, exp)
		})
	}
}

// listIDs runs a visibility query and returns the workflow IDs it finds,
// sorted.
func listIDs(ctx context.Context, t *testing.T, c client.Client, query string) []string {
	t.Helper()
	var ids []string
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", Query: query, NextPageToken: token})
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		for _, e := range resp.Executions {
			ids = append(ids, e.Execution.WorkflowId)
		}
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	slices.Sort(ids)
	return ids
}
