package statemachine

import "testing"

func BenchmarkCertTransition(b *testing.B) {
	b.Run("legal", func(b *testing.B) {
		for b.Loop() {
			if _, err := CertTransition(ValidatingRevocation, RevocationApproved); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("illegal", func(b *testing.B) {
		for b.Loop() {
			if _, err := CertTransition(ValidationFailed, Cancel); err == nil {
				b.Fatal("cancel from validation_failed allowed")
			}
		}
	})
}

func BenchmarkReleasePlan(b *testing.B) {
	for _, from := range []CertState{PendingApplication, ValidationFailed, Issued} {
		b.Run(string(from), func(b *testing.B) {
			for b.Loop() {
				if _, err := ReleasePlan("c", from); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOrderReleasePlan(b *testing.B) {
	certs := []CertRef{{"y1", Issued}, {"y2", NotActivated}, {"y3", NotActivated}}
	for b.Loop() {
		if _, err := OrderReleasePlan(certs); err != nil {
			b.Fatal(err)
		}
	}
}
