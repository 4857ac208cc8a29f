package gateway

import "testing"

func TestRefundHolding(t *testing.T) {
	tests := map[string]struct {
		holder, order string
		ok            bool
	}{
		"a refund":                   {holder: "refund/o-1", order: "o-1", ok: true},
		"an order ID with a slash":   {holder: "refund/o/1", order: "o/1", ok: true},
		"the certificate's workflow": {holder: "certificate/c-1"},
		"nobody":                     {holder: ""},
		"a refund without an order":  {holder: "refund/"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			order, ok := refundHolding(tc.holder)
			if order != tc.order || ok != tc.ok {
				t.Errorf("refundHolding(%q) = %q, %v; want %q, %v", tc.holder, order, ok, tc.order, tc.ok)
			}
		})
	}
}
