package store_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/store"
)

// On an SQLite file a process's writing transactions take turns: one that
// cannot get its turn before its context ends is Unavailable, and the
// queued ones all run once the turn is free.
func TestSQLiteWritersTakeTurns(t *testing.T) {
	db, _ := openAt(t, filepath.Join(t.TempDir(), "certflow.db"))
	release, ok := store.HoldWriterTurn(db)
	if !ok {
		t.Fatal("an SQLite file store queues no writers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := db.PutOrder(ctx, sslOrder(t, "o-wait"))
	cancel()
	if errs.CodeOf(err) != errs.Unavailable {
		t.Fatalf("a write that never got its turn: %v, want unavailable", err)
	}
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() { errc <- db.PutOrder(context.Background(), sslOrder(t, "o-"+string(rune('a'+i)))) })
	}
	time.Sleep(20 * time.Millisecond) // they queue behind the held turn
	release()
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatalf("a queued write: %v", err)
		}
	}
	if _, ok := store.HoldWriterTurn(mustOpenMem(t)); ok {
		t.Error("an in-memory store (one connection) queues writers too")
	}
}

func mustOpenMem(t *testing.T) *store.DB {
	db, _ := openMem(t)
	return db
}
