package sim

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/refund"
)

// Result is what a scenario run produces (the `expect` format, plus the
// steps, deadlines and notes that explain it).
type Result struct {
	Outcome       string             `json:"outcome"`
	Reasons       []string           `json:"reasons"`
	Refund        *RefundResult      `json:"refund"`
	Certificates  map[string]string  `json:"certificates"`
	QuotaReturned int                `json:"quota_returned"`
	Message       string             `json:"message,omitempty"`
	Window        *policy.Window     `json:"window,omitempty"`
	ReviewEnd     any                `json:"review_deadline,omitempty"`
	Escalated     bool               `json:"escalated,omitempty"`
	Escalation    *domain.Escalation `json:"escalation,omitempty"`
	Waiting       string             `json:"waiting,omitempty"`
	// WaitingOn is what the refund waits on when the clock stops (none
	// once it ended).
	WaitingOn []domain.Wait `json:"waiting_on,omitempty"`
	// Audit is the refund's trail of console and operator actions.
	Audit []domain.AuditEntry `json:"audit,omitempty"`
	Steps []refund.StepRecord `json:"steps,omitempty"`
	Notes []string            `json:"notes,omitempty"`
}

// RefundResult is the money that moved, read from the payment system's
// ledger (not from what the workflow claims).
type RefundResult struct {
	Cash          string `json:"cash"`
	GiftCard      string `json:"gift_card"`
	BenefitPoints int64  `json:"benefit_points"`
	Destination   string `json:"destination"`
}

func (p *player) collect() Result {
	orderID := p.sc.Order.ID
	r := Result{Outcome: "none", Reasons: []string{}, Certificates: p.fakes.Store.Certificates(orderID), QuotaReturned: p.fakes.Store.QuotaReturned(), Notes: p.notes}
	for _, c := range p.sc.Order.Certificates {
		if st, ok := p.certificateState(c.ID); ok {
			r.Certificates[c.ID] = st
		}
	}
	if p.requested {
		st, err := p.refundStatus()
		if err != nil {
			r.Outcome = "pending"
			r.Notes = append(r.Notes, "refund status unavailable: "+err.Error())
		} else {
			r.Outcome, r.Reasons, r.Message, r.Escalated, r.Waiting = string(st.Outcome), st.Reasons, st.Message, st.Escalated, st.Waiting
			r.Escalation, r.WaitingOn, r.Audit = st.Escalation, st.WaitingOn, st.Audit
			r.Steps = p.localSteps(st.Steps)
			if st.Decision != nil {
				r.Window = st.Decision.Window
				if st.Decision.ReviewDeadline != nil {
					r.ReviewEnd = st.Decision.ReviewDeadline
				}
			}
		}
	}
	if payouts := p.fakes.Payments.PayoutsOf(orderID); len(payouts) > 0 {
		last := payouts[len(payouts)-1]
		if len(payouts) > 1 {
			r.Notes = append(r.Notes, fmt.Sprintf("M-4 violated: %d payouts for order %s", len(payouts), orderID))
		}
		r.Refund = &RefundResult{Cash: last.Cash.String(), GiftCard: last.GiftCard.String(), BenefitPoints: last.BenefitPoints, Destination: string(last.Destination)}
	}
	if r.Reasons == nil {
		r.Reasons = []string{}
	}
	return r
}

func (p *player) refundStatus() (refund.Status, error) {
	id := refund.WorkflowID(p.sc.Order.ID)
	var st refund.Status
	if v, err := p.env.QueryWorkflowByID(id, refund.QueryStatus); err == nil {
		if err := v.Get(&st); err == nil {
			return st, nil
		}
	}
	err := p.env.GetWorkflowResultByID(id, &st)
	return st, err
}

func (p *player) certificateState(certID string) (string, bool) {
	id := certificate.WorkflowID(certID)
	var st certificate.Status
	if v, err := p.env.QueryWorkflowByID(id, certificate.QueryStatus); err == nil {
		if err := v.Get(&st); err == nil && st.State != "" {
			return string(st.State), true
		}
	}
	if err := p.env.GetWorkflowResultByID(id, &st); err == nil && st.State != "" {
		return string(st.State), true
	}
	return "", false
}

// Compare checks a result against a scenario's `expect` by the format's
// rules: only the fields expect names; inside refund and certificates only
// the keys it names; reasons must contain every expected ID (an empty list
// means none); money compares as decimals. It returns one line per
// difference.
func Compare(expect json.RawMessage, got Result) ([]string, error) {
	var exp map[string]json.RawMessage
	if err := json.Unmarshal(expect, &exp); err != nil {
		return nil, fmt.Errorf("expect: %w", err)
	}
	var diffs []string
	keys := make([]string, 0, len(exp))
	for k := range exp {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d, err := compareField(k, exp[k], got)
		if err != nil {
			return nil, err
		}
		diffs = append(diffs, d...)
	}
	return diffs, nil
}

