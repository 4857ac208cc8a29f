package certflow_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryRuleIsCitedByATest keeps the rule catalogue and the tests in
// step: every rule ID of RULES.md (the project's copy, and the workplace's
// when present) must appear in some _test.go file.
func TestEveryRuleIsCitedByATest(t *testing.T) {
	var tests strings.Builder
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin" || d.Name() == ".run") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, "_test.go") && path != "rules_test.go" {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			tests.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	idLine := regexp.MustCompile(`(?m)^- ([A-Z]{1,4}-[0-9]+)\b`)
	for _, catalogue := range []string{"testdata/RULES.md", "../shared/RULES.md"} {
		b, err := os.ReadFile(catalogue)
		if err != nil {
			if catalogue == "testdata/RULES.md" {
				t.Fatal(err)
			}
			continue
		}
		ids := idLine.FindAllStringSubmatch(string(b), -1)
		if len(ids) < 40 {
			t.Fatalf("%s: found only %d rule IDs", catalogue, len(ids))
		}
		cited := regexp.MustCompile(`[A-Z]{1,4}-[0-9]+`).FindAllString(tests.String(), -1)
		seen := map[string]bool{}
		for _, c := range cited {
			seen[c] = true
		}
		for _, m := range ids {
			if !seen[m[1]] {
				t.Errorf("%s: rule %s is not cited by any test", catalogue, m[1])
			}
		}
	}
}

// TestReadmeDiagramsMatchTheCode keeps the state diagrams in the README in
// step with docs/, which a statemachine test keeps in step with the code.
func TestReadmeDiagramsMatchTheCode(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```mermaid.*?```")
	for _, doc := range []string{"docs/certificate-states.md", "docs/order-states.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		d := block.Find(b)
		if d == nil || !strings.Contains(string(readme), string(d)) {
			t.Errorf("README.md does not show the current diagram of %s; copy it from there", doc)
		}
	}
}
