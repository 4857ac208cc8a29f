// Package casim is a simulated certificate authority: the HTTP service that
// certflow's caclient talks to in demos and tests. It owns the CA side of
// the protocol described in PROTOCOL.md beside this file, and nothing else:
// it keeps no console state and enforces no state machine beyond what a CA
// would refuse.
//
// The protocol, in short (JSON bodies; every endpoint but GET /healthz
// requires "Authorization: Bearer <token>", else 401):
//
//	POST /v1/certificates/{id}/actions/{action}  submit|withdraw|cancel|resubmit|delete|activate
//	     → 200 {"status":"accepted"}
//	     → 409 {"error":{"code":"resubmission_rejected","message":"<CA's reason>"}} (SSL-6)
//	     → 409 {"error":{"code":"certificate_removed",...}} after cancel or delete
//	POST /v1/certificates/{id}/revocations {"reason"}
//	     → 202 {"review_id","status","requested_at"}; the result is posted later to the callback URL
//	GET  /v1/certificates/{id}/revocation
//	     → 200 {"review_id","status":"pending|approved|rejected","event_id","reason","requested_at","decided_at"}
//	     → 404 when the certificate has no revocation
//	POST /v1/orders/{id}/reset {"product":"https_gateway|private_ca"} → 200 (GW-3, PCA-3)
//	POST /admin/certificates/{id}/behaviour {"revocation":"approve|reject|never","rejection_reason","resubmit_rejected"}
//	GET  /admin/certificates/{id}
//	POST /admin/callbacks/{event_id}/resend → 200 {"event_id","status_code","delivered"}
//
// Guarantees:
//
//   - Certificates are created on first mention. With Config.DBPath they
//     are written through to casim's own SQLite file, with their reviews,
//     behaviours and the callbacks still being delivered: a restarted
//     simulator decides open reviews on time and retries undelivered
//     callbacks. Without it everything is in memory.
//   - Every call is idempotent per certificate and action: an action accepted
//     once is accepted again; a second revocation returns the first review.
//     An Idempotency-Key header is accepted on every POST; reusing one key
//     on a different path is refused with 409 idempotency_key_reused.
//   - A revocation review is decided ReviewDelay after it was opened, by the
//     certificate's behaviour at that moment (approve by default). A
//     rejected review may be asked again (a new review). The
//     decision is visible through GET .../revocation at once, and posted to
//     the callback URL signed Standard-Webhooks style (webhook-id,
//     webhook-timestamp, webhook-signature headers). Delivery is retried
//     with exponential backoff on 5xx answers and network errors and stops
//     on any 2xx or 4xx, or after Config.Retry.Attempts; every attempt
//     carries the same event ID and body, which names the review
//     (review_id).
//   - Time and delays come from a Clock, so tests drive them with a
//     FakeClock; Close (or the end of Serve's context) stops every review
//     and delivery in flight.
package casim
