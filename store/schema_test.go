package store_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errstest"
	"github.com/certflow/certflow/store"
)

var updateSchema = flag.Bool("update-schema", false, "rewrite testdata/schema.txt from an SQLite database")

// TestSchema migrates a fresh database and compares its tables, columns
// and indexes, by name, to testdata/schema.txt: the schema the migrations
// produced before they moved to goose, the same on SQLite and PostgreSQL.
func TestSchema(t *testing.T) {
	for kind, path := range kinds {
		t.Run(kind, func(t *testing.T) {
			db, _ := openAt(t, path(t))
			got, err := store.Schema(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "schema.txt")
			if *updateSchema && !onPostgres() {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Fatalf("schema on %s:\n%s\nwant (%s):\n%s", db.Dialect(), got, golden, want)
			}
		})
	}
}

// A database the runner before goose migrated is adopted: goose's table
// records the steps it had (PostgreSQL's 0001_init as goose's 1-3), the old
// table is dropped, and the missing steps are applied, reaching the same
// schema as a fresh database. Steps this build does not know are refused.
func TestAdoptsOldRunnerDatabase(t *testing.T) {
	ctx := context.Background()
	latest := map[bool]int{false: 7, true: 5}[onPostgres()]
	for kind, path := range kinds {
		if kind == "memory" {
			continue // nothing survives to be adopted
		}
		for _, version := range []int{1, 2, latest} {
			t.Run(fmt.Sprintf("%s at old version %d", kind, version), func(t *testing.T) {
				dsn := path(t)
				if err := store.MakeLegacy(ctx, dsn, version); err != nil {
					t.Fatal(err)
				}
				db, _ := openAt(t, dsn)
				if v, err := store.SchemaVersion(ctx, db); err != nil || v != 13 {
					t.Fatalf("schema version = %d, %v; want 13", v, err)
				}
				got, err := store.Schema(ctx, db)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := os.ReadFile(filepath.Join("testdata", "schema.txt"))
				if got != string(want) {
					t.Fatalf("adopted schema:\n%s\nwant:\n%s", got, want)
				}
				if err := store.MakeLegacy(ctx, dsn, 0); err == nil {
					// MakeLegacy creates schema_migrations: it was dropped.
					t.Log("schema_migrations was dropped on adoption")
				} else {
					t.Fatalf("schema_migrations survived adoption: %v", err)
				}
			})
		}
		t.Run(kind+" with an unknown step is refused", func(t *testing.T) {
			dsn := path(t)
			if err := store.MakeLegacy(ctx, dsn, latest, fmt.Sprint(latest+1, " later_step")); err != nil {
				t.Fatal(err)
			}
			db, err := store.Open(ctx, dsn)
			if err == nil {
				_ = db.Close()
				t.Fatal("Open adopted a database with an unknown step")
			}
			errstest.Want(t, err, errs.Internal, fmt.Sprintf("lists step %04d_later_step, which this build does not know: open it with the certflow build that migrated it, or start from a fresh database", latest+1))
		})
	}
}
