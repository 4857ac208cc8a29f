package refund

import (
	"slices"
	"time"

	"github.com/certflow/certflow/domain"
)

// The refund's structured waiting (Status.WaitingOn): one entry per
// thing waited on, keyed by kind and certificate. An entry keeps the Since
// of its first appearance when it is updated (a new deadline after an
// escalation, a new detail on a retry), and goes when its wait ends; a
// finished refund waits on nothing.

// wait adds w to what the refund waits on, or updates the entry of the same
// kind and certificate, keeping when that wait began.
func (r *refund) wait(w domain.Wait) {
	for i, x := range r.st.WaitingOn {
		if x.Kind == w.Kind && x.Certificate == w.Certificate {
			w.Since = x.Since
			r.st.WaitingOn = slices.Clone(r.st.WaitingOn)
			r.st.WaitingOn[i] = w
			return
		}
	}
	r.st.WaitingOn = append(slices.Clone(r.st.WaitingOn), w)
}

// unwait ends the waits of kind (for certificate, or any when "").
func (r *refund) unwait(kind domain.WaitKind, certificate string) {
	r.st.WaitingOn = slices.DeleteFunc(slices.Clone(r.st.WaitingOn), func(w domain.Wait) bool {
		return w.Kind == kind && (certificate == "" || w.Certificate == certificate)
	})
}

// waitingOn returns the entry of kind for certificate, if any.
func (r *refund) waitingOn(kind domain.WaitKind, certificate string) (domain.Wait, bool) {
	for _, w := range r.st.WaitingOn {
		if w.Kind == kind && w.Certificate == certificate {
			return w, true
		}
	}
	return domain.Wait{}, false
}

// windowEnd is the refund window's end (T-1), the deadline of the waits
// that the window closes, or nil when the order has no window.
func (r *refund) windowEnd() *time.Time {
	if w := r.decision.Window; w != nil {
		end := w.End
		return &end
	}
	return nil
}

// reviewWait is the wait on a certificate's revocation review (SSL-6): its
// deadline is the T-3 review deadline until the refund is escalated, then
// the window end, past which the review completes too late (the window's
// late-review rule).
func (r *refund) reviewWait(certID, detail string, since time.Time) domain.Wait {
	w := domain.Wait{Kind: domain.WaitCAReview, Certificate: certID, Since: since, Rule: "SSL-6", Detail: detail}
	d, win := r.decision.ReviewDeadline, r.decision.Window
	switch {
	case r.st.Escalated && win != nil:
		w.Deadline, w.Rule = r.windowEnd(), win.LateReviewRule
	case d != nil:
		at := d.At
		w.Deadline, w.Rule = &at, d.Rule
	case win != nil:
		w.Deadline, w.Rule = r.windowEnd(), win.LateReviewRule
	}
	return w
}

// waitKinds lists the kinds waited on, each once, in WaitingOn's order
// (the WaitingOn search attribute).
func waitKinds(ws []domain.Wait) []string {
	var kinds []string
	for _, w := range ws {
		if !slices.Contains(kinds, string(w.Kind)) {
			kinds = append(kinds, string(w.Kind))
		}
	}
	return kinds
}

// heldCertificates lists the IDs and states of the certificates the refund
// holds (no certificate workflow runs for them, so the refund's search
// attributes show them), in the order's order, with the states its status
// shows.
func (r *refund) heldCertificates() (ids, states []string) {
	for _, c := range r.st.Certificates {
		if contains(r.holds, c.ID) && !contains(r.handed, c.ID) {
			ids = append(ids, c.ID)
			states = append(states, string(c.State))
		}
	}
	return ids, states
}

// audit appends a console or operator action to the refund's trail.
func (r *refund) audit(e domain.AuditEntry) {
	r.st.Audit = append(slices.Clone(r.st.Audit), e)
}

// sameWaits compares two WaitingOn lists entry by entry.
func sameWaits(x, y []domain.Wait) bool {
	return slices.EqualFunc(x, y, func(a, b domain.Wait) bool {
		return a.Kind == b.Kind && a.Certificate == b.Certificate && a.Since.Equal(b.Since) && a.Rule == b.Rule &&
			a.Detail == b.Detail && sameTime(a.Deadline, b.Deadline)
	})
}

// sameAudit compares two audit trails entry by entry.
func sameAudit(x, y []domain.AuditEntry) bool {
	return slices.EqualFunc(x, y, func(a, b domain.AuditEntry) bool {
		return a.Action == b.Action && a.At.Equal(b.At) && a.Actor == b.Actor && a.Note == b.Note &&
			a.Certificate == b.Certificate && a.Event == b.Event
	})
}

func sameEscalation(x, y *domain.Escalation) bool {
	if x == nil || y == nil {
		return x == y
	}
	return x.Rule == y.Rule && x.Reason == y.Reason && x.At.Equal(y.At) && x.Certificate == y.Certificate && x.Deadline.Equal(y.Deadline)
}

func sameTime(x, y *time.Time) bool {
	if x == nil || y == nil {
		return x == y
	}
	return x.Equal(*y)
}
