package refund_test

import (
	"context"
	"strings"
	"testing"

	"github.com/certflow/certflow/sim"
)

// scenario builds a story from the shared format; certs and events are
// JSON fragments.
func scenario(t *testing.T, profile, extraOrder, certs, events, until string) sim.Scenario {
	t.Helper()
	doc := `{"name":"` + t.Name() + `","profile":"` + profile + `",
	  "order":{"id":"o-t","product":"ssl_certificate","paid_at":"2026-03-02T10:00:00+08:00","currency":"USD","price":"100.00",
	    "payment":{"cash":"100.00","voucher":"0","gift_card":"0","benefit_points":0},"validity_years":1` + extraOrder + `,
	    "certificates":[` + certs + `]},
	  "events":[` + events + `]` + until + `}`
	sc, err := sim.Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	return sc
}

func run(t *testing.T, sc sim.Scenario, prepare func(*sim.Fakes)) (sim.Result, *sim.Fakes) {
	t.Helper()
	var fakes *sim.Fakes
	res, err := sim.Run(context.Background(), sc, sim.Options{Prepare: func(f *sim.Fakes) {
		fakes = f
		if prepare != nil {
			prepare(f)
		}
	}})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res, fakes
}

const request = `{"at":"2026-03-03T10:00:00+08:00","type":"refund.requested","consent":true,"confirm_irreversible":true,"accept_late_review_risk":true}`

// M-4: the payment call times out after the money moved; the retry
// reconciles by idempotency key and pays nothing more.
func TestRefundPaymentTimeoutAfterMoneyMovedPaysOnce(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "", "", request, "")
	res, fakes := run(t, sc, func(f *sim.Fakes) { f.Payments.TimeoutsAfterPay = 1 })
	if res.Outcome != "refunded" || res.Refund == nil || res.Refund.Cash != "100.00" {
		t.Fatalf("result = %+v", res)
	}
	if n := len(fakes.Payments.PayoutsOf("o-t")); n != 1 {
		t.Fatalf("M-4: %d payouts, want exactly 1", n)
	}
	if fakes.Payments.Calls != 1 {
		t.Fatalf("M-4: Refund called %d times; the retry must reconcile with Lookup, not pay again", fakes.Payments.Calls)
	}
}

// An outage of the payment side outlasting the payout activity's retries
// (72 hours) does not end the refund: it waits, visibly, tries again on its
// schedule, and pays once when the provider answers again.
func TestRefundPaymentOutageWaitsAndPaysOnce(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "", "", request, "")
	res, fakes := run(t, sc, func(f *sim.Fakes) { f.Payments.Outage = 400 })
	if res.Outcome != "refunded" || res.Refund == nil || res.Refund.Cash != "100.00" {
		t.Fatalf("result = %+v", res)
	}
	if n := len(fakes.Payments.PayoutsOf("o-t")); n != 1 {
		t.Fatalf("M-4: %d payouts, want exactly 1", n)
	}
	var waited, resumed bool
	for _, st := range res.Steps {
		waited = waited || (st.Step == "waiting" && strings.Contains(st.Detail, "the payment side cannot be reached"))
		resumed = resumed || st.Step == "resumed"
	}
	if !waited || !resumed {
		t.Fatalf("steps %+v: want a visible wait for the payment side and its end", res.Steps)
	}
}

// T-3 then VAS-4: a review that never ends is escalated after five business
// days, keeps waiting, and the refund is refused when the 30-day window
// closes; the certificate stays under review.
func TestRefundReviewThatNeverEnds(t *testing.T) {
	sc := scenario(t, "aliyun-cn", `,"value_added":"basic"`,
		`{"id":"c-1","state":"issued","issued_at":"2026-03-02T12:00:00+08:00","domain_changed":false}`,
		request, `,"until":"2026-04-10T00:00:00+08:00"`)
	res, _ := run(t, sc, nil)
	if res.Outcome != "rejected" || !contains(res.Reasons, "VAS-4") || !res.Escalated {
		t.Fatalf("outcome %s reasons %v escalated %v, want rejected VAS-4 escalated", res.Outcome, res.Reasons, res.Escalated)
	}
	if res.Certificates["c-1"] != "validating_revocation" || res.Refund != nil {
		t.Fatalf("certificates %v refund %+v", res.Certificates, res.Refund)
	}
	var escalatedAt, refusedAt string
	for _, s := range res.Steps {
		switch s.Step {
		case "escalated":
			escalatedAt = s.At.Format("2006-01-02T15:04")
		case "rejected":
			refusedAt = s.At.Format("2006-01-02T15:04")
		}
	}
	// Requested Tue 03-03: the fifth business day after is Tue 03-10, so
	// the deadline is 03-11 00:00; the window closes 04-01 10:00.
	if escalatedAt != "2026-03-11T00:00" || refusedAt != "2026-04-01T10:00" {
		t.Fatalf("escalated at %s, refused at %s", escalatedAt, refusedAt)
	}
}

