package statemachine

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/*-states.md from the tables")

// diagramDoc is a docs/ page: a heading, a line on how it is made, and the
// diagram.
func diagramDoc(title, intro, diagram string) string {
	return "# " + title + "\n\n" + intro + "\n\n" +
		"Generated from the tables in `statemachine/` by\n" +
		"`go test ./statemachine -run TestDiagrams -update`; do not edit by hand.\n\n" +
		"```mermaid\n" + diagram + "```\n"
}

// TestDiagrams fails when docs/ drifts from the tables; -update rewrites
// the files.
func TestDiagrams(t *testing.T) {
	docs := map[string]struct{ file, text string }{
		"SSL-6 certificate-states.md": {"certificate-states.md", diagramDoc("Certificate states",
			"The certificate machine (SSL-6, SSL-8, SSL-9, TC-4). Edges are labelled with their event:\n"+
				"\"(CA)\" marks a CA review result, \"(irreversible, SSL-9)\" the revoke that cannot be undone,\n"+
				"\"(order cascade, SSL-8)\" the removal of a later year when the first is removed.",
			CertMermaid())},
		"CAN-1 order-states.md": {"order-states.md", diagramDoc("Refund order states",
			"The refund-order machine. \"(irreversible, CAN-1)\" marks the steps after which a cancel is refused.",
			OrderMermaid())},
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			path, want := filepath.Join("..", "docs", doc.file), doc.text
			if *update {
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./statemachine -run TestDiagrams -update)", err)
			}
			if string(got) != want {
				t.Errorf("%s is out of date: run go test ./statemachine -run TestDiagrams -update", path)
			}
		})
	}
}

// TestMermaid checks what the diagrams must show, independently of the
// files.
func TestMermaid(t *testing.T) {
	tests := map[string]struct {
		diagram string
		lines   []string
	}{
		"SSL-9 revoke is marked irreversible": {CertMermaid(), []string{"    issued --> validating_revocation: revoke (irreversible, SSL-9)"}},
		"SSL-6 CA results are marked": {CertMermaid(), []string{
			"    validating_revocation --> revoked: revocation_approved (CA)",
			"    validating_application --> validation_failed: resubmission_rejected (CA)",
		}},
		"SSL-8 cascade is marked":        {CertMermaid(), []string{"    not_activated --> removed: cascade_remove (order cascade, SSL-8)"}},
		"TC-4 pending_submission cancel": {CertMermaid(), []string{"    pending_submission --> removed: cancel"}},
		"SSL-6 removed is final":         {CertMermaid(), []string{"    removed --> [*]"}},
		"CAN-1 commit and pay are marked": {OrderMermaid(), []string{
			"    releasing --> committed: commit (irreversible, CAN-1)",
			"    committed --> paying: pay (irreversible, CAN-1)",
			"    awaiting_approval --> cancelled: cancel",
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if !strings.HasPrefix(tc.diagram, "stateDiagram-v2\n") {
				t.Errorf("diagram does not start with stateDiagram-v2")
			}
			lines := strings.Split(tc.diagram, "\n")
			for _, want := range tc.lines {
				if !containsLine(lines, want) {
					t.Errorf("no line %q in\n%s", want, tc.diagram)
				}
			}
		})
	}
	if strings.Contains(OrderMermaid(), "committed --> cancelled") || strings.Contains(OrderMermaid(), "paying --> cancelled") {
		t.Error("CAN-1: the order diagram cancels after an irreversible step")
	}
	if CertMermaid() != CertMermaid() || OrderMermaid() != OrderMermaid() {
		t.Error("diagrams differ between calls")
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
