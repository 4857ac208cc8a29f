// Package deploy holds no program: it is the home of the deployment files
// (the Grafana dashboard and its provisioning, Prometheus' scrape
// configuration and alert rules, the Temporal and PostgreSQL setup scripts
// the compose file mounts, the Kubernetes manifests under k8s/) and of the
// tests that hold them to the code, since neither Docker nor a cluster
// runs where the tests do:
//
//   - compose_test.go loads docker-compose.temporal.yml with compose-go and
//     checks its services, pinned images, health checks, dependency
//     conditions, the search attributes it registers (against
//     workflows.SearchAttributeTypes) and the Dockerfile's targets; it runs
//     the namespace script against a Temporal dev server;
//   - dashboard_test.go checks that every metric the dashboard queries is
//     one the code exports;
//   - alerts_test.go parses prometheus/rules.yml with Prometheus's rule
//     parser and checks every metric a rule selects against the code, and
//     the rules against the alert table of docs/operations.md;
//   - k8s_test.go builds k8s/base and k8s/overlays/example with kustomize,
//     decodes every object strictly into the Kubernetes API's types and
//     checks the variables against the binaries' settings (their -h), the
//     ports, probes, grace periods, security settings and worker builds;
//   - tidy_test.go fails when `go mod tidy -diff` would change go.mod or
//     go.sum;
//   - shipped_test.go fails when a shipped binary (worker, gateway,
//     starter) links a test package: testify, Temporal's testsuite,
//     certflow's sim (beyond what the Temporal SDK itself imports);
//   - imports_test.go holds the import rules of docs/ARCHITECTURE.md (each
//     package's layer, what the layer may import, the known exceptions)
//     and fails when that document's package table goes stale.
package deploy
