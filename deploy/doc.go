// Package deploy holds no program: it is the home of the deployment files
// (the Grafana dashboard and its provisioning, Prometheus' scrape
// configuration, the Temporal and PostgreSQL setup scripts the compose
// file mounts) and of the tests that hold them to the code, since Docker
// cannot run where the tests do:
//
//   - compose_test.go loads docker-compose.temporal.yml with compose-go and
//     checks its services, pinned images, health checks, dependency
//     conditions, the search attributes it registers (against
//     workflows.SearchAttributeTypes) and the Dockerfile's targets; it runs
//     the namespace script against a Temporal dev server;
//   - dashboard_test.go checks that every metric the dashboard queries is
//     one the code exports;
//   - tidy_test.go fails when `go mod tidy -diff` would change go.mod or
//     go.sum;
//   - shipped_test.go fails when a shipped binary (worker, gateway,
//     starter) links a test package: testify, Temporal's testsuite,
//     certflow's sim (beyond what the Temporal SDK itself imports);
//   - imports_test.go holds the import rules of docs/ARCHITECTURE.md (each
//     package's layer, what the layer may import, the known exceptions)
//     and fails when that document's package table goes stale.
package deploy
