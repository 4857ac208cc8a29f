package refund_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/sim"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/refund"
)

// loggingCA is the fake CA, logging each action it is asked for, and
// failing the first action on a certificate of failOnce with its error.
type loggingCA struct {
	*sim.FakeCA
	mu       sync.Mutex
	calls    []string
	failOnce map[string]error
}

func (c *loggingCA) Act(ctx context.Context, certID string, ev statemachine.CertEvent) error {
	c.mu.Lock()
	c.calls = append(c.calls, fmt.Sprintf("%s %s", ev, certID))
	err := c.failOnce[certID]
	delete(c.failOnce, certID)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.FakeCA.Act(ctx, certID, ev)
}

func (c *loggingCA) Revoke(ctx context.Context, certID, reason string) (activities.ReviewReceipt, error) {
	c.mu.Lock()
	c.calls = append(c.calls, "revoke "+certID)
	c.mu.Unlock()
	return c.FakeCA.Revoke(ctx, certID, reason)
}

// refundThreeYear refunds a 3-year order whose first year is issued (y1)
// and later years not activated (y2, y3), the CA approving y1's
// revocation half an hour after the request; it returns the outcome, the
// (regular) activities run, in order, and the store. The payout's first
// attempt is a local activity (calls.PayFirst): not among them.
func refundThreeYear(t *testing.T, ca *loggingCA) (refund.Status, []string, *sim.FakeStore) {
	t.Helper()
	issued := paidAt.Add(time.Hour)
	o := domain.Order{ID: "o-3y", Product: domain.SSLCertificate, Profile: "aliyun-intl", PaidAt: paidAt, Currency: "USD",
		Price: mustDecimal("270.00"), Payment: domain.Payment{Cash: mustDecimal("270.00")}, ValidityYears: 3,
		Certificates: []domain.Certificate{{ID: "y1", State: statemachine.Issued, IssuedAt: &issued},
			{ID: "y2", State: statemachine.NotActivated}, {ID: "y3", State: statemachine.NotActivated}}}
	st := sim.NewFakeStore(o)
	var mu sync.Mutex
	var ran []string
	res := refundOn(t, o, ca, st, "y1", func(name string) {
		mu.Lock()
		ran = append(ran, name)
		mu.Unlock()
	})
	return res, ran, st
}

// SSL-8: with the first year issued, each not-activated later year is
// cancelled, then the first revoked. The later years' cancels go to the
// CA as one activity (certificate.Batch), in plan order, before the
// revoke. A batch stops at the first action that fails: the first's
// failure is the batch's, retried as that action alone would be; a later
// one's comes back skipped with the rest, commanded again, each alone,
// with its own retries. Nothing is done twice, and the plan's order holds.
func TestLaterYearCancelsAreOneActivity(t *testing.T) {
	busy := errs.E(errs.Unavailable, "the CA is busy")
	tests := map[string]struct {
		failOnce   string
		calls, ran []string
	}{
		"the CA answering": {
			calls: []string{"cancel y2", "cancel y3", "revoke y1", "delete y1"},
			ran:   []string{"CertificateActions", "CertificateAction", "CertificateAction"},
		},
		"the second action failing once: commanded again alone": {
			failOnce: "y3",
			calls:    []string{"cancel y2", "cancel y3", "cancel y3", "revoke y1", "delete y1"},
			ran:      []string{"CertificateActions", "CertificateAction", "CertificateAction", "CertificateAction"},
		},
		"the first action failing once: the batch retried": {
			failOnce: "y2",
			calls:    []string{"cancel y2", "cancel y2", "cancel y3", "revoke y1", "delete y1"},
			ran:      []string{"CertificateActions", "CertificateActions", "CertificateAction", "CertificateAction"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ca := &loggingCA{FakeCA: sim.NewFakeCA(nil), failOnce: map[string]error{}}
			if tc.failOnce != "" {
				ca.failOnce[tc.failOnce] = busy
			}
			res, ran, st := refundThreeYear(t, ca)
			if res.Outcome != refund.OutcomeRefunded {
				t.Fatalf("outcome %s (%s)", res.Outcome, res.Message)
			}
			if !slices.Equal(ca.calls, tc.calls) {
				t.Errorf("the CA was asked %v, want %v", ca.calls, tc.calls)
			}
			if !slices.Equal(ran, tc.ran) {
				t.Errorf("activities run %v, want %v", ran, tc.ran)
			}
			cancels := 0
			for _, s := range res.Steps {
				if s.Step == "cancel" {
					cancels++
				}
			}
			if cancels != 2 {
				t.Errorf("%d cancel steps recorded, want 2 (y2, y3): %+v", cancels, res.Steps)
			}
			for _, id := range []string{"y1", "y2", "y3"} {
				if got := st.Certificates("o-3y")[id]; got != string(statemachine.Removed) {
					t.Errorf("certificate %s stored %s, want removed", id, got)
				}
			}
		})
	}
}
