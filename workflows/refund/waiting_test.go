package refund_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/internal/testenv"
	"github.com/certflow/certflow/sim"
	"github.com/certflow/certflow/workflows"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// observed is what a run showed on the way: the refund's status at chosen
// times, and every search-attribute upsert of its workflows.
type observed struct {
	mu      sync.Mutex
	at      map[string]refund.Status
	upserts []map[string]any
}

func (o *observed) status(t *testing.T, name string) refund.Status {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	st, ok := o.at[name]
	if !ok {
		t.Fatalf("no status observed at %s", name)
	}
	return st
}

// upserted lists the values an attribute was upserted with, in order.
func (o *observed) upserted(name string) []any {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []any
	for _, u := range o.upserts {
		if v, ok := u[name]; ok {
			out = append(out, v)
		}
	}
	return out
}

// lastRefundUpsert is the refund's last upsert (each names RefundStatus).
// An attribute it unsets is absent from it, as one it leaves alone.
func (o *observed) lastRefundUpsert() map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.upserts) - 1; i >= 0; i-- {
		if _, ok := o.upserts[i]["RefundStatus"]; ok {
			return o.upserts[i]
		}
	}
	return nil
}

// watch runs sc, querying the refund at each of the times named in at (on
// the scenario's clock) and capturing every upsert; extra may register
// more callbacks.
func watch(t *testing.T, sc sim.Scenario, prepare func(*sim.Fakes), at map[string]string,
	extra func(*testsuite.TestWorkflowEnvironment)) (sim.Result, *observed) {
	t.Helper()
	obs := &observed{at: map[string]refund.Status{}}
	res, err := sim.Run(context.Background(), sc, sim.Options{Prepare: prepare,
		Hook: func(env *testsuite.TestWorkflowEnvironment, f *sim.Fakes) {
			env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Run(func(args mock.Arguments) {
				sa := args.Get(0).(temporal.SearchAttributes)
				u := map[string]any{}
				for k, v := range sa.GetUntypedValues() {
					u[k.GetName()] = v
				}
				obs.mu.Lock()
				obs.upserts = append(obs.upserts, u)
				obs.mu.Unlock()
			})
			for name, when := range at {
				ts, err := time.Parse(time.RFC3339, when)
				if err != nil {
					t.Fatal(err)
				}
				env.RegisterDelayedCallback(func() {
					v, err := env.QueryWorkflowByID(refund.WorkflowID(sc.Order.ID), refund.QueryStatus)
					if err != nil {
						t.Errorf("query at %s: %v", name, err)
						return
					}
					var st refund.Status
					if err := v.Get(&st); err != nil {
						t.Errorf("query at %s: %v", name, err)
					}
					obs.mu.Lock()
					obs.at[name] = st
					obs.mu.Unlock()
				}, ts.Sub(sc.Order.PaidAt))
			}
			if extra != nil {
				extra(env)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	return res, obs
}

// oneWait returns the only entry of ws, failing unless it is of kind.
func oneWait(t *testing.T, when string, ws []domain.Wait, kind domain.WaitKind) domain.Wait {
	t.Helper()
	if len(ws) != 1 || ws[0].Kind != kind {
		t.Fatalf("%s: waiting_on = %+v, want one %s", when, ws, kind)
	}
	return ws[0]
}

func wantTime(t *testing.T, what string, got *time.Time, want string) {
	t.Helper()
	w, err := time.Parse(time.RFC3339, want)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || !got.Equal(w) {
		t.Errorf("%s = %v, want %s", what, got, want)
	}
}

// SSL-6, T-3, VAS-4: the review's wait names the certificate, began when
// the refund began waiting, and is due by the T-3 deadline; escalated, it
// says why and when, and the wait is due by the window end (the late-review
// rule); the approval ends it. The Web UI finds the refund by WaitingOn and
// by its held certificate's state.
func TestWaitingOnTheCAReviewEscalatesAndEnds(t *testing.T) {
	sc := scenario(t, "aliyun-cn", `,"value_added":"basic"`, issuedCert,
		request+`,{"at":"2026-03-12T10:00:00+08:00","type":"ca.revocation_approved","certificate":"c-1"}`,
		`,"until":"2026-04-10T00:00:00+08:00"`)
	res, obs := watch(t, sc, nil, map[string]string{
		"review":    "2026-03-05T10:00:00+08:00",
		"escalated": "2026-03-11T12:00:00+08:00",
	}, nil)

	w := oneWait(t, "review", obs.status(t, "review").WaitingOn, domain.WaitCAReview)
	if w.Certificate != "c-1" || w.Rule != "T-3" || !w.Since.Equal(mustTime(t, "2026-03-03T10:00:00+08:00")) {
		t.Errorf("review wait = %+v, want c-1 under T-3 since the request", w)
	}
	// Requested Tue 03-03: five business days end Tue 03-10 (see
	// TestRefundReviewThatNeverEnds).
	wantTime(t, "review deadline", w.Deadline, "2026-03-11T00:00:00+08:00")

	st := obs.status(t, "escalated")
	w = oneWait(t, "escalated", st.WaitingOn, domain.WaitCAReview)
	if w.Rule != "VAS-4" || !w.Since.Equal(mustTime(t, "2026-03-03T10:00:00+08:00")) {
		t.Errorf("escalated wait = %+v, want VAS-4 with the same since", w)
	}
	wantTime(t, "escalated deadline", w.Deadline, "2026-04-01T10:00:00+08:00")
	e := st.Escalation
	if !st.Escalated || e == nil || e.Rule != "T-3" || e.Certificate != "c-1" || !strings.Contains(e.Reason, "c-1") {
		t.Fatalf("escalation = %+v (escalated %v)", e, st.Escalated)
	}
	if !e.At.Equal(mustTime(t, "2026-03-11T00:00:00+08:00")) || !e.Deadline.Equal(mustTime(t, "2026-03-11T00:00:00+08:00")) {
		t.Errorf("escalation at %s deadline %s, want both the T-3 deadline", e.At, e.Deadline)
	}

	if res.Outcome != "refunded" || len(res.WaitingOn) != 0 || res.Escalation == nil {
		t.Fatalf("outcome %s waiting_on %+v escalation %+v: want refunded, waiting on nothing, the escalation kept",
			res.Outcome, res.WaitingOn, res.Escalation)
	}
	// The search attributes: the wait and the held certificate's review
	// show, then go.
	waits := obs.upserted("WaitingOn")
	if !slices.ContainsFunc(waits, func(v any) bool { return slices.Equal(keywords(v), []string{"ca_review"}) }) {
		t.Errorf("WaitingOn upserts %v: want [ca_review]", waits)
	}
	if last := obs.lastRefundUpsert(); last["RefundStatus"] != "refunded" || last["WaitingOn"] != nil || last["CertificateState"] != nil {
		t.Errorf("last refund upsert %v: want refunded, waiting on and holding nothing", last)
	}
	states := obs.upserted("CertificateState")
	if !slices.ContainsFunc(states, func(v any) bool { return slices.Equal(keywords(v), []string{"validating_revocation"}) }) {
		t.Errorf("CertificateState upserts %v: want the held certificate under review", states)
	}
	if esc := obs.upserted("Escalated"); esc[len(esc)-1] != true {
		t.Errorf("Escalated upserts %v, want true last", esc)
	}
}

// SSL-6: waiting on the customer to resubmit, due by the window end; the
// resubmission is the customer's action on a certificate the refund holds,
// in its audit trail, and ends the wait.
func TestWaitingOnTheCustomerAndTheirAction(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "",
		`{"id":"c-1","state":"validation_failed","domain_changed":false,"resubmit_rejected":"missing contact ID number"}`,
		request+`,{"at":"2026-03-04T10:00:00+08:00","type":"customer.resubmitted","certificate":"c-1"}`, "")
	res, obs := watch(t, sc, nil, map[string]string{"customer": "2026-03-03T12:00:00+08:00"}, nil)
	w := oneWait(t, "customer", obs.status(t, "customer").WaitingOn, domain.WaitCustomer)
	if w.Certificate != "c-1" || w.Rule != "SSL-6" || !w.Since.Equal(mustTime(t, "2026-03-03T10:00:00+08:00")) ||
		!strings.Contains(w.Detail, "missing contact ID number") {
		t.Errorf("customer wait = %+v", w)
	}
	wantTime(t, "customer deadline", w.Deadline, "2026-03-09T10:00:00+08:00")
	if res.Outcome != "refunded" || len(res.WaitingOn) != 0 {
		t.Fatalf("outcome %s waiting_on %+v", res.Outcome, res.WaitingOn)
	}
	if len(res.Audit) != 2 {
		t.Fatalf("audit = %+v, want the request and the resubmission", res.Audit)
	}
	req, act := res.Audit[0], res.Audit[1]
	if req.Action != domain.AuditRefundRequested || req.Subject != "customer" || !req.At.Equal(mustTime(t, "2026-03-03T10:00:00+08:00")) {
		t.Errorf("request entry = %+v", req)
	}
	if act.Action != domain.AuditCertificateAction || act.Certificate != "c-1" || act.Event != "resubmit" || act.Subject != "customer" ||
		!act.At.Equal(mustTime(t, "2026-03-04T10:00:00+08:00")) {
		t.Errorf("certificate action entry = %+v", act)
	}
}

// M-4: the payment provider's outage shows from the first failed attempt,
// not after the payout activity's 72 hours of retries, and goes when it
// pays.
func TestWaitingOnThePaymentProviderFromTheFirstFailure(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "", "", request, "")
	res, obs := watch(t, sc, func(f *sim.Fakes) { f.Payments.Outage = 400 }, map[string]string{
		"first hour": "2026-03-03T11:00:00+08:00",
	}, nil)
	st := obs.status(t, "first hour")
	w := oneWait(t, "first hour", st.WaitingOn, domain.WaitPaymentProvider)
	if w.Rule != "M-4" || w.Deadline != nil || !w.Since.Equal(mustTime(t, "2026-03-03T10:00:00+08:00")) || st.Waiting == "" {
		t.Errorf("payment wait = %+v (waiting %q), want M-4 since the first attempt at the request", w, st.Waiting)
	}
	if res.Outcome != "refunded" || len(res.WaitingOn) != 0 || res.Waiting != "" {
		t.Fatalf("outcome %s waiting_on %+v waiting %q", res.Outcome, res.WaitingOn, res.Waiting)
	}
	if waits := obs.upserted("WaitingOn"); len(waits) != 1 || !slices.Equal(keywords(waits[0]), []string{"payment_provider"}) {
		t.Errorf("WaitingOn upserts %v: want [payment_provider]", waits)
	}
	if last := obs.lastRefundUpsert(); last["RefundStatus"] != "refunded" || last["WaitingOn"] != nil {
		t.Errorf("last refund upsert %v: want refunded, waiting on nothing", last)
	}
}

// The CA refusing our credentials: a ca_credentials wait for the
// certificate, since the first refusal, gone once the CA answers.
func TestWaitingOnTheCACredentials(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "", issuedCert,
		request+`,{"at":"2026-03-04T10:00:00+08:00","type":"ca.revocation_approved","certificate":"c-1"}`, "")
	var fakes *sim.Fakes
	res, obs := watch(t, sc, func(f *sim.Fakes) { fakes = f; f.CA.RefuseCredentials(true) }, map[string]string{
		"refused": "2026-03-03T11:30:00+08:00",
		"fixed":   "2026-03-03T13:00:00+08:00",
	}, func(env *testsuite.TestWorkflowEnvironment) {
		// The operator fixes the credentials at 12:30 and says so.
		env.RegisterDelayedCallback(func() {
			fakes.CA.RefuseCredentials(false)
			_ = env.SignalWorkflowByID(refund.WorkflowID("o-t"), refund.SignalCAConfigFixed, nil)
		}, 24*time.Hour+150*time.Minute)
	})
	w := oneWait(t, "refused", obs.status(t, "refused").WaitingOn, domain.WaitCACredentials)
	if w.Certificate != "c-1" || w.Rule != "SSL-6" || w.Deadline != nil || !w.Since.Equal(mustTime(t, "2026-03-03T10:00:00+08:00")) {
		t.Errorf("credentials wait = %+v, want c-1 since the first refusal", w)
	}
	// Fixed: the revoke went through, the refund waits on the review.
	if w := oneWait(t, "fixed", obs.status(t, "fixed").WaitingOn, domain.WaitCAReview); !w.Since.Equal(mustTime(t, "2026-03-03T12:30:00+08:00")) {
		t.Errorf("review wait after the fix = %+v, want since the fix", w)
	}
	if res.Outcome != "refunded" || len(res.WaitingOn) != 0 {
		t.Fatalf("outcome %s waiting_on %+v: want refunded, waiting on nothing", res.Outcome, res.WaitingOn)
	}
}

// GW-4: the wait on a second operator, due by the window end; the
// approval and a refused self-approval; the trail names who asked and who
// approved, with the note, as the gateway authenticated them, and the
// store's record carries it all.
func TestWaitingOnOperatorApprovalAndTheAuditTrail(t *testing.T) {
	paid := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	o := domain.Order{ID: "o-gw", Product: domain.HTTPSGateway, Profile: "aliyun-intl", PaidAt: paid, Currency: "USD",
		Price: mustDecimal("1.60"), Payment: domain.Payment{Cash: mustDecimal("1.60")},
		Usage: &domain.Usage{GRCQTotal: 300, GRCQConsumed: 60, DomainAdded: true}}
	st := &recordingStore{FakeStore: sim.NewFakeStore(o)}
	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	env.SetWorkerOptions(testenv.WorkerOptions())
	requested := paid.Add(24 * time.Hour)
	env.SetStartTime(requested)
	workflows.Register(env)
	workflows.RegisterActivities(env, activities.Deps{CA: sim.NewFakeCA(nil), Payments: sim.NewFakePayments(env.Now), Store: st,
		Policies: &sim.FakePolicies{Registry: mustRegistry(t), Calendar: calendar.Spec{Name: "t", Version: "1", Timezone: "UTC"}}})
	alice := domain.Actor{Subject: "alice", Role: domain.RoleOperator, IdempotencyKey: "k-req"}
	bob := domain.Actor{Subject: "bob", Role: domain.RoleOperator, IdempotencyKey: "k-approve"}
	var waiting refund.Status
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(refund.QueryStatus)
		if err == nil {
			err = v.Get(&waiting)
		}
		if err != nil {
			t.Errorf("query: %v", err)
		}
		env.UpdateWorkflow(refund.UpdateApprove, "approve", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { t.Errorf("approval refused: %v", err) }, OnAccept: func() {}, OnComplete: func(any, error) {},
		}, refund.ApproveRequest{Operator: "bob", Note: "checked the usage", By: bob})
	}, time.Hour)
	req := domain.RefundRequest{OrderID: o.ID, RequestedAt: requested, Consent: true, ConfirmIrreversible: true, RequestedBy: "alice"}
	env.ExecuteWorkflow(refund.WorkflowName, refund.Input{OrderID: o.ID, Request: req, By: alice})
	var res refund.Status
	if err := env.GetWorkflowResult(&res); err != nil || res.Outcome != refund.OutcomeRefunded {
		t.Fatalf("result = %+v, %v", res, err)
	}

	w := oneWait(t, "awaiting approval", waiting.WaitingOn, domain.WaitOperatorApproval)
	if w.Rule != "GW-4" || w.Certificate != "" || !w.Since.Equal(requested) || waiting.Decision == nil || waiting.Decision.Window == nil {
		t.Fatalf("approval wait = %+v", w)
	}
	wantTime(t, "approval deadline", w.Deadline, waiting.Decision.Window.End.Format(time.RFC3339))

	want := []domain.AuditEntry{
		{Action: domain.AuditRefundRequested, At: requested, Actor: alice},
		{Action: domain.AuditRefundApproved, At: requested.Add(time.Hour), Actor: bob, Note: "checked the usage"},
	}
	if !auditEqual(res.Audit, want) {
		t.Fatalf("audit = %+v, want %+v", res.Audit, want)
	}
	last := st.records[len(st.records)-1]
	if !auditEqual(last.Audit, want) || last.WaitingOn == nil || len(last.WaitingOn) != 0 || last.Destination != domain.OriginalMethod ||
		last.Cash != "1.28" || last.GiftCard == "" {
		t.Errorf("final record = %+v", last)
	}
	b, err := json.Marshal(last)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"waiting_on":[]`) {
		t.Errorf("final record %s: want waiting_on [] (never null)", b)
	}
	// The record followed the wait: one record waited on the operator.
	if !slices.ContainsFunc(st.records, func(r activities.RefundRecord) bool {
		return len(r.WaitingOn) == 1 && r.WaitingOn[0].Kind == domain.WaitOperatorApproval
	}) {
		t.Errorf("no record waited on the operator")
	}
}

// CAN-1: the cancel, with who asked and why, in the trail.
func TestCancelIsAudited(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "",
		`{"id":"c-1","state":"validation_failed","domain_changed":false,"resubmit_rejected":"missing contact ID number"}`,
		request, "")
	carol := domain.Actor{Subject: "carol", Role: domain.RoleConsole, IdempotencyKey: "k-cancel"}
	res, _ := watch(t, sc, nil, nil, func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(func() {
			_ = env.UpdateWorkflowByID(refund.WorkflowID("o-t"), refund.UpdateCancel, "cancel",
				&testsuite.TestUpdateCallback{OnReject: func(err error) { t.Errorf("cancel refused: %v", err) }, OnAccept: func() {},
					OnComplete: func(any, error) {}}, refund.CancelRequest{Actor: "carol", Reason: "bought the wrong product", By: carol})
		}, 48*time.Hour)
	})
	if res.Outcome != "cancelled" || len(res.WaitingOn) != 0 || len(res.Audit) != 2 {
		t.Fatalf("outcome %s waiting_on %+v audit %+v", res.Outcome, res.WaitingOn, res.Audit)
	}
	want := domain.AuditEntry{Action: domain.AuditRefundCancelled, At: mustTime(t, "2026-03-04T10:00:00+08:00"), Actor: carol,
		Note: "bought the wrong product"}
	if !auditEqual(res.Audit[1:], []domain.AuditEntry{want}) {
		t.Errorf("cancel entry = %+v, want %+v", res.Audit[1], want)
	}
}

// A console action on a certificate's own workflow is in its trail.
func TestCertificateActionIsAudited(t *testing.T) {
	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	env.SetWorkerOptions(testenv.WorkerOptions())
	start := mustTime(t, "2026-03-03T10:00:00+08:00")
	env.SetStartTime(start)
	workflows.Register(env)
	workflows.RegisterActivities(env, activities.Deps{CA: sim.NewFakeCA(nil), Payments: sim.NewFakePayments(env.Now), Store: sim.NewFakeStore(),
		Policies: &sim.FakePolicies{Registry: mustRegistry(t), Calendar: calendar.Spec{Name: "t", Version: "1", Timezone: "UTC"}}})
	dave := domain.Actor{Subject: "dave", Role: domain.RoleConsole, IdempotencyKey: "k-revoke"}
	var st certificate.Status
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(certificate.UpdateAction, "revoke", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { t.Errorf("revoke refused: %v", err) }, OnAccept: func() {},
			OnComplete: func(v any, err error) {
				if err != nil {
					t.Errorf("revoke: %v", err)
				}
			},
		}, certificate.ActionRequest{Action: "revoke", Actor: "dave", ConfirmIrreversible: true, By: dave})
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(certificate.QueryStatus)
		if err == nil {
			err = v.Get(&st)
		}
		if err != nil {
			t.Errorf("query: %v", err)
		}
		env.CancelWorkflow()
	}, time.Hour)
	issued := start.Add(-time.Hour)
	env.ExecuteWorkflow(certificate.WorkflowName, certificate.Input{OrderID: "o-c",
		Certificate: domain.Certificate{ID: "c-9", State: "issued", IssuedAt: &issued}})
	want := []domain.AuditEntry{{Action: domain.AuditCertificateAction, At: start.Add(time.Minute), Actor: dave, Certificate: "c-9", Event: "revoke"}}
	if !auditEqual(st.Audit, want) {
		t.Fatalf("certificate audit = %+v, want %+v", st.Audit, want)
	}
}

func auditEqual(x, y []domain.AuditEntry) bool {
	return slices.EqualFunc(x, y, func(a, b domain.AuditEntry) bool {
		return a.Action == b.Action && a.At.Equal(b.At) && a.Actor == b.Actor && a.Note == b.Note && a.Certificate == b.Certificate && a.Event == b.Event
	})
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// keywords reads a KeywordList upsert's value.
func keywords(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		var out []string
		for _, e := range x {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}
