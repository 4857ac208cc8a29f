package policy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/statemachine"
)

// story is the part of a scenario file (testdata/scenarios/FORMAT.md) that
// the rules see.
type story struct {
	Profile  string       `json:"profile"`
	Timezone string       `json:"timezone"`
	Holidays []string     `json:"holidays"`
	Workdays []string     `json:"workdays"`
	Order    domain.Order `json:"order"`
	Events   []storyEvent `json:"events"`
	Until    *time.Time   `json:"until"`
	Expect   struct {
		Outcome string   `json:"outcome"`
		Reasons []string `json:"reasons"`
		Refund  *struct {
			Cash          string `json:"cash"`
			GiftCard      string `json:"gift_card"`
			BenefitPoints *int64 `json:"benefit_points"`
			Destination   string `json:"destination"`
		} `json:"refund"`
	} `json:"expect"`
}

// storyEvent is one event of a story's timeline.
type storyEvent struct {
	At                   time.Time `json:"at"`
	Type                 string    `json:"type"`
	Certificate          string    `json:"certificate"`
	Consent              bool      `json:"consent"`
	ConfirmIrreversible  bool      `json:"confirm_irreversible"`
	AcceptLateReviewRisk bool      `json:"accept_late_review_risk"`
}

// TestStories runs the acceptance stories through the rules alone: the
// decision at request time, the verdict of each revocation review, and the
// cancellation rule. The workflows add the orchestration; the outcome, the
// reasons and the amounts must already follow from here.
func TestStories(t *testing.T) {
	files, _ := filepath.Glob("../testdata/scenarios/*.json")
	if len(files) == 0 {
		t.Fatal("no scenario files in ../testdata/scenarios")
	}
	reg := registry(t)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			s := readStory(t, f)
			p, err := reg.Resolve(s.Profile, s.Order.PaidAt)
			if err != nil {
				t.Fatal(err)
			}
			outcome, reasons, refund := playStory(t, p, s)
			if outcome != s.Expect.Outcome {
				t.Fatalf("outcome %s (reasons %v), want %s", outcome, reasons, s.Expect.Outcome)
			}
			for _, r := range s.Expect.Reasons {
				if !slices.Contains(reasons, r) {
					t.Errorf("reasons %v lack %s", reasons, r)
				}
			}
			if s.Expect.Reasons != nil && len(s.Expect.Reasons) == 0 && len(reasons) > 0 {
				t.Errorf("reasons %v, want none", reasons)
			}
			checkStoryRefund(t, s, refund)
		})
	}
}

