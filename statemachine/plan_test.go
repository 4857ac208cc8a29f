package statemachine

import (
	"errors"
	"github.com/certflow/certflow/errs/errstest"
	"testing"

	"github.com/certflow/certflow/errs"
)

func act(id string, ev CertEvent, from, to CertState) PlanStep {
	return PlanStep{Certificate: id, Event: ev, Kind: StepAction, From: from, To: to}
}

func await(id string, ev CertEvent, from, to CertState) PlanStep {
	return PlanStep{Certificate: id, Event: ev, Kind: StepAwaitCA, From: from, To: to}
}

func cascade(id string) PlanStep {
	return PlanStep{Certificate: id, Event: Cascade, Kind: StepCascade, From: NotActivated, To: Removed}
}

// The single-certificate plans the rules prescribe.
var (
	planPendingApplication = []PlanStep{act("c", Cancel, PendingApplication, Removed)}
	planValidating         = []PlanStep{
		act("c", Withdraw, ValidatingApplication, PendingApplication),
		act("c", Cancel, PendingApplication, Removed),
	}
	planValidationFailed = []PlanStep{
		act("c", Resubmit, ValidationFailed, ValidatingApplication),
		act("c", Withdraw, ValidatingApplication, PendingApplication),
		act("c", Cancel, PendingApplication, Removed),
	}
	planIssued = []PlanStep{
		act("c", Revoke, Issued, ValidatingRevocation),
		await("c", RevocationApproved, ValidatingRevocation, Revoked),
		act("c", Delete, Revoked, Removed),
	}
)

func TestReleasePlan(t *testing.T) {
	tests := map[string]struct {
		from CertState
		want []PlanStep
	}{
		"SSL-6 pending_application: cancel":                              {PendingApplication, planPendingApplication},
		"SSL-6 validating_application: withdraw, cancel":                 {ValidatingApplication, planValidating},
		"SSL-6 validation_failed: resubmit, withdraw, cancel":            {ValidationFailed, planValidationFailed},
		"SSL-6 issued: revoke, await revocation_approved, delete":        {Issued, planIssued},
		"SSL-6 validating_revocation: await revocation_approved, delete": {ValidatingRevocation, planIssued[1:]},
		"SSL-6 revoked: delete":                                          {Revoked, planIssued[2:]},
		"TC-4 pending_submission: cancel":                                {PendingSubmission, []PlanStep{act("c", Cancel, PendingSubmission, Removed)}},
		"SSL-8 not_activated: cancel":                                    {NotActivated, []PlanStep{act("c", Cancel, NotActivated, Removed)}},
		"SSL-6 removed: nothing":                                         {Removed, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ReleasePlan("c", tc.from)
			if err != nil {
				t.Fatalf("ReleasePlan(%s): %v", tc.from, err)
			}
			wantPlan(t, got, tc.want)
		})
	}
}

// TestReleasePlanReplays checks every state's plan against the checker:
// each step is a legal transition, starts where the last ended, and the
// plan ends in removed without the cascade.
func TestReleasePlanReplays(t *testing.T) {
	for _, from := range CertStates() {
		t.Run("SSL-6 "+string(from), func(t *testing.T) {
			plan, err := ReleasePlan("c", from)
			if err != nil {
				t.Fatal(err)
			}
			at := from
			for _, st := range plan {
				if st.From != at {
					t.Fatalf("step %s starts in %s, the certificate is in %s", st.Event, st.From, at)
				}
				to, err := CertTransition(st.From, st.Event)
				if err != nil || to != st.To {
					t.Fatalf("step %s: CertTransition = %s, %v; plan says %s", st.Event, to, err, st.To)
				}
				if st.Event == Cascade || st.Event == Submit || st.Event == Activate {
					t.Errorf("a single-certificate release takes %s", st.Event)
				}
				at = to
			}
			if at != Removed {
				t.Errorf("plan ends in %s, want removed", at)
			}
		})
	}
}

func TestReleasePlanErrors(t *testing.T) {
	t.Run("SSL-6 unknown state", func(t *testing.T) {
		_, err := ReleasePlan("c", "expired")
		errstest.Want(t, err, errs.Invalid, `"expired"`)
	})
	t.Run("SSL-6 validation_failed without withdraw has no path", func(t *testing.T) {
		var table []edge[CertState, CertEvent]
		for _, e := range certTable {
			if e.event != Withdraw {
				table = append(table, e)
			}
		}
		_, err := releasePlan(table, "c", ValidationFailed)
		errstest.Want(t, err, errs.IllegalTransition, `"validation_failed"`, "no release path")
	})
}

