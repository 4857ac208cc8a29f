package sim

import (
	"context"
	"testing"
	"time"

	"github.com/certflow/certflow/activities"
)

// The fake store keeps the newer of two refund records, as the store does
// (updated_at): a record that rode with an activity and lands after a
// later one does not replace it.
func TestFakeStoreKeepsTheNewerRefundRecord(t *testing.T) {
	ctx := context.Background()
	s := NewFakeStore()
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	newer := activities.RefundRecord{OrderID: "o-1", State: "refunded", UpdatedAt: t0.Add(time.Second)}
	older := activities.RefundRecord{OrderID: "o-1", State: "paying", UpdatedAt: t0}
	for _, rec := range []activities.RefundRecord{newer, older} {
		if err := s.SaveRefund(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.Refund("o-1"); got.State != "refunded" {
		t.Fatalf("stored %q after an older record, want the newer refunded", got.State)
	}
}
