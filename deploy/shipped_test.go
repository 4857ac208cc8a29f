package deploy

import (
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

// shipped are the binaries certflow ships (the Dockerfile's worker,
// gateway and starter targets).
var shipped = []string{"./worker", "./cmd/gateway", "./starter"}

// testPackages are packages that exist for tests: assertion and mocking
// libraries, Temporal's time-skipping test environment and mocks, the
// standard library's testing, and certflow's own simulator and test
// environment (development tools import them; the shipped binaries must
// not).
var testPackages = []string{
	"github.com/stretchr/testify",
	"github.com/stretchr/objx",
	"github.com/golang/mock",
	"go.uber.org/mock",
	"go.temporal.io/sdk/testsuite",
	"go.temporal.io/sdk/mocks",
	"testing",
	"github.com/certflow/certflow/sim",
	"github.com/certflow/certflow/internal/testenv",
}

// sdkImporters are the only packages outside testPackages allowed to
// import one: the Temporal Go SDK's own. go.temporal.io/sdk/internal (the
// client and worker, which the worker and the gateway cannot do without)
// keeps the time-skipping environment's implementation in the same
// package, so it imports testify's mock and require and golang/mock; the
// same goes for the API module's generated gomock client and tally's
// mockgen model. Nothing certflow can move: temporalio/sdk-go#2630 asks
// for the split; v1.51.0, the newest release, still has it. Everything
// else, certflow's code first, must not link a test package.
var sdkImporters = []string{
	"go.temporal.io/sdk/internal",
	"go.temporal.io/api/workflowservicemock/v1",
	"github.com/uber-go/tally/v4",
}

func isTestPackage(path string) bool {
	for _, p := range testPackages {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// TestShippedBinariesLinkNoTestPackage runs `go list -deps` on each
// shipped binary and fails when a package other than a test package or
// the Temporal SDK's imports a test package. starter talks HTTP only and
// links none at all; the scenario simulator is cmd/certflow-sim.
func TestShippedBinariesLinkNoTestPackage(t *testing.T) {
	for _, bin := range shipped {
		t.Run(strings.TrimPrefix(bin, "./"), func(t *testing.T) {
			cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", bin)
			cmd.Dir = ".."
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", bin, err)
			}
			var linked, offending []string
			for line := range strings.Lines(string(out)) {
				fields := strings.Fields(line)
				if len(fields) == 0 {
					continue
				}
				pkg, imports := fields[0], fields[1:]
				if isTestPackage(pkg) {
					linked = append(linked, pkg)
				}
				if isTestPackage(pkg) || (bin != "./starter" && slices.Contains(sdkImporters, pkg)) {
					continue
				}
				for _, imp := range imports {
					if isTestPackage(imp) {
						offending = append(offending, pkg+" imports "+imp)
					}
				}
			}
			sort.Strings(offending)
			if len(offending) > 0 {
				t.Fatalf("%s links test packages:\n  %s", bin, strings.Join(offending, "\n  "))
			}
			if bin == "./starter" && len(linked) > 0 {
				t.Fatalf("starter links %v", linked)
			}
			for _, pkg := range linked {
				if strings.HasPrefix(pkg, "go.temporal.io/sdk/testsuite") || strings.HasPrefix(pkg, "github.com/certflow/") {
					t.Fatalf("%s links %s", bin, pkg)
				}
			}
		})
	}
}
