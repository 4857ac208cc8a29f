package refund

// ContinueAsNewAfterEvents is the refund's history bound, for the
// continue-as-new tests.
const ContinueAsNewAfterEvents = refundContinueAsNewAfterEvents
