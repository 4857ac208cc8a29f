package refund

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/internal/obs"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/workflows/certificate"
	"github.com/certflow/certflow/workflows/internal/calls"
)

// SignalCAConfigFixed is the operator's word that the CA configuration
// (credentials) was fixed: a refund waiting on refused credentials retries
// at once instead of at its next scheduled attempt. No payload.
const SignalCAConfigFixed = "ca-config-fixed"

// Metrics the CA boundary emits (counted once per episode, not per retry).
const (
	MetricCACredentialsRefused = "certflow_ca_credentials_refused"
	MetricCAUnreachable        = "certflow_ca_unreachable"
	MetricPaymentUnreachable   = "certflow_payment_unreachable"
	MetricCAResultRecovered    = "certflow_ca_result_recovered"
)

// Waiting texts of an infrastructure failure at the CA boundary.
const (
	waitingCACredentials = "waiting: the CA refuses our credentials"
	waitingCAUnreachable = "waiting: the CA cannot be reached"
	// waitingPaymentUnreachable: the payment side did not answer through
	// the payout activity's retries; the refund retries on its schedule.
	waitingPaymentUnreachable = "waiting: the payment side cannot be reached"
)

// reportWait bounds the wait for a certificate's report after a polled
// result was handed to it at the window end.
const reportWait = time.Minute

// caBoundary is the refund's view of its dealings with the CA: the
// reviews its revokes opened, and the infrastructure failure it is
// waiting on, if any.
type caBoundary struct {
	reviews []certReview
	// failing is the failure being waited on ("" when none); logged and
	// counted once when it starts.
	failing string
	// fixed is set by SignalCAConfigFixed until consumed.
	fixed bool
	// since and kind are when the failure being waited on began, and
	// the wait it shows as.
	since time.Time
	kind  domain.WaitKind
}

type certReview struct {
	cert   string
	review certificate.Review
}

func (b *caBoundary) remember(cert string, rv *certificate.Review) {
	if rv == nil {
		return
	}
	for i := range b.reviews {
		if b.reviews[i].cert == cert {
			b.reviews[i].review = *rv
			return
		}
	}
	b.reviews = append(b.reviews, certReview{cert: cert, review: *rv})
}

func (b *caBoundary) submitted(cert string) (certificate.Review, bool) {
	for _, r := range b.reviews {
		if r.cert == cert {
			return r.review, true
		}
	}
	return certificate.Review{}, false
}

// pollEvery is the review polling interval recorded with the policy bundle.
func (r *refund) pollEvery() time.Duration {
	if p := r.bundle.ReviewPoll; p > 0 {
		return p
	}
	return activities.DefaultReviewPoll
}

// caFailing shows an infrastructure failure at the CA in the refund's
// status and details, and as a wait on the CA (ca_credentials or
// ca_unreachable, for the certificate concerned if any, since the first
// failure, citing rule: the step's); the first time, it logs at error
// level and counts it.
func (r *refund) caFailing(ctx workflow.Context, errType, certID, rule, detail string) {
	waiting, metric, kind := waitingCAUnreachable, MetricCAUnreachable, domain.WaitCAUnreachable
	if errType == string(errs.Misconfigured) {
		waiting, metric, kind = waitingCACredentials, MetricCACredentialsRefused, domain.WaitCACredentials
	}
	if r.ca.failing != waiting {
		r.ca.failing = waiting
		workflow.GetLogger(ctx).Error(waiting, "order", r.in.OrderID, "error", detail)
		workflow.GetMetricsHandler(ctx).Counter(metric).Inc(1)
		r.record(ctx, "waiting", waiting+": "+detail)
	}
	r.st.Waiting = waiting + " (" + detail + "); retried on signal " + SignalCAConfigFixed + " or at the next scheduled attempt"
	// One failure at a time: refused credentials replace an outage and
	// the other way round. The wait is the episode's, as it began (the
	// latest error is in Waiting): a new error text is no new wait.
	if r.ca.since.IsZero() || r.ca.kind != kind {
		r.ca.since, r.ca.kind = workflow.Now(ctx), kind
	}
	if _, ok := r.waitingOn(kind, certID); !ok {
		r.unwait(domain.WaitCACredentials, "")
		r.unwait(domain.WaitCAUnreachable, "")
		r.wait(domain.Wait{Kind: kind, Certificate: certID, Since: r.ca.since, Rule: rule, Detail: detail})
	}
	r.publish(ctx)
}

