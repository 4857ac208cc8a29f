// Package certificate is one certificate's life outside and inside a
// refund, in one folder.
//
//   - http.go: the console's routes (status, actions), mounted by the
//     gateway; an action on a certificate a refund holds goes to that
//     refund (Holders).
//   - client.go: how those routes and the CA's callbacks reach a
//     certificate's workflow in Temporal.
//   - workflow.go: CertificateWorkflow (ID certificate/<id>), the
//     certificate's one writer while no refund holds it, and the Runner:
//     the certificate's logic (console actions, CA commands, CA results
//     deduplicated by event ID, revocation reviews, quota returns), which
//     a refund holding the certificate runs inside its own workflow as
//     the Runner's Host.
//   - activities.go: what it does outside (CertificateAction at the CA,
//     RevocationStatus, RecordCertificate, ReturnQuota, HoldCertificates,
//     LoadJudgement), over activities.Deps.
//   - api.go: its messages, types and search attributes, and the
//     protocol of its holder (SignalReport, SignalCAResult).
//
// This package does not import the refund's: the refund imports it.
package certificate
