package refund_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/sim"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// The test orders are paid Monday 2026-03-02 10:00 +08:00; the 7-day window
// (T-1) ends 2026-03-09 10:00 +08:00. The refund is requested, and the
// certificate revoked, 2026-03-03 10:00, so the hourly polls fall on the
// hour.
const issuedCert = `{"id":"c-1","state":"issued","issued_at":"2026-03-02T12:00:00+08:00","domain_changed":false}`

func stepAt(t *testing.T, res sim.Result, step string) string {
	t.Helper()
	for _, s := range res.Steps {
		if s.Step == step {
			return s.At.Format("2006-01-02T15:04:05")
		}
	}
	return ""
}

func stepDetail(res sim.Result, step string) string {
	for _, s := range res.Steps {
		if s.Step == step {
			return s.Detail
		}
	}
	return ""
}

// SSL-2, T-1: the CA approves one second before the window closes but its
// callback is lost; the last look before refusing finds the decision, and
// the revocation counts as completed when the CA decided it.
func TestRefundLostCallbackOneSecondBeforeWindowEndIsRefunded(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "", issuedCert,
		request+`,{"at":"2026-03-09T09:59:59+08:00","type":"ca.revocation_approved","certificate":"c-1","delivery":"lost"}`, "")
	res, fakes := run(t, sc, nil)
	if res.Outcome != "refunded" || res.Refund == nil || res.Refund.Cash != "100.00" || res.Certificates["c-1"] != "removed" {
		t.Fatalf("result = %+v", res)
	}
	if n := len(fakes.Payments.PayoutsOf("o-t")); n != 1 {
		t.Fatalf("%d payouts, want exactly 1", n)
	}
	if d := stepDetail(res, "revoked"); !strings.Contains(d, "completed at 2026-03-09T09:59:59+08:00") {
		t.Fatalf("revoked step %q, want the CA's decision time", d)
	}
	if at := stepAt(t, res, "paid"); at != "2026-03-09T10:00:00" {
		t.Fatalf("paid at %s, want at the window end's last look", at)
	}
}

// SSL-6: a rejection whose callback is lost ends the refund at the next
// poll, not at the window end.
func TestRefundLostRejectionEndsAtTheNextPoll(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "", issuedCert,
		request+`,{"at":"2026-03-04T10:30:00+08:00","type":"ca.revocation_rejected","certificate":"c-1","reason":"key in use","delivery":"lost"}`, "")
	res, _ := run(t, sc, nil)
	if res.Outcome != "rejected" || !contains(res.Reasons, "SSL-6") || contains(res.Reasons, "SSL-2") || res.Refund != nil {
		t.Fatalf("result = %+v", res)
	}
	if at := stepAt(t, res, "rejected"); at != "2026-03-04T11:00:00" {
		t.Fatalf("rejected at %s, want at the first poll after the decision (2026-03-04T11:00)", at)
	}
	if res.Certificates["c-1"] != "issued" {
		t.Fatalf("certificates = %v", res.Certificates)
	}
}

// A signed approval that arrives before any revoke is not applied and not
// kept: the refund's own review is decided later, and only then is the
// certificate deleted and the refund paid.
func TestRefundStrayBeforeRevokeNotApplied(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "", issuedCert,
		`{"at":"2026-03-03T09:00:00+08:00","type":"ca.stray_result","certificate":"c-1","result":"approved","occurred_at":"2026-03-03T08:00:00+08:00"},`+
			request+`,{"at":"2026-03-05T15:00:00+08:00","type":"ca.revocation_approved","certificate":"c-1"}`, "")
	res, _ := run(t, sc, nil)
	if res.Outcome != "refunded" || res.Certificates["c-1"] != "removed" {
		t.Fatalf("result = %+v", res)
	}
	if at := stepAt(t, res, "delete"); at != "2026-03-05T15:00:00" {
		t.Fatalf("deleted at %s, want when the real review was approved (2026-03-05T15:00)", at)
	}
	d := strings.Fields(stepDetail(res, "revoked"))
	if len(d) == 0 {
		t.Fatal("no revoked step")
	}
	if at, err := time.Parse(time.RFC3339, d[len(d)-1]); err != nil || !at.Equal(time.Date(2026, 3, 5, 7, 0, 0, 0, time.UTC)) {
		t.Fatalf("revoked step %v, want completed at 2026-03-05T15:00+08:00", d)
	}
}

