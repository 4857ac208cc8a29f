package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

func TestTemporalBinFromEnvironment(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "temporal")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CERTFLOW_TEMPORAL_BIN", bin)
	if got := TemporalBin(t); got != bin {
		t.Fatalf("TemporalBin = %s, want %s", got, bin)
	}
}

func TestModuleRootHoldsGoMod(t *testing.T) {
	// This package sits two folders below the module's root.
	want, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if got := moduleRoot(t); got != want {
		t.Fatalf("moduleRoot = %s, want %s", got, want)
	}
}
