package policy

import (
	"slices"
	"testing"

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/statemachine"
)

// TestRelease covers SSL-5, SSL-6 and SSL-8: what must be released before
// paying, by certificate state, first year first.
func TestRelease(t *testing.T) {
	const issued = "2026-03-02T15:00:00+08:00"
	tests := map[string]struct {
		certs        func(t *testing.T) []domain.Certificate
		years        int
		plan         []string
		irreversible bool
	}{
		"SSL-5 unused quota: no prerequisite step": {
			certs: func(*testing.T) []domain.Certificate { return nil }},
		"SSL-6 pending application: cancel": {
			certs: one(statemachine.PendingApplication), plan: []string{"c-1:cancel"}},
		"SSL-6 validating application: withdraw, cancel": {
			certs: one(statemachine.ValidatingApplication), plan: []string{"c-1:withdraw", "c-1:cancel"}},
		"SSL-6 validation failed: resubmit, withdraw, cancel": {
			certs: one(statemachine.ValidationFailed), plan: []string{"c-1:resubmit", "c-1:withdraw", "c-1:cancel"}},
		"SSL-6 issued: revoke, await review, delete": {
			certs:        func(t *testing.T) []domain.Certificate { return []domain.Certificate{issuedCert(t, "c-1", issued)} },
			plan:         []string{"c-1:revoke", "c-1:revocation_approved", "c-1:delete"},
			irreversible: true},
		"SSL-6 validating revocation: await review, delete": {
			certs: one(statemachine.ValidatingRevocation), plan: []string{"c-1:revocation_approved", "c-1:delete"}},
		"SSL-6 revoked: delete": {
			certs: one(statemachine.Revoked), plan: []string{"c-1:delete"}},
		"SSL-6 already removed: nothing to do": {
			certs: one(statemachine.Removed)},
		"SSL-8 first pending: removing it cascades": {
			years: 3,
			certs: func(*testing.T) []domain.Certificate {
				return []domain.Certificate{cert("c-1", statemachine.PendingApplication), cert("c-2", statemachine.NotActivated), cert("c-3", statemachine.NotActivated)}
			},
			plan: []string{"c-1:cancel", "c-2:cascade_remove", "c-3:cascade_remove"}},
		"SSL-8 first issued: cancel later years, then revoke and delete": {
			years: 3,
			certs: func(t *testing.T) []domain.Certificate {
				return []domain.Certificate{issuedCert(t, "c-1", issued), cert("c-2", statemachine.NotActivated), cert("c-3", statemachine.NotActivated)}
			},
			plan:         []string{"c-2:cancel", "c-3:cancel", "c-1:revoke", "c-1:revocation_approved", "c-1:delete"},
			irreversible: true},
	}
	p := profile(t, "aliyun-intl")
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := sslOrder(t, tc.certs(t)...)
			if tc.years > 0 {
				o.ValidityYears = tc.years
			}
			d := evaluate(t, p, o, confirmed(), "2026-03-03T10:00:00+08:00")
			wantReasons(t, d)
			if got := planOf(d); !slices.Equal(got, tc.plan) {
				t.Fatalf("plan = %v, want %v", got, tc.plan)
			}
			if len(tc.plan) == 0 {
				wantSteps(t, d, "pay/GEN-4")
			} else {
				wantSteps(t, d, "release_certificates/SSL-6", "pay/GEN-4")
				if d.Steps[0].Irreversible != tc.irreversible {
					t.Fatalf("release irreversible = %v, want %v", d.Steps[0].Irreversible, tc.irreversible)
				}
			}
			if !d.Steps[len(d.Steps)-1].Irreversible {
				t.Fatal("the payment is irreversible (CAN-1)")
			}
			wantRefund(t, d, "100.00", "0", 0, domain.OriginalMethod)
		})
	}
}

func one(s statemachine.CertState) func(*testing.T) []domain.Certificate {
	return func(*testing.T) []domain.Certificate { return []domain.Certificate{cert("c-1", s)} }
}

