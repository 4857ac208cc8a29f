package statemachine

import (
	"fmt"
	"github.com/certflow/certflow/errs/errstest"
	"slices"
	"testing"

	"github.com/certflow/certflow/errs"
)

type certPair struct {
	from CertState
	ev   CertEvent
}

// legalCert is the certificate machine as the rules describe it, written
// out by hand so that the table in cert.go is checked against something
// other than itself.
var legalCert = map[string]struct {
	from CertState
	ev   CertEvent
	to   CertState
}{
	// Console actions.
	"TC-4 pending_submission submit -> validating_application":     {PendingSubmission, Submit, ValidatingApplication},
	"SSL-6 pending_application submit -> validating_application":   {PendingApplication, Submit, ValidatingApplication},
	"SSL-6 validating_application withdraw -> pending_application": {ValidatingApplication, Withdraw, PendingApplication},
	"SSL-6 pending_application cancel -> removed":                  {PendingApplication, Cancel, Removed},
	"TC-4 pending_submission cancel -> removed":                    {PendingSubmission, Cancel, Removed},
	"SSL-8 not_activated cancel -> removed":                        {NotActivated, Cancel, Removed},
	"SSL-6 validation_failed resubmit -> validating_application":   {ValidationFailed, Resubmit, ValidatingApplication},
	"SSL-9 issued revoke -> validating_revocation":                 {Issued, Revoke, ValidatingRevocation},
	"SSL-6 revoked delete -> removed":                              {Revoked, Delete, Removed},
	"SSL-8 not_activated activate -> pending_application":          {NotActivated, Activate, PendingApplication},
	// CA results.
	"SSL-6 validating_application validation_passed -> issued":                {ValidatingApplication, ValidationPassed, Issued},
	"SSL-6 validating_application issued -> issued":                           {ValidatingApplication, CAIssued, Issued},
	"SSL-6 validating_application validation_failed -> validation_failed":     {ValidatingApplication, ValidationFailedEv, ValidationFailed},
	"SSL-6 validating_application resubmission_rejected -> validation_failed": {ValidatingApplication, ResubmissionRejected, ValidationFailed},
	"SSL-6 validating_revocation revocation_approved -> revoked":              {ValidatingRevocation, RevocationApproved, Revoked},
	"SSL-9 validating_revocation revocation_rejected -> issued":               {ValidatingRevocation, RevocationRejected, Issued},
	// Order-level consequence.
	"SSL-8 not_activated cascade_remove -> removed": {NotActivated, Cascade, Removed},
}

func TestCertTransitionLegal(t *testing.T) {
	for name, tc := range legalCert {
		t.Run(name, func(t *testing.T) {
			got, err := CertTransition(tc.from, tc.ev)
			if err != nil {
				t.Fatalf("CertTransition(%s, %s): %v", tc.from, tc.ev, err)
			}
			if got != tc.to {
				t.Errorf("CertTransition(%s, %s) = %s, want %s", tc.from, tc.ev, got, tc.to)
			}
		})
	}
}

// TestCertTransitionIllegal tries every (state, event) pair the rules do not
// allow, generated from the state and event lists.
func TestCertTransitionIllegal(t *testing.T) {
	legal := map[certPair]bool{}
	for _, tc := range legalCert {
		legal[certPair{tc.from, tc.ev}] = true
	}
	n := 0
	for _, from := range CertStates() {
		for _, ev := range AllCertEvents() {
			if legal[certPair{from, ev}] {
				continue
			}
			n++
			t.Run(fmt.Sprintf("%s %s cannot %s", certRule(from), from, ev), func(t *testing.T) {
				got, err := CertTransition(from, ev)
				errstest.Want(t, err, errs.IllegalTransition)
				if want := fmt.Sprintf("certificate in state %q cannot %q", from, ev); errs.MessageOf(err) != want {
					t.Errorf("message %q, want %q", errs.MessageOf(err), want)
				}
				if got != "" {
					t.Errorf("state %q returned with the error", got)
				}
			})
		}
	}
	// 9 states × 14 events, less the 17 legal pairs.
	if want := 9*14 - 17; n != want {
		t.Errorf("%d illegal pairs tried, want %d", n, want)
	}
}

// certRule names the rule behind the refusals in a state, for test names.
func certRule(s CertState) string {
	switch s {
	case PendingSubmission:
		return "TC-4"
	case NotActivated:
		return "SSL-8"
	case Issued, ValidatingRevocation, Revoked:
		return "SSL-9"
	default:
		return "SSL-6"
	}
}

