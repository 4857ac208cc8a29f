package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errstest"
	"github.com/certflow/certflow/ports"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
)

const (
	refundHolder = "refund/o-1"
	certHolder   = "certificate/c-1"
)

func TestHoldCertificate(t *testing.T) {
	ctx := context.Background()
	type call struct {
		hold    bool // else release
		holder  string
		from    string
		want    string // who holds after the call
		wantErr errs.Code
	}
	tests := map[string]struct {
		calls []call
		cert  string
	}{
		"take free": {calls: []call{{hold: true, holder: refundHolder, want: refundHolder}}},
		"take own again": {calls: []call{
			{hold: true, holder: refundHolder, want: refundHolder},
			{hold: true, holder: refundHolder, want: refundHolder},
		}},
		"refused by other": {calls: []call{
			{hold: true, holder: certHolder, want: certHolder},
			{hold: true, holder: refundHolder, want: certHolder},
		}},
		"refused by other even naming a wrong from": {calls: []call{
			{hold: true, holder: certHolder, want: certHolder},
			{hold: true, holder: refundHolder, from: "certificate/c-9", want: certHolder},
		}},
		"hand-over via from": {calls: []call{
			{hold: true, holder: refundHolder, want: refundHolder},
			{hold: true, holder: certHolder, from: refundHolder, want: certHolder},
		}},
		"hand-over from nobody is a plain take": {calls: []call{
			{hold: true, holder: certHolder, from: refundHolder, want: certHolder},
		}},
		"release by holder": {calls: []call{
			{hold: true, holder: refundHolder, want: refundHolder},
			{holder: refundHolder, want: ""},
			{hold: true, holder: certHolder, want: certHolder},
		}},
		"release by non-holder leaves it": {calls: []call{
			{hold: true, holder: refundHolder, want: refundHolder},
			{holder: certHolder, want: refundHolder},
		}},
		"release of a free certificate leaves it free": {calls: []call{{holder: refundHolder, want: ""}}},
		"hold of an unknown certificate": {cert: "c-9", calls: []call{
			{hold: true, holder: refundHolder, wantErr: errs.NotFound},
		}},
		"release of an unknown certificate": {cert: "c-9", calls: []call{
			{holder: refundHolder, wantErr: errs.NotFound},
		}},
		"empty holder": {calls: []call{
			{hold: true, holder: "", wantErr: errs.Invalid},
			{holder: "", wantErr: errs.Invalid},
		}},
		"empty certificate ID": {cert: "-", calls: []call{
			{hold: true, holder: refundHolder, wantErr: errs.Invalid},
			{holder: refundHolder, wantErr: errs.Invalid},
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db, _ := openMem(t)
			put(t, db, sslOrder(t, "o-1", cert("c-1", statemachine.Issued)))
			id := "c-1"
			switch tc.cert {
			case "-":
				id = ""
			case "":
			default:
				id = tc.cert
			}
			for i, c := range tc.calls {
				var (
					got string
					err error
				)
				if c.hold {
					got, err = db.HoldCertificate(ctx, id, c.holder, c.from)
				} else {
					err = db.ReleaseCertificate(ctx, id, c.holder)
				}
				if c.wantErr != "" {
					errstest.Want(t, err, c.wantErr)
					continue
				}
				if err != nil {
					t.Fatalf("call %d (%+v): %v", i, c, err)
				}
				if c.hold && got != c.want {
					t.Fatalf("call %d (%+v) returned holder %q, want %q", i, c, got, c.want)
				}
				if now, err := db.CertificateHolder(ctx, id); err != nil || now != c.want {
					t.Fatalf("after call %d (%+v): CertificateHolder = %q, %v; want %q", i, c, now, err, c.want)
				}
			}
		})
	}
	t.Run("the removal ends the hold", func(t *testing.T) {
		db, _ := openMem(t)
		put(t, db, sslOrder(t, "o-1", cert("c-1", statemachine.Issued)))
		if _, err := db.HoldCertificate(ctx, "c-1", refundHolder, ""); err != nil {
			t.Fatal(err)
		}
		for _, st := range []statemachine.CertState{statemachine.Revoked, statemachine.Removed} {
			c := cert("c-1", st)
			if err := db.SaveCertificate(ctx, "o-1", c, time.Now()); err != nil {
				t.Fatal(err)
			}
			want := refundHolder
			if st == statemachine.Removed {
				want = "" // a removed certificate has no writer left
			}
			if h, err := db.CertificateHolder(ctx, "c-1"); err != nil || h != want {
				t.Fatalf("after saving %s: holder %q, %v; want %q", st, h, err, want)
			}
		}
	})
	t.Run("holder of an unknown certificate", func(t *testing.T) {
		db, _ := openMem(t)
		_, err := db.CertificateHolder(ctx, "c-9")
		errstest.Want(t, err, errs.NotFound, "c-9")
	})
}

