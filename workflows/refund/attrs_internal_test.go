package refund

import "testing"

// The search attributes are upserted when one the operators' lists filter
// by changes: the refund's state, what it waits on, escalation, which
// certificates are under revocation review; a certificate's other states
// wait for the next upsert.
func TestUpsertOnlyWhatOperatorsFilterBy(t *testing.T) {
	base := publishedAttrs{state: "releasing", product: "ssl_certificate", certIDs: "y1,y2,y3", certState: "issued,not_activated,not_activated"}
	for name, tc := range map[string]struct {
		change func(*publishedAttrs)
		upsert bool
	}{
		"a later year removed":        {func(p *publishedAttrs) { p.certState = "issued,removed,not_activated" }, false},
		"the first year under review": {func(p *publishedAttrs) { p.certState = "validating_revocation,removed,removed" }, true},
		"the state":                   {func(p *publishedAttrs) { p.state = "committed" }, true},
		"a wait":                      {func(p *publishedAttrs) { p.waitingOn = "ca_review" }, true},
		"escalated":                   {func(p *publishedAttrs) { p.escalated = true }, true},
		"no certificates any more":    {func(p *publishedAttrs) { p.certIDs, p.certState = "", "" }, true},
	} {
		t.Run(name, func(t *testing.T) {
			next := base
			tc.change(&next)
			if got := base.operatorView() != next.operatorView(); got != tc.upsert {
				t.Errorf("upsert = %v, want %v", got, tc.upsert)
			}
		})
	}
	// Leaving review is a change too (the list of certificates under
	// review empties).
	inReview := base
	inReview.certState = "validating_revocation,removed,removed"
	revoked := inReview
	revoked.certState = "revoked,removed,removed"
	if inReview.operatorView() == revoked.operatorView() {
		t.Error("a certificate leaving review upserts no attributes")
	}
}
