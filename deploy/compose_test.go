package deploy

import (
	"bufio"
	"context"
	"github.com/certflow/certflow/internal/testenv"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/certflow/certflow/internal/temporalx"
	"github.com/certflow/certflow/outbound"
	"github.com/certflow/certflow/workflows"
)

const composeFile = "docker-compose.temporal.yml"

// root is the repository root (this package's parent).
func root(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root(t), composeFile)},
		cli.WithWorkingDirectory(root(t)),
		cli.WithName("certflow"),
		// Only the file's own defaults: nothing from this machine.
		cli.WithEnv([]string{}),
		cli.WithProfiles([]string{"tools"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("loading %s: %v", composeFile, err)
	}
	return p
}

// The services the stack must have, and what each depends on, with the
// condition (the current official layout: schema job → server → namespace
// job → certflow).
var wantDeps = map[string]map[string]string{
	"postgresql":           {},
	"temporal-admin-tools": {"postgresql": types.ServiceConditionHealthy},
	"temporal":             {"temporal-admin-tools": types.ServiceConditionCompletedSuccessfully},
	"temporal-create-namespace": {
		"temporal": types.ServiceConditionHealthy,
	},
	"temporal-ui": {"temporal": types.ServiceConditionHealthy},
	"casim":       {},
	"paysim":      {},
	"eventsink":   {},
	"worker": {
		"postgresql":                types.ServiceConditionHealthy,
		"temporal-create-namespace": types.ServiceConditionCompletedSuccessfully,
		"casim":                     types.ServiceConditionHealthy,
		"paysim":                    types.ServiceConditionHealthy,
	},
	"temporal-set-current-version": {"worker": types.ServiceConditionHealthy},
	"gateway": {
		"postgresql":                   types.ServiceConditionHealthy,
		"temporal-create-namespace":    types.ServiceConditionCompletedSuccessfully,
		"temporal-set-current-version": types.ServiceConditionCompletedSuccessfully,
	},
	"starter":    {"gateway": types.ServiceConditionHealthy},
	"prometheus": {"worker": types.ServiceConditionHealthy, "gateway": types.ServiceConditionHealthy},
	"grafana":    {"prometheus": types.ServiceConditionHealthy},
}

// Services that run to completion (no health check; restarted on failure
// until they succeed) and tools run by hand.
var (
	oneShot   = []string{"temporal-admin-tools", "temporal-create-namespace", "temporal-set-current-version"}
	noHealth  = []string{"temporal-ui", "grafana", "starter"}
	pinnedTag = regexp.MustCompile(`^[a-z0-9./_-]+:(v?\d+\.\d+(\.\d+)?([.-][A-Za-z0-9.]+)?)$`)
)

func TestComposeServicesAndDependencies(t *testing.T) {
	p := loadCompose(t)
	all := p.AllServices()
	var names []string
	for n := range all {
		names = append(names, n)
	}
	var want []string
	for n := range wantDeps {
		want = append(want, n)
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	for name, deps := range wantDeps {
		s := all[name]
		got := map[string]string{}
		for dep, cfg := range s.DependsOn {
			got[dep] = cfg.Condition
		}
		for dep, cond := range deps {
			if got[dep] != cond {
				t.Errorf("%s depends on %s with condition %q, want %q", name, dep, got[dep], cond)
			}
		}
		for dep, cond := range got {
			if cond == types.ServiceConditionStarted {
				t.Errorf("%s waits only for %s to start: use a health or completion condition", name, dep)
			}
			if _, ok := deps[dep]; !ok {
				t.Errorf("%s depends on %s, which the test does not expect", name, dep)
			}
		}
	}
}

func TestComposeImagesArePinned(t *testing.T) {
	p := loadCompose(t)
	targets := dockerfileTargets(t)
	for name, s := range p.AllServices() {
		if s.Build != nil {
			if !slices.Contains(targets, s.Build.Target) {
				t.Errorf("%s builds Dockerfile target %q; the Dockerfile has %v", name, s.Build.Target, targets)
			}
			if s.Build.Context != root(t) {
				t.Errorf("%s builds from %s, want the repository root", name, s.Build.Context)
			}
			continue
		}
		if !pinnedTag.MatchString(s.Image) {
			t.Errorf("%s runs image %q: pin a version tag (not latest, not a bare name)", name, s.Image)
		}
	}
	// The two Temporal images move together.
	if a, b := p.Services["temporal-admin-tools"].Image, p.Services["temporal"].Image; tag(a) != tag(b) {
		t.Errorf("admin-tools %s and server %s differ in version", a, b)
	}
	if p.Services["temporal"].Image != "temporalio/server:"+tag(p.Services["temporal"].Image) {
		t.Errorf("the server runs %s, want temporalio/server (auto-setup is deprecated)", p.Services["temporal"].Image)
	}
}

func tag(image string) string {
	_, t, _ := strings.Cut(image, ":")
	return t
}

func TestComposeHealthChecks(t *testing.T) {
	p := loadCompose(t)
	for name, s := range p.AllServices() {
		if slices.Contains(oneShot, name) {
			if !strings.HasPrefix(s.Restart, "on-failure") {
				t.Errorf("one-shot %s restarts %q, want on-failure (retried until it succeeds)", name, s.Restart)
			}
			continue
		}
		if slices.Contains(noHealth, name) {
			continue
		}
		hc := s.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE" {
			t.Errorf("%s has no health check", name)
			continue
		}
		if hc.Interval == nil || hc.Timeout == nil || hc.Retries == nil {
			t.Errorf("%s health check lacks interval, timeout or retries", name)
		}
		if s.Build != nil && hc.Test[1] != "/usr/local/bin/healthcheck" {
			// Distroless images have no shell: only the healthcheck binary.
			t.Errorf("%s (a certflow image) checks health with %v, want /usr/local/bin/healthcheck", name, hc.Test)
		}
	}
	for name, path := range map[string]string{"worker": "/readyz", "gateway": "/readyz"} {
		if hc := p.Services[name].HealthCheck; hc == nil || !strings.HasSuffix(hc.Test[len(hc.Test)-1], path) {
			t.Errorf("%s's health check is not its %s", name, path)
		}
	}
}

