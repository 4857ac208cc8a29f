package postgres

import (
	"strings"
	"testing"
)

func TestRebind(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"in order":           {"SELECT a FROM t WHERE b = ? AND c IN (?, ?)", "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"},
		"numbered":           {"VALUES (?1, ?2, (SELECT x FROM t WHERE o = ?2))", "VALUES ($1, $2, (SELECT x FROM t WHERE o = $2))"},
		"quoted is kept":     {"SELECT '?' || \"a?\" FROM t WHERE b = ?", "SELECT '?' || \"a?\" FROM t WHERE b = $1"},
		"no placeholder":     {"SELECT 1", "SELECT 1"},
		"limit at the end ?": {"SELECT 1 LIMIT ?", "SELECT 1 LIMIT $1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Rebind(tc.in); got != tc.want {
				t.Fatalf("Rebind(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestDataSourceHidesThePassword(t *testing.T) {
	_, err := DataSource("postgres://user:s3cret@[::1/db")
	if err == nil {
		t.Fatal("a malformed DSN was accepted")
	}
	for _, c := range []string{"s3cret"} {
		if contains(err.Error(), c) {
			t.Fatalf("error %q quotes the password", err)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
