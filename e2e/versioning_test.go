package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// The dev server's dynamic configuration for the versioning test: a
// version's drainage status and its pollers' presence are refreshed in
// seconds instead of minutes, so the test sees the old build drained and
// can delete it.
var versioningServerArgs = []string{
	"--dynamic-config-value", `matching.wv.VersionDrainageStatusRefreshInterval="1s"`,
	"--dynamic-config-value", `matching.wv.VersionDrainageStatusVisibilityGracePeriod="1s"`,
	"--dynamic-config-value", `matching.PollerHistoryTTL="2s"`,
}

// buildMemo is the memo field build B's refund writes: the test's
// deliberate change of the refund workflow between the two builds.
const buildMemo = "certflow_e2e_build"

// refundOnB is build B's RefundWorkflow: the shipped one after one more
// command (a memo upsert). Replaying a build-A history with it would fail
// with a non-determinism error, so it also proves that no refund started on
// A ever runs a task on B.
func refundOnB(ctx workflow.Context, in refund.Input) (refund.Status, error) {
	if err := workflow.UpsertMemo(ctx, map[string]any{buildMemo: "build-b"}); err != nil {
		return refund.Status{}, err
	}
	return refund.Workflow(ctx, in)
}

// registerB is build B's registration: the certificate workflow as
// shipped, the refund changed, both with the shipped behaviours.
func registerB(r workflows.Registry) {
	r.RegisterWorkflowWithOptions(certificate.Workflow, workflow.RegisterOptions{Name: certificate.WorkflowName, VersioningBehavior: certificate.Versioning})
	r.RegisterWorkflowWithOptions(refundOnB, workflow.RegisterOptions{Name: refund.WorkflowName, VersioningBehavior: refund.Versioning})
}

