package policy

import (
	"fmt"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/statemachine"
)

// planRelease: SSL-6, every certificate of a used order is released before
// paying, by the plan the certificate state machine derives, first year
// first so that SSL-8's cascade applies. SSL-5: an order with nothing to
// release is refunded with no prerequisite step. TC-4 (tencent) releases
// only Pending Submission certificates (profile Release.States).
func planRelease(e *evaluation) error {
	if e.o.Product != domain.SSLCertificate {
		return nil
	}
	refs := e.releaseRefs()
	if len(refs) == 0 {
		return nil
	}
	plan, err := statemachine.OrderReleasePlan(refs)
	if err != nil {
		return fmt.Errorf("planning the release of order %s: %w", e.o.ID, err)
	}
	if len(plan) == 0 {
		return nil // every certificate already removed
	}
	e.pre = append(e.pre, Step{Kind: StepRelease, Rule: e.p.Release.Rule, Irreversible: irreversible(plan), Plan: plan})
	return nil
}

// releaseRefs lists the certificates to release, in the order's order
// (first year first, SSL-8).
func (e *evaluation) releaseRefs() []statemachine.CertRef {
	var refs []statemachine.CertRef
	for _, c := range e.o.Certificates {
		if e.p.releases(c.State) {
			refs = append(refs, statemachine.CertRef{ID: c.ID, State: c.State})
		}
	}
	return refs
}

// irreversible reports whether a plan revokes (SSL-9).
func irreversible(plan []statemachine.PlanStep) bool {
	for _, s := range plan {
		if s.Event == statemachine.Revoke || statemachine.IsIrreversible(s.Event) {
			return true
		}
	}
	return false
}

// revokes lists the certificates a plan revokes, in plan order.
func revokes(plan []statemachine.PlanStep) []string {
	var ids []string
	for _, s := range plan {
		if s.Event == statemachine.Revoke {
			ids = append(ids, s.Certificate)
		}
	}
	return ids
}

// planGateway: GW-2 unused → full refund; GW-3 used without GRCQ consumed →
// reset the instance (irreversible), then full refund; GW-4 GRCQ consumed →
// prorated refund (M-2) paid only after an operator approves it. A domain
// added or any GRCQ consumed counts as used.
func planGateway(e *evaluation) error {
	u := e.o.Usage
	if e.o.Product != domain.HTTPSGateway || u == nil || (!u.DomainAdded && u.GRCQConsumed == 0) {
		return nil
	}
	if u.GRCQConsumed == 0 {
		e.pre = append(e.pre, Step{Kind: StepResetGateway, Rule: RuleGW3, Irreversible: true})
		return nil
	}
	e.share = &share{num: u.GRCQTotal - u.GRCQConsumed, den: u.GRCQTotal}
	e.pre = append(e.pre, Step{Kind: StepAwaitApproval, Rule: RuleGW4})
	return nil
}

// planPrivateCA: PCA-2 unused → refund; PCA-3 a root or intermediate CA
// enabled → reset it (deletes all its data: irreversible, SSL-9), then
// refund. The reset runs at request time, so inside the window.
func planPrivateCA(e *evaluation) error {
	u := e.o.Usage
	if e.o.Product != domain.PrivateCA || u == nil || !u.CAEnabled {
		return nil
	}
	e.pre = append(e.pre, Step{Kind: StepResetCA, Rule: RulePCA3, Irreversible: true})
	return nil
}

// unusedService is a product refundable only while unused (UNU-1..UNU-4).
type unusedService struct {
	product domain.Product
	rule    string
	used    func(domain.Usage) bool
	what    string
}

func unusedServices() []unusedService {
	return []unusedService{
		{domain.MessageNotification, RuleUNU1, func(u domain.Usage) bool { return u.NotificationsConfigured },
			"a message notification is configured"},
		{domain.DomainMonitoring, RuleUNU2, func(u domain.Usage) bool { return u.MonitoringConfigured },
			"public domain name monitoring is configured"},
		{domain.CertRepository, RuleUNU3, func(u domain.Usage) bool { return u.APICalls > 0 },
			"API calls of the certificate application repository were consumed"},
		{domain.CloudDeployment, RuleUNU4, func(u domain.Usage) bool { return u.DeploymentTasks > 0 },
			"deployment tasks were created"},
	}
}

// checkUnused: UNU-1..UNU-4, these services are refundable only unused.
func checkUnused(e *evaluation) error {
	if e.o.Usage == nil {
		return nil
	}
	for _, s := range unusedServices() {
		if s.product == e.o.Product && s.used(*e.o.Usage) {
			e.refuse(s.rule, "%s is refundable only while unused: %s", s.product, s.what)
		}
	}
	return nil
}
