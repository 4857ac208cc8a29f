package deploy

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/certflow/certflow/outbound"
)

const (
	rulesFile      = "prometheus/rules.yml"
	prometheusFile = "prometheus/prometheus.yml"
	alertsDoc      = "../docs/operations.md"
	alertsSection  = "### Alerts and what they mean"
	alertsAnchor   = "docs/operations.md#alerts-and-what-they-mean"
)

// scrapeSeries are the series Prometheus itself writes for every target.
var scrapeSeries = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"}

// describedNames records the metric names of the collectors registered
// with it (their descriptors), whether or not a series exists yet.
type describedNames struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d describedNames) Register(c prom.Collector) error {
	ch := make(chan *prom.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	var histogram bool
	switch c.(type) {
	case *prom.HistogramVec, prom.Histogram:
		histogram = true
	}
	for desc := range ch {
		m := fqName.FindStringSubmatch(desc.String())
		if m == nil {
			continue
		}
		d.names[m[1]] = true
		if histogram {
			for _, s := range []string{"_bucket", "_count", "_sum"} {
				d.names[m[1]+s] = true
			}
		}
	}
	return nil
}

func (d describedNames) MustRegister(cs ...prom.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d describedNames) Unregister(prom.Collector) bool { return false }

// knownMetrics is every series name an alert may select: what certflow's
// processes export (exportedNames: the domain, HTTP and Temporal SDK
// metrics), the gateway's event dispatcher's metrics, and the series
// Prometheus writes per target.
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	known := exportedNames(t)
	d := describedNames{names: map[string]bool{}}
	if _, err := outbound.NewMetrics(d); err != nil {
		t.Fatal(err)
	}
	if len(d.names) < 7 {
		t.Fatalf("the dispatcher describes only %v", d.names)
	}
	for n := range d.names {
		known[n] = true
	}
	for _, n := range scrapeSeries {
		known[n] = true
	}
	return known
}

// selectedMetrics is every metric name expr selects, by name or by a
// __name__ matcher.
func selectedMetrics(expr parser.Expr) []string {
	var out []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name != "" {
			out = append(out, vs.Name)
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == "__name__" {
				out = append(out, m.Value)
			}
		}
		return nil
	})
	return out
}

func TestSelectedMetricsOfARule(t *testing.T) {
	e, err := parser.ParseExpr(`absent(up{job="w"} == 1) or sum(rate({__name__="a_total"}[5m])) / sum(b offset 1w) > 0`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := selectedMetrics(e), []string{"up", "a_total", "b"}; !slices.Equal(got, want) {
		t.Errorf("selected %v, want %v", got, want)
	}
}

// alertRows reads the table of docs/operations.md's "Alerts and what they
// mean": each row's rule name (first column) and its whole text.
func alertRows(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(alertsDoc)
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n"+alertsSection+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", alertsDoc, alertsSection)
	}
	section, _, _ := strings.Cut(after, "\n#")
	rows := map[string]string{}
	name := regexp.MustCompile("^`(Certflow[A-Za-z]+)`$")
	for line := range strings.Lines(section) {
		cols := strings.Split(line, "|")
		if len(cols) < 5 {
			continue
		}
		first := strings.TrimSpace(cols[1])
		if first == "rule" || strings.HasPrefix(first, "---") {
			continue
		}
		m := name.FindStringSubmatch(first)
		if m == nil {
			t.Errorf("%s: alert row without a rule name in its first column: %s", alertsDoc, strings.TrimSpace(line))
			continue
		}
		if _, dup := rows[m[1]]; dup {
			t.Errorf("%s: rule %s has two rows", alertsDoc, m[1])
		}
		rows[m[1]] = line
	}
	if len(rows) < 10 {
		t.Fatalf("%s: only %d alert rows", alertsDoc, len(rows))
	}
	return rows
}