func TestComposeRegistersTheWorkflowsSearchAttributes(t *testing.T) {
	p := loadCompose(t)
	job := p.Services["temporal-create-namespace"]
	got := strings.Fields(env(job, "SEARCH_ATTRIBUTES"))
	if !slices.Equal(got, workflows.SearchAttributeTypes) {
		t.Errorf("compose registers %v, the workflows set %v", got, workflows.SearchAttributeTypes)
	}
	ns := env(job, "NAMESPACE")
	for _, name := range []string{"worker", "gateway"} {
		if got := env(p.Services[name], "TEMPORAL_NAMESPACE"); got != ns {
			t.Errorf("%s uses namespace %q, the job creates %q", name, got, ns)
		}
	}
	if !slices.Equal(job.Command, []string{"/scripts/create-namespace.sh"}) {
		t.Errorf("the namespace job runs %v", job.Command)
	}
}

// The worker reaches the simulators where they listen, with the tokens
// they require, and stores in PostgreSQL; the gateway has console tokens;
// every service is on the stack's network.
func TestComposeWiring(t *testing.T) {
	p := loadCompose(t)
	worker, gateway, paysim, casim := p.Services["worker"], p.Services["gateway"], p.Services["paysim"], p.Services["casim"]
	for _, c := range []struct{ what, got, want string }{
		{"worker CERTFLOW_PAY_URL", env(worker, "CERTFLOW_PAY_URL"), "http://paysim:" + port(t, env(paysim, "PAYSIM_ADDR"))},
		{"worker CERTFLOW_PAY_TOKEN", env(worker, "CERTFLOW_PAY_TOKEN"), env(paysim, "PAYSIM_TOKEN")},
		{"worker CERTFLOW_CA_URL", env(worker, "CERTFLOW_CA_URL"), "http://casim:" + port(t, env(casim, "CASIM_ADDR"))},
		{"worker CERTFLOW_CA_TOKEN", env(worker, "CERTFLOW_CA_TOKEN"), env(casim, "CASIM_TOKEN")},
		{"gateway CERTFLOW_DB", env(gateway, "CERTFLOW_DB"), env(worker, "CERTFLOW_DB")},
		{"casim's callback secret", env(casim, "CASIM_WEBHOOK_SECRET"), env(gateway, "CERTFLOW_WEBHOOK_SECRETS")},
	} {
		if c.got == "" || c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if db := env(worker, "CERTFLOW_DB"); !strings.HasPrefix(db, "postgres://") {
		t.Errorf("worker CERTFLOW_DB = %q, want a postgres:// DSN", db)
	}
	for _, k := range []string{"PAYSIM_TOKEN", "PAYSIM_DB"} {
		if env(paysim, k) == "" {
			t.Errorf("paysim lacks %s, which it requires", k)
		}
	}
	if hc := paysim.HealthCheck; hc == nil || hc.Test[len(hc.Test)-1] != "http://127.0.0.1:"+port(t, env(paysim, "PAYSIM_ADDR"))+"/healthz" {
		t.Errorf("paysim's health check does not probe its /healthz on PAYSIM_ADDR's port")
	}
	// The gateway's dispatcher delivers to the receiver where it listens,
	// signed with the secret it verifies, and its settings pass the
	// dispatcher's own checks.
	sink := p.Services["eventsink"]
	for _, c := range []struct{ what, got, want string }{
		{"gateway CERTFLOW_EVENT_ENDPOINTS", env(gateway, outbound.EnvEndpoints), "console=http://eventsink:" + port(t, env(sink, "EVENTSINK_ADDR")) + "/events"},
		{"gateway CERTFLOW_EVENT_SECRETS", env(gateway, outbound.EnvSecrets), "console=" + env(sink, "EVENTSINK_SECRETS")},
	} {
		if c.got == "" || c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if cfg, err := outbound.ParseConfig(func(k string) string { return env(gateway, k) }); err != nil || !cfg.Enabled() {
		t.Errorf("the gateway's event settings: %v (enabled %v)", err, cfg.Enabled())
	}
	if strings.Count(env(gateway, "CERTFLOW_TOKENS"), ":") < 2 {
		t.Errorf("gateway CERTFLOW_TOKENS = %q, want subject:role:secret entries", env(gateway, "CERTFLOW_TOKENS"))
	}
	for name, s := range p.AllServices() {
		if _, ok := s.Networks["certflow"]; !ok {
			t.Errorf("%s is not on the certflow network", name)
		}
	}
}

// port is the port of a host:port listen address.
func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, ok := strings.Cut(addr, ":")
	if !ok || p == "" {
		t.Fatalf("listen address %q has no port", addr)
	}
	return p
}

func TestComposeMountsExist(t *testing.T) {
	p := loadCompose(t)
	for name, s := range p.AllServices() {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s mounts %s, which does not exist: %v", name, v.Source, err)
			}
		}
	}
}

