package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/policy"
)

// registryPolicies resolves profiles from the embedded registry and their
// builtin calendars, as the worker's Policies does.
type registryPolicies struct{ reg *policy.Registry }

var _ activities.Policies = registryPolicies{}

func (p registryPolicies) Resolve(ctx context.Context, name string, paidAt time.Time) (policy.Profile, calendar.Spec, error) {
	prof, err := p.reg.Resolve(name, paidAt)
	if err != nil {
		return policy.Profile{}, calendar.Spec{}, err
	}
	spec, err := calendar.Builtin(prof.Calendar)
	return prof, spec, err
}

// TestPolicyJudge runs the real rules through the gateway's Judge: an
// unused SSL order is refunded in full (SSL-5) inside the window and
// refused after it (GEN-1, T-1: one second late is late).
func TestPolicyJudge(t *testing.T) {
	reg, err := policy.LoadRegistry()
	if err != nil {
		t.Fatal(err)
	}
	judge := PolicyJudge(registryPolicies{reg})
	tests := map[string]struct {
		sinceFor time.Duration
		eligible bool
		rule     string
	}{
		"inside the window":   {sinceFor: 7 * 24 * time.Hour, eligible: true},
		"one second too late": {sinceFor: 7*24*time.Hour + time.Second, rule: policy.RuleGEN1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := sslOrder("o-1")
			o.PaidAt = testNow.Add(-tc.sinceFor)
			d, err := judge(context.Background(), o, domain.RefundRequest{OrderID: "o-1", RequestedAt: testNow}, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if d.Eligible != tc.eligible {
				t.Fatalf("eligible = %v, want %v; refusals %+v", d.Eligible, tc.eligible, d.Refusals)
			}
			if tc.eligible && (d.Refund == nil || d.Refund.Cash.String() != "100.00") {
				t.Errorf("refund = %+v, want 100.00 cash", d.Refund)
			}
			if !tc.eligible && (len(d.Refusals) == 0 || d.Refusals[0].Rule != tc.rule) {
				t.Errorf("refusals = %+v, want %s", d.Refusals, tc.rule)
			}
		})
	}
}

func TestPolicyJudgeUnknownProfile(t *testing.T) {
	reg, err := policy.LoadRegistry()
	if err != nil {
		t.Fatal(err)
	}
	o := sslOrder("o-1")
	o.Profile = "nobody"
	_, err = PolicyJudge(registryPolicies{reg})(context.Background(), o, domain.RefundRequest{}, testNow)
	if errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("err = %v, want errs.NotFound", err)
	}
}