// T-1: a review completed exactly at the window end is inside it, even
// though the window timer fires at the same instant (SSL-2 in aliyun-intl,
// VAS-2 rather than VAS-3 in aliyun-cn).
func TestRefundReviewCompletedAtTheWindowEndInstant(t *testing.T) {
	for name, profile := range map[string]string{"SSL-2 aliyun-intl": "aliyun-intl", "VAS-3 aliyun-cn": "aliyun-cn"} {
		t.Run(name, func(t *testing.T) {
			sc := scenario(t, profile, "", issuedCert,
				request+`,{"at":"2026-03-09T10:00:00+08:00","type":"ca.revocation_approved","certificate":"c-1"}`, "")
			res, _ := run(t, sc, nil)
			if res.Outcome != "refunded" || len(res.Reasons) != 0 || res.Certificates["c-1"] != "removed" {
				t.Fatalf("result = %+v", res)
			}
			if profile == "aliyun-cn" && res.QuotaReturned != 1 {
				t.Fatalf("VAS-2: quota returned %d, want 1", res.QuotaReturned)
			}
		})
	}
}

// T-3: the review deadline counts from when a console revocation was
// submitted (Friday 03-06), not from the later refund request (Tuesday
// 03-10): five business days end Friday 03-13, so escalation comes at
// 03-14 00:00 rather than 03-18.
func TestRefundReviewDeadlineFromConsoleRevocation(t *testing.T) {
	sc := scenario(t, "aliyun-cn", `,"value_added":"basic"`, issuedCert,
		`{"at":"2026-03-06T10:00:00+08:00","type":"certificate.revoke_requested","certificate":"c-1","confirm_irreversible":true},
		{"at":"2026-03-10T10:00:00+08:00","type":"refund.requested","consent":true,"confirm_irreversible":true,"accept_late_review_risk":true}`,
		`,"until":"2026-03-20T00:00:00+08:00"`)
	res, _ := run(t, sc, nil)
	if res.Outcome != "pending" || !res.Escalated {
		t.Fatalf("result = %+v", res)
	}
	dl, ok := res.ReviewEnd.(*calendar.Deadline)
	if !ok || dl.At.Format(time.RFC3339) != "2026-03-14T00:00:00+08:00" {
		t.Fatalf("review deadline = %#v, want 2026-03-14T00:00:00+08:00", res.ReviewEnd)
	}
	if at := stepAt(t, res, "escalated"); at != "2026-03-14T00:00:00" {
		t.Fatalf("escalated at %q, want 2026-03-14T00:00:00", at)
	}
}

