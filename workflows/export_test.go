package workflows

// RefundContinueAsNewAfterEvents is the refund's history bound, for the
// continue-as-new tests.
const RefundContinueAsNewAfterEvents = refundContinueAsNewAfterEvents
