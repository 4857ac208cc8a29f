package workflows_test

import (
	"context"
	"encoding/json"
	"flag"
	"github.com/certflow/certflow/internal/testenv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/sim"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
)

var record = flag.Bool("record", false, "record workflow histories against a dev server into testdata/histories")

const historyDir = "../testdata/histories"

// TestReplayHistories replays recorded histories of the main paths with the
// current code: a change that would break running workflows fails here.
// Re-record (go test ./workflows -run TestRecordHistories -record) only for
// a deliberate, versioned change.
func TestReplayHistories(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(historyDir, "*.json"))
	if len(files) == 0 {
		t.Fatalf("no recorded histories in %s", historyDir)
	}
	for _, f := range files {
		f := f
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(workflows.CertificateWorkflow)
			r.RegisterWorkflow(workflows.RefundWorkflow)
			if err := r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), f); err != nil {
				t.Fatalf("replay of %s failed: %v", f, err)
			}
		})
	}
}

func quietLogger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// TestRecordHistories runs the main paths on a real dev server, writes
// their histories and replays what it wrote: the current code must replay
// its own fresh histories (a determinism check against a real server).
// With -record it writes them into testdata/histories, the deliberate
// re-recording of a versioned change; otherwise into a temporary folder.
func TestRecordHistories(t *testing.T) {
	dir := t.TempDir()
	if *record {
		dir = historyDir
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var extra []string
	for _, sa := range workflows.SearchAttributeTypes {
		extra = append(extra, "--search-attribute", sa)
	}
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{ExistingPath: testenv.TemporalBin(t), ExtraArgs: extra, LogLevel: "error"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c := srv.Client()

	paid := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	issued := paid.Add(time.Hour)
	orders := []domain.Order{
		recOrder("rec-unused", domain.SSLCertificate, paid, nil, nil),
		recOrder("rec-pending", domain.SSLCertificate, paid, nil, []domain.Certificate{{ID: "rec-pending-c1", State: statemachine.PendingApplication}}),
		recOrder("rec-issued", domain.SSLCertificate, paid, nil, []domain.Certificate{{ID: "rec-issued-c1", State: statemachine.Issued, IssuedAt: &issued}}),
		recOrder("rec-gateway", domain.HTTPSGateway, paid, &domain.Usage{GRCQTotal: 300, GRCQConsumed: 60, DomainAdded: true}, nil),
		recOrder("rec-late", domain.SSLCertificate, paid.Add(-30*24*time.Hour), nil, nil),
		recOrder("rec-console", domain.SSLCertificate, paid, nil, []domain.Certificate{{ID: "rec-console-c1", State: statemachine.Issued, IssuedAt: &issued}}),
	}
	store := sim.NewFakeStore(orders...)
	reg := mustRegistry(t)
	pol := &activities.RegistryPolicies{Registry: reg}
	w := worker.New(c, workflows.TaskQueue, testenv.WorkerOptions())
	w.RegisterWorkflow(workflows.CertificateWorkflow)
	w.RegisterWorkflow(workflows.RefundWorkflow)
	w.RegisterActivity(&activities.Activities{CA: sim.NewFakeCA(nil), Payments: sim.NewFakePayments(time.Now), Store: store, Policies: pol})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	// The console revokes rec-console's certificate before its refund: an
	// update-with-start of the certificate's workflow, as the gateway does.
	consoleRevoke(ctx, t, c, orders[5], "rec-console-c1")
	for _, o := range orders {
		o := o
		req := domain.RefundRequest{OrderID: o.ID, Consent: true, ConfirmIrreversible: true, AcceptLateReviewRisk: true}
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.RefundWorkflowID(o.ID), TaskQueue: workflows.TaskQueue},
			workflows.RefundWorkflow, workflows.RefundInput{OrderID: o.ID, Request: req})
		if err != nil {
			t.Fatal(err)
		}
		switch o.ID {
		case "rec-issued":
			// The refund holds the certificate: the result goes to it.
			waitForStoredState(ctx, t, store, o.ID, "rec-issued-c1", statemachine.ValidatingRevocation)
			res := workflows.CAResult{EventID: "rec-ev-1", Certificate: "rec-issued-c1", Result: statemachine.RevocationApproved, At: time.Now()}
			for i := 0; i < 2; i++ { // a duplicate callback, applied once
				deliverCAResult(ctx, t, c, store, res)
			}
		case "rec-console":
			// The console revoked first: the certificate's workflow holds
			// it, and the refund commands it.
			waitForRefundWaiting(ctx, t, c, o.ID)
			deliverCAResult(ctx, t, c, store, workflows.CAResult{EventID: "rec-ev-2", Certificate: "rec-console-c1", Result: statemachine.RevocationApproved, At: time.Now()})
		case "rec-gateway":
			waitForRefundState(ctx, t, c, o.ID, statemachine.OrderAwaitingApproval)
			h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), UpdateName: workflows.UpdateRefundApprove,
				WaitForStage: client.WorkflowUpdateStageCompleted, Args: []any{workflows.ApproveRequest{Operator: "ops"}}})
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Get(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
		var st workflows.RefundStatus
		if err := run.Get(ctx, &st); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s %v", o.ID, st.Outcome, st.Reasons)
		writeHistory(ctx, t, c, dir, run.GetID(), strings.TrimPrefix(o.ID, "rec-")+"-refund")
	}
	writeHistory(ctx, t, c, dir, workflows.CertificateWorkflowID("rec-console-c1"), "console-certificate")

	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != len(orders)+1 {
		t.Fatalf("wrote %d histories, want %d", len(files), len(orders)+1)
	}
	for _, f := range files {
		r := worker.NewWorkflowReplayer()
		r.RegisterWorkflow(workflows.CertificateWorkflow)
		r.RegisterWorkflow(workflows.RefundWorkflow)
		if err := r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), f); err != nil {
			t.Errorf("replay of the fresh %s failed: %v", filepath.Base(f), err)
		}
	}
}

