// Package refund is the refund of one order, whole: from the console's
// request to the money, in one folder.
//
//   - http.go: the console's routes (eligibility, the request, its
//     status, cancel, approve), mounted by the gateway; the request is
//     judged once by the rules before anything starts, recorded in the
//     store and answered from it; StartRecorded is how the gateway's
//     dispatcher starts it.
//   - client.go: how those routes and the CA's callbacks reach a refund
//     in Temporal (start or join, status, updates, signals).
//   - workflow.go: RefundWorkflow (ID refund/<order>). It follows the
//     policy's steps: load and hold the order's certificates, release
//     them by the release plan, wait for reviews (review.go), approvals
//     and the customer, pay, and let go of its holds (hold.go). The order
//     state machine (statemachine) owns its lifecycle; an illegal event
//     fails the workflow task.
//   - hold.go: who writes a certificate, and the one route of a CA result.
//     The refund runs the certificates it holds itself, each a
//     certificate.Runner with the refund as its Host.
//   - activities.go: what it does outside (LoadAndHold, Pay, Reset,
//     SaveRecords, ReleaseCertificates), over activities.Deps.
//   - api.go: its messages (updates, signals, query), types and search
//     attributes; carry.go: continue-as-new; waiting.go, headline.go,
//     observe.go: what it shows (waits, the Web UI's first line, metrics).
//
// Decisions are the rules' (policy, statemachine, money, calendar): the
// workflow only orchestrates, deterministically.
package refund
