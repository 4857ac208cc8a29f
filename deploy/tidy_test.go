package deploy

import (
	"os/exec"
	"testing"
)

// TestGoModTidy fails when `go mod tidy -diff` would change go.mod or
// go.sum: a direct dependency marked indirect, one missing, or one no
// longer used. The diff is the failure message.
func TestGoModTidy(t *testing.T) {
	cmd := exec.Command("go", "mod", "tidy", "-diff")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go mod tidy -diff: %v\n%s\nrun `go mod tidy` and commit go.mod and go.sum", err, out)
	}
}
