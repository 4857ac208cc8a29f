package activities

import (
	"context"

	"go.temporal.io/sdk/activity"
)

// WriteRecords writes the records a workflow task made and sent with the
// activity it scheduled (recs nil: none), so that task needs no local
// activity of its own to write them (docs/orchestration.md, "Records ride
// with the next activity"). It runs before the activity's own call, so the
// store shows the step before the step is taken. A store that fails is
// not the activity's failure: it is logged, false is returned, and the
// workflow writes the records itself. Writing them again is harmless: a
// refund record older than the stored one is skipped, a certificate's
// state that did not change emits no event, a quota goes back once.
func WriteRecords(ctx context.Context, s Store, recs *Records) bool {
	if recs == nil || recs.Empty() {
		return false
	}
	if err := s.SaveRecords(ctx, *recs); err != nil {
		activity.GetLogger(ctx).Warn("records sent with the activity not written; the workflow writes them", "order", recs.OrderID, "error", err)
		return false
	}
	return true
}