// caRecovered clears a failure shown by caFailing.
func (r *refund) caRecovered(ctx workflow.Context, waiting string) {
	if r.ca.failing == "" {
		return
	}
	r.ca.failing, r.ca.since, r.ca.kind = "", time.Time{}, ""
	r.unwait(domain.WaitCACredentials, "")
	r.unwait(domain.WaitCAUnreachable, "")
	r.record(ctx, "resumed", "the CA answers again")
	r.st.Waiting = waiting
	r.publish(ctx)
}

// awaitInfra waits, after an infrastructure failure of a release step, for
// the operator's signal, the next scheduled attempt, or a cancel (CAN-1
// decides whether it is allowed). It reports false when the refund ended.
func (r *refund) awaitInfra(ctx workflow.Context, rep certificate.Report, rule string) bool {
	what := string(rep.Event)
	if rep.Certificate != "" {
		what += " of certificate " + rep.Certificate
	}
	r.caFailing(ctx, rep.ErrorType, rep.Certificate, rule, what+": "+rep.Error)
	_, _ = calls.AwaitWithTimeout(ctx, r.pollEvery(), func() bool { return r.ca.fixed || r.cancel != nil })
	r.ca.fixed = false
	if r.cancelIfAsked(ctx) {
		return false
	}
	// Between two attempts: a continued run tries the step again at once.
	return !r.continueAsNewNow(ctx, "")
}

// awaitReview waits for a revocation review (SSL-6). While the review is
// open it asks the CA on a schedule and once more right before refusing at
// the window end, so a result whose callback was lost is still applied,
// once, with the CA's decision time. Past the T-3 deadline (counted from
// the submission) it escalates and keeps waiting; when the window closes
// with the review still open, the refund is refused and the review goes on
// without it. Infrastructure failures are shown and retried, never the
// reason the refund ends.
func (r *refund) awaitReview(ctx workflow.Context, ps statemachine.PlanStep) bool {
	certID := ps.Certificate
	poll := r.pollEvery()
	nextPoll := workflow.Now(ctx).Add(poll)
	var waitStart time.Time
	if res := r.resuming(waitReview); res != nil {
		// Continued during the review: the next look at the CA is where
		// the previous run had it, and the wait began when it began.
		nextPoll = res.NextPoll
		if w, ok := r.waitingOn(domain.WaitCAReview, certID); ok {
			waitStart = w.Since
		}
	} else if !contains(r.commanded, certID) {
		// The review was under way before this refund: subscribe to the
		// certificate, and judge at once if it already ended.
		rep := r.command(ctx, statemachine.PlanStep{Certificate: certID, Kind: statemachine.StepAwaitCA})
		switch {
		case !rep.OK:
			r.refuse(ctx, []string{"SSL-6"}, fmt.Sprintf("certificate %s cannot be watched: %s", certID, rep.Error))
			return false
		case rep.State == statemachine.Revoked:
			return r.judgeReview(ctx, certID, certificate.Report{Certificate: certID, Event: statemachine.RevocationApproved, State: rep.State, At: rep.At})
		case rep.State != statemachine.ValidatingRevocation:
			r.refuse(ctx, []string{"SSL-6"}, fmt.Sprintf("SSL-6: certificate %s is %s, not under revocation review", certID, rep.State))
			return false
		}
		r.ca.remember(certID, rep.Review)
		// Its callback may have been lost long ago: ask the CA at once.
		nextPoll = workflow.Now(ctx)
	}
	r.deadlineFromSubmission(certID)
	var rep certificate.Report
	done := func() bool {
		var ok bool
		rep, ok = r.take(func(x certificate.Report) bool {
			return x.Certificate == certID && (x.Event == statemachine.RevocationApproved || x.Event == statemachine.RevocationRejected)
		})
		return ok
	}
	if c := r.holding(certID); c != nil && waitStart.IsZero() {
		// The CA answered while the revoke was under way: its result is
		// the certificate's next op. Take it as it comes, with no wait
		// (no timer, no wait shown for a review already over).
		_ = workflow.Await(ctx, func() bool { return done() || !c.ResultPending() })
		if rep.Certificate != "" {
			return r.reviewEnded(ctx, certID, rep, workflow.Now(ctx))
		}
	}
	waiting := fmt.Sprintf("revocation review of %s%s", certID, r.deadlineText())
	r.st.Waiting = waiting
	if waitStart.IsZero() {
		waitStart = workflow.Now(ctx)
	}
	r.wait(r.reviewWait(certID, "the CA's revocation review", waitStart))
	r.publish(ctx)
	for {
		r.nextPoll = nextPoll
		if r.continueAsNewNow(ctx, waitReview) {
			return false
		}
		rep = certificate.Report{}
		now := workflow.Now(ctx)
		ok, _ := calls.AwaitWithTimeout(ctx, r.nextReviewWake(now, nextPoll).Sub(now), func() bool {
			return r.ca.fixed || done() || r.continueAsNewDue(ctx)
		})
		if ok && rep.Certificate != "" {
			return r.reviewEnded(ctx, certID, rep, waitStart)
		}
		now = workflow.Now(ctx)
		if d := r.decision.ReviewDeadline; d != nil && !now.Before(d.At) && !r.st.Escalated {
			r.escalate(ctx, certID, *d)
			nextPoll = now
		}
		closing := r.decision.Window != nil && !now.Before(r.decision.Window.End)
		if !closing && now.Before(nextPoll) && !r.ca.fixed {
			continue
		}
		r.ca.fixed = false
		outcome := r.pollReview(ctx, certID, waiting)
		nextPoll = workflow.Now(ctx).Add(poll)
		switch {
		case outcome == pollDelivered && closing:
			// The certificate applies it and reports; the CA's decision
			// time judges it, not now.
			if ok, _ := calls.AwaitWithTimeout(ctx, reportWait, done); ok {
				return r.reviewEnded(ctx, certID, rep, waitStart)
			}
			return r.refuseLate(ctx, certID)
		case outcome == pollPending && closing:
			if done() {
				return r.reviewEnded(ctx, certID, rep, waitStart)
			}
			return r.refuseLate(ctx, certID)
		}
		// Delivered before the window end: the report follows. Failed:
		// shown, and asked again at the next poll, also past the window
		// end (a refund never ends on not knowing).
	}
}