// A rollout with Worker Versioning, as docs/operations.md's runbook does it
// (its CLI commands, run here): refunds parked at the CA's review on build
// A finish on A after build B became current, paid right; new refunds run
// on B; A drains, its workers stop, and its version is deleted.
func TestWorkerVersioningRollout(t *testing.T) {
	s := startWithoutWorker(t, versioningServerArgs...)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const deployment = "certflow-e2e"
	var ran [][]string
	cliRan = func(args []string) { ran = append(ran, slices.Clone(args)) }
	defer func() { cliRan = nil }()
	versioned := func(build string) worker.Options {
		o := testenv.WorkerOptions()
		o.DeploymentOptions = worker.DeploymentOptions{UseVersioning: true,
			Version: worker.WorkerDeploymentVersion{DeploymentName: deployment, BuildID: build}}
		return o
	}
	a := s.startWorker(versioned("build-a"), workflows.Register)
	setCtx, setCancel := context.WithTimeout(ctx, time.Minute)
	err := temporalx.SetCurrentVersion(setCtx, s.temporal, worker.WorkerDeploymentVersion{DeploymentName: deployment, BuildID: "build-a"}, 250*time.Millisecond)
	setCancel()
	if err != nil {
		t.Fatal(err)
	}

	// Two refunds park at the CA's review on A: the simulated CA keeps
	// their reviews open until told otherwise.
	parked := []string{"o-va1", "o-va2"}
	req := map[string]any{"consent": true, "confirm_irreversible": true, "accept_late_review_risk": true}
	for _, o := range parked {
		s.putIssuedOrder(o, o+"-c")
		s.setReview(o+"-c", "never")
		if code := s.call("POST", s.gw.URL+"/v1/orders/"+o+"/refund", req, nil); code != http.StatusAccepted {
			t.Fatalf("POST refund %s: %d", o, code)
		}
	}
	for _, o := range parked {
		s.waitWaitingOn(o, domain.WaitCAReview)
		s.wantOnBuild(o, deployment, "build-a", false)
	}
	// The runbook's count of the refunds still open on a build.
	openOnA := `WorkflowType = "RefundWorkflow" AND ExecutionStatus = "Running" AND TemporalWorkerDeploymentVersion = "` + deployment + `:build-a"`
	s.waitCount(ctx, openOnA, 2)

	// Build B starts and becomes current, as the runbook does it.
	s.startWorker(versioned("build-b"), registerB)
	s.waitVersionPolled(ctx, deployment, "build-b")
	s.temporalCLI(ctx, "worker", "deployment", "describe-version", "--deployment-name", deployment, "--build-id", "build-b")
	s.temporalCLI(ctx, "worker", "deployment", "set-current-version", "--deployment-name", deployment, "--build-id", "build-b", "--yes")
	s.wantCurrent(ctx, deployment, "build-b")
	if st := s.drainage(ctx, deployment, "build-a"); st != "draining" {
		t.Errorf("build-a drainage after B became current: %q, want draining (its pinned refunds are open)", st)
	}

	// A new refund runs on B, changed code and all.
	s.putIssuedOrder("o-vb", "o-vb-c")
	if code := s.call("POST", s.gw.URL+"/v1/orders/o-vb/refund", req, nil); code != http.StatusAccepted {
		t.Fatalf("POST refund o-vb: %d", code)
	}
	s.wantPaid("o-vb")
	s.wantOnBuild("o-vb", deployment, "build-b", true)

	// The runbook's rollback while A's workers run, then forward again.
	s.temporalCLI(ctx, "worker", "deployment", "set-current-version", "--deployment-name", deployment, "--build-id", "build-a", "--yes")
	s.wantCurrent(ctx, deployment, "build-a")
	s.temporalCLI(ctx, "worker", "deployment", "set-current-version", "--deployment-name", deployment, "--build-id", "build-b", "--yes")
	s.wantCurrent(ctx, deployment, "build-b")

	// The parked refunds' reviews are approved: they finish on A, where
	// they started, and pay the cash part once.
	for _, o := range parked {
		s.setReview(o+"-c", "approve")
	}
	for _, o := range parked {
		s.wantPaid(o)
		s.wantOnBuild(o, deployment, "build-a", false)
	}
	s.waitCount(ctx, openOnA, 0)

	// A drains, its workers stop, and its version is deleted.
	deadline := time.Now().Add(time.Minute)
	for st := s.drainage(ctx, deployment, "build-a"); st != "drained"; st = s.drainage(ctx, deployment, "build-a") {
		if time.Now().After(deadline) {
			t.Fatalf("build-a drainage %q a minute after its last refund ended, want drained", st)
		}
		time.Sleep(500 * time.Millisecond)
	}
	a.Stop()
	deadline = time.Now().Add(time.Minute)
	for {
		out, err := s.temporalCLIErr(ctx, "worker", "deployment", "delete-version", "--deployment-name", deployment, "--build-id", "build-a")
		if err == nil {
			break
		}
		// Its pollers are remembered for a while after they stop.
		if time.Now().After(deadline) {
			t.Fatalf("delete-version build-a: %v\n%s", err, out)
		}
		time.Sleep(time.Second)
	}
	d, err := s.temporal.WorkerDeploymentClient().GetHandle(deployment).Describe(ctx, client.WorkerDeploymentDescribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var builds []string
	for _, v := range d.Info.VersionSummaries {
		builds = append(builds, v.Version.BuildID)
	}
	if cur := d.Info.RoutingConfig.CurrentVersion; cur == nil || cur.BuildID != "build-b" || !slices.Equal(builds, []string{"build-b"}) {
		t.Errorf("deployment after the rollout: current %+v, versions %v; want build-b alone", cur, builds)
	}
	// Every command of the runbook ran, as printed.
	ranAsPrinted(t, runbookCommands(t, deployment, "build-a", "build-b"), ran)
}

// setReview sets the simulated CA's answer to the certificate's
// revocation review: "never" keeps it open, "approve" decides it.
func (s *system) setReview(certID, revocation string) {
	s.t.Helper()
	if code := s.call("POST", s.ca.URL+"/admin/certificates/"+certID+"/behaviour", map[string]string{"revocation": revocation}, nil); code != http.StatusOK {
		s.t.Fatalf("casim behaviour %s %s: %d", certID, revocation, code)
	}
}

// waitWaitingOn waits until the order's refund waits on kind.
func (s *system) waitWaitingOn(orderID string, kind domain.WaitKind) {
	s.t.Helper()
	var v refundView
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if s.call("GET", s.gw.URL+"/v1/orders/"+orderID+"/refund", nil, &v) == http.StatusOK &&
			slices.ContainsFunc(v.Status.WaitingOn, func(w domain.Wait) bool { return w.Kind == kind }) {
			return
		}
	}
	s.t.Fatalf("refund of %s never waited on %s; last status %+v", orderID, kind, v.Status)
}

