package gateway

import (
	"github.com/certflow/certflow/api"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// The console API answers with its wire types (package api, generated
// from api/openapi.yaml). These functions map the store's records and the
// workflows' statuses to them, field by field: a stored record or a
// workflow's type never goes on the wire as it is, so either can change
// without changing the API. The lists the document requires are arrays,
// never null.

// wireRecord is the store's refund record as the API shows it.
func wireRecord(rec ports.RefundRecord) *api.RefundRecord {
	w := &api.RefundRecord{
		OrderID:       rec.OrderID,
		State:         api.OrderState(rec.State),
		Outcome:       api.Outcome(rec.Outcome),
		Reasons:       arrayOf(rec.Reasons),
		Cash:          rec.Cash,
		Currency:      rec.Currency,
		PaymentID:     rec.PaymentID,
		UpdatedAt:     rec.UpdatedAt,
		Waiting:       rec.Waiting,
		Escalated:     rec.Escalated,
		RequestedBy:   rec.RequestedBy,
		WaitingOn:     arrayOf(rec.WaitingOn),
		Escalation:    rec.Escalation,
		Audit:         arrayOf(rec.Audit),
		Message:       rec.Message,
		GiftCard:      rec.GiftCard,
		BenefitPoints: rec.BenefitPoints,
		Destination:   rec.Destination,
		Steps:         wireSteps(rec.Steps),
	}
	if d := rec.Due; d != nil {
		w.Due = &api.RefundDue{Cash: d.Cash, GiftCard: d.GiftCard, BenefitPoints: d.BenefitPoints, Currency: d.Currency, Destination: d.Destination}
	}
	return w
}

// wireStatus is a refund's status as the API shows it.
func wireStatus(st refund.Status) api.RefundStatus {
	w := api.RefundStatus{
		OrderID:    st.OrderID,
		State:      st.State,
		Outcome:    api.Outcome(st.Outcome),
		Reasons:    arrayOf(st.Reasons),
		Message:    st.Message,
		Decision:   st.Decision,
		Waiting:    st.Waiting,
		WaitingOn:  arrayOf(st.WaitingOn),
		Escalated:  st.Escalated,
		Escalation: st.Escalation,
		Audit:      arrayOf(st.Audit),
		Steps:      arrayOf(wireSteps(st.Steps)),
	}
	if p := st.Payout; p != nil {
		w.Payout = &api.Payout{PaymentID: p.PaymentID, Cash: p.Cash, GiftCard: p.GiftCard, BenefitPoints: p.BenefitPoints,
			Currency: p.Currency, Destination: string(p.Destination), At: p.At}
	}
	for _, c := range st.Certificates {
		w.Certificates = append(w.Certificates, api.CertificateRef{ID: c.ID, State: c.State})
	}
	for _, h := range st.Held {
		w.Held = append(w.Held, wireCertificate(h))
	}
	return w
}

// wireCertificate is a certificate's status as the API shows it: its
// state, transitions, held CA results, open review and audit trail (not
// the workflow's own bookkeeping: stray results, the report to its
// parent).
func wireCertificate(st certificate.Status) api.CertificateStatus {
	w := api.CertificateStatus{
		ID:            st.ID,
		OrderID:       st.OrderID,
		State:         st.State,
		Transitions:   make([]api.Transition, 0, len(st.Transitions)),
		QuotaReturned: st.QuotaReturned,
		Audit:         arrayOf(st.Audit),
	}
	for _, t := range st.Transitions {
		w.Transitions = append(w.Transitions, api.Transition{From: t.From, To: t.To, Event: t.Event, At: t.At, Source: t.Source, EventID: t.EventID})
	}
	for _, h := range st.Held {
		w.Held = append(w.Held, api.HeldResult{EventID: h.EventID, Certificate: h.Certificate, Result: h.Result, Reason: h.Reason, At: h.At})
	}
	if r := st.Review; r != nil {
		w.Review = &api.Review{ID: r.ID, SubmittedAt: r.SubmittedAt}
	}
	return w
}

func wireSteps(steps []domain.StepRecord) []api.StepRecord {
	if steps == nil {
		return nil
	}
	w := make([]api.StepRecord, 0, len(steps))
	for _, s := range steps {
		w = append(w, api.StepRecord{At: s.At, Step: s.Step, Detail: s.Detail})
	}
	return w
}

// arrayOf is s, or an empty slice for nil: the API's required lists are
// arrays, never null.
func arrayOf[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
