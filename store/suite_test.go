package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/certflow/certflow/store"
)

// The store suite runs on SQLite always and on PostgreSQL when
// CERTFLOW_TEST_POSTGRES holds a DSN (postgres://user@host:port/db): then
// TestSuiteOnPostgres runs this test binary again with suiteBackendEnv set,
// and every test of the package (but the SQLite-only ones below) opens its
// database as a fresh schema of that PostgreSQL database. With
// CERTFLOW_REQUIRE_POSTGRES=1 (CI) a missing DSN fails the suite.
const (
	suiteBackendEnv   = "CERTFLOW_STORE_SUITE_BACKEND"
	testPostgresEnv   = "CERTFLOW_TEST_POSTGRES"
	requirePostgreEnv = "CERTFLOW_REQUIRE_POSTGRES"
)

// sqliteOnly are the tests of SQLite's own settings and migrations.
var sqliteOnly = []string{"TestSuiteOnPostgres", "TestMigrations", "TestOpenSettings", "TestMigrationKeepsVersion2Payouts"}

func onPostgres() bool { return os.Getenv(suiteBackendEnv) == "postgres" }

func TestSuiteOnPostgres(t *testing.T) {
	dsn := os.Getenv(testPostgresEnv)
	if dsn == "" {
		if os.Getenv(requirePostgreEnv) != "" {
			t.Fatalf("%s is set but %s holds no PostgreSQL DSN: the store suite must run on PostgreSQL", requirePostgreEnv, testPostgresEnv)
		}
		t.Skipf("%s is not set: the store suite ran on SQLite only", testPostgresEnv)
	}
	run := "."
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" && !strings.Contains(f.Value.String(), "TestSuiteOnPostgres") {
		run = f.Value.String()
	}
	args := []string{"-test.run=" + run, "-test.skip=^(" + strings.Join(sqliteOnly, "|") + ")$", "-test.count=1"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), suiteBackendEnv+"=postgres")
	out, err := cmd.CombinedOutput()
	if err != nil || testing.Verbose() {
		t.Logf("store suite on PostgreSQL:\n%s", out)
	}
	if err != nil {
		t.Fatalf("store suite on PostgreSQL failed: %v", err)
	}
	if strings.Contains(string(out), "no tests to run") || (!strings.Contains(string(out), "\nPASS") && !strings.HasPrefix(string(out), "PASS")) {
		t.Fatalf("store suite on PostgreSQL did not report PASS:\n%s", out)
	}
}

var adminOnce struct {
	sync.Once
	db  *sql.DB
	err error
}

// postgresDSN creates a fresh schema in the PostgreSQL database of
// CERTFLOW_TEST_POSTGRES, dropped when the test ends, and returns a DSN
// whose search_path is that schema.
func postgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(testPostgresEnv)
	if dsn == "" {
		t.Fatalf("%s is empty in the PostgreSQL run", testPostgresEnv)
	}
	adminOnce.Do(func() {
		adminOnce.db, adminOnce.err = sql.Open("pgx", dsn)
	})
	if adminOnce.err != nil {
		t.Fatal(adminOnce.err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	ctx := context.Background()
	if _, err := adminOnce.db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		if _, err := adminOnce.db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", testPostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Processes opening one fresh database at once apply every migration once
// (SQLite: IMMEDIATE transactions; PostgreSQL: an advisory lock).
func TestOpenConcurrently(t *testing.T) {
	for kind, path := range kinds {
		if kind == "memory" {
			continue // each in-memory database is private
		}
		t.Run(kind, func(t *testing.T) {
			dsn := path(t)
			const n = 4
			var wg sync.WaitGroup
			errc := make(chan error, n)
			for range n {
				wg.Go(func() {
					db, err := store.Open(context.Background(), dsn)
					if err == nil {
						err = db.Close()
					}
					errc <- err
				})
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				if err != nil {
					t.Fatal(err)
				}
			}
			db, _ := openAt(t, dsn)
			if err := db.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOpenRefusesUnknownDSN(t *testing.T) {
	for name, dsn := range map[string]string{
		"mysql":           "mysql://root@localhost/certflow",
		"empty":           "",
		"empty sqlite":    "sqlite:",
		"malformed pg":    "postgres://user:pa ss@[::1/db",
		"sqlite with a ?": "sqlite:x.db?mode=ro",
	} {
		t.Run(name, func(t *testing.T) {
			if db, err := store.Open(context.Background(), dsn); err == nil {
				_ = db.Close()
				t.Fatalf("Open(%q) succeeded", dsn)
			} else if strings.Contains(err.Error(), "pa ss") {
				t.Fatalf("the error quotes the password: %v", err)
			}
		})
	}
}