// Would-be holders racing for one certificate, through two store handles
// as two workers would (two processes' pools; on PostgreSQL two sets of
// connections to one database): exactly one wins, and every loser is told
// the winner.
func TestHoldCertificateRace(t *testing.T) {
	ctx := context.Background()
	for kind, path := range kinds {
		if kind == "memory" {
			continue // each in-memory database is private
		}
		t.Run(kind, func(t *testing.T) {
			dsn := path(t)
			a, _ := openAt(t, dsn)
			b, _ := openAt(t, dsn)
			const certs, racers = 5, 16
			var cs []string
			for i := range certs {
				id := fmt.Sprintf("c-%d", i)
				put(t, a, sslOrder(t, "o-"+id, cert(id, statemachine.Issued)))
				cs = append(cs, id)
			}
			for _, id := range cs {
				start := make(chan struct{})
				got := make([]string, racers)
				errc := make([]error, racers)
				var wg sync.WaitGroup
				for i := range racers {
					db := a
					if i%2 == 1 {
						db = b
					}
					wg.Go(func() {
						<-start
						got[i], errc[i] = db.HoldCertificate(ctx, id, fmt.Sprintf("refund/o-%d", i), "")
					})
				}
				close(start)
				wg.Wait()
				winners := 0
				winner, err := b.CertificateHolder(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				for i := range racers {
					if errc[i] != nil {
						t.Fatalf("%s: racer %d: %v", id, i, errc[i])
					}
					if got[i] == fmt.Sprintf("refund/o-%d", i) {
						winners++
					}
					if got[i] != winner {
						t.Errorf("%s: racer %d was told %q holds it; the store says %q", id, i, got[i], winner)
					}
				}
				if winners != 1 {
					t.Fatalf("%s: %d racers won the hold, want exactly 1 (answers %v)", id, winners, got)
				}
			}
		})
	}
}

// A hand-over raced by others: only the holder named as from can be
// replaced, so of racers all claiming to take over from it exactly one
// does, and a racer naming nobody never does.
func TestHoldCertificateHandOverRace(t *testing.T) {
	ctx := context.Background()
	for kind, path := range kinds {
		if kind == "memory" {
			continue
		}
		t.Run(kind, func(t *testing.T) {
			dsn := path(t)
			a, _ := openAt(t, dsn)
			b, _ := openAt(t, dsn)
			put(t, a, sslOrder(t, "o-1", cert("c-1", statemachine.Issued)))
			if h, err := a.HoldCertificate(ctx, "c-1", refundHolder, ""); err != nil || h != refundHolder {
				t.Fatalf("hold = %q, %v", h, err)
			}
			const racers = 12
			start := make(chan struct{})
			got := make([]string, racers)
			errc := make([]error, racers)
			var wg sync.WaitGroup
			for i := range racers {
				db := []*store.DB{a, b}[i%2]
				from := refundHolder
				if i%3 == 0 {
					from = "" // not a hand-over: refused while the refund holds it
				}
				wg.Go(func() {
					<-start
					got[i], errc[i] = db.HoldCertificate(ctx, "c-1", fmt.Sprintf("certificate/w-%d", i), from)
				})
			}
			close(start)
			wg.Wait()
			winners := 0
			for i := range racers {
				if errc[i] != nil {
					t.Fatal(errc[i])
				}
				if got[i] == fmt.Sprintf("certificate/w-%d", i) {
					winners++
					if i%3 == 0 {
						t.Errorf("racer %d took the certificate without naming its holder", i)
					}
				}
			}
			if winners != 1 {
				t.Fatalf("%d racers took the certificate over, want exactly 1 (answers %v)", winners, got)
			}
		})
	}
}

// A take-over names the dead holder and the hold's sequence number as read:
// it takes the hold only while both still stand, so a new run of the same
// workflow ID that took its hold again in between, a hand-over, or a
// release and a fresh hold since, keep the certificate.
func TestTakeOverCertificate(t *testing.T) {
	ctx := context.Background()
	for kind, path := range kinds {
		t.Run(kind, func(t *testing.T) {
			db, _ := openAt(t, path(t))
			put(t, db, sslOrder(t, "o-1", cert("c-1", statemachine.Issued)))
			hold := func(holder, from string) {
				t.Helper()
				if h, err := db.HoldCertificate(ctx, "c-1", holder, from); err != nil || h != holder {
					t.Fatalf("hold for %s = %q, %v", holder, h, err)
				}
			}
			read := func() ports.Hold {
				t.Helper()
				h, err := db.CertificateHold(ctx, "c-1")
				if err != nil {
					t.Fatal(err)
				}
				return h
			}
			hold(refundHolder, "")
			dead := read()
			if dead.Holder != refundHolder || dead.Seq < 1 {
				t.Fatalf("hold read = %+v, want %s with a sequence number", dead, refundHolder)
			}
			// The refund's workflow ID runs again (a new refund of the order)
			// and takes its own hold again: the take-over read before is
			// refused, and names the refund.
			hold(refundHolder, "")
			if h, err := db.TakeOverCertificate(ctx, "c-1", certHolder, dead); err != nil || h != refundHolder {
				t.Fatalf("take-over after the holder took its hold again = %q, %v; want %s kept", h, err, refundHolder)
			}
			// Read again: taken over.
			dead = read()
			if h, err := db.TakeOverCertificate(ctx, "c-1", certHolder, dead); err != nil || h != certHolder {
				t.Fatalf("take-over = %q, %v; want %s", h, err, certHolder)
			}
			if got := read(); got.Holder != certHolder || got.Seq != dead.Seq+1 {
				t.Fatalf("after take-over the hold is %+v, want %s at %d", got, certHolder, dead.Seq+1)
			}
			// Taking over the same dead hold again does nothing.
			if h, err := db.TakeOverCertificate(ctx, "c-1", "certificate/other", dead); err != nil || h != certHolder {
				t.Fatalf("second take-over of the same hold = %q, %v; want %s kept", h, err, certHolder)
			}
			// A hold released and taken afresh by the same name is another hold.
			stale := read()
			if err := db.ReleaseCertificate(ctx, "c-1", certHolder); err != nil {
				t.Fatal(err)
			}
			hold(certHolder, "")
			if h, err := db.TakeOverCertificate(ctx, "c-1", refundHolder, stale); err != nil || h != certHolder {
				t.Fatalf("take-over of a hold released and taken again = %q, %v; want %s kept", h, err, certHolder)
			}
			_, err := db.TakeOverCertificate(ctx, "c-9", refundHolder, stale)
			errstest.Want(t, err, errs.NotFound, "c-9")
			_, err = db.TakeOverCertificate(ctx, "c-1", refundHolder, ports.Hold{})
			errstest.Want(t, err, errs.Invalid, "c-1")
		})
	}
}

// Would-be holders racing to take over one dead holder, through two store
// handles, while a new run of the dead holder's workflow ID takes its hold
// again: exactly one of them ends holding the certificate, and every racer
// is told that one.
func TestTakeOverCertificateRace(t *testing.T) {
	ctx := context.Background()
	for kind, path := range kinds {
		if kind == "memory" {
			continue
		}
		t.Run(kind, func(t *testing.T) {
			dsn := path(t)
			a, _ := openAt(t, dsn)
			b, _ := openAt(t, dsn)
			for round := range 6 {
				id := fmt.Sprintf("c-%d", round)
				put(t, a, sslOrder(t, "o-"+id, cert(id, statemachine.Issued)))
				dead := "refund/o-" + id
				if h, err := a.HoldCertificate(ctx, id, dead, ""); err != nil || h != dead {
					t.Fatalf("hold = %q, %v", h, err)
				}
				read, err := a.CertificateHold(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				const racers = 8
				start := make(chan struct{})
				got := make([]string, racers+1)
				errc := make([]error, racers+1)
				var wg sync.WaitGroup
				for i := range racers {
					db := []*store.DB{a, b}[i%2]
					wg.Go(func() {
						<-start
						got[i], errc[i] = db.TakeOverCertificate(ctx, id, fmt.Sprintf("certificate/w-%d", i), read)
					})
				}
				rerun := round%2 == 1 // odd rounds: the dead holder's ID runs again
				if rerun {
					wg.Go(func() {
						<-start
						got[racers], errc[racers] = b.HoldCertificate(ctx, id, dead, "")
					})
				}
				close(start)
				wg.Wait()
				winner, err := a.CertificateHolder(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				winners := 0
				for i := range racers {
					if errc[i] != nil {
						t.Fatalf("racer %d: %v", i, errc[i])
					}
					if got[i] != winner {
						t.Errorf("%s: racer %d was told %q holds it; the store says %q", id, i, got[i], winner)
					}
					if got[i] == fmt.Sprintf("certificate/w-%d", i) {
						winners++
					}
				}
				switch {
				case winner == dead:
					// The new run took its hold first; nobody took it over.
					if !rerun || winners != 0 {
						t.Fatalf("%s: the dead holder kept it (rerun %v, %d take-overs)", id, rerun, winners)
					}
				case winners != 1:
					t.Fatalf("%s: %d racers took the hold over, want exactly 1 (answers %v)", id, winners, got)
				}
				if rerun && errc[racers] == nil && got[racers] == dead && winner != dead {
					t.Fatalf("%s: the new run was told it holds the certificate, but %s does", id, winner)
				}
			}
		})
	}
}
