package procs

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitReadyPollsUntilHTTPOK(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if err := WaitReady(context.Background(), nil, "srv", 10*time.Second, HTTPOK(srv.Client(), srv.URL)); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
}

func TestWaitReadyGivesUp(t *testing.T) {
	never := func(context.Context) error { return errors.New("not yet") }
	err := WaitReady(context.Background(), nil, "srv", 300*time.Millisecond, never)
	if err == nil || !strings.Contains(err.Error(), "srv not ready after 300ms: not yet") {
		t.Errorf("limit passed: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if err := WaitReady(ctx, nil, "srv", time.Minute, never); !errors.Is(err, context.Canceled) {
		t.Errorf("ctx ended: %v, want context.Canceled", err)
	}
}