// TestCertificateRestrictions covers SSL-3 and SSL-4.
func TestCertificateRestrictions(t *testing.T) {
	p := profile(t, "aliyun-intl")
	t.Run("SSL-3 combined multi-domain certificate refused", func(t *testing.T) {
		o := sslOrder(t, cert("c-1", statemachine.PendingApplication))
		o.CombinedMultiDomain = true
		wantReasons(t, evaluate(t, p, o, confirmed(), "2026-03-03T10:00:00+08:00"), RuleSSL3)
	})
	t.Run("SSL-3 combined multi-domain refused in aliyun-cn too", func(t *testing.T) {
		o := sslOrder(t)
		o.CombinedMultiDomain = true
		wantReasons(t, evaluate(t, profile(t, "aliyun-cn"), o, confirmed(), "2026-03-03T10:00:00+08:00"), RuleSSL3)
	})
	t.Run("SSL-3 is not a tencent rule: a combined certificate never issued is refunded (TC-1)", func(t *testing.T) {
		o := sslOrder(t, cert("c-1", statemachine.PendingSubmission))
		o.Profile = "tencent"
		o.CombinedMultiDomain = true
		r := confirmed()
		r.Consent = true
		d := evaluate(t, profile(t, "tencent"), o, r, "2026-03-03T10:00:00+08:00")
		wantReasons(t, d)
		if !d.Eligible {
			t.Fatalf("decision = %+v, want eligible", d)
		}
	})
	for name, years := range map[string]int{
		"SSL-4 2-year managed service never refunded alone": 2,
		"SSL-4 3-year managed service never refunded alone": 3,
		"SSL-4 1-year certificate has no managed service":   1,
	} {
		t.Run(name, func(t *testing.T) {
			o := sslOrder(t)
			o.ValidityYears = years
			r := confirmed()
			r.Scope = domain.ScopeManagedService
			wantReasons(t, evaluate(t, p, o, r, "2026-03-03T10:00:00+08:00"), RuleSSL4)
		})
	}
	t.Run("SSL-4 3-year order refunds certificate and managed service together", func(t *testing.T) {
		o := sslOrder(t)
		o.ValidityYears, o.Price, o.Payment.Cash = 3, dec("270.00"), dec("270.00")
		r := confirmed()
		r.Scope = domain.ScopeOrder
		d := evaluate(t, p, o, r, "2026-03-03T10:00:00+08:00")
		wantReasons(t, d)
		wantRefund(t, d, "270.00", "0", 0, domain.OriginalMethod)
		if !slices.Equal(d.Refund.Rules, []string{RuleSSL4, RuleGEN3, RuleGEN4}) {
			t.Fatalf("rules = %v", d.Refund.Rules)
		}
	})
}

// TestConfirmations covers SSL-9 and T-3 through Evaluate: the revoke needs
// confirming, and so does a worst-case review deadline past the window.
func TestConfirmations(t *testing.T) {
	tests := map[string]struct {
		profile  string
		vas      domain.ValueAdded
		paid     string
		state    statemachine.CertState
		req      func() domain.RefundRequest
		now      string
		deadline string
		reasons  []string
		missing  []string
	}{
		"SSL-9 revoke not confirmed: refused before anything is revoked": {
			profile: "aliyun-intl", state: statemachine.Issued, now: "2026-03-03T10:00:00+08:00",
			req:      func() domain.RefundRequest { r := confirmed(); r.ConfirmIrreversible = false; return r },
			deadline: "2026-03-11T00:00:00+08:00", reasons: []string{RuleSSL9}, missing: []string{FieldConfirmIrreversible}},
		"SSL-9 T-3 review may end after the window: needs accepting (story p05)": {
			profile: "aliyun-intl", state: statemachine.Issued, now: "2026-03-04T09:00:00+08:00", req: plain,
			deadline: "2026-03-12T00:00:00+08:00", reasons: []string{RuleSSL9}, missing: []string{FieldAcceptLateReviewRisk}},
		"SSL-9 T-3 review past the window, risk accepted": {
			profile: "aliyun-intl", state: statemachine.Issued, now: "2026-03-04T09:00:00+08:00", req: confirmed,
			deadline: "2026-03-12T00:00:00+08:00"},
		"SSL-9 T-3 neither confirmation: both listed in order": {
			profile: "aliyun-intl", state: statemachine.Issued, now: "2026-03-04T09:00:00+08:00",
			req:      func() domain.RefundRequest { return domain.RefundRequest{Consent: true} },
			deadline: "2026-03-12T00:00:00+08:00", reasons: []string{RuleSSL9},
			missing: []string{FieldConfirmIrreversible, FieldAcceptLateReviewRisk}},
		"T-3 Friday request: deadline end of next Friday": {
			profile: "aliyun-intl", state: statemachine.Issued, now: "2026-03-06T10:00:00+08:00", req: confirmed,
			deadline: "2026-03-14T00:00:00+08:00"},
		"T-3 Saturday request: counts from Monday": {
			profile: "aliyun-intl", state: statemachine.Issued, now: "2026-03-07T10:00:00+08:00", req: confirmed,
			deadline: "2026-03-14T00:00:00+08:00"},
		"SSL-9 T-3 deadline at 24:00 before the window end needs nothing (story p23)": {
			profile: "aliyun-cn", vas: domain.VABasic, paid: "2026-09-03T10:00:00+08:00", state: statemachine.Issued,
			now: "2026-09-25T10:00:00+08:00", req: plain, deadline: "2026-10-03T00:00:00+08:00"},
		"SSL-9 T-3 one day later the same review outlives the 30 days": {
			profile: "aliyun-cn", vas: domain.VABasic, paid: "2026-09-03T10:00:00+08:00", state: statemachine.Issued,
			now: "2026-09-28T10:00:00+08:00", req: plain, deadline: "2026-10-06T00:00:00+08:00",
			reasons: []string{RuleSSL9}, missing: []string{FieldAcceptLateReviewRisk}},
		"SSL-9 review under way: bounded, but nothing left to confirm": {
			profile: "aliyun-intl", state: statemachine.ValidatingRevocation, now: "2026-03-06T10:00:00+08:00",
			req:      func() domain.RefundRequest { return domain.RefundRequest{} },
			deadline: "2026-03-14T00:00:00+08:00"},
		"SSL-9 nothing irreversible: no confirmation, no deadline": {
			profile: "aliyun-intl", state: statemachine.PendingApplication, now: "2026-03-06T10:00:00+08:00",
			req: func() domain.RefundRequest { return domain.RefundRequest{} }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := cert("c-1", tc.state)
			if tc.state == statemachine.Issued {
				c.IssuedAt = ptime(t, "2026-03-02T12:00:00+08:00")
			}
			o := sslOrder(t, c)
			o.ValueAdded = tc.vas
			if tc.paid != "" {
				o.PaidAt = at(t, tc.paid)
			}
			d := evaluate(t, profile(t, tc.profile), o, tc.req(), tc.now)
			wantReasons(t, d, tc.reasons...)
			wantMissing(t, d, tc.missing...)
			wantDeadline(t, d, tc.deadline)
		})
	}
}

