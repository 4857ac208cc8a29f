package temporalx

import (
	"context"
	"github.com/certflow/certflow/internal/testenv"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestZapLoggerTurnsKeyvalsIntoFields(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	var l log.Logger = NewZapLogger(zap.New(core))
	l = log.With(l, "worker", "w-1")
	l.Info("polling", "task_queue", "certflow", "attempt", 2)
	l.Error("failed", "error", "boom")

	entries := logs.AllUntimed()
	if len(entries) != 2 {
		t.Fatalf("got %d entries, want 2", len(entries))
	}
	got := entries[0].ContextMap()
	if got["worker"] != "w-1" || got["task_queue"] != "certflow" || got["attempt"] != int64(2) {
		t.Errorf("fields = %v, want worker, task_queue and attempt", got)
	}
	if entries[1].Level != zapcore.ErrorLevel || entries[1].Message != "failed" {
		t.Errorf("second entry = %s %q, want error \"failed\"", entries[1].Level, entries[1].Message)
	}
}

func TestDialGivesUpWhenTheContextEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Dial(ctx, client.Options{HostPort: addr}, 50*time.Millisecond)
	if err == nil {
		t.Fatal("Dial succeeded with no server")
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name the address", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Dial took %s after its context ended", d)
	}
}

func TestEnsureSearchAttributes(t *testing.T) {
	bin := testenv.TemporalBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath: bin, LogLevel: "error", Stdout: io.Discard,
		ExtraArgs: []string{"--search-attribute", "OrderId=Keyword"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	specs := []string{"OrderId=Keyword", "Escalated=Bool", "Product=Keyword"}

	err = CheckSearchAttributes(ctx, srv.Client(), "default", specs)
	if err == nil || !strings.Contains(err.Error(), "Escalated=Bool, Product=Keyword are not registered on namespace default") {
		t.Errorf("check before registering: %v, want one naming the two missing", err)
	}
	added, err := EnsureSearchAttributes(ctx, srv.Client(), "default", specs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(added, []string{"Escalated", "Product"}) {
		t.Errorf("first call added %v, want the two missing", added)
	}
	if added, err = EnsureSearchAttributes(ctx, srv.Client(), "default", specs); err != nil || len(added) != 0 {
		t.Errorf("second call added %v, %v; want nothing", added, err)
	}
	if err := CheckSearchAttributes(ctx, srv.Client(), "default", specs); err != nil {
		t.Errorf("check after registering: %v", err)
	}
	if err := CheckSearchAttributes(ctx, srv.Client(), "default", []string{"Product=Int"}); err == nil || !strings.Contains(err.Error(), "as Keyword, want Int") {
		t.Errorf("check of a type clash: %v", err)
	}
	if _, err := EnsureSearchAttributes(ctx, srv.Client(), "default", []string{"Product=Int"}); err == nil {
		t.Error("a type clash was accepted")
	}
	if _, err := EnsureSearchAttributes(ctx, srv.Client(), "default", []string{"Product:Keyword"}); err == nil {
		t.Error("a malformed spec was accepted")
	}
}

// A reused dev database that registered CertificateState as a Keyword
// gets it again as the KeywordList the workflows now set.
func TestRetypeSearchAttributes(t *testing.T) {
	bin := testenv.TemporalBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath: bin, LogLevel: "error", Stdout: io.Discard,
		ExtraArgs: []string{"--search-attribute", "OrderId=Keyword", "--search-attribute", "CertificateState=Keyword"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	specs := []string{"OrderId=Keyword", "CertificateState=KeywordList"}
	removed, err := RetypeSearchAttributes(ctx, srv.Client(), "default", specs)
	if err != nil || !slices.Equal(removed, []string{"CertificateState"}) {
		t.Fatalf("retype removed %v, %v; want CertificateState", removed, err)
	}
	if added, err := EnsureSearchAttributes(ctx, srv.Client(), "default", specs); err != nil || !slices.Equal(added, []string{"CertificateState"}) {
		t.Fatalf("ensure added %v, %v; want CertificateState", added, err)
	}
	if err := CheckSearchAttributes(ctx, srv.Client(), "default", specs); err != nil {
		t.Errorf("check after retyping: %v", err)
	}
	if removed, err := RetypeSearchAttributes(ctx, srv.Client(), "default", specs); err != nil || len(removed) != 0 {
		t.Errorf("second retype removed %v, %v; want nothing", removed, err)
	}
}

func TestDevServerArgs(t *testing.T) {
	d := DevServer{CLI: "/nowhere/temporal", DBFile: "t.db", Port: 7233, SearchAttributes: []string{"A=Keyword", "B=Int"}, Extra: []string{"--headless"}}
	want := []string{"server", "start-dev", "--db-filename", "t.db", "--port", "7233", "--headless",
		"--search-attribute", "A=Keyword", "--search-attribute", "B=Int"}
	if got := d.Args(); !slices.Equal(got, want) {
		t.Errorf("Args() = %q, want %q", got, want)
	}
	if err := d.Check(); err == nil || !strings.Contains(err.Error(), "make temporal") {
		t.Errorf("Check() = %v, want the way to get a CLI", err)
	}
}
