package obs

import (
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
)

// Names of the domain metrics, as the SDK handler receives them (the
// Prometheus names add _total to counters and _seconds to timers). The
// dashboard (deploy/grafana) queries these; deploy's test holds the two
// together.
const (
	// MetricRefunds counts finished refunds by outcome (refunded, rejected,
	// cancelled) and rule (the rule IDs that refused it, "none" otherwise).
	MetricRefunds = "certflow_refunds"
	// MetricRefundMilestones counts refund milestones by step (accepted,
	// approved, escalated, pay failed, paid, ...).
	MetricRefundMilestones = "certflow_refund_milestones"
	// MetricCAReviewWait is the time a refund waited for the CA's
	// revocation review, by result.
	MetricCAReviewWait = "certflow_ca_review_wait"
	// MetricEscalations counts reviews escalated past their T-3 deadline.
	MetricEscalations = "certflow_escalations"
	// MetricPaymentFallbacks counts refunds whose original method failed
	// and went to the account balance (GEN-4).
	MetricPaymentFallbacks = "certflow_payment_fallbacks"
	// MetricActivityRetries counts activity attempts after the first, by
	// activity type: the infrastructure being retried (CA, store,
	// payments).
	MetricActivityRetries = "certflow_activity_retries"
	// MetricDesignedDetours counts activity outcomes that are designed,
	// not failures (a resubmission refused, an original method failed), by
	// error type.
	MetricDesignedDetours = "certflow_designed_detours"
	// MetricCallbacks counts CA callbacks by result (accepted, refused) and
	// reason.
	MetricCallbacks = "certflow_ca_callbacks"
)

// Label keys of the domain metrics.
const (
	LabelOutcome  = "outcome"
	LabelRule     = "rule"
	LabelStep     = "step"
	LabelResult   = "result"
	LabelReason   = "reason"
	LabelActivity = "activity"
	LabelType     = "error_type"
)

// RefundFinished records a finished refund: one count per refusing rule
// (so "refused by SSL-6" is one series), or rule "none".
func RefundFinished(h client.MetricsHandler, outcome string, rules []string) {
	if len(rules) == 0 {
		rules = []string{"none"}
	}
	rules = slices.Clone(rules)
	slices.Sort(rules)
	for _, r := range slices.Compact(rules) {
		h.WithTags(map[string]string{LabelOutcome: outcome, LabelRule: r}).Counter(MetricRefunds).Inc(1)
	}
}

// RefundMilestone records a refund's milestone step; an escalation and a
// payment fallback also count on their own series.
func RefundMilestone(h client.MetricsHandler, step string) {
	h.WithTags(map[string]string{LabelStep: metricLabel(step)}).Counter(MetricRefundMilestones).Inc(1)
	switch step {
	case StepEscalated:
		h.Counter(MetricEscalations).Inc(1)
	case StepPayFailed:
		h.Counter(MetricPaymentFallbacks).Inc(1)
	}
}

// Milestone steps with a metric or a log level of their own.
const (
	StepEscalated = "escalated"
	StepPayFailed = "pay failed"
)

// CAReviewWaited records how long a refund waited for a CA review that
// ended with result.
func CAReviewWaited(h client.MetricsHandler, result string, d time.Duration) {
	h.WithTags(map[string]string{LabelResult: metricLabel(result)}).Timer(MetricCAReviewWait).Record(d)
}

// ActivityRetried records an activity attempt after the first.
func ActivityRetried(h client.MetricsHandler, activityType string) {
	h.WithTags(map[string]string{LabelActivity: activityType}).Counter(MetricActivityRetries).Inc(1)
}

// DesignedDetour records an activity's designed non-success outcome.
func DesignedDetour(h client.MetricsHandler, errorType string) {
	h.WithTags(map[string]string{LabelType: errorType}).Counter(MetricDesignedDetours).Inc(1)
}

// CallbackHandled records a CA callback: result is "accepted" or
// "refused", reason says why (the error code, or "ok").
func CallbackHandled(h client.MetricsHandler, result, reason string) {
	h.WithTags(map[string]string{LabelResult: result, LabelReason: metricLabel(reason)}).Counter(MetricCallbacks).Inc(1)
}

// metricLabel keeps a label value short and free of spaces.
func metricLabel(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "_")
	if s == "" {
		return "none"
	}
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}
