package postgres

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
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

func TestUnavailable(t *testing.T) {
	tests := map[string]struct {
		err  error
		want bool
	}{
		"connection dropped mid-answer": {fmt.Errorf("reading certificate holder: %w", io.ErrUnexpectedEOF), true},
		"connection closed":             {fmt.Errorf("query: %w", io.EOF), true},
		"bad connection":                {driver.ErrBadConn, true},
		"server shutting down":          {&pgconn.PgError{Code: "57P01"}, true},
		"serialisation failure":         {&pgconn.PgError{Code: "40001"}, true},
		"unique violation":              {&pgconn.PgError{Code: "23505"}, false},
		"a bug":                         {errors.New("bug"), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Unavailable(tc.err); got != tc.want {
				t.Errorf("Unavailable(%v) = %t, want %t", tc.err, got, tc.want)
			}
		})
	}
}