func TestCertTransitionSpecificRefusals(t *testing.T) {
	tests := map[string]struct {
		from CertState
		ev   CertEvent
		msg  string
	}{
		"SSL-6 validation_failed has no direct cancel":            {ValidationFailed, Cancel, `certificate in state "validation_failed" cannot "cancel"`},
		"SSL-6 issued cannot withdraw":                            {Issued, Withdraw, `certificate in state "issued" cannot "withdraw"`},
		"SSL-9 revoked cannot be reissued":                        {Revoked, CAIssued, `certificate in state "revoked" cannot "issued"`},
		"SSL-9 a revocation under review cannot be revoked again": {ValidatingRevocation, Revoke, `certificate in state "validating_revocation" cannot "revoke"`},
		"SSL-8 cascade only removes a Not Activated year":         {PendingApplication, Cascade, `certificate in state "pending_application" cannot "cascade_remove"`},
		"SSL-6 removed is final":                                  {Removed, Submit, `certificate in state "removed" cannot "submit"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := CertTransition(tc.from, tc.ev)
			errstest.Want(t, err, errs.IllegalTransition)
			if got := errs.MessageOf(err); got != tc.msg {
				t.Errorf("message %q, want %q", got, tc.msg)
			}
		})
	}
}

func TestCertTransitionUnknown(t *testing.T) {
	tests := map[string]struct {
		from CertState
		ev   CertEvent
		want string
	}{
		"SSL-6 unknown state":             {"expired", Cancel, `"expired"`},
		"SSL-6 unknown event":             {Issued, "renew", `"renew"`},
		"SSL-6 empty state":               {"", Cancel, `unknown certificate state ""`},
		"SSL-6 order event is not a cert": {PendingApplication, CertEvent(OrderPay), `"pay"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := CertTransition(tc.from, tc.ev)
			errstest.Want(t, err, errs.Invalid, tc.want)
		})
	}
}

func TestCertEvents(t *testing.T) {
	tests := map[string]struct {
		from CertState
		want []CertEvent
	}{
		"SSL-6 validating_application": {ValidatingApplication, []CertEvent{Withdraw, ValidationPassed, CAIssued, ValidationFailedEv, ResubmissionRejected}},
		"SSL-6 validation_failed":      {ValidationFailed, []CertEvent{Resubmit}},
		"SSL-8 not_activated":          {NotActivated, []CertEvent{Cancel, Activate, Cascade}},
		"SSL-9 issued":                 {Issued, []CertEvent{Revoke}},
		"TC-4 pending_submission":      {PendingSubmission, []CertEvent{Submit, Cancel}},
		"SSL-6 removed has none":       {Removed, nil},
		"SSL-6 unknown state has none": {"expired", nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := CertEvents(tc.from); !slices.Equal(got, tc.want) {
				t.Errorf("CertEvents(%s) = %v, want %v", tc.from, got, tc.want)
			}
		})
	}
}

// TestCertEventsAgreeWithTransition checks the listing against the checker
// for every pair.
func TestCertEventsAgreeWithTransition(t *testing.T) {
	for _, from := range CertStates() {
		listed := CertEvents(from)
		for _, ev := range AllCertEvents() {
			_, err := CertTransition(from, ev)
			if ok := err == nil; ok != slices.Contains(listed, ev) {
				t.Errorf("%s %s: CertTransition legal=%v, CertEvents lists it=%v", from, ev, ok, !ok)
			}
		}
	}
}

func TestCertEventClasses(t *testing.T) {
	console := []CertEvent{Submit, Withdraw, Cancel, Resubmit, Revoke, Delete, Activate}
	ca := []CertEvent{ValidationPassed, CAIssued, ValidationFailedEv, ResubmissionRejected, RevocationApproved, RevocationRejected}
	for _, ev := range append(AllCertEvents(), "renew") {
		t.Run("SSL-9 "+string(ev), func(t *testing.T) {
			if got, want := IsConsoleAction(ev), slices.Contains(console, ev); got != want {
				t.Errorf("IsConsoleAction = %v, want %v", got, want)
			}
			if got, want := IsCAResult(ev), slices.Contains(ca, ev); got != want {
				t.Errorf("IsCAResult = %v, want %v", got, want)
			}
			// SSL-9: revocation cannot be undone; nothing else is marked.
			if got, want := IsIrreversible(ev), ev == Revoke; got != want {
				t.Errorf("IsIrreversible = %v, want %v", got, want)
			}
		})
	}
}

// TestCertTableWellFormed checks the table against the state and event
// lists: every name known, every event used, no (state, event) pair twice.
func TestCertTableWellFormed(t *testing.T) {
	checkTable(t, certMachine)
	if got := len(certEventInfos); got != 14 {
		t.Errorf("%d certificate events, want 14", got)
	}
	for _, s := range certInitial {
		if !ValidCertState(s) {
			t.Errorf("initial state %q unknown", s)
		}
	}
}

func checkTable[S, E ~string](t *testing.T, m *machine[S, E]) {
	t.Helper()
	seen := map[string]bool{}
	used := map[E]bool{}
	for i, e := range m.table {
		if !m.knownEvent(e.event) || !m.knownState(e.to) || len(e.from) == 0 {
			t.Errorf("row %d (%s): unknown event or destination, or no source", i, e.event)
		}
		used[e.event] = true
		for _, s := range e.from {
			if !m.knownState(s) {
				t.Errorf("row %d (%s): unknown source %q", i, e.event, s)
			}
			key := string(s) + " " + string(e.event)
			if seen[key] {
				t.Errorf("row %d: %s listed twice", i, key)
			}
			seen[key] = true
		}
	}
	for _, ev := range m.events {
		if !used[ev] {
			t.Errorf("event %q has no row", ev)
		}
	}
	// The transition function looplab/fsm compiled is the table: each
	// row's sources lead to its destination, and nothing else is legal.
	for i, from := range m.states {
		for j, ev := range m.events {
			want := -1
			for _, e := range m.table {
				if e.event == ev && slices.Contains(e.from, from) {
					want = slices.Index(m.states, e.to)
				}
			}
			if m.next[i][j] != want {
				t.Errorf("compiled %s --%s--> %d, table says %d", from, ev, m.next[i][j], want)
			}
		}
	}
}
