package deploy

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/certflow/certflow/internal/obs"
)

const dashboardFile = "grafana/dashboards/certflow.json"

// dashboardQueries returns every PromQL expression of the dashboard.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if e, ok := v["expr"].(string); ok {
				out = append(out, e)
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(d)
	return out
}

var (
	promStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promFunctions = regexp.MustCompile(`[a-zA-Z_]+\s*\(`)
	promKeywords  = []string{"sum", "avg", "min", "max", "count", "rate", "increase", "irate", "histogram_quantile",
		"by", "without", "on", "ignoring", "and", "or", "unless", "bool", "offset", "topk", "bottomk", "le", "inf", "nan"}
)

// metricNames extracts the metric names an expression selects: what is
// left once strings, label matchers, ranges, groupings, function names and
// keywords are removed.
func metricNames(expr string) []string {
	e := promStrings.ReplaceAllString(expr, " ")
	e = promMatchers.ReplaceAllString(e, " ")
	e = promRanges.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	e = promFunctions.ReplaceAllString(e, " (")
	var out []string
	for _, id := range promIdent.FindAllString(e, -1) {
		if slices.Contains(promKeywords, strings.ToLower(id)) {
			continue
		}
		if _, err := strconv.ParseFloat(id, 64); err == nil {
			continue
		}
		out = append(out, id)
	}
	return out
}

func TestMetricNamesOfAQuery(t *testing.T) {
	got := metricNames(`histogram_quantile(0.95, sum by (route, le) (rate(certflow_http_request_duration_seconds_bucket{status=~"5.."}[5m]))) / sum(rate(certflow_http_requests_total[5m])) * 60`)
	want := []string{"certflow_http_request_duration_seconds_bucket", "certflow_http_requests_total"}
	if !slices.Equal(got, want) {
		t.Errorf("names %v, want %v", got, want)
	}
}

// exportedNames is every series name certflow's processes can export:
// what the domain and HTTP metrics produce when emitted once, gathered
// from a real registry, plus the Temporal SDK's own metric names (as the
// SDK declares them, with the _total / _seconds naming of obs.NewMetrics).
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	m := obs.NewMetrics()
	obs.RefundFinished(m.SDK, "rejected", []string{"SSL-6"})
	obs.RefundMilestone(m.SDK, obs.StepEscalated)
	obs.RefundMilestone(m.SDK, obs.StepPayFailed)
	obs.CAReviewWaited(m.SDK, "revocation_approved", time.Hour)
	obs.ActivityRetried(m.SDK, "Revoke")
	obs.DesignedDetour(m.SDK, "ResubmissionRejected")
	obs.CallbackHandled(m.SDK, "refused", "unauthenticated")
	hm, err := obs.NewHTTPMetrics(m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	hm.Middleware(func(*http.Request) string { return "GET /x" }, http.NotFoundHandler()).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	im, err := obs.NewIntakeMetrics(m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	im.Started(time.Second)
	if err := im.WatchInFlight(func() int64 { return 0 }); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		n := f.GetName()
		names[n] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			names[n+"_bucket"], names[n+"_count"], names[n+"_sum"] = true, true, true
		}
	}
	for _, n := range sdkMetricNames(t) {
		// Counters gain _total, timers are histograms in _seconds, gauges
		// keep their name.
		for _, s := range []string{"", "_total", "_seconds_bucket", "_seconds_count", "_seconds_sum"} {
			names[n+s] = true
		}
	}
	return names
}

// sdkMetricNames reads the metric names the Temporal SDK declares
// (internal/common/metrics/constants.go of the module version in go.mod),
// evaluating its constant string expressions.
func sdkMetricNames(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk")
	cmd.Dir = ".."
	dir, err := cmd.Output()
	if err != nil {
		t.Fatalf("locating the SDK module: %v", err)
	}
	path := filepath.Join(strings.TrimSpace(string(dir)), "internal", "common", "metrics", "constants.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	var eval func(e ast.Expr) (string, bool)
	eval = func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		case *ast.Ident:
			s, ok := consts[e.Name]
			return s, ok
		case *ast.BinaryExpr:
			a, ok1 := eval(e.X)
			b, ok2 := eval(e.Y)
			return a + b, ok1 && ok2 && e.Op == token.ADD
		}
		return "", false
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if i < len(vs.Values) {
					if v, ok := eval(vs.Values[i]); ok {
						consts[n.Name] = v
					}
				}
			}
		}
	}
	var out []string
	for _, v := range consts {
		if strings.HasPrefix(v, "temporal_") && v != "temporal_" && !strings.Contains(v, "temporal_go") {
			out = append(out, v)
		}
	}
	if len(out) < 20 {
		t.Fatalf("found only %d SDK metric names in %s", len(out), path)
	}
	return out
}

func TestDashboardQueriesExportedMetrics(t *testing.T) {
	exported := exportedNames(t)
	queries := dashboardQueries(t)
	if len(queries) < 10 {
		t.Fatalf("the dashboard has %d queries", len(queries))
	}
	used := map[string]bool{}
	for _, q := range queries {
		names := metricNames(q)
		if len(names) == 0 {
			t.Errorf("query %q selects no metric", q)
		}
		for _, n := range names {
			used[n] = true
			if !exported[n] {
				t.Errorf("query %q uses %s, which no certflow process exports", q, n)
			}
		}
	}
	// Every domain metric is on the dashboard.
	for _, n := range []string{obs.MetricRefunds + "_total", obs.MetricRefundMilestones + "_total", obs.MetricCAReviewWait + "_seconds_bucket",
		obs.MetricEscalations + "_total", obs.MetricPaymentFallbacks + "_total", obs.MetricActivityRetries + "_total",
		obs.MetricDesignedDetours + "_total", obs.MetricCallbacks + "_total", obs.MetricHTTPRequests, obs.MetricHTTPDuration + "_bucket",
		obs.MetricIntakeStarts, obs.MetricIntakeStartLag + "_bucket", obs.MetricIntakeInFlight} {
		if !used[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
}
