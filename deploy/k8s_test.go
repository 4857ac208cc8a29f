package deploy

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/certflow/certflow/gateway"
	"github.com/certflow/certflow/outbound"
	"github.com/certflow/certflow/webhook"
)

const (
	k8sDir     = "k8s"
	k8sBase    = "k8s/base"
	k8sExample = "k8s/overlays/example"
	// buildLabel names a worker Deployment's build (its CERTFLOW_BUILD_ID).
	buildLabel = "certflow.io/build"
	// nonroot is the distroless image's user (the Dockerfile's USER).
	nonroot = 65532
)

// manifests are the objects of a kustomize build, decoded strictly into
// the Kubernetes API's types.
type manifests struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	pdbs        []*policyv1.PodDisruptionBudget
	namespaces  []*corev1.Namespace
}

// decodeObject decodes one manifest strictly (an unknown or misspelt field
// fails) into the API type of its kind.
func decodeObject(b []byte) (any, error) {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := sigsyaml.Unmarshal(b, &meta); err != nil {
		return nil, err
	}
	var obj any
	switch meta.APIVersion + " " + meta.Kind {
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	case "v1 Service":
		obj = &corev1.Service{}
	case "v1 ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1 Secret":
		obj = &corev1.Secret{}
	case "v1 Namespace":
		obj = &corev1.Namespace{}
	case "policy/v1 PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	default:
		return nil, fmt.Errorf("unexpected object %s %s", meta.APIVersion, meta.Kind)
	}
	if err := sigsyaml.UnmarshalStrict(b, obj); err != nil {
		return nil, fmt.Errorf("%s: %w", meta.Kind, err)
	}
	return obj, nil
}

// kustomize builds dir with kustomize's own library (kubectl apply -k
// runs the same) and decodes every object it produces.
func kustomize(t *testing.T, dir string) manifests {
	t.Helper()
	opts := krusty.MakeDefaultOptions()
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out := manifests{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, err := decodeObject(b)
		if err != nil {
			t.Errorf("%s: %s: %v", dir, r.CurId(), err)
			continue
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			out.deployments = append(out.deployments, o)
		case *corev1.Service:
			out.services = append(out.services, o)
		case *corev1.ConfigMap:
			out.configMaps[o.Name] = o
		case *corev1.Secret:
			out.secrets[o.Name] = o
		case *policyv1.PodDisruptionBudget:
			out.pdbs = append(out.pdbs, o)
		case *corev1.Namespace:
			out.namespaces = append(out.namespaces, o)
		}
	}
	return out
}

