package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/certflow/certflow/internal/cli"
)

// simulateCmd is `starter simulate -f FILE.json [--check]`, the command the
// scenario format names (testdata/scenarios/FORMAT.md). The simulator runs
// Temporal's time-skipping test environment, which starter, a shipped
// binary, must not link (deploy/shipped_test.go); so simulate runs the
// development tool cmd/certflow-sim with the same arguments, and its
// output and exit status are certflow-sim's own: the result JSON on stdout
// and 0 when the scenario ran; one line on stderr and 1 when the file is
// invalid (or, with --check, the result differs from its expect); 2 for a
// usage error.
//
// certflow-sim is found next to the starter binary, then on PATH, and
// otherwise built from the source tree starter runs in (`go run ./starter
// simulate ...` from the repository: about two seconds on a warm build
// cache).
type simulateCmd struct {
	Args []string `arg:"" optional:"" passthrough:"" help:"certflow-sim's arguments: -f FILE.json [--check] (certflow-sim --help)."`
}

// simulatorName is the development tool simulate runs.
const simulatorName = "certflow-sim"

// modulePath is certflow's Go module, whose source tree holds the
// simulator's package.
const modulePath = "github.com/certflow/certflow"

// runSimulate runs certflow-sim with args, printing on stdout and stderr
// (its standard input is starter's). A failed certflow-sim is *cli.Exited with its status (it
// reported on stderr itself).
func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	bin, cleanup, err := findSimulator(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	cmd := exec.CommandContext(ctx, bin, append([]string{"simulate"}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() > 0 {
		return &cli.Exited{Status: exit.ExitCode()}
	}
	if err != nil {
		return fmt.Errorf("simulate: running %s: %w", bin, err)
	}
	return nil
}

// findSimulator is the certflow-sim to run, and what to remove after: one
// beside starter's own binary or on PATH, else one built from the source
// tree around the working directory into a temporary folder.
func findSimulator(ctx context.Context) (string, func(), error) {
	none := func() {}
	if self, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(self), simulatorName)
		if fi, err := os.Stat(beside); err == nil && !fi.IsDir() {
			return beside, none, nil
		}
	}
	if p, err := exec.LookPath(simulatorName); err == nil {
		return p, none, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", none, err
	}
	root, ok := moduleRoot(wd)
	if !ok {
		return "", none, fmt.Errorf("simulate needs %s: none beside starter or on PATH, and %s is not in certflow's source tree to build it from (go build ./cmd/%s)", simulatorName, wd, simulatorName)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", none, fmt.Errorf("simulate builds %s from %s and needs the go command: %w", simulatorName, root, err)
	}
	dir, err := os.MkdirTemp("", "certflow-sim-")
	if err != nil {
		return "", none, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	bin := filepath.Join(dir, simulatorName)
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/"+simulatorName)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		cleanup()
		return "", none, fmt.Errorf("simulate: building %s in %s: %v: %s", simulatorName, root, err, strings.TrimSpace(string(out)))
	}
	return bin, cleanup, nil
}

// moduleRoot is the nearest folder at or above dir whose go.mod declares
// certflow's module.
func moduleRoot(dir string) (string, bool) {
	for {
		if declaresModule(filepath.Join(dir, "go.mod")) {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// declaresModule reports whether the go.mod at path is certflow's.
func declaresModule(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == modulePath
		}
	}
	return false
}