// wantPaid waits for the order's refund to pay the cash part (80.00 of an
// order putIssuedOrder made) to the original method, once, and the store to
// record it.
func (s *system) wantPaid(orderID string) {
	s.t.Helper()
	st := s.waitRefund(orderID, statemachine.OrderRefunded)
	if st.Payout == nil || st.Payout.Cash != "80.00" || st.Payout.Destination != domain.OriginalMethod {
		s.t.Fatalf("%s payout = %+v, want 80.00 to the original method", orderID, st.Payout)
	}
	var (
		rec activities.RefundRecord
		err error
	)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if rec, err = s.db.GetRefund(context.Background(), orderID); err == nil && rec.Outcome == "refunded" {
			break
		}
	}
	if err != nil || rec.Outcome != "refunded" || rec.PaymentID == "" {
		s.t.Fatalf("%s store refund record = %+v, %v", orderID, rec, err)
	}
}

// wantOnBuild checks the refund's versioning info: pinned to the build,
// and whether build B's change (its memo) ran.
func (s *system) wantOnBuild(orderID, deployment, build string, changed bool) {
	s.t.Helper()
	// The versioning info is the completed workflow task's: the store can
	// show the refund waiting a moment before (its record is written by a
	// local activity inside that task).
	var info *workflowpb.WorkflowExecutionInfo
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		d, err := s.temporal.DescribeWorkflowExecution(context.Background(), refund.WorkflowID(orderID), "")
		if err != nil {
			s.t.Fatal(err)
		}
		info = d.GetWorkflowExecutionInfo()
		if info.GetVersioningInfo().GetBehavior() != enumspb.VERSIONING_BEHAVIOR_UNSPECIFIED || time.Now().After(end) {
			break
		}
	}
	vi := info.GetVersioningInfo()
	if vi.GetBehavior() != enumspb.VERSIONING_BEHAVIOR_PINNED || vi.GetDeploymentVersion().GetDeploymentName() != deployment ||
		vi.GetDeploymentVersion().GetBuildId() != build {
		s.t.Errorf("refund of %s: versioning %v on %s/%s, want pinned on %s/%s", orderID, vi.GetBehavior(),
			vi.GetDeploymentVersion().GetDeploymentName(), vi.GetDeploymentVersion().GetBuildId(), deployment, build)
	}
	var memo string
	if p := info.GetMemo().GetFields()[buildMemo]; p != nil {
		if err := converter.GetDefaultDataConverter().FromPayload(p, &memo); err != nil {
			s.t.Fatal(err)
		}
	}
	if changed != (memo == "build-b") {
		s.t.Errorf("refund of %s: memo %s=%q, want build B's change to have run: %v", orderID, buildMemo, memo, changed)
	}
}

// wantCurrent runs the runbook's describe and checks the deployment's
// current version.
func (s *system) wantCurrent(ctx context.Context, deployment, build string) {
	s.t.Helper()
	out := s.temporalCLI(ctx, "worker", "deployment", "describe", "--name", deployment)
	d, err := s.temporal.WorkerDeploymentClient().GetHandle(deployment).Describe(ctx, client.WorkerDeploymentDescribeOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	if v := d.Info.RoutingConfig.CurrentVersion; v == nil || v.BuildID != build {
		s.t.Fatalf("current version %+v, want %s\n%s", v, build, out)
	}
}

// runbookCommands are the Temporal CLI commands of docs/operations.md's
// "Rolling out a new build", up to its Kubernetes part, as printed, with
// the runbook's deployment and builds replaced by the test's.
func runbookCommands(t *testing.T, deployment, oldBuild, newBuild string) [][]string {
	t.Helper()
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start := strings.Index(text, "### Rolling out a new build")
	end := strings.Index(text[start:], "**On Kubernetes**")
	if start < 0 || end < 0 {
		t.Fatal(`docs/operations.md has no "Rolling out a new build" runbook before "**On Kubernetes**"`)
	}
	var cmds [][]string
	inBlock := false
	for _, line := range strings.Split(text[start:start+end], "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "```sh"):
			inBlock = true
		case strings.HasPrefix(line, "```"):
			inBlock = false
		case inBlock && strings.HasPrefix(line, "temporal "):
			if i := strings.Index(line, "    #"); i >= 0 {
				line = strings.TrimSpace(line[:i])
			}
			line = strings.NewReplacer("v1.4.0", oldBuild, "v1.5.0", newBuild, `"certflow:`, `"`+deployment+`:`).Replace(line)
			args := shellWords(t, strings.TrimPrefix(line, "temporal "))
			for i, a := range args {
				if a == "certflow" {
					args[i] = deployment
				}
			}
			cmds = append(cmds, args)
		}
	}
	if len(cmds) < 6 {
		t.Fatalf("the runbook has %d temporal commands, want its six or more: %q", len(cmds), cmds)
	}
	return cmds
}

