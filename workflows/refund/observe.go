package refund

import (
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/internal/obs"
)

// observe is the refund's one log-and-metric point, called by record for
// every milestone (requested, accepted, approved, escalated, pay failed,
// paid, and the outcome). The SDK's workflow logger and metrics handler
// are silent during replay, so each milestone is logged and counted once.
// Levels: INFO for the milestones, WARN for a designed detour (a payment
// falling back to the balance, GEN-4), none for a wait on a failing CA
// (caFailing logs it at ERROR), ERROR for an escalation (T-3: an
// operator must chase the CA), once per refund.
func (r *refund) observe(ctx workflow.Context, step, detail string) {
	kv := []any{"order_id", r.in.OrderID, "refund_workflow_id", r.id(), "step", step, "detail", detail}
	if len(r.st.Certificates) > 0 {
		ids := make([]string, len(r.st.Certificates))
		for i, c := range r.st.Certificates {
			ids[i] = c.ID
		}
		kv = append(kv, "certificate_ids", ids)
	}
	outcome := r.ended() && step == string(r.st.Outcome)
	if outcome {
		kv = append(kv, "rules", r.st.Reasons)
	}
	log := workflow.GetLogger(ctx)
	switch step {
	case obs.StepPayFailed:
		log.Warn("refund falls back to the account balance", kv...)
	case "waiting":
		// caFailing logged it already, at ERROR, with its own counter.
	case obs.StepEscalated:
		log.Error("refund escalated: revocation review past its deadline", kv...)
	default:
		log.Info("refund "+step, kv...)
	}
	h := workflow.GetMetricsHandler(ctx)
	obs.RefundMilestone(h, step)
	if outcome {
		obs.RefundFinished(h, step, r.st.Reasons)
	}
}