// A CA that refuses our credentials (401) is a configuration error: the
// revoke fails fast, the refund waits visibly, logs one error however many
// scheduled attempts fail, and resumes on the operator's signal.
func TestRefundWaitsOnRefusedCredentialsAndResumes(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "", issuedCert,
		request+`,{"at":"2026-03-04T10:00:00+08:00","type":"ca.revocation_approved","certificate":"c-1"}`, "")
	logs := &lockedBuffer{}
	var waiting string
	var refused int
	res, err := sim.Run(context.Background(), sc, sim.Options{
		Logger:  log.NewStructuredLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelError}))),
		Prepare: func(f *sim.Fakes) { f.CA.RefuseCredentials(true) },
		Hook: func(env *testsuite.TestWorkflowEnvironment, f *sim.Fakes) {
			// Requested 03-03 10:00 (a day after the start); the scheduled
			// attempts at 11:00 and 12:00 fail too.
			env.RegisterDelayedCallback(func() {
				if v, err := env.QueryWorkflowByID(refund.WorkflowID("o-t"), refund.QueryStatus); err == nil {
					var st refund.Status
					if v.Get(&st) == nil {
						waiting = st.Waiting
					}
				}
				for _, a := range f.CA.Actions {
					if strings.HasSuffix(a, "refused: 401") {
						refused++
					}
				}
				f.CA.RefuseCredentials(false)
				if err := env.SignalWorkflowByID(refund.WorkflowID("o-t"), refund.SignalCAConfigFixed, nil); err != nil {
					t.Errorf("signal: %v", err)
				}
			}, 24*time.Hour+150*time.Minute)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(waiting, "waiting: the CA refuses our credentials") {
		t.Fatalf("waiting = %q while the credentials were refused", waiting)
	}
	if refused != 3 {
		t.Fatalf("%d refused revokes before the fix, want 3 (fail fast, then one per scheduled attempt)", refused)
	}
	// The SDK logs each failed activity itself; the refund's own error
	// log comes once per episode, not per attempt.
	if n := strings.Count(logs.String(), `msg="waiting: the CA refuses our credentials"`); n != 1 {
		t.Fatalf("%d error logs of the refund, want 1:\n%s", n, logs.String())
	}
	if res.Outcome != "refunded" || res.Certificates["c-1"] != "removed" || res.Waiting != "" {
		t.Fatalf("result = %+v", res)
	}
	if at := stepAt(t, res, "resumed"); at != "2026-03-03T12:30:00" {
		t.Fatalf("resumed at %q, want on the operator's signal (12:30)", at)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// PCA-3: a reset refused for our credentials is an infrastructure failure,
// not a reason to refuse the refund: it is retried at the next scheduled
// attempt once the CA accepts the credentials again.
func TestRefundResetWaitsOnRefusedCredentials(t *testing.T) {
	sc, err := sim.Parse(strings.NewReader(`{"name":"pca reset 401","profile":"aliyun-intl",
	  "order":{"id":"o-t","product":"private_ca","paid_at":"2026-03-02T10:00:00+08:00","currency":"USD","price":"500.00",
	    "payment":{"cash":"450.00","voucher":"50.00","gift_card":"0","benefit_points":0},"usage":{"ca_enabled":true}},
	  "events":[{"at":"2026-03-06T10:00:00+08:00","type":"refund.requested","consent":true,"confirm_irreversible":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := sim.Run(context.Background(), sc, sim.Options{
		Prepare: func(f *sim.Fakes) { f.CA.RefuseCredentials(true) },
		Hook: func(env *testsuite.TestWorkflowEnvironment, f *sim.Fakes) {
			// Fixed at 11:30 without a signal: the 12:00 attempt succeeds.
			env.RegisterDelayedCallback(func() { f.CA.RefuseCredentials(false) }, 4*24*time.Hour+90*time.Minute)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "refunded" || res.Refund == nil || res.Refund.Cash != "450.00" {
		t.Fatalf("result = %+v", res)
	}
	if at := stepAt(t, res, "resumed"); at != "2026-03-06T12:00:00" {
		t.Fatalf("resumed at %q, want at the second scheduled attempt (12:00)", at)
	}
}

// A revocation under way before the refund whose approval callback was
// lost: the refund asks the CA as soon as it starts watching, and the
// review counts as completed when the CA decided it (SSL-2).
func TestRefundWatchingAReviewWhoseCallbackWasLost(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "",
		`{"id":"c-1","state":"validating_revocation","issued_at":"2026-03-02T12:00:00+08:00","domain_changed":false}`,
		`{"at":"2026-03-02T18:00:00+08:00","type":"ca.revocation_approved","certificate":"c-1","delivery":"lost"},`+request, "")
	res, _ := run(t, sc, nil)
	if res.Outcome != "refunded" || res.Certificates["c-1"] != "removed" || res.QuotaReturned != 1 {
		t.Fatalf("result = %+v", res)
	}
	if at := stepAt(t, res, "paid"); at != "2026-03-03T10:00:00" {
		t.Fatalf("paid at %q, want at once when the refund asked (2026-03-03T10:00)", at)
	}
}

// SSL-2, SSL-7: a review that outlives the window is refused at the window
// end; its approval decided later is lost on the way, yet the certificate
// learns it by asking the CA itself and its quota comes back.
func TestLostApprovalAfterTheRefundEndedStillReturnsTheQuota(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "", issuedCert,
		request+`,{"at":"2026-03-10T11:30:00+08:00","type":"ca.revocation_approved","certificate":"c-1","delivery":"lost"}`,
		`,"until":"2026-03-12T00:00:00+08:00"`)
	res, fakes := run(t, sc, nil)
	if res.Outcome != "rejected" || !contains(res.Reasons, "SSL-2") || res.Refund != nil {
		t.Fatalf("result = %+v", res)
	}
	// The refund held the certificate and, ending with its review open,
	// handed it over to the certificate's workflow.
	if h := fakes.Store.Holder("c-1"); h != certificate.WorkflowID("c-1") {
		t.Errorf("holder %q, want the certificate's workflow", h)
	}
	if res.Certificates["c-1"] != "revoked" || res.QuotaReturned != 1 {
		t.Fatalf("certificates %v quota %d, want revoked with its quota back (SSL-7)", res.Certificates, res.QuotaReturned)
	}
}

// A console revocation outside any refund whose approval callback is lost:
// the certificate asks the CA on its own schedule and is revoked.
func TestConsoleRevocationWithLostCallback(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "", issuedCert,
		`{"at":"2026-03-03T10:00:00+08:00","type":"certificate.revoke_requested","certificate":"c-1","confirm_irreversible":true},
		{"at":"2026-03-04T10:15:00+08:00","type":"ca.revocation_approved","certificate":"c-1","delivery":"lost"}`,
		`,"until":"2026-03-05T00:00:00+08:00"`)
	res, _ := run(t, sc, nil)
	if res.Outcome != "none" || res.Certificates["c-1"] != "revoked" || res.QuotaReturned != 1 {
		t.Fatalf("result = %+v", res)
	}
}
