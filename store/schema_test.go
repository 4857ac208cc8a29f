package store_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

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
