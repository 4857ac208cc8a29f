package migrations

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var name = regexp.MustCompile(`^\d{5}_[a-z0-9_]+\.sql$`)

// Both databases have the same steps: the same file names, numbered 1,
// 2, 3, ... without gaps, each starting with goose's Up annotation.
func TestOneNumbering(t *testing.T) {
	list := func(fsys fs.FS) []string {
		t.Helper()
		names, err := fs.Glob(fsys, "*")
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range names {
			if !name.MatchString(n) {
				t.Errorf("%s is not named NNNNN_name.sql", n)
			}
			if !strings.HasPrefix(n, fmt.Sprintf("%05d_", i+1)) {
				t.Errorf("%s is at position %d", n, i+1)
			}
			body, err := fs.ReadFile(fsys, n)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(body), "-- +goose Up\n") {
				t.Errorf("%s does not start with -- +goose Up", n)
			}
			if strings.Contains(string(body), "+goose Down") {
				t.Errorf("%s has a down step", n)
			}
		}
		return names
	}
	sq, pg := list(SQLite()), list(Postgres())
	if len(sq) < 7 || !slices.Equal(sq, pg) {
		t.Fatalf("SQLite's steps %v and PostgreSQL's %v differ", sq, pg)
	}
}