func TestOrderReleasePlan(t *testing.T) {
	tests := map[string]struct {
		certs []CertRef
		want  []PlanStep
	}{
		"SSL-8 3-year, first pending_application: cancel it, cascade the later years": {
			certs: []CertRef{{"y1", PendingApplication}, {"y2", NotActivated}, {"y3", NotActivated}},
			want:  []PlanStep{act("y1", Cancel, PendingApplication, Removed), cascade("y2"), cascade("y3")},
		},
		"SSL-8 3-year, first validation_failed: resubmit, withdraw, cancel, then cascade": {
			certs: []CertRef{{"y1", ValidationFailed}, {"y2", NotActivated}, {"y3", NotActivated}},
			want: []PlanStep{
				act("y1", Resubmit, ValidationFailed, ValidatingApplication),
				act("y1", Withdraw, ValidatingApplication, PendingApplication),
				act("y1", Cancel, PendingApplication, Removed),
				cascade("y2"), cascade("y3"),
			},
		},
		"SSL-8 3-year, first issued: cancel the later years, then revoke, await, delete": {
			certs: []CertRef{{"y1", Issued}, {"y2", NotActivated}, {"y3", NotActivated}},
			want: []PlanStep{
				act("y2", Cancel, NotActivated, Removed),
				act("y3", Cancel, NotActivated, Removed),
				act("y1", Revoke, Issued, ValidatingRevocation),
				await("y1", RevocationApproved, ValidatingRevocation, Revoked),
				act("y1", Delete, Revoked, Removed),
			},
		},
		"SSL-8 2-year, first revoked: cancel the later year, then delete": {
			certs: []CertRef{{"y1", Revoked}, {"y2", NotActivated}},
			want:  []PlanStep{act("y2", Cancel, NotActivated, Removed), act("y1", Delete, Revoked, Removed)},
		},
		"TC-4 2-year, first pending_submission: cancel it, cascade": {
			certs: []CertRef{{"y1", PendingSubmission}, {"y2", NotActivated}},
			want:  []PlanStep{act("y1", Cancel, PendingSubmission, Removed), cascade("y2")},
		},
		"SSL-8 first pending, a later year already removed: nothing for it": {
			certs: []CertRef{{"y1", PendingApplication}, {"y2", Removed}, {"y3", NotActivated}},
			want:  []PlanStep{act("y1", Cancel, PendingApplication, Removed), cascade("y3")},
		},
		"SSL-8 first pending, a later year pending: cascades first, then its own plan": {
			certs: []CertRef{{"y1", PendingApplication}, {"y2", PendingApplication}, {"y3", NotActivated}},
			want: []PlanStep{
				act("y1", Cancel, PendingApplication, Removed),
				cascade("y3"),
				act("y2", Cancel, PendingApplication, Removed),
			},
		},
		"SSL-8 first issued, a later year revoked: cancels, its own plan, then the first's": {
			certs: []CertRef{{"y1", Issued}, {"y2", Revoked}, {"y3", NotActivated}},
			want: []PlanStep{
				act("y3", Cancel, NotActivated, Removed),
				act("y2", Delete, Revoked, Removed),
				act("y1", Revoke, Issued, ValidatingRevocation),
				await("y1", RevocationApproved, ValidatingRevocation, Revoked),
				act("y1", Delete, Revoked, Removed),
			},
		},
		"SSL-8 first removed: the later years' own plans": {
			certs: []CertRef{{"y1", Removed}, {"y2", NotActivated}, {"y3", NotActivated}},
			want:  []PlanStep{act("y2", Cancel, NotActivated, Removed), act("y3", Cancel, NotActivated, Removed)},
		},
		"SSL-6 one certificate: its own plan": {
			certs: []CertRef{{"c", ValidatingApplication}},
			want:  planValidating,
		},
		"SSL-5 no certificate: nothing to release": {
			certs: nil,
			want:  nil,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := OrderReleasePlan(tc.certs)
			if err != nil {
				t.Fatalf("OrderReleasePlan: %v", err)
			}
			wantPlan(t, got, tc.want)
		})
	}
}

func TestOrderReleasePlanInvalid(t *testing.T) {
	tests := map[string]struct {
		certs []CertRef
		want  string
	}{
		"SSL-8 empty ID":            {[]CertRef{{"y1", Issued}, {"", NotActivated}}, "certificate 2 of the order has no ID"},
		"SSL-8 duplicate ID":        {[]CertRef{{"y1", Issued}, {"y1", NotActivated}}, `certificate "y1" is listed twice`},
		"SSL-8 unknown state":       {[]CertRef{{"y1", Issued}, {"y2", "dormant"}}, `certificate "y2" has unknown state "dormant"`},
		"SSL-8 first not activated": {[]CertRef{{"y1", NotActivated}, {"y2", NotActivated}}, `first certificate "y1"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			plan, err := OrderReleasePlan(tc.certs)
			errstest.Want(t, err, errs.Invalid, tc.want)
			if plan != nil {
				t.Errorf("a plan came with the error: %v", plan)
			}
		})
	}
}

// TestOrderReleasePlanErrorNamesCertificate: an error from one
// certificate's plan says which certificate.
func TestOrderReleasePlanErrorNamesCertificate(t *testing.T) {
	_, err := certPlan(CertRef{ID: "y2", State: "dormant"})
	if !errors.Is(err, &errs.Error{Code: errs.Invalid}) {
		t.Fatalf("got %v, want an Invalid error", err)
	}
	if want := `certificate "y2": invalid: unknown certificate state "dormant"`; err.Error() != want {
		t.Errorf("got %q, want %q", err.Error(), want)
	}
}