// TestKubernetesSourcesDecodeStrictly decodes every file of deploy/k8s on
// its own: each kustomization.yaml into kustomize's Kustomization (with its
// inline patches into their kinds), every other YAML file, document by
// document, into its Kubernetes type; an unknown field fails.
func TestKubernetesSourcesDecodeStrictly(t *testing.T) {
	n := 0
	err := filepath.WalkDir(k8sDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		n++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if d.Name() == "kustomization.yaml" {
			var k kusttypes.Kustomization
			if err := sigsyaml.UnmarshalStrict(b, &k); err != nil {
				t.Errorf("%s: %v", p, err)
				return nil
			}
			for _, pt := range k.Patches {
				if pt.Patch == "" {
					continue
				}
				if _, err := decodeObject([]byte(pt.Patch)); err != nil {
					t.Errorf("%s: a patch: %v", p, err)
				}
			}
			return nil
		}
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			if _, err := decodeObject(doc); err != nil {
				t.Errorf("%s: document %d: %v", p, i+1, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Fatalf("only %d YAML files under %s", n, k8sDir)
	}
}

// TestKubernetesDecodingIsStrict proves the decoding bites: a misspelt
// field of a Deployment is refused.
func TestKubernetesDecodingIsStrict(t *testing.T) {
	_, err := decodeObject([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 2\n"))
	if err == nil || !strings.Contains(err.Error(), "replica") {
		t.Fatalf("a misspelt field decoded: %v", err)
	}
}

// TestKustomizeBaseBuilds builds deploy/k8s/base alone: the gateway, the
// settings and what the worker builds share.
func TestKustomizeBaseBuilds(t *testing.T) {
	m := kustomize(t, k8sBase)
	if len(m.deployments) != 1 || m.deployments[0].Name != "certflow-gateway" {
		t.Errorf("base Deployments: want certflow-gateway alone, got %d", len(m.deployments))
	}
	if len(m.services) != 2 || len(m.pdbs) != 2 || len(m.configMaps) != 3 {
		t.Errorf("base: %d Services, %d PodDisruptionBudgets, %d ConfigMaps; want 2, 2, 3", len(m.services), len(m.pdbs), len(m.configMaps))
	}
	if len(m.secrets) != 0 {
		t.Errorf("the base holds %d Secrets: secrets are the overlay's", len(m.secrets))
	}
}

// setting is one line of a program's -h.
type setting struct{ flag, env, def, usage string }

var (
	helpFlag  = regexp.MustCompile(`^  -(\S+)`)
	helpUsage = regexp.MustCompile(`^(.*) \(([A-Z][A-Z0-9_]*)\)(?: \(default (".*")\))?$`)
)

// parseHelp reads the settings of a program's -h output (the flag
// package's: "  -name string" then the indented usage, which ends with the
// variable in parentheses and the default).
func parseHelp(out string) (map[string]setting, error) {
	settings := map[string]setting{}
	lines := strings.Split(out, "\n")
	for i := 0; i < len(lines); i++ {
		m := helpFlag.FindStringSubmatch(lines[i])
		if m == nil || i+1 >= len(lines) {
			continue
		}
		i++
		u := helpUsage.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if u == nil {
			return nil, fmt.Errorf("flag -%s: usage %q names no variable", m[1], lines[i])
		}
		s := setting{flag: m[1], env: u[2], usage: u[1]}
		if u[3] != "" {
			def, err := strconv.Unquote(u[3])
			if err != nil {
				return nil, fmt.Errorf("flag -%s: default %s: %v", m[1], u[3], err)
			}
			s.def = def
		}
		settings[s.env] = s
	}
	return settings, nil
}

func TestParseHelp(t *testing.T) {
	got, err := parseHelp("Usage of gateway:\n  -addr string\n    \tlisten address (CERTFLOW_GATEWAY_ADDR) (default \":8080\")\n  -tokens string\n    \tconsole tokens (with or instead of the file) (CERTFLOW_TOKENS)\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]setting{
		"CERTFLOW_GATEWAY_ADDR": {"addr", "CERTFLOW_GATEWAY_ADDR", ":8080", "listen address"},
		"CERTFLOW_TOKENS":       {"tokens", "CERTFLOW_TOKENS", "", "console tokens (with or instead of the file)"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

// programSettings builds the worker and the gateway and reads their
// settings from -h: the binaries' own list (app.CommonSettings, their own
// and the worker's payment, tuning and versioning settings).
func programSettings(t *testing.T) map[string]map[string]setting {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir, "./worker", "./cmd/gateway")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	all := map[string]map[string]setting{}
	for _, prog := range []string{"worker", "gateway"} {
		cmd := exec.Command(filepath.Join(dir, prog), "-h")
		cmd.Env = []string{} // the defaults, not this machine's settings
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s -h: %v\n%s", prog, err, out)
		}
		s, err := parseHelp(string(out))
		if err != nil {
			t.Fatalf("%s -h: %v", prog, err)
		}
		if len(s) < 15 {
			t.Fatalf("%s -h lists only %d settings:\n%s", prog, len(s), out)
		}
		all[prog] = s
	}
	return all
}

// sdkVariable reports whether name is read by the Temporal SDK's or the
// OpenTelemetry exporter's own environment configuration rather than a
// certflow setting (docs/operations.md, section 3).
func sdkVariable(name string) bool {
	switch name {
	case "TEMPORAL_API_KEY", "TEMPORAL_TLS", "TEMPORAL_CLIENT_AUTHORITY",
		"GOMEMLIMIT", "GOGC", "GOMAXPROCS": // the Go runtime's
		return true
	}
	for _, p := range []string{"TEMPORAL_TLS_", "TEMPORAL_GRPC_META_", "OTEL_EXPORTER_OTLP_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// envValue is where a container's variable comes from.
type envValue struct {
	value  string // the literal or ConfigMap value; "" for a secret
	secret string // the Secret's name, for a secret
	from   string // for messages
}

// containerEnv resolves a container's environment as the kubelet does
// (envFrom in order, then env), reporting references to missing objects
// or keys and variables set twice.
func containerEnv(t *testing.T, m manifests, where string, c corev1.Container) map[string]envValue {
	t.Helper()
	env := map[string]envValue{}
	set := func(name string, v envValue) {
		if prev, dup := env[name]; dup {
			t.Errorf("%s: %s is set twice (%s, %s)", where, name, prev.from, v.from)
		}
		env[name] = v
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, ok := m.configMaps[ef.ConfigMapRef.Name]
			if !ok {
				t.Errorf("%s: envFrom ConfigMap %s does not exist", where, ef.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				set(k, envValue{value: v, from: "ConfigMap " + cm.Name})
			}
		case ef.SecretRef != nil:
			s, ok := m.secrets[ef.SecretRef.Name]
			if !ok {
				t.Errorf("%s: envFrom Secret %s does not exist", where, ef.SecretRef.Name)
				continue
			}
			for k := range secretKeys(s) {
				set(k, envValue{secret: s.Name, from: "Secret " + s.Name})
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			set(e.Name, envValue{value: e.Value, from: "env"})
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s, ok := m.secrets[ref.Name]
			if !ok {
				t.Errorf("%s: %s: Secret %s does not exist", where, e.Name, ref.Name)
			} else if !secretKeys(s)[ref.Key] {
				t.Errorf("%s: %s: Secret %s has no key %s", where, e.Name, ref.Name, ref.Key)
			}
			set(e.Name, envValue{secret: ref.Name, from: "Secret " + ref.Name})
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, ok := m.configMaps[ref.Name]
			if !ok {
				t.Errorf("%s: %s: ConfigMap %s does not exist", where, e.Name, ref.Name)
				continue
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				t.Errorf("%s: %s: ConfigMap %s has no key %s", where, e.Name, ref.Name, ref.Key)
			}
			set(e.Name, envValue{value: v, from: "ConfigMap " + ref.Name})
		default:
			t.Errorf("%s: %s: unexpected valueFrom", where, e.Name)
		}
	}
	return env
}

func secretKeys(s *corev1.Secret) map[string]bool {
	keys := map[string]bool{}
	for k := range s.Data {
		keys[k] = true
	}
	for k := range s.StringData {
		keys[k] = true
	}
	return keys
}

// effective is a setting's value in the container: its variable, else the
// program's default.
func effective(env map[string]envValue, settings map[string]setting, name string) string {
	if v, ok := env[name]; ok && v.secret == "" && v.value != "" {
		return v.value
	}
	return settings[name].def
}

func listenPort(t *testing.T, where, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s: listen address %q: %v", where, addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s: listen address %q: %v", where, addr, err)
	}
	return int32(n)
}

func duration(t *testing.T, where, name, v string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %s=%q: %v", where, name, v, err)
	}
	return d
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// program is what each Deployment runs: its listen setting (whose port the
// probes and Services use), the port's name and its code's routes.
var programs = map[string]struct {
	listen, portName string
	routes           map[string][]string // source file → the routes it must serve
}{
	"worker": {"CERTFLOW_METRICS_ADDR", "metrics", map[string][]string{
		"worker/main.go": {`"GET /metrics"`, `"GET /healthz"`, `"GET /readyz"`},
	}},
	"gateway": {"CERTFLOW_GATEWAY_ADDR", "http", map[string][]string{
		"cmd/gateway/main.go": {`"GET /metrics"`, `"GET /readyz"`},
		"gateway/gateway.go":  {`"/healthz"`},
	}},
}

// TestKubernetesManifests builds the example overlay (kubectl apply -k
// deploy/k8s/overlays/example) and holds every Deployment to its program:
// variables that are the binary's settings (its -h), the required ones
// set, ports from the listen settings, the probes on the routes the code
// serves, a termination grace period longer than the program's shutdown,
// a non-root, read-only, unprivileged container of the Dockerfile's image;
// then the Services, the disruption budgets, the files the settings name,
// and the workers' builds (one Deployment per CERTFLOW_BUILD_ID).
func TestKubernetesManifests(t *testing.T) {
	m := kustomize(t, k8sExample)
	settings := programSettings(t)

	dockerfile, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dockerfile), fmt.Sprintf("USER %d:%d", nonroot, nonroot)) {
		t.Errorf("the Dockerfile's images no longer run as %d: the pods' runAsUser must follow", nonroot)
	}
	for _, p := range programs {
		for file, routes := range p.routes {
			src, err := os.ReadFile(filepath.Join("..", file))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range routes {
				if !strings.Contains(string(src), r) {
					t.Errorf("%s no longer serves %s, which the probes use", file, r)
				}
			}
		}
	}

	if len(m.namespaces) != 1 {
		t.Errorf("the overlay makes %d Namespaces, want 1", len(m.namespaces))
	}
	builds := map[string]string{} // build → Deployment
	var workers, gateways []*appsv1.Deployment
	for _, d := range m.deployments {
		where := "Deployment " + d.Name
		if len(m.namespaces) == 1 && d.Namespace != m.namespaces[0].Name {
			t.Errorf("%s: namespace %q, want %q", where, d.Namespace, m.namespaces[0].Name)
		}
		spec := d.Spec.Template.Spec
		if len(spec.Containers) != 1 {
			t.Errorf("%s: %d containers, want 1", where, len(spec.Containers))
			continue
		}
		c := spec.Containers[0]
		prog, ok := programs[c.Name]
		if !ok {
			t.Errorf("%s: container %q is none of %v", where, c.Name, slices.Sorted(maps.Keys(programs)))
			continue
		}
		own := settings[c.Name]
		if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("%s: its selector %v does not select its pods %v", where, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
			t.Errorf("%s: run at least 2 replicas", where)
		}

		// The image: the Dockerfile's target of the program, tagged.
		repo, tag, _ := strings.Cut(path.Base(c.Image), ":")
		if repo != c.Name || tag == "" || !strings.Contains(string(dockerfile), "FROM base AS "+c.Name+"\n") {
			t.Errorf("%s: image %q is not a tagged certflow/%s (the Dockerfile's target %s)", where, c.Image, c.Name, c.Name)
		}

		// Security: distroless nonroot, nothing writable but /tmp, no
		// privilege, no capability, no API token.
		psc := spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != nonroot ||
			psc.RunAsGroup == nil || *psc.RunAsGroup != nonroot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod securityContext must be runAsNonRoot, user and group %d, seccomp RuntimeDefault", where, nonroot)
		}
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			(sc.Privileged != nil && *sc.Privileged) || sc.Capabilities == nil ||
			!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: container securityContext must forbid privilege escalation, make the root filesystem read-only and drop ALL capabilities", where)
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s: the pods need no Kubernetes API token (automountServiceAccountToken: false)", where)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				t.Errorf("%s: no %s request", where, r)
			}
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			t.Errorf("%s: no memory limit", where)
		}

		// The environment: every variable a setting of the program (or
		// the SDK's own), the required ones set.
		env := containerEnv(t, m, where, c)
		for name := range env {
			if _, ok := own[name]; !ok && !sdkVariable(name) {
				t.Errorf("%s: %s is not a setting of %s (%s -h)", where, name, c.Name, c.Name)
			}
		}
		// Go's soft memory limit must sit below the container's hard one,
		// or the kernel kills the pod before the collector works harder.
		if v, ok := env["GOMEMLIMIT"]; ok {
			soft, err := resource.ParseQuantity(strings.TrimSuffix(v.value, "B"))
			if hard := c.Resources.Limits[corev1.ResourceMemory]; err != nil || soft.Cmp(hard) >= 0 {
				t.Errorf("%s: GOMEMLIMIT %q must be a size below the memory limit %s (%v)", where, v.value, hard.String(), err)
			}
		}
		for name, s := range own {
			if strings.Contains(s.usage, "required") && !strings.Contains(s.usage, "required with") && s.def == "" {
				if v, ok := env[name]; !ok || (v.secret == "" && v.value == "") {
					t.Errorf("%s: %s (-%s) is required and not set", where, name, s.flag)
				}
			}
		}
		for _, secret := range []string{"CERTFLOW_DB", "CERTFLOW_CA_TOKEN", "CERTFLOW_PAY_TOKEN", "CERTFLOW_WEBHOOK_SECRETS", "CERTFLOW_TOKENS", "CERTFLOW_EVENT_SECRETS", "TEMPORAL_API_KEY"} {
			if v, ok := env[secret]; ok && v.secret == "" {
				t.Errorf("%s: %s holds a secret: take it from a Secret, not %s", where, secret, v.from)
			}
		}

		// Files a setting names are keys of a mounted Secret or ConfigMap.
		mounts := map[string]corev1.Volume{}
		for _, vm := range c.VolumeMounts {
			for _, v := range spec.Volumes {
				if v.Name == vm.Name {
					mounts[vm.MountPath] = v
				}
			}
			if vm.SubPath != "" {
				t.Errorf("%s: volume %s is mounted with subPath: its updates would not reach the file", where, vm.Name)
			}
		}
		for name, v := range env {
			if !strings.HasSuffix(name, "_FILE") || v.value == "" {
				continue
			}
			vol, ok := mounts[path.Dir(v.value)]
			key := path.Base(v.value)
			switch {
			case !ok:
				t.Errorf("%s: %s=%s: no volume is mounted at %s", where, name, v.value, path.Dir(v.value))
			case vol.Secret != nil:
				if s, ok := m.secrets[vol.Secret.SecretName]; !ok || !secretKeys(s)[key] {
					t.Errorf("%s: %s=%s: Secret %s has no key %s", where, name, v.value, vol.Secret.SecretName, key)
				}
			case vol.ConfigMap != nil:
				if cm, ok := m.configMaps[vol.ConfigMap.Name]; !ok || cm.Data[key] == "" {
					t.Errorf("%s: %s=%s: ConfigMap %s has no key %s", where, name, v.value, vol.ConfigMap.Name, key)
				}
			default:
				t.Errorf("%s: %s=%s: the volume at %s is neither a Secret nor a ConfigMap", where, name, v.value, path.Dir(v.value))
			}
		}

		// The port the program listens on, named, and the probes on it.
		listen := listenPort(t, where, effective(env, own, prog.listen))
		var named *corev1.ContainerPort
		for i, p := range c.Ports {
			if p.Name == prog.portName {
				named = &c.Ports[i]
			}
		}
		if named == nil || named.ContainerPort != listen {
			t.Errorf("%s: want container port %q = %d (%s)", where, prog.portName, listen, prog.listen)
		}
		for _, pr := range []struct {
			kind  string
			probe *corev1.Probe
			path  string
		}{{"startup", c.StartupProbe, "/healthz"}, {"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
			if pr.probe == nil || pr.probe.HTTPGet == nil {
				t.Errorf("%s: no HTTP %s probe", where, pr.kind)
				continue
			}
			g := pr.probe.HTTPGet
			if g.Path != pr.path || (g.Port.StrVal != prog.portName && g.Port.IntValue() != int(listen)) {
				t.Errorf("%s: %s probe GET %s on %s, want %s on %s (%d)", where, pr.kind, g.Path, g.Port.String(), pr.path, prog.portName, listen)
			}
		}
		// The start-up probe outlasts the wait for Temporal.
		if sp := c.StartupProbe; sp != nil {
			budget := time.Duration(sp.PeriodSeconds*sp.FailureThreshold) * time.Second
			if dial := duration(t, where, "CERTFLOW_DIAL_TIMEOUT", effective(env, own, "CERTFLOW_DIAL_TIMEOUT")); budget <= dial {
				t.Errorf("%s: the start-up probe gives up after %s, before CERTFLOW_DIAL_TIMEOUT (%s)", where, budget, dial)
			}
		}

		// The grace period outlasts the shutdown.
		var shutdown time.Duration
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			shutdown += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
		switch c.Name {
		case "worker":
			// Activities get CERTFLOW_STOP_TIMEOUT, the metrics server 5s.
			shutdown += duration(t, where, "CERTFLOW_STOP_TIMEOUT", effective(env, own, "CERTFLOW_STOP_TIMEOUT")) + 5*time.Second
		case "gateway":
			// Requests get CERTFLOW_DRAIN_DELAY and CERTFLOW_SHUTDOWN_TIMEOUT, then the dispatcher
			// waits for its attempts in flight (CERTFLOW_EVENT_TIMEOUT).
			// The drain delay comes first (503s with the listener open).
			shutdown += duration(t, where, "CERTFLOW_DRAIN_DELAY", effective(env, own, "CERTFLOW_DRAIN_DELAY")) +
				duration(t, where, "CERTFLOW_SHUTDOWN_TIMEOUT", effective(env, own, "CERTFLOW_SHUTDOWN_TIMEOUT")) +
				duration(t, where, outbound.EnvTimeout, effective(env, own, outbound.EnvTimeout))
		}
		grace := 30 * time.Second // Kubernetes' default
		if spec.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
		}
		if grace <= shutdown {
			t.Errorf("%s: terminationGracePeriodSeconds %s does not exceed the shutdown (%s)", where, grace, shutdown)
		}

		switch c.Name {
		case "gateway":
			gateways = append(gateways, d)
			if _, ok := env[gateway.EnvTokens]; !ok {
				if _, ok := env[gateway.EnvTokensFile]; !ok {
					t.Errorf("%s: neither %s nor %s is set: the console API would not start", where, gateway.EnvTokens, gateway.EnvTokensFile)
				}
			}
			if v := effective(env, own, "CERTFLOW_EVENT_DISPATCH"); v != "true" {
				t.Errorf("%s: CERTFLOW_EVENT_DISPATCH=%q: the gateways run the event dispatcher", where, v)
			}
			if _, ok := env[outbound.EnvEndpoints]; ok {
				_, s1 := env[outbound.EnvSecrets]
				_, s2 := env[outbound.EnvSecretsFile]
				if !s1 && !s2 {
					t.Errorf("%s: event endpoints without their secrets", where)
				}
			}
		case "worker":
			workers = append(workers, d)
			if v := effective(env, own, "CERTFLOW_VERSIONING"); v != "true" {
				t.Errorf("%s: CERTFLOW_VERSIONING=%q: the workers poll as a Worker Deployment version", where, v)
			}
			id := env["CERTFLOW_BUILD_ID"]
			if id.from != "env" || id.value == "" {
				t.Errorf("%s: CERTFLOW_BUILD_ID must be the Deployment's own literal (one Deployment per build), not %q from %s", where, id.value, id.from)
				continue
			}
			if d.Labels[buildLabel] != id.value || d.Spec.Selector.MatchLabels[buildLabel] != id.value || d.Spec.Template.Labels[buildLabel] != id.value {
				t.Errorf("%s: label %s must be the build %s on the Deployment, its selector and its pods", where, buildLabel, id.value)
			}
			if tag != id.value {
				t.Errorf("%s: image tag %s is not its build %s", where, tag, id.value)
			}
			if !strings.HasSuffix(d.Name, "-"+id.value) {
				t.Errorf("%s: the name of a worker Deployment ends with its build, -%s", where, id.value)
			}
			if other, dup := builds[id.value]; dup {
				t.Errorf("%s and %s run the same build %s: the server would take them for the same code", where, other, id.value)
			}
			builds[id.value] = d.Name
		}
	}
	if len(gateways) != 1 || len(workers) < 2 {
		t.Fatalf("want the gateway and two builds' workers, got %d gateway and %d worker Deployments", len(gateways), len(workers))
	}
	// Two builds' Deployments never select each other's pods.
	for _, a := range workers {
		for _, b := range workers {
			if a != b && selects(a.Spec.Selector.MatchLabels, b.Spec.Template.Labels) {
				t.Errorf("Deployment %s selects the pods of %s", a.Name, b.Name)
			}
		}
	}

	// Services: each selects pods of a Deployment, on a port they name.
	wantServices := map[string][]*appsv1.Deployment{"certflow-gateway": gateways, "certflow-worker-metrics": workers}
	for _, s := range m.services {
		want, ok := wantServices[s.Name]
		if !ok {
			t.Errorf("unexpected Service %s", s.Name)
			continue
		}
		delete(wantServices, s.Name)
		for _, d := range m.deployments {
			if got := selects(s.Spec.Selector, d.Spec.Template.Labels); got != slices.Contains(want, d) {
				t.Errorf("Service %s selects Deployment %s's pods: %v, want %v", s.Name, d.Name, got, !got)
			}
		}
		for _, sp := range s.Spec.Ports {
			for _, d := range want {
				c := d.Spec.Template.Spec.Containers[0]
				if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
					return p.Name == sp.TargetPort.StrVal || p.ContainerPort == sp.TargetPort.IntVal
				}) {
					t.Errorf("Service %s port %s: target %s is no port of %s", s.Name, sp.Name, sp.TargetPort.String(), d.Name)
				}
			}
		}
	}
	for name := range wantServices {
		t.Errorf("no Service %s", name)
	}

	// Disruption budgets: one per program, over all its pods, leaving
	// room to evict one.
	for _, group := range [][]*appsv1.Deployment{gateways, workers} {
		var budget *policyv1.PodDisruptionBudget
		for _, p := range m.pdbs {
			if selects(p.Spec.Selector.MatchLabels, group[0].Spec.Template.Labels) {
				budget = p
			}
		}
		if budget == nil {
			t.Errorf("no PodDisruptionBudget covers Deployment %s", group[0].Name)
			continue
		}
		for _, d := range group {
			if !selects(budget.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
				t.Errorf("PodDisruptionBudget %s does not cover Deployment %s", budget.Name, d.Name)
			}
		}
		if mu := budget.Spec.MaxUnavailable; mu == nil && (budget.Spec.MinAvailable == nil || budget.Spec.MinAvailable.IntValue() >= int(*group[0].Spec.Replicas)) {
			t.Errorf("PodDisruptionBudget %s leaves no pod evictable", budget.Name)
		}
	}

	// The example's secrets are what the gateway accepts: the tokens file
	// (read as CERTFLOW_TOKENS_FILE), the callbacks' and the events'
	// signing secrets.
	if s, ok := m.secrets[secretOf(t, gateways[0], "tokens")]; ok {
		file := filepath.Join(t.TempDir(), "tokens")
		if err := os.WriteFile(file, s.Data["tokens"], 0o600); err != nil {
			t.Fatal(err)
		}
		tokens, err := gateway.TokensFromEnv(func(name string) string {
			if name == gateway.EnvTokensFile {
				return file
			}
			return ""
		})
		if err != nil {
			t.Errorf("the example's tokens file: %v", err)
		} else if tokens.Len() == 0 {
			t.Error("the example's tokens file holds no token")
		}
	}
	for _, d := range gateways {
		c := d.Spec.Template.Spec.Containers[0]
		for _, e := range c.Env {
			if e.Name != "CERTFLOW_WEBHOOK_SECRETS" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				continue
			}
			ref := e.ValueFrom.SecretKeyRef
			for i, sec := range strings.Split(string(m.secrets[ref.Name].Data[ref.Key]), ",") {
				if _, err := webhook.ParseSecret(sec); err != nil || !strings.HasPrefix(sec, webhook.SecretPrefix) {
					t.Errorf("Secret %s: CERTFLOW_WEBHOOK_SECRETS secret %d is not whsec_<base64>: %v", ref.Name, i+1, err)
				}
			}
		}
	}
	if s, ok := m.secrets[secretOf(t, gateways[0], "event-secrets")]; ok {
		_, err := outbound.ParseConfig(func(name string) string {
			if name == outbound.EnvEndpoints {
				return m.configMaps[configMapOf(t, gateways[0], "certflow-gateway")].Data[outbound.EnvEndpoints]
			}
			if name == outbound.EnvSecrets {
				return eventSecretsLine(s.Data["event-secrets"])
			}
			return ""
		})
		if err != nil {
			t.Errorf("the example's event secrets: %v", err)
		}
	}
}

// secretOf is the Secret of the Deployment's volume vol.
func secretOf(t *testing.T, d *appsv1.Deployment, vol string) string {
	t.Helper()
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == vol && v.Secret != nil {
			return v.Secret.SecretName
		}
	}
	t.Errorf("Deployment %s has no Secret volume %s", d.Name, vol)
	return ""
}

// configMapOf is the name, after kustomize's hash, of the Deployment's
// envFrom ConfigMap generated as base.
func configMapOf(t *testing.T, d *appsv1.Deployment, base string) string {
	t.Helper()
	for _, ef := range d.Spec.Template.Spec.Containers[0].EnvFrom {
		if ef.ConfigMapRef != nil && strings.HasPrefix(ef.ConfigMapRef.Name, base+"-") {
			return ef.ConfigMapRef.Name
		}
	}
	t.Errorf("Deployment %s has no ConfigMap %s", d.Name, base)
	return ""
}

// eventSecretsLine turns the secrets file's lines into the variable's
// form (entries joined by ;).
func eventSecretsLine(b []byte) string {
	var entries []string
	for line := range strings.Lines(string(b)) {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			entries = append(entries, l)
		}
	}
	return strings.Join(entries, ";")
}
