package refund

import (
	"fmt"
	"slices"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/statemachine"
)

// A paid refund's last record is written by the payout's activity, as the
// money moved (docs/orchestration.md, "The last record rides with the
// payout"): the workflow sends, with the payout, its status as it was
// when it asked (PaidRecord); the activity applies the payout's answer to
// it (paidOut) and writes the record that gives. The workflow applies the
// same answer to its own status with the same function, finds the record
// it would write already written, and closes with no local activity of
// its own. Whatever differs (a step taken while the payout ran) is
// written by the workflow as before. The store refuses a later record of
// the same refund that would take it back from refunded (the answer lost,
// the workflow waiting on the payment side until a retry finds the payout
// made): see store SaveRefund.

// recordKey is what a refund's store record holds besides its status.
type recordKey struct {
	OrderID     string                `json:"order_id"`
	RequestedBy string                `json:"requested_by,omitempty"`
	RefundRun   string                `json:"refund_run,omitempty"`
	Due         *activities.RefundDue `json:"due,omitempty"`
}

// recordOf is the store's record of a refund whose status is st (its
// UpdatedAt unset).
func recordOf(k recordKey, st Status) activities.RefundRecord {
	rec := activities.RefundRecord{OrderID: k.OrderID, RefundRun: k.RefundRun, State: string(st.State), Outcome: string(st.Outcome),
		Reasons: st.Reasons, Waiting: st.Waiting, Escalated: st.Escalated, RequestedBy: k.RequestedBy,
		WaitingOn: slices.Clone(st.WaitingOn), Escalation: st.Escalation, Audit: slices.Clone(st.Audit), Message: st.Message,
		Steps: slices.Clone(st.Steps), Due: k.Due}
	if p := st.Payout; p != nil {
		rec.Cash, rec.Currency, rec.PaymentID = p.Cash, p.Currency, p.PaymentID
		rec.GiftCard, rec.BenefitPoints, rec.Destination = p.GiftCard, p.BenefitPoints, p.Destination
	}
	return rec
}

// paidOut is what a payout that went through makes of a refund's status:
// the payout and its step, the order machine's paid-out event, nothing
// left waiting, and the outcome's step, all at the payout's time. It
// fails when the order machine refuses the event (a refund not paying).
func paidOut(st *Status, p Payout, amount string) error {
	next, err := statemachine.OrderTransition(st.State, statemachine.OrderPaidOut)
	if err != nil {
		return err
	}
	st.Payout = &p
	st.Steps = append(slices.Clip(st.Steps), StepRecord{At: p.At, Step: "paid",
		Detail: fmt.Sprintf("%s to %s (payment %s)", amount, p.Destination, p.PaymentID)})
	st.State, st.Outcome = next, OutcomeOf(next)
	st.Reasons, st.Message, st.Waiting, st.WaitingOn = []string{}, "", "", []domain.Wait{}
	st.Steps = append(st.Steps, StepRecord{At: p.At, Step: string(st.Outcome)})
	return nil
}

// PaidRecord goes with a payout: what the payout's activity needs to
// write the refund's record as it is once the money moved.
type PaidRecord struct {
	Key recordKey `json:"key"`
	// Status holds the refund's status as the payout was asked, the
	// fields its record shows only.
	Status Status `json:"status"`
	// Payout is the payout as asked: its PaymentID and At come with the
	// answer.
	Payout Payout `json:"payout"`
	// Amount is the amount in words, for the paid step.
	Amount string `json:"amount"`
	// NotBefore is the earliest time the record may carry: after every
	// record the refund wrote before.
	NotBefore time.Time `json:"not_before"`
}

// record is the refund's record once the payout answered rec, and the
// time it carries (the payout's settlement, or NotBefore when that is
// earlier).
func (p PaidRecord) record(rec activities.PayoutReceipt) (activities.RefundRecord, time.Time, error) {
	at := paidAt(rec, p.NotBefore)
	st := p.Status
	pay := p.Payout
	pay.PaymentID, pay.At = rec.PaymentID, at
	if err := paidOut(&st, pay, p.Amount); err != nil {
		return activities.RefundRecord{}, at, err
	}
	out := recordOf(p.Key, st)
	out.UpdatedAt = at
	return out, at, nil
}

// paidAt is the time a payout's answer is recorded at: its settlement,
// but never before notBefore (a record written earlier).
func paidAt(rec activities.PayoutReceipt, notBefore time.Time) time.Time {
	if rec.At.After(notBefore) {
		return rec.At.UTC()
	}
	return notBefore
}

// recordStatus is the part of the refund's status its record shows.
func (r *refund) recordStatus() Status {
	return Status{OrderID: r.st.OrderID, State: r.st.State, Outcome: r.st.Outcome, Reasons: r.st.Reasons, Message: r.st.Message,
		Payout: r.st.Payout, Waiting: r.st.Waiting, WaitingOn: r.st.WaitingOn, Escalated: r.st.Escalated, Escalation: r.st.Escalation,
		Audit: r.st.Audit, Steps: r.st.Steps}
}

// PayReceipt is the payout's answer: the ledger's receipt, and when the
// refund's last record went with it, that record (Final) and its time
// (PaidAt), which the workflow takes as written.
type PayReceipt struct {
	activities.PayoutReceipt
	Final  *activities.RefundRecord `json:"final,omitempty"`
	PaidAt time.Time                `json:"paid_at,omitempty"`
}
