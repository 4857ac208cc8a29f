package policy

import (
	"fmt"
	"strings"
	"time"

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/statemachine"
)

// checkConfirmed: SSL-9 (with PCA-3 and GW-3 resets), a step that cannot be
// undone needs the requester's explicit confirmation before it runs.
func checkConfirmed(e *evaluation) error {
	if e.req.ConfirmIrreversible {
		return nil
	}
	var what []string
	for _, s := range e.pre {
		if s.Irreversible {
			what = append(what, describe(s))
		}
	}
	if len(what) > 0 {
		e.require(RuleSSL9, FieldConfirmIrreversible, fmt.Sprintf(
			"the refund would %s, which cannot be undone: the request must confirm it", strings.Join(what, " and ")))
	}
	return nil
}

// describe names an irreversible step for a message.
func describe(s Step) string {
	switch s.Kind {
	case StepResetGateway:
		return "reset the HTTPS acceleration gateway instance"
	case StepResetCA:
		return "reset the private CA, deleting all its data"
	case StepRelease:
		return "revoke certificate " + strings.Join(revokes(s.Plan), ", ")
	}
	return string(s.Kind)
}

// checkReviewDeadline: T-3 and SSL-9. A planned revocation is submitted at
// request time and its review takes up to ReviewBusinessDays business days;
// when that worst-case deadline falls after the refund window, the request
// must accept the risk, or it is refused before anything is revoked. A
// review already under way gets the same bound, but needs no confirmation:
// nothing irreversible is left to do.
func checkReviewDeadline(e *evaluation) error {
	revoking, reviewing := e.revocationState()
	if (!revoking && !reviewing) || e.p.ReviewBusinessDays == 0 {
		return nil
	}
	cal, err := e.businessCalendar()
	if err != nil {
		return err
	}
	dl := ReviewDeadline(e.p, cal, e.now)
	e.d.ReviewDeadline = dl
	w := e.d.Window
	if !revoking || w == nil || !dl.At.After(w.End) || e.req.AcceptLateReviewRisk {
		return nil
	}
	e.require(RuleSSL9, FieldAcceptLateReviewRisk, fmt.Sprintf(
		"the revocation review may take until %s, after the refund window ends at %s: the request must accept that the refund may then be refused",
		stamp(dl.At), stamp(w.End)))
	return nil
}

// ReviewDeadline is T-3's worst-case end of a revocation review submitted
// to the CA at submittedAt: the end of the profile's ReviewBusinessDays-th
// business day after the day of submission, in cal. It counts from the
// submission, also when that happened before the refund was requested (a
// console revocation under way). Nil when the profile never revokes.
func ReviewDeadline(p Profile, cal *calendar.Calendar, submittedAt time.Time) *calendar.Deadline {
	if p.ReviewBusinessDays == 0 || cal == nil {
		return nil
	}
	dl := cal.BusinessDaysAfter(submittedAt, p.ReviewBusinessDays)
	return &dl
}

// revocationState reports whether the release plan revokes a certificate,
// and whether it waits for a review already under way.
func (e *evaluation) revocationState() (revoking, reviewing bool) {
	for _, s := range e.pre {
		if s.Kind == StepRelease && len(revokes(s.Plan)) > 0 {
			revoking = true
		}
	}
	for _, r := range e.releaseRefs() {
		if r.State == statemachine.ValidatingRevocation {
			reviewing = true
		}
	}
	return revoking, reviewing
}

// businessCalendar is the calendar Evaluate was given, or the profile's builtin.
func (e *evaluation) businessCalendar() (*calendar.Calendar, error) {
	if e.cal != nil {
		return e.cal, nil
	}
	return e.p.BuiltinCalendar()
}