func wantDeadline(t *testing.T, d Decision, want string) {
	t.Helper()
	switch {
	case want == "" && d.ReviewDeadline != nil:
		t.Fatalf("review deadline %v, want none", d.ReviewDeadline.At)
	case want == "":
	case d.ReviewDeadline == nil:
		t.Fatalf("no review deadline, want %s", want)
	case !d.ReviewDeadline.At.Equal(at(t, want)) || d.ReviewDeadline.Rule != RuleT3:
		t.Fatalf("review deadline %v (%s), want %s (T-3)", d.ReviewDeadline.At, d.ReviewDeadline.Rule, want)
	}
}

// TestNationalDayCalendar covers T-3 with the builtin cn-mainland calendar:
// the National Day week (and the Mid-Autumn holiday before it) pushes the
// worst-case review past the 30-day window, which the weekends-only
// calendar of story p23 does not.
func TestNationalDayCalendar(t *testing.T) {
	spec, err := calendar.Builtin("cn-mainland")
	if err != nil {
		t.Fatal(err)
	}
	cn, err := calendar.FromSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	p := profile(t, "aliyun-cn")
	o := sslOrder(t, issuedCert(t, "c-1", "2026-09-04T10:00:00+08:00"))
	o.PaidAt, o.ValueAdded = at(t, "2026-09-03T10:00:00+08:00"), domain.VABasic
	now := at(t, "2026-09-25T10:00:00+08:00")

	d, err := Evaluate(p, cn, o, plain(), now)
	if err != nil {
		t.Fatal(err)
	}
	// 09-25..27 holiday and weekend; 28, 29, 30 work; 10-01..07 holiday;
	// 10-08, 10-09 work: the 5th business day ends at 10-10 00:00.
	wantDeadline(t, d, "2026-10-10T00:00:00+08:00")
	wantReasons(t, d, RuleSSL9)
	wantMissing(t, d, FieldAcceptLateReviewRisk)

	d, err = Evaluate(p, nil, o, plain(), now) // nil: the profile's builtin, cn-mainland
	if err != nil {
		t.Fatal(err)
	}
	wantDeadline(t, d, "2026-10-10T00:00:00+08:00")

	d = evaluate(t, p, o, plain(), "2026-09-25T10:00:00+08:00") // weekends only
	wantDeadline(t, d, "2026-10-03T00:00:00+08:00")
	wantReasons(t, d)
}

// TestReviewDeadlineFromSubmission covers T-3 counted from the submission of
// the revocation, not from the refund request: a console revocation
// submitted Friday 2026-03-06 10:00 is due by the end of Friday 03-13,
// whenever the refund comes.
func TestReviewDeadlineFromSubmission(t *testing.T) {
	submitted := at(t, "2026-03-06T10:00:00+08:00")
	dl := ReviewDeadline(profile(t, "aliyun-intl"), weekends(t), submitted)
	if dl == nil || !dl.At.Equal(at(t, "2026-03-14T00:00:00+08:00")) || dl.Rule != "T-3" {
		t.Fatalf("T-3 deadline = %+v, want 2026-03-14T00:00+08:00", dl)
	}
	if dl := ReviewDeadline(profile(t, "tencent"), weekends(t), submitted); dl != nil {
		t.Fatalf("tencent never revokes; deadline = %+v, want none", dl)
	}
}