func (r *refund) reviewEnded(ctx workflow.Context, certID string, rep certificate.Report, waitStart time.Time) bool {
	r.noteCertificate(rep)
	r.chained = rep.Done
	r.st.Waiting = ""
	r.unwait(domain.WaitCAReview, certID)
	obs.CAReviewWaited(workflow.GetMetricsHandler(ctx), string(rep.Event), workflow.Now(ctx).Sub(waitStart))
	return r.judgeReview(ctx, certID, rep)
}

// deadlineFromSubmission moves the T-3 deadline to count from when the
// revocation was submitted to the CA, which may precede the request (a
// console revocation under way) or follow it (a release that waited).
func (r *refund) deadlineFromSubmission(certID string) {
	rv, ok := r.ca.submitted(certID)
	if !ok || rv.SubmittedAt.IsZero() || r.cal == nil {
		return
	}
	if dl := policy.ReviewDeadline(r.bundle.Profile, r.cal, rv.SubmittedAt); dl != nil {
		r.decision.ReviewDeadline = dl
		if r.st.Decision != nil {
			d := *r.st.Decision
			d.ReviewDeadline = dl
			r.st.Decision = &d
		}
	}
}

// nextReviewWake is the earliest of the next poll, the window end (until
// it passed) and, until escalated, the T-3 deadline.
func (r *refund) nextReviewWake(now, nextPoll time.Time) time.Time {
	wake := nextPoll
	if w := r.decision.Window; w != nil && now.Before(w.End) && w.End.Before(wake) {
		wake = w.End
	}
	if d := r.decision.ReviewDeadline; d != nil && !r.st.Escalated && d.At.Before(wake) {
		wake = d.At
	}
	if wake.Before(now) {
		wake = now
	}
	return wake
}