func readStory(t *testing.T, file string) story {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var s story
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// playStory replays the timeline as far as the rules decide it.
func playStory(t *testing.T, p Profile, s story) (outcome string, reasons []string, refund *Breakdown) {
	t.Helper()
	cal := storyCalendar(t, p, s)
	o := s.Order
	fallback := false
	var d *Decision
	var revoking []string
	irreversibleDone := false
	for _, ev := range s.Events {
		switch ev.Type {
		case "payment.original_method_fails":
			fallback = true
		case "certificate.revoke_requested":
			setState(&o, ev.Certificate, statemachine.ValidatingRevocation, nil, false)
		case "ca.revocation_approved":
			c := findCert(o, ev.Certificate)
			v := JudgeRevocation(p, o, c, ev.At)
			setState(&o, ev.Certificate, statemachine.Revoked, &ev.At, v.QuotaReturned)
			if d != nil && slices.Contains(revoking, ev.Certificate) && !v.Refund {
				return "rejected", []string{v.RefundRule}, nil
			}
		case "ca.revocation_rejected":
			// SSL-6: the certificate stays issued and cannot be released.
			setState(&o, ev.Certificate, statemachine.Issued, nil, false)
			if d != nil && slices.Contains(revoking, ev.Certificate) {
				return "rejected", []string{p.Release.Rule}, nil
			}
		case "refund.requested":
			req := domain.RefundRequest{OrderID: o.ID, Consent: ev.Consent, ConfirmIrreversible: ev.ConfirmIrreversible, AcceptLateReviewRisk: ev.AcceptLateReviewRisk}
			dec, err := Evaluate(p, cal, o, req, ev.At)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if !dec.Eligible {
				return "rejected", dec.Reasons(), nil
			}
			d = &dec
			revoking = revokedBy(dec)
			irreversibleDone = dec.Irreversible()
		case "refund.cancel_requested":
			if ok, _, _ := CanCancel(p, irreversibleDone); ok && d != nil {
				return "cancelled", nil, nil
			}
		}
	}
	if d == nil {
		return "none", nil, nil
	}
	if pending := awaitingReview(o, revoking); pending {
		// The review never came: the refund is refused once the window
		// closes, and pending until then.
		until := s.Events[len(s.Events)-1].At.Add(30 * day)
		if s.Until != nil {
			until = *s.Until
		}
		if d.Window != nil && until.After(d.Window.End) {
			return "rejected", []string{d.Window.LateReviewRule}, nil
		}
		return "pending", nil, nil
	}
	if d.RequiresApproval && !hasEvent(s, "operator.approved") {
		return "awaiting_approval", nil, nil
	}
	if hasResubmitRejected(o) {
		return "pending", nil, nil
	}
	b := *d.Refund
	if fallback && b.Destination == domain.OriginalMethod {
		b = b.FallbackToBalance()
	}
	return "refunded", nil, &b
}

func storyCalendar(t *testing.T, p Profile, s story) *calendar.Calendar {
	t.Helper()
	tz := s.Timezone
	if tz == "" {
		tz = p.Timezone
	}
	c, err := calendar.FromSpec(calendar.Spec{Name: "story", Version: "1", Timezone: tz, Holidays: s.Holidays, Workdays: s.Workdays})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func setState(o *domain.Order, id string, st statemachine.CertState, revokedAt *time.Time, quota bool) {
	certs := slices.Clone(o.Certificates)
	for i := range certs {
		if certs[i].ID == id {
			certs[i].State, certs[i].RevokedAt, certs[i].QuotaReturned = st, revokedAt, quota
		}
	}
	o.Certificates = certs
}

func findCert(o domain.Order, id string) domain.Certificate {
	for _, c := range o.Certificates {
		if c.ID == id {
			return c
		}
	}
	return domain.Certificate{ID: id}
}

func revokedBy(d Decision) []string {
	var ids []string
	for _, s := range d.Steps {
		ids = append(ids, revokes(s.Plan)...)
	}
	return ids
}

func awaitingReview(o domain.Order, revoking []string) bool {
	for _, id := range revoking {
		if findCert(o, id).State != statemachine.Revoked {
			return true
		}
	}
	return false
}

func hasEvent(s story, typ string) bool {
	return slices.ContainsFunc(s.Events, func(e storyEvent) bool { return e.Type == typ })
}

func hasResubmitRejected(o domain.Order) bool {
	return slices.ContainsFunc(o.Certificates, func(c domain.Certificate) bool { return c.ResubmitRejected != "" })
}

func checkStoryRefund(t *testing.T, s story, got *Breakdown) {
	t.Helper()
	want := s.Expect.Refund
	if want == nil {
		if got != nil && strings.Contains(s.Expect.Outcome, "refunded") {
			t.Errorf("refund %+v, want none", got)
		}
		return
	}
	if got == nil {
		t.Fatalf("no refund, want %+v", want)
	}
	if want.Cash != "" && !got.Cash.Decimal().Equal(dec(want.Cash)) {
		t.Errorf("cash %s, want %s", got.Cash, want.Cash)
	}
	if want.GiftCard != "" && !got.GiftCard.Decimal().Equal(dec(want.GiftCard)) {
		t.Errorf("gift card %s, want %s", got.GiftCard, want.GiftCard)
	}
	if want.BenefitPoints != nil && got.BenefitPoints != *want.BenefitPoints {
		t.Errorf("benefit points %d, want %d", got.BenefitPoints, *want.BenefitPoints)
	}
	if want.Destination != "" && string(got.Destination) != want.Destination {
		t.Errorf("destination %s, want %s", got.Destination, want.Destination)
	}
}
