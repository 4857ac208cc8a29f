package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseFlagsOverrideEnv(t *testing.T) {
	env := map[string]string{
		"CASIM_TOKEN":        "env-token",
		"CASIM_REVIEW_DELAY": "2s",
		"CASIM_ADDR":         "127.0.0.1:1",
	}
	m, err := parse([]string{"-addr", "127.0.0.1:2"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if m.Token != "env-token" || m.ReviewDelay != 2*time.Second || m.Addr != "127.0.0.1:2" {
		t.Fatalf("parsed %+v", m)
	}
	if _, err := parse(nil, func(string) string { return "" }); err == nil {
		t.Fatal("parse accepted a missing token")
	}
}

func TestParseCallbackBudgetAndDB(t *testing.T) {
	env := map[string]string{"CASIM_TOKEN": "t", "CASIM_CALLBACK_ATTEMPTS": "3", "CASIM_DB": "/tmp/x.db"}
	m, err := parse([]string{"-callback-backoff", "200ms", "-callback-max-backoff", "1s"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if m.Retry.Attempts != 3 || m.Retry.Initial != 200*time.Millisecond || m.Retry.Max != time.Second || m.DB != "/tmp/x.db" {
		t.Fatalf("parsed %+v", m)
	}
	if _, err := parse([]string{"-callback-attempts", "0"}, func(k string) string { return env[k] }); err == nil {
		t.Fatal("parse accepted zero attempts")
	}
}

func TestReadBehaviours(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.json")
	if err := os.WriteFile(path, []byte(`{"c1":{"revocation":"reject","resubmit_rejected":"missing contact ID number"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := readBehaviours(path)
	if err != nil {
		t.Fatal(err)
	}
	if b["c1"].Revocation != "reject" || b["c1"].ResubmitRejected != "missing contact ID number" {
		t.Fatalf("behaviours %+v", b)
	}
}
