package program

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestEnv(t *testing.T) {
	env := Env(func(k string) string { return map[string]string{"SET": "v", "EMPTY": ""}[k] })
	for name, want := range map[string]string{"SET": "v", "EMPTY": "def", "UNSET": "def"} {
		if got := env(name, "def"); got != want {
			t.Errorf("env(%s) = %q, want %q", name, got, want)
		}
	}
}

func TestServeStopsWhenCtxEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hi") }))
	}()
	resp, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hi" {
		t.Errorf("body %q", b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil after a clean stop", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after ctx ended")
	}
}
