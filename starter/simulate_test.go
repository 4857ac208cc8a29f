package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certflow/certflow/internal/cli"
)

// `starter simulate` runs the scenario through certflow-sim, built from the
// source tree, with no token and no gateway: the result JSON on stdout and
// 0 when it ran; an invalid file is 1 and a usage error 2, each reported by
// certflow-sim on one line.
func TestSimulateRunsCertflowSim(t *testing.T) {
	t.Setenv(EnvToken, "")
	scenarios, _ := filepath.Glob("../testdata/scenarios/*.json")
	if len(scenarios) == 0 {
		t.Fatal("no scenario in ../testdata/scenarios")
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		status int
		stdout string // a part of it
		stderr string
	}{
		{"ran", []string{"simulate", "-f", scenarios[0]}, 0, `"outcome"`, ""},
		{"checked", []string{"simulate", "-f", scenarios[0], "--check"}, 0, `"outcome"`, ""},
		{"invalid file", []string{"simulate", "-f", bad}, 1, "", "invalid scenario JSON"},
		{"usage", []string{"simulate", "--bogus"}, 2, "", "unknown flag --bogus"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errOut)
			if got := cli.Status(err); got != tc.status {
				t.Fatalf("status %d (%v), want %d; stderr %q", got, err, tc.status, errOut.String())
			}
			if !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errOut.String(), tc.stderr) {
				t.Fatalf("stdout %q, stderr %q; want %q and %q in them", out.String(), errOut.String(), tc.stdout, tc.stderr)
			}
			if tc.status == 0 {
				var res map[string]any
				if err := json.Unmarshal(out.Bytes(), &res); err != nil {
					t.Fatalf("stdout is not the result JSON: %v", err)
				}
			} else if lines := strings.Count(strings.TrimSpace(errOut.String()), "\n") + 1; lines != 1 {
				t.Fatalf("stderr has %d lines, want one: %q", lines, errOut.String())
			}
		})
	}
}

// Outside certflow's source tree, with no certflow-sim beside starter or on
// PATH, simulate says what it needs.
func TestSimulateOutsideTheSourceTree(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("PATH", t.TempDir())
	err := run(context.Background(), []string{"simulate", "-f", "x.json"}, &bytes.Buffer{}, &bytes.Buffer{})
	if cli.Status(err) != cli.StatusFailed || !strings.Contains(err.Error(), "certflow-sim") || !strings.Contains(err.Error(), "source tree") {
		t.Fatalf("error %v, want one naming certflow-sim and the source tree", err)
	}
}
