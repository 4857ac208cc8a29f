// Package procs supervises child processes for the development runner
// (cmd/certflow-dev) and the benchmark (bench): each child runs in a
// process group of its own, with its output appended to a log file, so a
// stop reaches the child and everything it spawned; on Linux the kernel
// also kills the child if the supervisor dies first.
package procs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ErrUnsupported is Start's error off Unix: supervision relies on
// process groups.
var ErrUnsupported = errors.New("starting child processes needs a Unix system (process groups)")

// Exited returns an error naming the child's log if it has exited, nil
// while it runs.
// ErrExitedWhileStarting is the cause WaitReady reports when the child
// ended before it was ready (e.g. its port was taken meanwhile).
var ErrExitedWhileStarting = errors.New("exited while starting")

func (c *Child) Exited() error {
	select {
	case <-c.Done():
		return fmt.Errorf("%s exited (%v); see %s", c.Name, c.Err(), c.Log)
	default:
		return nil
	}
}

// WaitReady polls ready (each attempt bounded by 2s) every 250ms until it
// succeeds, c exits (c may be nil), ctx ends (it returns ctx.Err()) or
// limit passes.
func WaitReady(ctx context.Context, c *Child, what string, limit time.Duration, ready func(context.Context) error) error {
	deadline := time.Now().Add(limit)
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := ready(attempt)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if c != nil {
			select {
			case <-c.Done():
				return fmt.Errorf("%s %w (%v); see %s", c.Name, ErrExitedWhileStarting, c.Err(), c.Log)
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", what, limit, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// HTTPOK is a readiness check for WaitReady: GET url through hc answers
// 200.
func HTTPOK(hc *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}
