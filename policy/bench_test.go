package policy

import (
	"testing"

	"github.com/certflow/certflow/statemachine"
)

// BenchmarkEvaluateThreeYearSSL evaluates a 3-year order whose first
// certificate is issued: release plan (SSL-8), T-3 deadline, SSL-9 checks
// and the breakdown.
func BenchmarkEvaluateThreeYearSSL(b *testing.B) {
	p := profile(b, "aliyun-intl")
	cal := weekends(b)
	o := sslOrder(b, issuedCert(b, "c-1", "2026-03-02T12:00:00+08:00"),
		cert("c-2", statemachine.NotActivated), cert("c-3", statemachine.NotActivated))
	o.ValidityYears, o.Price, o.Payment.Cash = 3, dec("270.00"), dec("270.00")
	now := at(b, "2026-03-03T10:00:00+08:00")
	req := confirmed()
	b.ReportAllocs()
	for b.Loop() {
		d, err := Evaluate(p, cal, o, req, now)
		if err != nil || !d.Eligible {
			b.Fatalf("%v %+v", err, d.Refusals)
		}
	}
}