// TestAlertRules parses deploy/prometheus/rules.yml with Prometheus's own
// rule parser (the one `promtool check rules` runs: unknown fields, bad
// durations, templates and PromQL fail it), and holds it to the code and
// the runbook: every metric a rule selects is one certflow exports, every
// rule has a severity, a summary and the runbook's anchor, and the rules
// and the rows of docs/operations.md's alert table are the same set, each
// row naming the metrics of its rule.
func TestAlertRules(t *testing.T) {
	groups, errs := rulefmt.ParseFile(rulesFile, false)
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil {
		t.FailNow()
	}
	known := knownMetrics(t)
	rows := alertRows(t)
	hasFor := rulesWithFor(t)
	seen := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: recording rule %s: this file holds alerts only", g.Name, r.Record)
				continue
			}
			name := r.Alert
			if seen[name] {
				t.Errorf("alert %s is defined twice", name)
			}
			seen[name] = true
			expr, err := parser.ParseExpr(r.Expr)
			if err != nil {
				t.Errorf("alert %s: %v", name, err)
				continue
			}
			metrics := selectedMetrics(expr)
			if len(metrics) == 0 {
				t.Errorf("alert %s selects no metric: %s", name, r.Expr)
			}
			for _, m := range metrics {
				if !known[m] {
					t.Errorf("alert %s selects %s, which no certflow process exports (nor Prometheus per target)", name, m)
				}
			}
			if !hasFor[name] {
				t.Errorf("alert %s has no for: (0s to fire at once)", name)
			}
			switch r.Labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("alert %s: severity %q, want critical, warning or info", name, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: needs a summary and a description", name)
			}
			if r.Annotations["runbook_url"] != alertsAnchor {
				t.Errorf("alert %s: runbook_url %q, want %q", name, r.Annotations["runbook_url"], alertsAnchor)
			}
			row, ok := rows[name]
			if !ok {
				t.Errorf("alert %s has no row in %s, %q", name, alertsDoc, alertsSection)
				continue
			}
			for _, m := range metrics {
				base := strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_total")
				if !strings.Contains(row, base) {
					t.Errorf("alert %s selects %s, which its row in %s does not name", name, m, alertsDoc)
				}
			}
		}
	}
	var missing []string
	for name := range rows {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	for _, name := range missing {
		t.Errorf("%s names alert %s, which %s does not define", alertsDoc, name, rulesFile)
	}
}

// rulesWithFor are the alerts of the rules file that say for: (rulefmt
// reads an absent one as 0s).
func rulesWithFor(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string  `yaml:"alert"`
				For   *string `yaml:"for"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r.For != nil
		}
	}
	return out
}

// TestAlertRulesCatchAnUnknownMetric proves the check bites: a rule on a
// misspelt metric is reported by name.
func TestAlertRulesCatchAnUnknownMetric(t *testing.T) {
	known := knownMetrics(t)
	e, err := parser.ParseExpr(`sum(rate(certflow_escalation_total[5m])) > 0 or up == 0`)
	if err != nil {
		t.Fatal(err)
	}
	var unknown []string
	for _, m := range selectedMetrics(e) {
		if !known[m] {
			unknown = append(unknown, m)
		}
	}
	if !slices.Equal(unknown, []string{"certflow_escalation_total"}) {
		t.Errorf("unknown %v, want [certflow_escalation_total]", unknown)
	}
}

// TestPrometheusLoadsTheRules checks that prometheus.yml names the rules
// file and that the compose file mounts it beside prometheus.yml.
func TestPrometheusLoadsTheRules(t *testing.T) {
	b, err := os.ReadFile(prometheusFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", prometheusFile, err)
	}
	if !slices.Contains(cfg.RuleFiles, "rules.yml") {
		t.Errorf("%s: rule_files %v does not name rules.yml", prometheusFile, cfg.RuleFiles)
	}
	p := loadCompose(t)
	svc, ok := p.Services["prometheus"]
	if !ok {
		t.Fatal("the compose file has no prometheus service")
	}
	mounts := map[string]string{}
	for _, v := range svc.Volumes {
		mounts[v.Target] = v.Source
	}
	for target, source := range map[string]string{
		"/etc/prometheus/prometheus.yml": prometheusFile,
		"/etc/prometheus/rules.yml":      rulesFile,
	} {
		want, _ := os.Getwd()
		if got := mounts[target]; got != want+"/"+source {
			t.Errorf("prometheus mounts %q at %s, want %s", got, target, want+"/"+source)
		}
	}
}