// refuseLate refuses for a review still open at the window end (SSL-2,
// VAS-3, VAS-4): the refund can no longer succeed; the review goes on.
func (r *refund) refuseLate(ctx workflow.Context, certID string) bool {
	w := r.decision.Window
	// The review goes on without the refund: the certificate asks the CA
	// itself from now on, so its quota rule applies when it completes.
	cmd := certificate.Command{ReplyTo: r.id(), Disown: true, Poll: r.pollEvery()}
	if c := r.holding(certID); c != nil {
		// Held: handed over to a certificate workflow as the refund ends
		// (letGo), which asks the CA itself.
		c.Disown()
	} else if err := workflow.SignalExternalWorkflow(ctx, certificate.WorkflowID(certID), "", certificate.SignalCommand, cmd).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("certificate not told to follow its review alone", "certificate", certID, "error", err)
	}
	r.refuse(ctx, []string{w.LateReviewRule}, fmt.Sprintf("%s: the revocation review of %s was not completed by the end of the refund window (%s)",
		w.LateReviewRule, certID, w.End.Format(time.RFC3339)))
	return false
}

// escalate marks the refund for operators (T-3), saying why and when; the
// review's wait is due by the window end from now on. The poll that
// follows asks the CA.
func (r *refund) escalate(ctx workflow.Context, certID string, d calendar.Deadline) {
	now := workflow.Now(ctx)
	r.st.Escalated = true
	r.st.Escalation = &domain.Escalation{Rule: orDefault(d.Rule, "T-3"), Certificate: certID, At: now, Deadline: d.At,
		Reason: fmt.Sprintf("the CA's revocation review of %s is still open past its %s deadline %s (%s)", certID,
			orDefault(d.Rule, "T-3"), d.At.Format(time.RFC3339), d.Calendar)}
	if w, ok := r.waitingOn(domain.WaitCAReview, certID); ok {
		r.wait(r.reviewWait(certID, w.Detail, w.Since))
	}
	r.record(ctx, "escalated", fmt.Sprintf("T-3: review of %s past its deadline %s (%s)", certID, d.At.Format(time.RFC3339), d.Calendar))
	r.publish(ctx)
}

type pollOutcome int

const (
	pollPending pollOutcome = iota
	pollDelivered
	pollFailed
)

// pollReview asks the CA where the certificate's review stands and hands a
// decided result to the certificate's workflow, which applies it once
// (the event ID dedupes it against the callback) and reports.
func (r *refund) pollReview(ctx workflow.Context, certID, waiting string) pollOutcome {
	var st activities.ReviewStatus
	err := workflow.ExecuteActivity(calls.With(ctx, calls.Poll), ca.RevocationStatus, certID).Get(ctx, &st)
	switch t := calls.ErrorType(err); {
	case err != nil && t == string(errs.NotFound):
		// The CA knows no decision for it: as good as pending.
		r.caRecovered(ctx, waiting)
		return pollPending
	case err != nil && calls.IsInfraFailure(t):
		r.caFailing(ctx, t, certID, "SSL-6", fmt.Sprintf("revocation status of %s: %s", certID, calls.ErrorMessage(err)))
		return pollFailed
	case err != nil:
		r.caRecovered(ctx, waiting)
		return pollPending
	}
	r.caRecovered(ctx, waiting)
	if st.Result == "" {
		return pollPending
	}
	eventID := st.EventID
	if eventID == "" {
		eventID = fmt.Sprintf("poll/%s/%s/%s", certID, st.ReviewID, st.Result)
	}
	res := certificate.CAResult{EventID: eventID, Certificate: certID, Result: st.Result, Reason: st.Reason, At: st.At, ReviewID: st.ReviewID}
	if c := r.holding(certID); c != nil {
		c.Receive(ctx, res)
	} else if err := workflow.SignalExternalWorkflow(ctx, certificate.WorkflowID(certID), "", certificate.SignalCAResult, res).Get(ctx, nil); err != nil {
		r.caFailing(ctx, "", certID, "SSL-6", "delivering the CA's result to certificate "+certID+": "+err.Error())
		return pollFailed
	}
	workflow.GetMetricsHandler(ctx).Counter(MetricCAResultRecovered).Inc(1)
	r.record(ctx, "ca result asked", fmt.Sprintf("the CA says %s for the review of %s, decided %s", st.Result, certID, st.At.Format(time.RFC3339)))
	return pollDelivered
}
