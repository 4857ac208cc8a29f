package certificate

import (
	"fmt"
	"time"

	"github.com/certflow/certflow/statemachine"
)

// The Web UI shows a workflow's Current Details in a frame about 106 px
// high: only its first line is sure to be read. Headline and
// certificateHeadline make that line state the whole situation; the
// details follow below it.

// headlineTime is how a headline writes a time: to the minute, in UTC.
const headlineTime = "2006-01-02 15:04 UTC"

func stamp(t time.Time) string { return t.UTC().Format(headlineTime) }

// certificateHeadline is the first line of a certificate workflow's
// Current Details: its state and what it waits for.
func certificateHeadline(c Status, owner string) string {
	of := fmt.Sprintf(" (certificate %s of order %s)", c.ID, c.OrderID)
	switch c.State {
	case statemachine.ValidatingRevocation:
		line := "⏳ Revocation under review at the CA"
		if rv := c.Review; rv != nil && !rv.SubmittedAt.IsZero() {
			line += " since " + stamp(rv.SubmittedAt)
		}
		if owner != "" {
			line += ", for " + owner
		} else {
			line += ", asking the CA on a schedule"
		}
		return line + of
	case statemachine.ValidatingApplication:
		return "⏳ Application under validation at the CA" + of
	case statemachine.Removed:
		return "🗑 Removed" + of
	case statemachine.Revoked:
		return "⛔ Revoked" + of
	case statemachine.Issued:
		return "✅ Issued" + of
	case statemachine.ValidationFailed:
		return "👤 Validation failed: waiting for the customer to resubmit" + of
	}
	return "● " + string(c.State) + of
}
