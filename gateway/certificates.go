package gateway

import "github.com/certflow/certflow/api"

// CertificateView is the answer of GET /v1/certificates/{id} and of a
// certificate action; the routes are workflows/certificate's
// (certificate.API, mounted in routes).
type CertificateView = api.CertificateView
