package statemachine

import (
	"slices"
	"strings"
)

// CertMermaid returns the certificate machine as Mermaid stateDiagram-v2
// text, generated from the table: the start states, one edge per table row
// and source in table order labelled with its event, then the final state.
// CA results are labelled "(CA)", the irreversible revoke "(irreversible,
// SSL-9)" and the order-level cascade "(order cascade, SSL-8)".
func CertMermaid() string {
	return mermaid(certMachine, certInitial, certLabel)
}

// OrderMermaid returns the refund-order machine as Mermaid stateDiagram-v2
// text, generated from the table as CertMermaid is. Irreversible steps,
// after which CAN-1 refuses a cancel, are labelled "(irreversible, CAN-1)".
func OrderMermaid() string {
	return mermaid(orderMachine, []OrderState{OrderPaid}, orderLabel)
}

func certLabel(ev CertEvent) string {
	info, _ := certInfo(ev)
	switch {
	case info.irreversible:
		return string(ev) + " (irreversible, SSL-9)"
	case info.class == caResult:
		return string(ev) + " (CA)"
	case info.class == orderConsequence:
		return string(ev) + " (order cascade, SSL-8)"
	default:
		return string(ev)
	}
}

func orderLabel(ev OrderEvent) string {
	if slices.Contains(orderIrreversible, ev) {
		return string(ev) + " (irreversible, CAN-1)"
	}
	return string(ev)
}

func mermaid[S, E ~string](m *machine[S, E], initial []S, label func(E) string) string {
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	for _, s := range initial {
		b.WriteString("    [*] --> " + string(s) + "\n")
	}
	for _, e := range m.table {
		for _, src := range e.from {
			b.WriteString("    " + string(src) + " --> " + string(e.to) + ": " + label(e.event) + "\n")
		}
	}
	for _, s := range m.states {
		if m.final(s) {
			b.WriteString("    " + string(s) + " --> [*]\n")
		}
	}
	return b.String()
}
