package sim

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// scenarioDirs are the project's copy of the acceptance stories and, when
// this checkout sits in the workplace, the shared folder where new stories
// appear.
var scenarioDirs = []string{"../testdata/scenarios", "../../shared/scenarios"}

func TestScenarios(t *testing.T) {
	seen := map[string]bool{}
	for _, dir := range scenarioDirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(files) == 0 && dir == scenarioDirs[0] {
			t.Fatalf("no scenarios in %s", dir)
		}
		sort.Strings(files)
		for _, f := range files {
			f := f
			name := filepath.Base(dir) + "/" + strings.TrimSuffix(filepath.Base(f), ".json")
			if filepath.Base(filepath.Dir(f)) == "scenarios" && strings.Contains(dir, "shared") {
				name = "shared/" + strings.TrimSuffix(filepath.Base(f), ".json")
			}
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			key := string(body)
			if seen[key] && strings.Contains(dir, "shared") {
				continue // the same story as the project's copy
			}
			seen[key] = true
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				runScenarioFile(t, f)
			})
		}
	}
}

func runScenarioFile(t *testing.T, path string) {
	t.Helper()
	sc, err := LoadFile(path)
	if err != nil {
		t.Fatalf("loading: %v", err)
	}
	if len(sc.Expect) == 0 {
		t.Fatalf("%s has no expect", path)
	}
	got, err := Run(context.Background(), sc, Options{})
	if err != nil {
		t.Fatalf("running: %v", err)
	}
	diffs, err := Compare(sc.Expect, got)
	if err != nil {
		t.Fatalf("comparing: %v", err)
	}
	if len(diffs) > 0 {
		out, _ := json.MarshalIndent(got, "", "  ")
		t.Errorf("%s (rules %v):\n  %s\nresult:\n%s", sc.Name, sc.Rules, strings.Join(diffs, "\n  "), out)
	}
}
