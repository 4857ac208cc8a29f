package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/certflow/certflow/gateway"
)

// A request in its handler when draining starts finishes with its answer,
// through http.Server.Shutdown; a request arriving after it is refused 503
// before routing, with Retry-After and Connection: close; /healthz still
// answers.
func TestDrainFinishesInFlightAndRefusesNew(t *testing.T) {
	var d gateway.Drain
	entered, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = w.Write([]byte("done"))
	})
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("fast")) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: d.Handler(mux)}
	go func() { _ = srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()

	// A keep-alive connection opened before the drain: its next request
	// meets the switch, not a closed socket.
	keep := &http.Client{Transport: &http.Transport{}}
	closed := false
	get := func(c *http.Client, path string) (int, string, http.Header) {
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		closed = resp.Close // Connection: close (the client takes the header off)
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	if code, _, _ := get(keep, "/fast"); code != 200 {
		t.Fatalf("before the drain: %d", code)
	}

	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	<-entered
	d.Start()
	code, body, h := get(keep, "/fast")
	var p gateway.Problem
	_ = json.Unmarshal([]byte(body), &p)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !closed || p.Code != "unavailable" {
		t.Errorf("a new request while draining: %d %s %v, want 503 with Retry-After and Connection: close", code, body, h)
	}
	if code, _, _ := get(http.DefaultClient, "/healthz"); code != 200 {
		t.Errorf("/healthz while draining: %d, want 200", code)
	}

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	if got := <-slow; got != "done" {
		t.Errorf("the request in flight got %q, want its answer", got)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
