package deploy

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The import rules of docs/ARCHITECTURE.md. This file is their one source:
// the document names each package's layer and the known exceptions, and
// TestArchitectureMapNamesEveryPackage fails when the two disagree.

const module = "github.com/certflow/certflow"

// A layer is a set of packages with one import rule: the certflow layers
// it may import (its own included when listed) and the import paths,
// standard or third-party, it must not.
type layer struct {
	may    []string // certflow layers it may import
	forbid []string // import path prefixes it must not import
}

var (
	noTemporal = []string{"go.temporal.io"}
	noHTTP     = []string{"net/http"}
	noDatabase = []string{"database/sql", "github.com/jackc/pgx", "modernc.org/sqlite", "github.com/pressly/goose"}
	noTests    = []string{"testing", "github.com/stretchr/testify", "go.temporal.io/sdk/testsuite", "go.temporal.io/sdk/mocks"}
)

func join(lists ...[]string) []string { return slices.Concat(lists...) }

// layers, bottom to top. "dev" may import anything and nothing but dev may
// import it; "assembly" may import everything except dev.
var layers = map[string]layer{
	"rules": {
		may:    []string{"rules"},
		forbid: join(noTemporal, noHTTP, noDatabase, noTests),
	},
	"ports": {
		may:    []string{"rules", "ports"},
		forbid: join(noTemporal, noHTTP, noDatabase, noTests),
	},
	"api": {
		may:    []string{"rules"},
		forbid: join(noTemporal, noHTTP, noDatabase, noTests),
	},
	"support": {
		may:    []string{"rules", "support"},
		forbid: join(noDatabase, noTests),
	},
	"store": {
		may:    []string{"rules", "ports", "store"},
		forbid: join(noTemporal, noHTTP, noTests),
	},
	"activities": {
		may:    []string{"rules", "ports", "support", "activities"},
		forbid: join(noDatabase, noTests, []string{"go.temporal.io/sdk/workflow", "go.temporal.io/sdk/worker", "go.temporal.io/sdk/client"}),
	},
	// A process's folder holds its workflow, its activities, its API
	// handlers and its client: everything but the database (the store
	// comes in through ports) and the worker (assembly). Determinism of
	// the workflow code is workflowcheck's to hold (make workflowcheck).
	"processes": {
		may:    []string{"rules", "ports", "api", "support", "activities", "processes"},
		forbid: join(noDatabase, noTests, []string{"go.temporal.io/sdk/worker"}),
	},
	"edges": {
		may:    []string{"rules", "ports", "api", "support", "processes"},
		forbid: join(noDatabase, noTests, []string{"go.temporal.io/sdk/workflow", "go.temporal.io/sdk/worker", "go.temporal.io/sdk/activity"}),
	},
	"assembly": {
		may:    []string{"rules", "ports", "api", "support", "store", "activities", "processes", "edges", "assembly"},
		forbid: noTests,
	},
	"dev": {
		may: []string{"rules", "ports", "api", "support", "store", "activities", "processes", "edges", "assembly", "dev"},
	},
}

// packages names each package's layer, by its path in the module ("certflow"
// is the module root).
var packages = map[string]string{
	"statemachine": "rules",
	"policy":       "rules",
	"money":        "rules",
	"calendar":     "rules",
	"intake":       "rules",
	"domain":       "rules",
	"errs":         "rules",

	"ports": "ports",

	"api": "api",

	"errs/errtemporal":     "support",
	"webhook":              "support",
	"internal/httpjson":    "support",
	"internal/httpapi":     "support",
	"internal/tlsfiles":    "support",
	"internal/obs":         "support",
	"internal/temporalx":   "support",
	"internal/procs":       "support",
	"internal/app/program": "support",
	"internal/cli":         "support",

	"store":            "store",
	"store/dialect":    "store",
	"store/migrations": "store",
	"store/postgres":   "store",
	"store/sqlite":     "store",

	"activities":           "activities",
	"activities/caclient":  "activities",
	"activities/payclient": "activities",

	"workflows":                "processes",
	"workflows/refund":         "processes",
	"workflows/certificate":    "processes",
	"workflows/internal/calls": "processes",

	"gateway":  "edges",
	"ops":      "edges",
	"outbound": "edges",

	"worker":          "assembly",
	"internal/app":    "assembly",
	"cmd/gateway":     "assembly",
	"starter":         "assembly",
	"cmd/healthcheck": "assembly",

	"certflow":                  "dev",
	"deploy":                    "dev",
	"e2e":                       "dev",
	"sim":                       "dev",
	"bench":                     "dev",
	"casim":                     "dev",
	"paysim":                    "dev",
	"errs/errstest":             "dev",
	"internal/testenv":          "dev",
	"internal/tlsfiles/tlstest": "dev",
	"cmd/certflow-dev":          "dev",
	"cmd/certflow-sim":          "dev",
	"cmd/eventsink":             "dev",
	"cmd/casim":                 "dev",
	"cmd/paysim":                "dev",
	"cmd/bench-e2e":             "dev",
	"cmd/webui-shot":            "dev",
}