// shellWords splits a command line as sh does for plain words and quoted
// strings (no expansions).
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var (
		words []string
		cur   strings.Builder
		quote rune
		in    bool
	)
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", line)
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// ranAsPrinted checks that each runbook command was run, with the same
// arguments (a trailing "-o json", which the test reads, aside).
func ranAsPrinted(t *testing.T, runbook, ran [][]string) {
	t.Helper()
	for _, want := range runbook {
		if !slices.ContainsFunc(ran, func(got []string) bool {
			if n := len(got); n >= 2 && got[n-2] == "-o" && got[n-1] == "json" {
				got = got[:n-2]
			}
			return slices.Equal(got, want)
		}) {
			t.Errorf("the runbook's `temporal %s` was not run as printed; the test ran: %q", strings.Join(want, " "), ran)
		}
	}
}

// waitVersionPolled waits until the server knows the version's workflow
// task queue (its workers polled), as set-current-version needs.
func (s *system) waitVersionPolled(ctx context.Context, deployment, build string) {
	s.t.Helper()
	h := s.temporal.WorkerDeploymentClient().GetHandle(deployment)
	for end := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
		d, err := h.DescribeVersion(ctx, client.WorkerDeploymentDescribeVersionOptions{BuildID: build})
		if err == nil && slices.ContainsFunc(d.Info.TaskQueuesInfos, func(q client.WorkerDeploymentTaskQueueInfo) bool {
			return q.Name == workflows.TaskQueue && q.Type == client.TaskQueueTypeWorkflow
		}) {
			return
		}
		if time.Now().After(end) {
			s.t.Fatalf("version %s/%s never registered its task queue: %v", deployment, build, err)
		}
	}
}

// drainage is the version's drainage status as the runbook reads it
// (`temporal worker deployment describe-version -o json`): "" while it is
// current, then "draining", then "drained".
func (s *system) drainage(ctx context.Context, deployment, build string) string {
	s.t.Helper()
	out := s.temporalCLI(ctx, "worker", "deployment", "describe-version", "--deployment-name", deployment, "--build-id", build, "-o", "json")
	var v struct {
		DrainageInfo *struct {
			DrainageStatus string `json:"drainageStatus"`
		} `json:"drainageInfo"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		s.t.Fatalf("describe-version output: %v\n%s", err, out)
	}
	if v.DrainageInfo == nil {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(strings.ToLower(v.DrainageInfo.DrainageStatus), "version_drainage_status_"))
}

// temporalCLI runs the Temporal CLI against the test's dev server and
// returns its standard output; an error fails the test.
func (s *system) temporalCLI(ctx context.Context, args ...string) []byte {
	s.t.Helper()
	out, err := s.temporalCLIErr(ctx, args...)
	if err != nil {
		s.t.Fatalf("temporal %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// cliRan records the Temporal CLI commands a test ran (set by the test
// that checks the runbook against them).
var cliRan func(args []string)

func (s *system) temporalCLIErr(ctx context.Context, args ...string) ([]byte, error) {
	if cliRan != nil {
		cliRan(args)
	}
	cmd := exec.CommandContext(ctx, testenv.TemporalBin(s.t), append(args, "--address", s.address, "--namespace", s.namespace)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.String()...), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// waitCount waits until `temporal workflow count --query query` counts
// want workflows (visibility follows within a second or so).
func (s *system) waitCount(ctx context.Context, query string, want int) {
	s.t.Helper()
	var got struct {
		Count json.Number `json:"count"`
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		out := s.temporalCLI(ctx, "workflow", "count", "--query", query, "-o", "json")
		if err := json.Unmarshal(out, &got); err != nil {
			s.t.Fatalf("workflow count output: %v\n%s", err, out)
		}
		if n, _ := got.Count.Int64(); n == int64(want) || (got.Count == "" && want == 0) {
			return
		}
		if time.Now().After(end) {
			s.t.Fatalf("temporal workflow count --query '%s': %s, want %d", query, got.Count, want)
		}
	}
}
