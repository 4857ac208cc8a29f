package refund_test

import (
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/refund"
)

// TestHeadline checks the first line of a refund's Current Details, the
// one line the Web UI's details frame is sure to show, for each situation.
func TestHeadline(t *testing.T) {
	since := time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
	deadline := time.Date(2026, 12, 11, 17, 0, 0, 0, time.UTC)
	windowEnd := time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
	usd, err := money.LookupCurrency("USD")
	if err != nil {
		t.Fatal(err)
	}
	cash, err := money.New(mustDecimal("1.28"), usd)
	if err != nil {
		t.Fatal(err)
	}
	requested := domain.AuditEntry{Action: domain.AuditRefundRequested, At: since, Actor: domain.Actor{Subject: "demo-operator"}}
	review := domain.Wait{Kind: domain.WaitCAReview, Certificate: "c-1", Since: since, Deadline: &deadline, Rule: "T-3"}
	tests := map[string]struct {
		st   refund.Status
		want string
	}{
		"waiting on the CA's review": {
			st:   refund.Status{OrderID: "o-1", State: statemachine.OrderCommitted, WaitingOn: []domain.Wait{review}},
			want: "⏳ Waiting on the CA: revocation review of c-1, T-3 deadline 2026-12-11 17:00 UTC (refund of o-1, committed)",
		},
		"awaiting approval": {
			st: refund.Status{OrderID: "o-2", State: statemachine.OrderAwaitingApproval, Audit: []domain.AuditEntry{requested},
				Decision:  &policy.Decision{Refund: &policy.Breakdown{Cash: cash, GiftCard: money.Zero(usd)}},
				WaitingOn: []domain.Wait{{Kind: domain.WaitOperatorApproval, Since: since, Rule: "GW-4"}}},
			want: "✋ Awaiting approval (GW-4): 1.28 USD, requested by demo-operator",
		},
		"waiting for the customer": {
			st: refund.Status{OrderID: "o-3", State: statemachine.OrderReleasing,
				WaitingOn: []domain.Wait{{Kind: domain.WaitCustomer, Certificate: "c-1", Since: since, Rule: "SSL-6"}}},
			want: "👤 Waiting for the customer to resubmit c-1 (SSL-6) (refund of o-3, releasing)",
		},
		"payment provider unreachable": {
			st: refund.Status{OrderID: "o-4", State: statemachine.OrderPaying,
				WaitingOn: []domain.Wait{{Kind: domain.WaitPaymentProvider, Since: since, Rule: "M-4"}}},
			want: "💳 Payment provider unreachable since 2026-12-04 09:30 UTC (M-4) (refund of o-4, paying)",
		},
		"the CA unreachable, before the review it delays": {
			st: refund.Status{OrderID: "o-5", State: statemachine.OrderCommitted, WaitingOn: []domain.Wait{review,
				{Kind: domain.WaitCAUnreachable, Certificate: "c-1", Since: since, Rule: "SSL-6"}}},
			want: "🔌 The CA is unreachable since 2026-12-04 09:30 UTC (certificate c-1) (+1 more) (refund of o-5, committed)",
		},
		"escalated, before the wait it concerns": {
			st: refund.Status{OrderID: "o-6", State: statemachine.OrderCommitted, Escalated: true,
				Escalation: &domain.Escalation{Rule: "T-3", Certificate: "c-1", At: deadline, Deadline: deadline},
				WaitingOn:  []domain.Wait{{Kind: domain.WaitCAReview, Certificate: "c-1", Since: since, Deadline: &windowEnd, Rule: "SSL-2"}}},
			want: "⚠ Escalated (T-3): revocation review of c-1 still open past its deadline 2026-12-11 17:00 UTC, SSL-2 2026-12-20 00:00 UTC (refund of o-6, committed)",
		},
		"paid": {
			st: refund.Status{OrderID: "o-7", State: statemachine.OrderRefunded, Outcome: refund.OutcomeRefunded,
				Payout: &refund.Payout{Cash: "80.00", GiftCard: "0.00", Currency: "USD", Destination: domain.OriginalMethod}},
			want: "✅ Paid 80.00 USD to original_method",
		},
		"paid with a gift card": {
			st: refund.Status{OrderID: "o-7", State: statemachine.OrderRefunded, Outcome: refund.OutcomeRefunded,
				Payout: &refund.Payout{Cash: "10.00", GiftCard: "5.00", Currency: "USD", Destination: domain.AccountBalance}},
			want: "✅ Paid 10.00 USD + gift card 5.00 to account_balance",
		},
		"rejected": {
			st: refund.Status{OrderID: "o-8", State: statemachine.OrderRejected, Outcome: refund.OutcomeRejected,
				Reasons: []string{"SSL-2"}, Message: "SSL-2: the refund window ended 2026-11-30"},
			want: "⛔ Rejected: SSL-2: the refund window ended 2026-11-30",
		},
		"rejected without a message": {
			st:   refund.Status{OrderID: "o-8", State: statemachine.OrderRejected, Outcome: refund.OutcomeRejected, Reasons: []string{"T-1", "SSL-2"}},
			want: "⛔ Rejected: T-1, SSL-2",
		},
		"cancelled": {
			st: refund.Status{OrderID: "o-9", State: statemachine.OrderCancelled, Outcome: refund.OutcomeCancelled,
				Message: "cancelled by x", Audit: []domain.AuditEntry{requested,
					{Action: domain.AuditRefundCancelled, At: since, Actor: domain.Actor{Subject: "x"}, Note: "customer changed their mind"}}},
			want: "✖ Cancelled by x: customer changed their mind",
		},
		"in progress": {
			st:   refund.Status{OrderID: "o-10", State: statemachine.OrderReleasing},
			want: "▶ Releasing the certificates (refund of o-10, releasing)",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := refund.Headline(tc.st)
			if got != tc.want {
				t.Errorf("Headline =\n  %q\nwant\n  %q", got, tc.want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("Headline %q is more than one line", got)
			}
		})
	}
}