func compareField(key string, raw json.RawMessage, got Result) ([]string, error) {
	switch key {
	case "outcome":
		var want string
		if err := json.Unmarshal(raw, &want); err != nil {
			return nil, fmt.Errorf("expect.outcome: %w", err)
		}
		if want != got.Outcome {
			return []string{fmt.Sprintf("outcome: want %q, got %q", want, got.Outcome)}, nil
		}
	case "reasons":
		var want []string
		if err := json.Unmarshal(raw, &want); err != nil {
			return nil, fmt.Errorf("expect.reasons: %w", err)
		}
		return compareReasons(want, got.Reasons), nil
	case "refund":
		return compareRefund(raw, got.Refund)
	case "certificates":
		var want map[string]string
		if err := json.Unmarshal(raw, &want); err != nil {
			return nil, fmt.Errorf("expect.certificates: %w", err)
		}
		var diffs []string
		for _, id := range sortedKeys(want) {
			if got.Certificates[id] != want[id] {
				diffs = append(diffs, fmt.Sprintf("certificates.%s: want %q, got %q", id, want[id], got.Certificates[id]))
			}
		}
		return diffs, nil
	case "quota_returned":
		var want int
		if err := json.Unmarshal(raw, &want); err != nil {
			return nil, fmt.Errorf("expect.quota_returned: %w", err)
		}
		if want != got.QuotaReturned {
			return []string{fmt.Sprintf("quota_returned: want %d, got %d", want, got.QuotaReturned)}, nil
		}
	default:
		return nil, fmt.Errorf("expect.%s: unknown field", key)
	}
	return nil, nil
}

func compareReasons(want, got []string) []string {
	if len(want) == 0 {
		if len(got) > 0 {
			return []string{fmt.Sprintf("reasons: want none, got %v", got)}
		}
		return nil
	}
	var diffs []string
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			diffs = append(diffs, fmt.Sprintf("reasons: want %s among %v", w, got))
		}
	}
	return diffs
}

func compareRefund(raw json.RawMessage, got *RefundResult) ([]string, error) {
	if string(raw) == "null" {
		if got != nil {
			return []string{fmt.Sprintf("refund: want null, got %+v", *got)}, nil
		}
		return nil, nil
	}
	var want map[string]json.RawMessage
	if err := json.Unmarshal(raw, &want); err != nil {
		return nil, fmt.Errorf("expect.refund: %w", err)
	}
	if got == nil {
		return []string{"refund: want a refund, got null"}, nil
	}
	var diffs []string
	for _, k := range sortedRawKeys(want) {
		var d string
		var err error
		switch k {
		case "cash":
			d, err = compareMoney("refund.cash", want[k], got.Cash)
		case "gift_card":
			d, err = compareMoney("refund.gift_card", want[k], got.GiftCard)
		case "benefit_points":
			var w int64
			err = json.Unmarshal(want[k], &w)
			if err == nil && w != got.BenefitPoints {
				d = fmt.Sprintf("refund.benefit_points: want %d, got %d", w, got.BenefitPoints)
			}
		case "destination":
			var w string
			err = json.Unmarshal(want[k], &w)
			if err == nil && w != got.Destination {
				d = fmt.Sprintf("refund.destination: want %q, got %q", w, got.Destination)
			}
		default:
			err = fmt.Errorf("unknown field")
		}
		if err != nil {
			return nil, fmt.Errorf("expect.refund.%s: %w", k, err)
		}
		if d != "" {
			diffs = append(diffs, d)
		}
	}
	return diffs, nil
}

func compareMoney(field string, raw json.RawMessage, got string) (string, error) {
	var w string
	if err := json.Unmarshal(raw, &w); err != nil {
		return "", err
	}
	wd, err := decimal.NewFromString(w)
	if err != nil {
		return "", err
	}
	gd, err := decimal.NewFromString(got)
	if err != nil || !wd.Equal(gd) {
		return fmt.Sprintf("%s: want %s, got %s", field, w, got), nil
	}
	return "", nil
}

func sortedRawKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// localSteps shows step times in the scenario's calendar zone.
func (p *player) localSteps(steps []refund.StepRecord) []refund.StepRecord {
	loc := p.sc.Order.PaidAt.Location()
	out := make([]refund.StepRecord, len(steps))
	for i, s := range steps {
		s.At = s.At.In(loc)
		out[i] = s
	}
	return out
}