func recOrder(id string, p domain.Product, paid time.Time, usage *domain.Usage, certs []domain.Certificate) domain.Order {
	o := domain.Order{ID: id, Product: p, PaidAt: paid, Currency: "USD", Profile: "aliyun-intl", ValidityYears: 1, Usage: usage, Certificates: certs}
	o.Price = mustDecimal("100.00")
	o.Payment.Cash = mustDecimal("100.00")
	return o
}

// waitForStoredState waits until the store shows the certificate in state
// want (whichever workflow writes it).
func waitForStoredState(ctx context.Context, t *testing.T, store *sim.FakeStore, orderID, certID string, want statemachine.CertState) {
	t.Helper()
	for ctx.Err() == nil {
		if store.Certificates(orderID)[certID] == string(want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("certificate %s never reached %s", certID, want)
}

// deliverCAResult sends a CA result to the certificate's writer, as the
// gateway routes a callback: the refund that holds it, or its own workflow.
func deliverCAResult(ctx context.Context, t *testing.T, c client.Client, store *sim.FakeStore, res workflows.CAResult) {
	t.Helper()
	to := workflows.CertificateWorkflowID(res.Certificate)
	if h := store.Holder(res.Certificate); workflows.IsRefundHolder(h) {
		to = h
	}
	if err := c.SignalWorkflow(ctx, to, "", workflows.SignalCAResult, res); err != nil {
		t.Fatal(err)
	}
}

// consoleRevoke revokes a certificate from the console: an
// update-with-start of its workflow.
func consoleRevoke(ctx context.Context, t *testing.T, c client.Client, o domain.Order, certID string) {
	t.Helper()
	var cert domain.Certificate
	for _, x := range o.Certificates {
		if x.ID == certID {
			cert = x
		}
	}
	op := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{ID: workflows.CertificateWorkflowID(certID), TaskQueue: workflows.TaskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING},
		workflows.CertificateWorkflow, workflows.CertificateInput{Certificate: cert, OrderID: o.ID})
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{UpdateName: workflows.UpdateCertificateAction, WaitForStage: client.WorkflowUpdateStageCompleted,
			Args: []any{workflows.ActionRequest{Action: statemachine.Revoke, Actor: "customer", ConfirmIrreversible: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

// waitForRefundWaiting waits until the refund waits for something.
func waitForRefundWaiting(ctx context.Context, t *testing.T, c client.Client, orderID string) {
	t.Helper()
	for ctx.Err() == nil {
		if v, err := c.QueryWorkflow(ctx, workflows.RefundWorkflowID(orderID), "", workflows.QueryRefundStatus); err == nil {
			var st workflows.RefundStatus
			if v.Get(&st) == nil && st.Waiting != "" {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("refund %s never waited", orderID)
}

func waitForRefundState(ctx context.Context, t *testing.T, c client.Client, orderID string, want statemachine.OrderState) {
	t.Helper()
	for ctx.Err() == nil {
		if v, err := c.QueryWorkflow(ctx, workflows.RefundWorkflowID(orderID), "", workflows.QueryRefundStatus); err == nil {
			var st workflows.RefundStatus
			if v.Get(&st) == nil && st.State == want {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("refund %s never reached %s", orderID, want)
}

func writeHistory(ctx context.Context, t *testing.T, c client.Client, dir, workflowID, name string) {
	t.Helper()
	// Wait for the workflow to close so the history is complete.
	iter := c.GetWorkflowHistory(ctx, workflowID, "", true, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []json.RawMessage
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		b, err := protojson.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, b)
	}
	doc, err := json.MarshalIndent(map[string]any{"events": events}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), doc, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNoTimerOutlivesItsRun checks the recorded histories of finished
// workflows: every timer started was fired or cancelled, so the Web UI
// lists none as "Started" on a closed run.
func TestNoTimerOutlivesItsRun(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(historyDir, "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var h struct {
			Events []struct {
				EventID   string `json:"eventId"`
				EventType string `json:"eventType"`
				Fired     *struct {
					StartedEventID string `json:"startedEventId"`
				} `json:"timerFiredEventAttributes"`
				Canceled *struct {
					StartedEventID string `json:"startedEventId"`
				} `json:"timerCanceledEventAttributes"`
			} `json:"events"`
		}
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatal(err)
		}
		open := map[string]bool{}
		for _, e := range h.Events {
			switch {
			case e.EventType == "EVENT_TYPE_TIMER_STARTED":
				open[e.EventID] = true
			case e.Fired != nil:
				delete(open, e.Fired.StartedEventID)
			case e.Canceled != nil:
				delete(open, e.Canceled.StartedEventID)
			}
		}
		if len(open) > 0 {
			t.Errorf("%s: the run closed with timers still started (events %v)", filepath.Base(f), open)
		}
	}
}
