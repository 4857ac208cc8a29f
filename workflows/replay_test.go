package workflows_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/sim"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
)

var (
	record  = flag.Bool("record", false, "record the workflow history corpus against a dev server into testdata/histories/<release>")
	release = flag.String("release", currentRelease, "the release folder -record writes (testdata/histories/<release>)")
)

// historyRoot holds the corpus: one folder per release
// (testdata/histories/<release>/), each with the recorded histories of
// every path and waiting point of that release's workflows and a
// corpus.json naming each file's workflow. docs/orchestration.md
// ("Changing workflow code").
const historyRoot = "../testdata/histories"

// currentRelease names the corpus `make record-histories` writes by
// default: the release the code in this tree becomes. certflow has no
// version constant; releases are named by their git tag (vMAJOR.MINOR.PATCH),
// and the first corpus is v0.1.0.
const currentRelease = "v0.1.0"

// corpusEntry names one recorded history: which workflow and run it is,
// and the path or waiting point it shows.
type corpusEntry struct {
	File       string `json:"file"`
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Path       string `json:"path"`
	// Open is set for a workflow recorded at a waiting point, still
	// running: its history ends there.
	Open bool `json:"open,omitempty"`
}

const corpusIndex = "corpus.json"

// TestReplayHistories replays every release's recorded histories with the
// current code: a change that would break a workflow still running on any
// released build fails here, naming the file, the workflow and the first
// event that no longer matches. Runs under plain `go test`, no server.
func TestReplayHistories(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(historyRoot, "*", corpusIndex))
	if len(dirs) == 0 {
		t.Fatalf("no history corpus in %s/<release>/%s", historyRoot, corpusIndex)
	}
	for _, idx := range dirs {
		dir := filepath.Dir(idx)
		entries := readCorpus(t, dir)
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(files) != len(entries)+1 {
			t.Errorf("%s: %d history files, %s names %d", dir, len(files)-1, corpusIndex, len(entries))
		}
		for _, e := range entries {
			t.Run(filepath.Base(dir)+"/"+e.File, func(t *testing.T) {
				if err := replayCorpusEntry(dir, e); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestReplayFailureNamesTheEvent proves the replay test can fail: a copy
// of a recorded history whose payout activity has another name no longer
// replays, and the failure names the file, the workflow and the event.
// The history is the payment outage's: a payout's first attempt is a
// local activity (a marker), its later ones the Pay activity.
func TestReplayFailureNamesTheEvent(t *testing.T) {
	src := filepath.Join(historyRoot, currentRelease)
	var e corpusEntry
	for _, x := range readCorpus(t, src) {
		if x.File == "payfail-refund.json" {
			e = x
		}
	}
	if e.File == "" {
		t.Fatalf("no payfail-refund.json in %s", src)
	}
	b, err := os.ReadFile(filepath.Join(src, e.File))
	if err != nil {
		t.Fatal(err)
	}
	altered := strings.Replace(string(b), `"name": "Pay"`, `"name": "PayTwice"`, 1)
	if altered == string(b) {
		t.Fatalf("%s schedules no Pay activity", e.File)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, e.File), []byte(altered), 0o644); err != nil {
		t.Fatal(err)
	}
	err = replayCorpusEntry(dir, e)
	if err == nil {
		t.Fatal("an altered history replayed")
	}
	id := firstEventOf(t, filepath.Join(dir, e.File), "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED", "PayTwice")
	for _, want := range []string{e.File, e.WorkflowID, fmt.Sprintf("event %d ActivityTaskScheduled", id), "PayTwice"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the failure does not name %q:\n%v", want, err)
		}
	}
	t.Logf("the failure reads: %v", err)
}

// firstEventOf returns the ID of the first event of type typ whose JSON
// mentions what.
func firstEventOf(t *testing.T, file, typ, what string) int64 {
	t.Helper()
	events := historyEvents(t, file)
	for _, ev := range events {
		if ev.EventType == typ && strings.Contains(string(ev.Raw), what) {
			return ev.ID
		}
	}
	t.Fatalf("%s: no %s naming %s", file, typ, what)
	return 0
}

type rawEvent struct {
	ID        int64
	EventType string
	Raw       json.RawMessage
}

func historyEvents(t *testing.T, file string) []rawEvent {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	var out []rawEvent
	for _, raw := range h.Events {
		var ev struct {
			EventID   string `json:"eventId"`
			EventType string `json:"eventType"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		id, _ := strconv.ParseInt(ev.EventID, 10, 64)
		out = append(out, rawEvent{ID: id, EventType: ev.EventType, Raw: raw})
	}
	return out
}

func readCorpus(t *testing.T, dir string) []corpusEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, corpusIndex))
	if err != nil {
		t.Fatal(err)
	}
	var entries []corpusEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		t.Fatalf("%s: %v", filepath.Join(dir, corpusIndex), err)
	}
	return entries
}

// replayCorpusEntry replays one recorded history as its own workflow and
// run. When it fails it finds the first event that no longer matches: the
// shortest prefix of the history that fails to replay ends with it (a
// prefix replays as a workflow still running).
func replayCorpusEntry(dir string, e corpusEntry) error {
	file := filepath.Join(dir, e.File)
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	replay := func(events []*historypb.HistoryEvent) error {
		r := worker.NewWorkflowReplayer()
		workflows.Register(r)
		return r.ReplayWorkflowHistoryWithOptions(quietLogger(), &historypb.History{Events: events},
			worker.ReplayWorkflowHistoryOptions{OriginalExecution: workflow.Execution{ID: e.WorkflowID, RunID: e.RunID}})
	}
	err = replay(h.Events)
	if err == nil {
		return nil
	}
	ev := firstMismatch(h.Events, err, func(events []*historypb.HistoryEvent) bool { return replay(events) != nil })
	return fmt.Errorf("%s: workflow %s (run %s, %s) no longer replays: first mismatching event %d %s%s: %w",
		file, e.WorkflowID, e.RunID, e.Path, ev.GetEventId(), eventTypeName(ev), eventDetail(ev), err)
}

// historyEventIs finds the event type a nondeterminism error names
// ("history event is ActivityTaskScheduled: ...").
var historyEventIs = regexp.MustCompile(`history event is (\w+)`)

// firstMismatch finds the first event of a history that no longer
// replays. The shortest failing prefix cut at a workflow task's start (a
// prefix replays as a workflow still running; replaying more events never
// makes a mismatch go away) ends with the task whose events hold it;
// there it is the first event of the type the replayer's error names, or
// else the task's first command event.
func firstMismatch(events []*historypb.HistoryEvent, err error, fails func([]*historypb.HistoryEvent) bool) *historypb.HistoryEvent {
	var cuts []int
	completed := false // a prefix holds at least one completed task
	for i, ev := range events {
		switch ev.GetEventType() {
		case enums.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			completed = true
		case enums.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
			if completed {
				cuts = append(cuts, i)
			}
		}
	}
	cuts = append(cuts, len(events))
	lo, hi := 0, len(cuts)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(events[:cuts[mid]]) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	from := 0
	if lo > 0 {
		from = cuts[lo-1]
	}
	span := events[from:cuts[lo]]
	if m := historyEventIs.FindStringSubmatch(err.Error()); m != nil {
		for _, ev := range span {
			if eventTypeName(ev) == m[1] {
				return ev
			}
		}
	}
	for i, ev := range span {
		if ev.GetEventType() == enums.EVENT_TYPE_WORKFLOW_TASK_COMPLETED && i+1 < len(span) {
			return span[i+1]
		}
	}
	return span[len(span)-1]
}

// eventTypeName is an event's type as the SDK's errors name it
// (ActivityTaskScheduled).
func eventTypeName(ev *historypb.HistoryEvent) string {
	name := ev.GetEventType().String()
	if !strings.HasPrefix(name, "EVENT_TYPE_") {
		return name
	}
	var b strings.Builder
	for _, w := range strings.Split(strings.TrimPrefix(name, "EVENT_TYPE_"), "_") {
		if w != "" {
			b.WriteString(w[:1] + strings.ToLower(w[1:]))
		}
	}
	return b.String()
}

// eventDetail names what an event is about (an activity's type, a
// timer, a signal, a marker, a child workflow).
func eventDetail(ev *historypb.HistoryEvent) string {
	switch {
	case ev.GetActivityTaskScheduledEventAttributes() != nil:
		return " (activity " + ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() + ")"
	case ev.GetTimerStartedEventAttributes() != nil:
		return " (timer " + ev.GetTimerStartedEventAttributes().GetTimerId() + ")"
	case ev.GetWorkflowExecutionSignaledEventAttributes() != nil:
		return " (signal " + ev.GetWorkflowExecutionSignaledEventAttributes().GetSignalName() + ")"
	case ev.GetMarkerRecordedEventAttributes() != nil:
		return " (marker " + ev.GetMarkerRecordedEventAttributes().GetMarkerName() + ")"
	case ev.GetStartChildWorkflowExecutionInitiatedEventAttributes() != nil:
		return " (child " + ev.GetStartChildWorkflowExecutionInitiatedEventAttributes().GetWorkflowType().GetName() + ")"
	case ev.GetSignalExternalWorkflowExecutionInitiatedEventAttributes() != nil:
		return " (signal " + ev.GetSignalExternalWorkflowExecutionInitiatedEventAttributes().GetSignalName() + ")"
	}
	return ""
}

func quietLogger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// unreachableFor is a payment provider that does not answer for one
// order (an outage as the refund sees it) and is the fake for the others.
type unreachableFor struct {
	activities.Payments
	order string
}

func (u unreachableFor) Refund(ctx context.Context, req activities.PayoutRequest) (activities.ProviderRefund, error) {
	if req.OrderID == u.order {
		return activities.ProviderRefund{}, errs.E(errs.Unavailable, "payment provider unreachable")
	}
	return u.Payments.Refund(ctx, req)
}

func (u unreachableFor) Lookup(ctx context.Context, key string) (activities.ProviderRefund, bool, error) {
	if strings.Contains(key, "/"+u.order+"/") {
		return activities.ProviderRefund{}, false, errs.E(errs.Unavailable, "payment provider unreachable")
	}
	return u.Payments.Lookup(ctx, key)
}

// recorder writes a corpus: the histories and their index.
type recorder struct {
	ctx     context.Context
	t       *testing.T
	c       client.Client
	dir     string
	entries []corpusEntry
}

// write saves the history of a workflow run (the latest when run is ""),
// closed or, when open, as it stands.
func (rc *recorder) write(workflowID, run, name, path string, open bool) {
	t := rc.t
	t.Helper()
	if run == "" {
		d, err := rc.c.DescribeWorkflowExecution(rc.ctx, workflowID, "")
		if err != nil {
			t.Fatal(err)
		}
		run = d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	}
	// A closed run's history is waited for (long poll until it closes);
	// an open one's is read as it stands.
	iter := rc.c.GetWorkflowHistory(rc.ctx, workflowID, run, !open, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
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
	if err := os.MkdirAll(rc.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rc.dir, name+".json"), doc, 0o644); err != nil {
		t.Fatal(err)
	}
	rc.entries = append(rc.entries, corpusEntry{File: name + ".json", WorkflowID: workflowID, RunID: run, Path: path, Open: open})
}

func (rc *recorder) index() {
	b, err := json.MarshalIndent(rc.entries, "", "  ")
	if err != nil {
		rc.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rc.dir, corpusIndex), append(b, '\n'), 0o644); err != nil {
		rc.t.Fatal(err)
	}
}

// TestRecordHistories runs every path and waiting point on a real dev
// server, writes their histories and replays what it wrote: the current
// code must replay its own fresh histories (a determinism check against a
// real server). With -record it writes them into
// testdata/histories/<release> (make record-histories RELEASE=x), the
// corpus of a release; otherwise into a temporary folder.
//
// The server suggests continuing as new past 150 events
// (limit.historyCount.suggestContinueAsNew), so one path, a customer who
// keeps resubmitting refused data, continues as new; the others stay far
// below it.
func TestRecordHistories(t *testing.T) {
	dir := t.TempDir()
	if *record {
		dir = filepath.Join(historyRoot, *release)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := devServer(ctx, t, "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=150")
	rc := &recorder{ctx: ctx, t: t, c: c, dir: dir}

	now := time.Now().Truncate(time.Second)
	paid := now.Add(-24 * time.Hour)
	issued := paid.Add(time.Hour)
	issuedCert := func(id string) domain.Certificate {
		return domain.Certificate{ID: id, State: statemachine.Issued, IssuedAt: &issued}
	}
	refusedCert := func(id string) domain.Certificate {
		return domain.Certificate{ID: id, State: statemachine.ValidationFailed, ResubmitRejected: "missing contact ID number"}
	}
	reviewCert := domain.Certificate{ID: "rec-escalated-c1", State: statemachine.ValidatingRevocation, IssuedAt: &issued}
	orders := []domain.Order{
		// Paid a week ago but for a few seconds: the window (T-1) closes
		// while the revocation review is open. First, so that the refund
		// starts inside the window.
		recOrder("rec-handover", domain.SSLCertificate, now.Add(-7*24*time.Hour+8*time.Second), nil, []domain.Certificate{issuedCert("rec-handover-c1")}),
		recOrder("rec-unused", domain.SSLCertificate, paid, nil, nil),
		recOrder("rec-pending", domain.SSLCertificate, paid, nil, []domain.Certificate{{ID: "rec-pending-c1", State: statemachine.PendingApplication}}),
		recOrder("rec-issued", domain.SSLCertificate, paid, nil, []domain.Certificate{issuedCert("rec-issued-c1")}),
		recOrder("rec-gateway", domain.HTTPSGateway, paid, &domain.Usage{GRCQTotal: 300, GRCQConsumed: 60, DomainAdded: true}, nil),
		recOrder("rec-late", domain.SSLCertificate, paid.Add(-30*24*time.Hour), nil, nil),
		recOrder("rec-console", domain.SSLCertificate, paid, nil, []domain.Certificate{issuedCert("rec-console-c1")}),
		recOrder("rec-review", domain.SSLCertificate, paid, nil, []domain.Certificate{issuedCert("rec-review-c1")}),
		recOrder("rec-approval", domain.HTTPSGateway, paid, &domain.Usage{GRCQTotal: 300, GRCQConsumed: 60, DomainAdded: true}, nil),
		recOrder("rec-customer", domain.SSLCertificate, paid, nil, []domain.Certificate{refusedCert("rec-customer-c1")}),
		recOrder("rec-payfail", domain.SSLCertificate, paid, nil, nil),
		recOrder("rec-escalated", domain.SSLCertificate, paid, nil, []domain.Certificate{reviewCert}),
		recOrder("rec-continued", domain.SSLCertificate, paid, nil, []domain.Certificate{refusedCert("rec-continued-c1")}),
	}
	store := sim.NewFakeStore(orders...)
	ca := sim.NewFakeCA(map[string]string{"rec-customer-c1": "missing contact ID number", "rec-continued-c1": "missing contact ID number"})
	// The console's revocation of rec-escalated-c1 went to the CA nine
	// days ago: its T-3 deadline (five business days) has passed.
	reviewID := ca.OpenReview(reviewCert.ID, now.Add(-9*24*time.Hour))
	pol := &activities.RegistryPolicies{Registry: mustRegistry(t)}
	w := worker.New(c, workflows.TaskQueue, testenv.WorkerOptions())
	workflows.Register(w)
	workflows.RegisterActivities(w, activities.Deps{CA: ca, Payments: unreachableFor{Payments: sim.NewFakePayments(time.Now), order: "rec-payfail"},
		Store: store, Policies: pol})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	// The console revokes rec-console's certificate before its refund: an
	// update-with-start of the certificate's workflow, as the gateway does.
	consoleRevoke(ctx, t, c, orders[6], "rec-console-c1")
	// rec-escalated's certificate workflow follows the console's
	// revocation under review, started as the console started it.
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: certificate.WorkflowID(reviewCert.ID), TaskQueue: workflows.TaskQueue},
		certificate.WorkflowName, certificate.Input{Certificate: reviewCert, OrderID: "rec-escalated",
			Review: &certificate.Review{ID: reviewID, SubmittedAt: now.Add(-9 * 24 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	waitForHolder(ctx, t, store, reviewCert.ID, certificate.WorkflowID(reviewCert.ID))

	for _, o := range orders {
		req := domain.RefundRequest{OrderID: o.ID, Consent: true, ConfirmIrreversible: true, AcceptLateReviewRisk: true}
		if o.ID == "rec-approval" {
			req.RequestedBy = "alice"
		}
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: refund.WorkflowID(o.ID), TaskQueue: workflows.TaskQueue},
			refund.WorkflowName, refund.Input{OrderID: o.ID, Request: req})
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(o.ID, "rec-") + "-refund"
		closed := func(path string) {
			var st refund.Status
			if err := run.Get(ctx, &st); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s %v", o.ID, st.Outcome, st.Reasons)
			rc.write(run.GetID(), run.GetRunID(), name, path, false)
		}
		open := func(path string, ok func(refund.Status) bool) {
			waitForRefund(ctx, t, c, o.ID, path, ok)
			rc.write(run.GetID(), "", name, path, true)
		}
		switch o.ID {
		case "rec-unused":
			closed("unused quota: paid at once")
		case "rec-pending":
			closed("pending application: cancelled, paid")
		case "rec-late":
			closed("request after the window: refused")
		case "rec-issued":
			// The refund holds the certificate: the result goes to it.
			waitForStoredState(ctx, t, store, o.ID, "rec-issued-c1", statemachine.ValidatingRevocation)
			res := certificate.CAResult{EventID: "rec-ev-1", Certificate: "rec-issued-c1", Result: statemachine.RevocationApproved, At: time.Now()}
			for i := 0; i < 2; i++ { // a duplicate callback, applied once
				deliverCAResult(ctx, t, c, store, res)
			}
			closed("issued: revoke, review approved (a duplicate callback), delete, paid")
		case "rec-console":
			// The console revoked first: the certificate's workflow holds
			// it, and the refund commands it.
			waitForRefundWaiting(ctx, t, c, o.ID)
			deliverCAResult(ctx, t, c, store, certificate.CAResult{EventID: "rec-ev-2", Certificate: "rec-console-c1", Result: statemachine.RevocationApproved, At: time.Now()})
			closed("console revoked first: the refund watches the certificate workflow's review, paid")
			rc.write(certificate.WorkflowID("rec-console-c1"), "", "console-certificate",
				"console revocation: the certificate workflow's review, commanded by the refund, removed", false)
		case "rec-gateway":
			waitForRefundState(ctx, t, c, o.ID, statemachine.OrderAwaitingApproval)
			approve(ctx, t, c, run.GetID(), "ops")
			closed("gateway: awaiting approval (GW-4), approved, paid")
		case "rec-review":
			open("waiting: the CA's revocation review open (SSL-6)", func(st refund.Status) bool {
				return hasWait(st, domain.WaitCAReview)
			})
		case "rec-approval":
			open("waiting: operator approval (GW-4)", func(st refund.Status) bool {
				return hasWait(st, domain.WaitOperatorApproval)
			})
		case "rec-customer":
			open("waiting: the customer to resubmit (SSL-6)", func(st refund.Status) bool {
				return hasWait(st, domain.WaitCustomer)
			})
		case "rec-payfail":
			open("waiting: the payment provider unreachable (M-4)", func(st refund.Status) bool {
				return hasWait(st, domain.WaitPaymentProvider)
			})
		case "rec-escalated":
			open("waiting: a console revocation's review past its T-3 deadline, escalated", func(st refund.Status) bool {
				return st.Escalated && hasWait(st, domain.WaitCAReview)
			})
			rc.write(certificate.WorkflowID(reviewCert.ID), "", "escalated-certificate",
				"console revocation under review: the certificate workflow, watched by a refund", true)
		case "rec-handover":
			closed("the window closes with the review open: refused (SSL-2), the certificate handed over")
			waitForHolder(ctx, t, store, "rec-handover-c1", certificate.WorkflowID("rec-handover-c1"))
			rc.write(certificate.WorkflowID("rec-handover-c1"), "", "handover-certificate",
				"handed over by a refund: the certificate workflow follows the review alone", true)
		case "rec-continued":
			// The customer keeps resubmitting data the CA refuses: the
			// history passes the server's suggestion, and the refund
			// continues as new while it waits for the customer.
			waitForRefund(ctx, t, c, o.ID, "waiting for the customer", func(st refund.Status) bool { return hasWait(st, domain.WaitCustomer) })
			for i := 0; ; i++ {
				if d, err := c.DescribeWorkflowExecution(ctx, run.GetID(), ""); err != nil {
					t.Fatal(err)
				} else if d.GetWorkflowExecutionInfo().GetExecution().GetRunId() != run.GetRunID() {
					break
				}
				if i == 60 {
					t.Fatal("the refund never continued as new")
				}
				resubmit(ctx, t, c, run.GetID(), "rec-continued-c1")
			}
			rc.write(run.GetID(), run.GetRunID(), name+"-run1", "a refund run that continued as new while waiting for the customer", false)
			open("waiting: the customer, in the run continued as new", func(st refund.Status) bool {
				return hasWait(st, domain.WaitCustomer)
			})
		}
	}
	rc.index()

	entries := readCorpus(t, dir)
	if len(entries) != 17 {
		t.Fatalf("wrote %d histories, want 17", len(entries))
	}
	for _, e := range entries {
		if err := replayCorpusEntry(dir, e); err != nil {
			t.Errorf("replay of the fresh %s failed: %v", e.File, err)
		}
	}
}

func hasWait(st refund.Status, kind domain.WaitKind) bool {
	for _, w := range st.WaitingOn {
		if w.Kind == kind {
			return true
		}
	}
	return false
}

// waitForRefund waits until the refund's status satisfies ok, then a
// moment more for the workflow task under way to complete.
func waitForRefund(ctx context.Context, t *testing.T, c client.Client, orderID, what string, ok func(refund.Status) bool) {
	t.Helper()
	for ctx.Err() == nil {
		if v, err := c.QueryWorkflow(ctx, refund.WorkflowID(orderID), "", refund.QueryStatus); err == nil {
			var st refund.Status
			if v.Get(&st) == nil && ok(st) {
				time.Sleep(300 * time.Millisecond)
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("refund %s never reached %s", orderID, what)
}

func waitForHolder(ctx context.Context, t *testing.T, store *sim.FakeStore, certID, want string) {
	t.Helper()
	for ctx.Err() == nil {
		if store.Holder(certID) == want {
			time.Sleep(300 * time.Millisecond)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("certificate %s never held by %s (held by %q)", certID, want, store.Holder(certID))
}

func approve(ctx context.Context, t *testing.T, c client.Client, workflowID, operator string) {
	t.Helper()
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: workflowID, UpdateName: refund.UpdateApprove,
		WaitForStage: client.WorkflowUpdateStageCompleted, Args: []any{refund.ApproveRequest{Operator: operator}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

// resubmit is the customer's resubmission, which the CA refuses while the
// data is not fixed (the update then fails: expected).
func resubmit(ctx context.Context, t *testing.T, c client.Client, workflowID, certID string) {
	t.Helper()
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: workflowID, UpdateName: refund.UpdateCertificateAction,
		WaitForStage: client.WorkflowUpdateStageCompleted, Args: []any{refund.CertificateAction{Certificate: certID,
			ActionRequest: certificate.ActionRequest{Action: statemachine.Resubmit, Actor: "customer"}}}})
	if err != nil {
		t.Fatal(err)
	}
	_ = h.Get(ctx, nil)
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
func deliverCAResult(ctx context.Context, t *testing.T, c client.Client, store *sim.FakeStore, res certificate.CAResult) {
	t.Helper()
	to := certificate.WorkflowID(res.Certificate)
	if h := store.Holder(res.Certificate); refund.IsHolder(h) {
		to = h
	}
	if err := c.SignalWorkflow(ctx, to, "", certificate.SignalCAResult, res); err != nil {
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
	op := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{ID: certificate.WorkflowID(certID), TaskQueue: workflows.TaskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING},
		certificate.WorkflowName, certificate.Input{Certificate: cert, OrderID: o.ID})
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{UpdateName: certificate.UpdateAction, WaitForStage: client.WorkflowUpdateStageCompleted,
			Args: []any{certificate.ActionRequest{Action: statemachine.Revoke, Actor: "customer", ConfirmIrreversible: true}}}})
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
		if v, err := c.QueryWorkflow(ctx, refund.WorkflowID(orderID), "", refund.QueryStatus); err == nil {
			var st refund.Status
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
		if v, err := c.QueryWorkflow(ctx, refund.WorkflowID(orderID), "", refund.QueryStatus); err == nil {
			var st refund.Status
			if v.Get(&st) == nil && st.State == want {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("refund %s never reached %s", orderID, want)
}

// TestNoTimerOutlivesItsRun checks the recorded histories of closed
// workflows: every timer started was fired or cancelled, so the Web UI
// lists none as "Started" on a closed run.
func TestNoTimerOutlivesItsRun(t *testing.T) {
	idx, _ := filepath.Glob(filepath.Join(historyRoot, "*", corpusIndex))
	for _, i := range idx {
		for _, e := range readCorpus(t, filepath.Dir(i)) {
			if !e.Open {
				noTimerOutlives(t, filepath.Join(filepath.Dir(i), e.File))
			}
		}
	}
}

func noTimerOutlives(t *testing.T, f string) {
	t.Helper()
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