// dockerfileTargets lists the Dockerfile's stages (FROM ... AS name).
func dockerfileTargets(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(root(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := regexp.MustCompile(`(?i)^FROM\s+\S+\s+AS\s+(\S+)\s*$`)
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

func TestDockerfileTargetsAndPrograms(t *testing.T) {
	targets := dockerfileTargets(t)
	for _, want := range []string{"build", "base", "worker", "gateway", "starter", "casim", "paysim", "eventsink"} {
		if !slices.Contains(targets, want) {
			t.Errorf("the Dockerfile has no target %q (has %v)", want, targets)
		}
	}
	b, err := os.ReadFile(filepath.Join(root(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{"CGO_ENABLED=0", "USER 65532:65532", "static-debian12:nonroot"} {
		if !strings.Contains(text, want) {
			t.Errorf("the Dockerfile lacks %q (static, non-root)", want)
		}
	}
	// Every program the build loop names is a main package of this module.
	for _, m := range regexp.MustCompile(`(\w+):(\./[\w/]+)`).FindAllStringSubmatch(text, -1) {
		pkg := m[2]
		dir := filepath.Join(root(t), pkg)
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("the Dockerfile builds %s, which does not exist", pkg)
			continue
		}
		list := exec.Command("go", "list", "-f", "{{.Name}}", pkg)
		list.Dir = root(t)
		out, err := list.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "main" {
			t.Errorf("the Dockerfile builds %s, not a main package: %s %v", pkg, out, err)
		}
		if !strings.Contains(text, "--from=build /out/"+m[1]+" ") && m[1] != "healthcheck" {
			t.Errorf("no image copies %s", m[1])
		}
	}
}

func env(s types.ServiceConfig, k string) string {
	if v := s.Environment[k]; v != nil {
		return *v
	}
	return ""
}

// TestNamespaceScriptRegistersSearchAttributes runs the compose file's
// namespace job script (as the admin-tools image would, with the Temporal
// CLI) against a dev server, twice: it must create the namespace and every
// attribute, then find them and succeed again.
func TestNamespaceScriptRegistersSearchAttributes(t *testing.T) {
	bin := temporalBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{ExistingPath: bin, LogLevel: "error", Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	p := loadCompose(t)
	job := p.Services["temporal-create-namespace"]
	script := filepath.Join(root(t), "deploy", "temporal", "create-namespace.sh")
	for run := 1; run <= 2; run++ {
		cmd := exec.CommandContext(ctx, "sh", script)
		cmd.Env = append(os.Environ(),
			"PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
			"TEMPORAL_ADDRESS="+srv.FrontendHostPort(),
			"NAMESPACE="+env(job, "NAMESPACE"),
			"SEARCH_ATTRIBUTES="+env(job, "SEARCH_ATTRIBUTES"),
			"SLEEP=1", "ATTEMPTS=20")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out)
		}
	}
	if err := temporalx.CheckSearchAttributes(ctx, srv.Client(), env(job, "NAMESPACE"), workflows.SearchAttributeTypes); err != nil {
		t.Errorf("after the script: %v", err)
	}
}

// temporalBin is the Temporal CLI, named "temporal" as in the admin-tools
// image (the script calls it by name).
func temporalBin(t *testing.T) string {
	t.Helper()
	bin := testenv.TemporalBin(t)
	if filepath.Base(bin) != "temporal" {
		link := filepath.Join(t.TempDir(), "temporal")
		if err := os.Symlink(bin, link); err != nil {
			t.Fatal(err)
		}
		return link
	}
	return bin
}

// The workers poll as a Worker Deployment version, and the one-shot job
// makes that same version current.
func TestComposeWorkerVersioning(t *testing.T) {
	p := loadCompose(t)
	worker, job := p.Services["worker"], p.Services["temporal-set-current-version"]
	if env(worker, "CERTFLOW_VERSIONING") != "true" {
		t.Errorf("worker CERTFLOW_VERSIONING = %q, want true", env(worker, "CERTFLOW_VERSIONING"))
	}
	for _, k := range []string{"CERTFLOW_DEPLOYMENT_NAME", "CERTFLOW_BUILD_ID"} {
		if env(worker, k) == "" || env(worker, k) != env(job, k) {
			t.Errorf("%s: worker %q, set-current job %q; want the same, set", k, env(worker, k), env(job, k))
		}
	}
	if env(job, "NAMESPACE") != env(worker, "TEMPORAL_NAMESPACE") || env(job, "TEMPORAL_ADDRESS") != env(worker, "TEMPORAL_ADDRESS") {
		t.Errorf("set-current job reaches %s/%s, the worker %s/%s", env(job, "TEMPORAL_ADDRESS"), env(job, "NAMESPACE"),
			env(worker, "TEMPORAL_ADDRESS"), env(worker, "TEMPORAL_NAMESPACE"))
	}
	if !slices.Equal(job.Command, []string{"/scripts/set-current-version.sh"}) {
		t.Errorf("set-current job command %v", job.Command)
	}
}

// TestSetCurrentVersionScript runs the compose file's set-current job
// script against a dev server while a worker polls as the version (and,
// first, before any does: it waits), twice: the version is current after
// it, and running it again succeeds.
func TestSetCurrentVersionScript(t *testing.T) {
	bin := temporalBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{ExistingPath: bin, LogLevel: "error", Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	job := loadCompose(t).Services["temporal-set-current-version"]
	const build = "compose-test"
	run := func(attempts string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "sh", filepath.Join(root(t), "deploy", "temporal", "set-current-version.sh"))
		cmd.Env = append(os.Environ(),
			"PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
			"TEMPORAL_ADDRESS="+srv.FrontendHostPort(), "NAMESPACE=default",
			"CERTFLOW_DEPLOYMENT_NAME="+env(job, "CERTFLOW_DEPLOYMENT_NAME"), "CERTFLOW_BUILD_ID="+build,
			"SLEEP=1", "ATTEMPTS="+attempts)
		return cmd.CombinedOutput()
	}
	if out, err := run("2"); err == nil || !strings.Contains(string(out), "gave up") {
		t.Fatalf("without a worker: %v\n%s; want it to give up", err, out)
	}
	opts := testenv.WorkerOptions()
	opts.DeploymentOptions = sdkworker.DeploymentOptions{UseVersioning: true,
		Version: sdkworker.WorkerDeploymentVersion{DeploymentName: env(job, "CERTFLOW_DEPLOYMENT_NAME"), BuildID: build}}
	w := sdkworker.New(srv.Client(), workflows.TaskQueue, opts)
	workflows.Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for i := 1; i <= 2; i++ {
		if out, err := run("30"); err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, out)
		}
	}
	d, err := srv.Client().WorkerDeploymentClient().GetHandle(env(job, "CERTFLOW_DEPLOYMENT_NAME")).Describe(ctx, client.WorkerDeploymentDescribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cur := d.Info.RoutingConfig.CurrentVersion; cur == nil || cur.BuildID != build {
		t.Errorf("current version %+v, want build %s", cur, build)
	}
}

// The Temporal server of the compose file and the one make
// test-real-temporal runs without Docker (scripts/with-temporal-server)
// share one configuration source: deploy/temporal/server.env, the variables
// of the server's own config template, is the env_file of compose's server
// and schema job and what the script starts the server with; the script
// overrides only what a test machine must differ in. Both run the same
// schema and namespace scripts, the same dynamic config, the same version.
func TestRealServerSharesComposeConfiguration(t *testing.T) {
	p := loadCompose(t)
	const serverEnv, namespaceEnv = "deploy/temporal/server.env", "deploy/temporal/namespace.env"
	shared := readEnvFile(t, filepath.Join(root(t), serverEnv))
	for _, k := range []string{"DB", "POSTGRES_SEEDS", "POSTGRES_USER", "DB_PORT"} {
		if shared[k] == "" {
			t.Errorf("%s does not set %s", serverEnv, k)
		}
	}
	for name, file := range map[string]string{"temporal": serverEnv, "temporal-admin-tools": serverEnv, "temporal-create-namespace": namespaceEnv} {
		s := p.Services[name]
		var files []string
		for _, f := range s.EnvFiles {
			files = append(files, f.Path)
		}
		if !slices.Contains(files, filepath.Join(root(t), file)) {
			t.Errorf("compose's %s reads env files %v, want %s", name, files, file)
		}
		if file != serverEnv {
			continue
		}
		for k, v := range shared {
			if got := env(s, k); got != v {
				t.Errorf("compose's %s has %s=%q, %s says %q: set it in %s only", name, k, got, serverEnv, v, serverEnv)
			}
		}
	}

	b, err := os.ReadFile(filepath.Join(root(t), "scripts", "with-temporal-server"))
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	for _, want := range []string{`. "$ROOT/` + serverEnv + `"`, `. "$ROOT/` + namespaceEnv + `"`,
		`"$ROOT/deploy/temporal/setup-postgres.sh"`, `"$ROOT/deploy/temporal/create-namespace.sh"`,
		"$ROOT/deploy/temporal/dynamicconfig.yaml", `--allow-no-auth start >>`} {
		if !strings.Contains(script, want) {
			t.Errorf("scripts/with-temporal-server lacks %s", want)
		}
	}
	// What the script overrides: the machine's seeds, ports and paths, never
	// the store, the user, the database names or the shard count.
	_, rest, ok := strings.Cut(script, `cat >"$STATE/overrides.env" <<EOF`+"\n")
	overrides, _, ok2 := strings.Cut(rest, "\nEOF\n")
	if !ok || !ok2 {
		t.Fatal("scripts/with-temporal-server has no overrides.env here-document")
	}
	allowed := regexp.MustCompile(`^(POSTGRES_SEEDS|DB_PORT|POSTGRES_PWD|BIND_ON_IP|[A-Z]+_(GRPC|HTTP|MEMBERSHIP)_PORT|DYNAMIC_CONFIG_FILE_PATH|LOG_LEVEL)$`)
	for _, line := range strings.Split(overrides, "\n") {
		k, _, _ := strings.Cut(line, "=")
		if !allowed.MatchString(k) {
			t.Errorf("scripts/with-temporal-server overrides %s of %s: change it there, for compose too", k, serverEnv)
		}
	}
	// The compose file mounts the same dynamic config.
	mounted := false
	for _, v := range p.Services["temporal"].Volumes {
		mounted = mounted || v.Source == filepath.Join(root(t), "deploy", "temporal", "dynamicconfig.yaml")
	}
	if !mounted {
		t.Error("compose's temporal does not mount deploy/temporal/dynamicconfig.yaml")
	}
	// The same server version: the image's tag is the Makefile's go install version.
	mk, err := os.ReadFile(filepath.Join(root(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TEMPORAL_SERVER_VERSION\s*:=\s*(\S+)$`).FindSubmatch(mk)
	if m == nil || string(m[1]) != "v"+tag(p.Services["temporal"].Image) {
		t.Errorf("the Makefile builds Temporal server %q, compose runs %s", m, p.Services["temporal"].Image)
	}
}

// readEnvFile reads KEY=VALUE lines (comments and blank lines skipped,
// one level of double quotes removed), as compose and sh read them.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=VALUE", path, line)
		}
		out[k] = strings.Trim(v, `"`)
	}
	return out
}
