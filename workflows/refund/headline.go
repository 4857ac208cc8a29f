package refund

import (
	"fmt"
	"strings"
	"time"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/statemachine"
)

// The Web UI shows a workflow's Current Details in a frame about 106 px
// high: only its first line is sure to be read. Headline and
// certificateHeadline make that line state the whole situation; the
// details follow below it.

// headlineTime is how a headline writes a time: to the minute, in UTC.
const headlineTime = "2006-01-02 15:04 UTC"

// Headline is the first line of a refund's Current Details: where the
// refund ended, or what it waits on first (an escalation before any wait,
// an operator's approval before the customer, the customer before the
// payment side and the CA), in one line.
func Headline(st Status) string {
	switch st.Outcome {
	case OutcomeRefunded:
		return "✅ " + paidText(st.Payout)
	case OutcomeRejected:
		return "⛔ Rejected: " + rejectedText(st)
	case OutcomeCancelled:
		return "✖ " + cancelledText(st)
	}
	in := fmt.Sprintf(" (refund of %s, %s)", st.OrderID, st.State)
	if e := st.Escalation; st.Escalated && e != nil {
		what := "escalated"
		if e.Certificate != "" {
			what = "revocation review of " + e.Certificate + " still open"
		}
		line := fmt.Sprintf("⚠ Escalated (%s): %s past its deadline %s", orDefault(e.Rule, "T-3"), what, stamp(e.Deadline))
		if w, ok := firstWait(st.WaitingOn, domain.WaitCAReview); ok && w.Deadline != nil {
			line += fmt.Sprintf(", %s %s", orDefault(w.Rule, "window end"), stamp(*w.Deadline))
		}
		return line + in
	}
	w, ok := firstWait(st.WaitingOn, domain.WaitOperatorApproval, domain.WaitCustomer, domain.WaitPaymentProvider,
		domain.WaitCACredentials, domain.WaitCAUnreachable, domain.WaitCAReview)
	if !ok {
		return "▶ " + progressText(st.State) + in
	}
	more := ""
	if n := len(st.WaitingOn) - 1; n > 0 {
		more = fmt.Sprintf(" (+%d more)", n)
	}
	switch w.Kind {
	case domain.WaitOperatorApproval:
		return fmt.Sprintf("✋ Awaiting approval (%s): %s, requested by %s%s", orDefault(w.Rule, "GW-4"), amountOf(st.Decision),
			orDefault(requester(st.Audit), "the customer"), more)
	case domain.WaitCustomer:
		return fmt.Sprintf("👤 Waiting for the customer to resubmit %s (%s)%s%s", w.Certificate, orDefault(w.Rule, "SSL-6"), deadlineSuffix(w), more) + in
	case domain.WaitPaymentProvider:
		return fmt.Sprintf("💳 Payment provider unreachable since %s (%s)%s", stamp(w.Since), orDefault(w.Rule, "M-4"), more) + in
	case domain.WaitCACredentials:
		return fmt.Sprintf("🔑 The CA refuses our credentials since %s%s%s", stamp(w.Since), certSuffix(w), more) + in
	case domain.WaitCAUnreachable:
		return fmt.Sprintf("🔌 The CA is unreachable since %s%s%s", stamp(w.Since), certSuffix(w), more) + in
	default:
		return fmt.Sprintf("⏳ Waiting on the CA: revocation review of %s%s%s", w.Certificate, deadlineSuffix(w), more) + in
	}
}

// firstWait returns the first wait of the first kind in kinds that the
// refund waits on.
func firstWait(ws []domain.Wait, kinds ...domain.WaitKind) (domain.Wait, bool) {
	for _, k := range kinds {
		for _, w := range ws {
			if w.Kind == k {
				return w, true
			}
		}
	}
	return domain.Wait{}, false
}

func paidText(p *Payout) string {
	if p == nil {
		return "Refunded: nothing to pay"
	}
	s := "Paid " + p.Cash + " " + p.Currency
	if p.GiftCard != "" && strings.Trim(p.GiftCard, "0.") != "" {
		s += " + gift card " + p.GiftCard
	}
	if p.BenefitPoints > 0 {
		s += fmt.Sprintf(" + %d benefit points", p.BenefitPoints)
	}
	return s + " to " + string(p.Destination)
}

func rejectedText(st Status) string {
	if st.Message != "" {
		return firstLine(st.Message)
	}
	if len(st.Reasons) > 0 {
		return strings.Join(st.Reasons, ", ")
	}
	return "no reason given"
}

// cancelledText names who cancelled and why, from the audit trail (the
// message says only who).
func cancelledText(st Status) string {
	for i := len(st.Audit) - 1; i >= 0; i-- {
		if e := st.Audit[i]; e.Action == domain.AuditRefundCancelled {
			s := "Cancelled by " + orDefault(e.Subject, "customer")
			if e.Note != "" {
				s += ": " + firstLine(e.Note)
			}
			return s
		}
	}
	if m := firstLine(st.Message); strings.HasPrefix(m, "cancelled ") {
		return "C" + m[1:]
	}
	return "Cancelled"
}

// requester is who asked for the refund (the trail's first entry).
func requester(audit []domain.AuditEntry) string {
	for _, e := range audit {
		if e.Action == domain.AuditRefundRequested {
			return e.Subject
		}
	}
	return ""
}

// amountOf writes the refund's amount as the decision computed it.
func amountOf(d *policy.Decision) string {
	if d == nil || d.Refund == nil {
		return "amount not yet known"
	}
	b := d.Refund
	s := b.Cash.String() + " " + b.Cash.Currency().Code
	if !b.GiftCard.IsZero() {
		s += " + gift card " + b.GiftCard.String()
	}
	return s
}

func progressText(s statemachine.OrderState) string {
	switch s {
	case statemachine.OrderPaid, statemachine.OrderRefundRequested:
		return "Judging the request"
	case statemachine.OrderReleasing, statemachine.OrderCommitted:
		return "Releasing the certificates"
	case statemachine.OrderPaying:
		return "Paying"
	}
	return string(s)
}

func deadlineSuffix(w domain.Wait) string {
	if w.Deadline == nil {
		return ""
	}
	return fmt.Sprintf(", %s deadline %s", orDefault(w.Rule, "its"), stamp(*w.Deadline))
}

func certSuffix(w domain.Wait) string {
	if w.Certificate == "" {
		return ""
	}
	return " (certificate " + w.Certificate + ")"
}

func stamp(t time.Time) string { return t.UTC().Format(headlineTime) }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
