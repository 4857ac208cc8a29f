package refund

import "testing"

// The search attributes are upserted when an operators' list gains the
// refund: a new wait, a certificate entering review, escalation, the
// refund finishing. Other changes ride with the next upsert.
func TestUpsertWhenAnOperatorsListGainsTheRefund(t *testing.T) {
	base := publishedAttrs{state: "releasing", product: "ssl_certificate", waitingOn: "ca_review",
		certIDs: "y1,y2,y3", certState: "validating_revocation,not_activated,not_activated"}
	for name, tc := range map[string]struct {
		change func(*publishedAttrs)
		upsert bool
	}{
		"a later year removed":        {func(p *publishedAttrs) { p.certState = "validating_revocation,removed,not_activated" }, false},
		"another year under review":   {func(p *publishedAttrs) { p.certState = "validating_revocation,validating_revocation,removed" }, true},
		"the review ends":             {func(p *publishedAttrs) { p.certState, p.waitingOn = "revoked,removed,removed", "" }, false},
		"a step between waits":        {func(p *publishedAttrs) { p.state = "committed" }, false},
		"awaiting approval":           {func(p *publishedAttrs) { p.state, p.waitingOn = "awaiting_approval", "ca_review,operator_approval" }, true},
		"a new wait":                  {func(p *publishedAttrs) { p.waitingOn = "ca_review,customer" }, true},
		"escalated":                   {func(p *publishedAttrs) { p.escalated = true }, true},
		"no certificates any more":    {func(p *publishedAttrs) { p.certIDs, p.certState = "", "" }, false},
		"refunded":                    {func(p *publishedAttrs) { p.state, p.waitingOn, p.certIDs, p.certState = "refunded", "", "", "" }, true},
		"cancelled":                   {func(p *publishedAttrs) { p.state = "cancelled" }, true},
		"the same":                    {func(*publishedAttrs) {}, false},
		"a certificate held, no wait": {func(p *publishedAttrs) { p.certIDs, p.certState = "y1,y2,y3,y4", p.certState+",issued" }, false},
	} {
		t.Run(name, func(t *testing.T) {
			next := base
			tc.change(&next)
			if got := (&base).calls(next); got != tc.upsert {
				t.Errorf("upsert = %v, want %v", got, tc.upsert)
			}
		})
	}
	// Nothing published yet (or only what the start set): a step alone
	// does not upsert, a wait or the end does.
	var none *publishedAttrs
	if none.calls(publishedAttrs{state: "releasing", certIDs: "y1", certState: "revoking"}) {
		t.Error("the first step upserts with no list gaining the refund")
	}
	if !none.calls(publishedAttrs{state: "releasing", waitingOn: "customer"}) {
		t.Error("a first wait is not upserted")
	}
	if !none.calls(publishedAttrs{state: "refunded"}) {
		t.Error("a refund finished without a wait is not upserted")
	}
}
