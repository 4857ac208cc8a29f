package api

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedTypesAreCurrent regenerates the wire types from
// openapi.yaml with the module's oapi-codegen (go.mod's tool) into a
// temporary file and fails when api.gen.go differs: the document is the
// one source, and a change to it must come with `go generate ./api/`.
func TestGeneratedTypesAreCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs oapi-codegen")
	}
	out := filepath.Join(t.TempDir(), "api.gen.go")
	cmd := exec.Command("go", "tool", "oapi-codegen", "-config", "oapi-codegen.yaml", "-o", out, "openapi.yaml")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("api.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("api.gen.go is not what openapi.yaml generates: run `go generate ./api/` and commit the result")
	}
}