// CAN-1: before the first irreversible step a cancel ends the refund and
// nothing is paid.
func TestRefundCancelBeforeIrreversibleStep(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "",
		`{"id":"c-1","state":"validation_failed","domain_changed":false,"resubmit_rejected":"missing contact ID number"}`,
		request+`,{"at":"2026-03-04T10:00:00+08:00","type":"refund.cancel_requested"}`, "")
	res, _ := run(t, sc, nil)
	if res.Outcome != "cancelled" || res.Refund != nil || res.Certificates["c-1"] != "validation_failed" {
		t.Fatalf("result = %+v", res)
	}
}

// CAN-1: after the revoke a cancel is refused with the rule, and the refund
// goes on to payment.
func TestRefundCancelAfterIrreversibleStepRefused(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "",
		`{"id":"c-1","state":"issued","issued_at":"2026-03-02T12:00:00+08:00","domain_changed":false}`,
		request+`,{"at":"2026-03-04T10:00:00+08:00","type":"refund.cancel_requested"},
		{"at":"2026-03-05T10:00:00+08:00","type":"ca.revocation_approved","certificate":"c-1"}`, "")
	res, _ := run(t, sc, nil)
	if res.Outcome != "refunded" || res.Certificates["c-1"] != "removed" {
		t.Fatalf("result = %+v", res)
	}
	if !anyContains(res.Notes, "cancel", "irreversible") {
		t.Fatalf("the refused cancel should be visible with its reason; notes = %v", res.Notes)
	}
}

// SSL-6: the customer fixes the data; the chain resumes from the new state.
func TestRefundResumesAfterCustomerResubmits(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "",
		`{"id":"c-1","state":"validation_failed","domain_changed":false,"resubmit_rejected":"missing contact ID number"}`,
		request+`,{"at":"2026-03-04T10:00:00+08:00","type":"customer.resubmitted","certificate":"c-1"}`, "")
	res, fakes := run(t, sc, nil)
	if res.Outcome != "refunded" || res.Certificates["c-1"] != "removed" || res.QuotaReturned != 1 {
		t.Fatalf("result = %+v", res)
	}
	// The refund held the certificate, so the customer's resubmission was
	// routed to it; the removal ended the hold.
	if len(res.Notes) != 0 || fakes.Store.Holder("c-1") != "" {
		t.Errorf("notes %v holder %q: want the resubmission delivered and no holder left", res.Notes, fakes.Store.Holder("c-1"))
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func anyContains(xs []string, subs ...string) bool {
	for _, x := range xs {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(x, s)
		}
		if ok {
			return true
		}
	}
	return false
}

// SSL-6: a certificate already under revocation review when the refund is
// requested: the refund subscribes to it, hears the CA's result, deletes
// and pays.
func TestRefundWatchesAReviewAlreadyUnderWay(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "",
		`{"id":"c-1","state":"validating_revocation","issued_at":"2026-03-02T12:00:00+08:00","domain_changed":false}`,
		request+`,{"at":"2026-03-04T10:00:00+08:00","type":"ca.revocation_approved","certificate":"c-1"}`, "")
	res, _ := run(t, sc, nil)
	if res.Outcome != "refunded" || res.Certificates["c-1"] != "removed" || res.QuotaReturned != 1 {
		t.Fatalf("result = %+v", res)
	}
}