// alsoForbid narrows a layer's rule for one package.
var alsoForbid = map[string][]string{
	// The activities talk to the CA and the payment provider only through
	// their ports; the HTTP lives in caclient and payclient.
	"activities": noHTTP,
	// A process's activities reach the CA and the payment provider
	// through the ports in activities; the HTTP clients are the worker's
	// to inject.
	"workflows":             {module + "/activities/caclient", module + "/activities/payclient"},
	"workflows/refund":      {module + "/activities/caclient", module + "/activities/payclient"},
	"workflows/certificate": {module + "/activities/caclient", module + "/activities/payclient"},
}

// exceptions are today's imports that break the rules above, each listed
// in docs/ARCHITECTURE.md under "Known exceptions". An
// exception that is no longer used fails the test: delete it here and in
// the document.
var exceptions = map[[2]string]string{}

// shippedBinaries are the binaries in certflow's images; no dev package may
// be in their dependencies, directly or not.
var shippedBinaries = []string{"./worker", "./cmd/gateway", "./starter", "./cmd/healthcheck"}

type listed struct {
	ImportPath string
	Imports    []string
}

// goList runs `go list -json` in the module root.
func goList(t *testing.T, args ...string) []listed {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = ".."
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	var pkgs []listed
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// rel is a certflow package's path in the module, "certflow" for the root;
// ok is false for a package outside the module.
func rel(path string) (string, bool) {
	if path == module {
		return "certflow", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

func hasPrefix(path string, prefixes []string) (string, bool) {
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return p, true
		}
	}
	return "", false
}

// violations checks pkgs against the rules and returns each broken rule,
// and the exceptions that were used.
func violations(pkgs []listed) (broken []string, used map[[2]string]bool) {
	used = map[[2]string]bool{}
	for _, p := range pkgs {
		from, _ := rel(p.ImportPath)
		lname, ok := packages[from]
		if !ok {
			broken = append(broken, from+": not in the rule table (deploy/imports_test.go) nor docs/ARCHITECTURE.md")
			continue
		}
		l := layers[lname]
		for _, imp := range p.Imports {
			if pre, bad := hasPrefix(imp, append(slices.Clone(l.forbid), alsoForbid[from]...)); bad {
				key := [2]string{from, strings.TrimPrefix(imp, module+"/")}
				if _, ok := exceptions[key]; ok {
					used[key] = true
					continue
				}
				broken = append(broken, from+" ("+lname+") imports "+imp+": "+lname+" must not import "+pre)
				continue
			}
			to, ok := rel(imp)
			if !ok {
				continue
			}
			tl, ok := packages[to]
			if !ok {
				continue // reported as a package of its own
			}
			if slices.Contains(l.may, tl) {
				continue
			}
			key := [2]string{from, to}
			if _, ok := exceptions[key]; ok {
				used[key] = true
				continue
			}
			broken = append(broken, from+" ("+lname+") imports "+to+" ("+tl+"): "+lname+" may import only "+strings.Join(l.may, ", "))
		}
	}
	sort.Strings(broken)
	return broken, used
}

// TestImportRules holds every package's non-test imports to its layer's
// rule (docs/ARCHITECTURE.md), with the known exceptions.
func TestImportRules(t *testing.T) {
	broken, used := violations(goList(t, "./..."))
	for _, b := range broken {
		t.Error(b)
	}
	for key := range exceptions {
		if !used[key] {
			t.Errorf("exception %s → %s is no longer needed: delete it from deploy/imports_test.go and docs/ARCHITECTURE.md", key[0], key[1])
		}
	}
}

// TestImportRulesCatchAViolation proves the check bites: a rule package
// that imported Temporal, a workflow that imported the store, and an edge
// that imported a dev tool are each reported.
func TestImportRulesCatchAViolation(t *testing.T) {
	broken, _ := violations([]listed{
		{ImportPath: module + "/policy", Imports: []string{"go.temporal.io/sdk/workflow"}},
		{ImportPath: module + "/workflows", Imports: []string{module + "/store"}},
		{ImportPath: module + "/gateway", Imports: []string{module + "/sim"}},
		{ImportPath: module + "/worker", Imports: []string{"github.com/stretchr/testify/require"}},
		{ImportPath: module + "/newpkg"},
	})
	if len(broken) != 5 {
		t.Fatalf("want 5 violations, got %d:\n  %s", len(broken), strings.Join(broken, "\n  "))
	}
}

// TestShippedBinariesLinkNoDevPackage runs `go list -deps` on each shipped
// binary: no package of the dev layer may be linked, however indirectly.
func TestShippedBinariesLinkNoDevPackage(t *testing.T) {
	for _, bin := range shippedBinaries {
		for _, p := range goList(t, "-deps", bin) {
			if r, ok := rel(p.ImportPath); ok && packages[r] == "dev" {
				t.Errorf("%s links %s, a development tool", bin, r)
			}
		}
	}
}

// TestArchitectureMapNamesEveryPackage keeps docs/ARCHITECTURE.md's table
// and the rule table in step: every package of `go list ./...` is named
// in exactly one row, in the layer the rules give it, and every exception
// is listed in the document.
func TestArchitectureMapNamesEveryPackage(t *testing.T) {
	b, err := os.ReadFile("../docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	section := func(title string) string {
		_, after, ok := strings.Cut(doc, "\n## "+title+"\n")
		if !ok {
			t.Fatalf("docs/ARCHITECTURE.md has no section %q", title)
		}
		before, _, _ := strings.Cut(after, "\n## ")
		return before
	}
	named := map[string]string{} // package → layer in the document
	tick := regexp.MustCompile("`([^`]+)`")
	for line := range strings.Lines(section("Packages")) {
		cols := strings.Split(line, "|")
		if len(cols) < 5 || strings.HasPrefix(strings.TrimSpace(cols[1]), "---") || strings.TrimSpace(cols[1]) == "layer" {
			continue
		}
		lname := strings.Trim(strings.TrimSpace(cols[1]), "*")
		if _, ok := layers[lname]; !ok {
			t.Errorf("docs/ARCHITECTURE.md: row of unknown layer %q", lname)
			continue
		}
		for _, m := range tick.FindAllStringSubmatch(cols[2], -1) {
			pkg := strings.TrimSuffix(m[1], "/")
			if prev, dup := named[pkg]; dup {
				t.Errorf("docs/ARCHITECTURE.md: %s is named twice (%s, %s)", pkg, prev, lname)
			}
			named[pkg] = lname
		}
	}
	inModule := map[string]bool{}
	for _, p := range goList(t, "./...") {
		r, _ := rel(p.ImportPath)
		inModule[r] = true
		switch got, want := named[r], packages[r]; {
		case got == "":
			t.Errorf("docs/ARCHITECTURE.md does not name package %s in its table", r)
		case want != "" && got != want:
			t.Errorf("docs/ARCHITECTURE.md puts %s in layer %s, deploy/imports_test.go in %s", r, got, want)
		}
		delete(named, r)
	}
	for pkg := range named {
		t.Errorf("docs/ARCHITECTURE.md names %s, which is not a package of the module", pkg)
	}
	for pkg := range packages {
		if !inModule[pkg] {
			t.Errorf("deploy/imports_test.go names %s, which is not a package of the module", pkg)
		}
	}
	exc := section("Known exceptions")
	for key := range exceptions {
		if !strings.Contains(exc, "`"+key[0]+"` → `"+key[1]+"`") {
			t.Errorf("docs/ARCHITECTURE.md does not list the exception `%s` → `%s`", key[0], key[1])
		}
	}
}
