package sim

import (
	"context"
	"testing"
)

// BenchmarkRunScenario measures one whole story (p05: request, revoke, a
// CA callback two days later, delete, pay) through the real workflows in
// the time-skipping environment.
func BenchmarkRunScenario(b *testing.B) {
	sc, err := LoadFile("../testdata/scenarios/p05-ssl-issued-revoked-in-window.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := Run(context.Background(), sc, Options{})
		if err != nil || res.Outcome != "refunded" {
			b.Fatalf("%v %s", err, res.Outcome)
		}
	}
}
