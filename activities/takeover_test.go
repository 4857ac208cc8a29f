package activities_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
	"github.com/certflow/certflow/workflows/certificate"
)

// fakeRuns answers Runs from a table: a workflow ID not listed is not
// found (never started, or past retention).
type fakeRuns struct {
	mu    sync.Mutex
	runs  map[string]string // workflow ID → status ("running", "terminated"…)
	err   error
	asked []string
	// before runs when a workflow is asked about, before the answer (a
	// race staged between the read of the hold and the take-over).
	before func(workflowID string)
}

func (f *fakeRuns) Running(_ context.Context, id string) (bool, string, error) {
	f.mu.Lock()
	f.asked = append(f.asked, id)
	before := f.before
	f.mu.Unlock()
	if before != nil {
		before(id)
	}
	if f.err != nil {
		return false, "", f.err
	}
	st, ok := f.runs[id]
	if !ok {
		return false, "not found", nil
	}
	return st == "running", st, nil
}

// The take-over decision: a would-be holder finding the certificate held
// by a workflow that runs is told that holder; held by one that is closed
// (any way) or unknown to Temporal, it takes the hold over; a Temporal that
// does not answer takes nothing and is retried.
func TestHoldCertificatesTakesOverFromClosedHolder(t *testing.T) {
	const dead, self = "refund/o-1", "certificate/c-1"
	tests := map[string]struct {
		status  string // the holder's status; "" not found
		err     error
		want    string
		wantErr errs.Code
	}{
		"holder running":         {status: "running", want: dead},
		"holder terminated":      {status: "terminated", want: self},
		"holder failed":          {status: "failed", want: self},
		"holder timed out":       {status: "timedout", want: self},
		"holder completed":       {status: "completed", want: self},
		"holder not found":       {want: self},
		"Temporal not answering": {err: errs.E(errs.Unavailable, "Temporal down"), wantErr: errs.Unavailable},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newHoldEnv(t)
			runs := &fakeRuns{runs: map[string]string{}, err: tc.err}
			if tc.status != "" {
				runs.runs[dead] = tc.status
			}
			e.a.Runs = runs
			if _, err := e.db.HoldCertificate(context.Background(), "c-1", dead, ""); err != nil {
				t.Fatal(err)
			}
			got, err := e.hold(t, certificate.HoldInput{Holder: self, Certificates: []string{"c-1"}})
			if tc.wantErr != "" {
				// An outage stays a plain (retryable) error, as the
				// store's own (errtemporal.From).
				var appErr *temporal.ApplicationError
				if err == nil || (errors.As(err, &appErr) && appErr.NonRetryable()) || errtemporal.CodeOf(err) == errs.NotFound {
					t.Fatalf("error = %v, want a retryable %s", err, tc.wantErr)
				}
				if h := e.holders(t)["c-1"]; h != dead {
					t.Fatalf("after a failed question the store names %q, want %s kept", h, dead)
				}
				return
			}
			if want := map[string]string{"c-1": tc.want}; err != nil || !maps.Equal(got, want) {
				t.Fatalf("HoldCertificates = %v, %v; want %v", got, err, want)
			}
			if h := e.holders(t)["c-1"]; h != tc.want {
				t.Fatalf("the store names %q, want %s", h, tc.want)
			}
			if !(len(runs.asked) == 1 && runs.asked[0] == dead) {
				t.Fatalf("asked Temporal about %v, want [%s]", runs.asked, dead)
			}
		})
	}
}

// Free certificates and the holder's own holds need no question, and
// without Runs (a worker not wired for it) nothing is ever taken over.
func TestHoldCertificatesAsksOnlyAboutOthers(t *testing.T) {
	e := newHoldEnv(t)
	runs := &fakeRuns{runs: map[string]string{}}
	e.a.Runs = runs
	if _, err := e.db.HoldCertificate(context.Background(), "c-2", "refund/o-1", ""); err != nil {
		t.Fatal(err)
	}
	// The refund's ID taking its hold again (a new run of the same refund)
	// and a free certificate: no question.
	got, err := e.hold(t, certificate.HoldInput{Holder: "refund/o-1", Certificates: []string{"c-1", "c-2"}})
	if want := map[string]string{"c-1": "refund/o-1", "c-2": "refund/o-1"}; err != nil || !maps.Equal(got, want) || len(runs.asked) != 0 {
		t.Fatalf("HoldCertificates = %v, %v, asked %v; want %v, no question", got, err, runs.asked, want)
	}
	e.a.Runs = nil
	got, err = e.hold(t, certificate.HoldInput{Holder: "certificate/c-1", Certificates: []string{"c-1"}})
	if want := map[string]string{"c-1": "refund/o-1"}; err != nil || !maps.Equal(got, want) {
		t.Fatalf("without Runs = %v, %v; want %v", got, err, want)
	}
}

// A new run of the dead holder's workflow ID (a new refund of the order)
// that takes its hold again between the read and the take-over keeps it:
// the would-be holder is told the refund holds it.
func TestHoldCertificatesTakeOverLosesToNewRun(t *testing.T) {
	const dead = "refund/o-1"
	e := newHoldEnv(t)
	runs := &fakeRuns{runs: map[string]string{dead: "terminated"}}
	runs.before = func(string) {
		// The refund starts again and its LoadAndHold takes its hold
		// (its own already) while the would-be holder asks Temporal.
		if _, err := e.db.HoldCertificate(context.Background(), "c-1", dead, ""); err != nil {
			t.Error(err)
		}
	}
	e.a.Runs = runs
	if _, err := e.db.HoldCertificate(context.Background(), "c-1", dead, ""); err != nil {
		t.Fatal(err)
	}
	got, err := e.hold(t, certificate.HoldInput{Holder: "certificate/c-1", Certificates: []string{"c-1"}})
	if want := map[string]string{"c-1": dead}; err != nil || !maps.Equal(got, want) {
		t.Fatalf("HoldCertificates = %v, %v; want %v (the new run keeps its hold)", got, err, want)
	}
}

// Would-be holders racing to take over one dead holder: exactly one takes
// it, and every one is told that one (the fake store, as the workflows'
// tests use it; the store's own race test runs two pools).
func TestTakeOverRaceOneWinner(t *testing.T) {
	const dead, racers = "refund/o-1", 8
	e := newHoldEnv(t)
	runs := &fakeRuns{runs: map[string]string{dead: "terminated"}}
	for i := range racers {
		// Each racer is a workflow that runs (it asks from its own task).
		runs.runs[fmt.Sprintf("certificate/w-%d", i)] = "running"
	}
	e.a.Runs = runs
	if _, err := e.db.HoldCertificate(context.Background(), "c-1", dead, ""); err != nil {
		t.Fatal(err)
	}
	got := make([]string, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			out, err := e.a.HoldCertificates(context.Background(), certificate.HoldInput{Holder: fmt.Sprintf("certificate/w-%d", i), Certificates: []string{"c-1"}})
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = out["c-1"]
		})
	}
	close(start)
	wg.Wait()
	winner := e.holders(t)["c-1"]
	winners := 0
	for i := range racers {
		if got[i] != winner {
			t.Errorf("racer %d told %q, the store names %q", i, got[i], winner)
		}
		if got[i] == fmt.Sprintf("certificate/w-%d", i) {
			winners++
		}
	}
	if winners != 1 {
		t.Fatalf("%d racers took the hold over, want 1 (%v)", winners, got)
	}
}
