package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/certflow/certflow/errs"
)

// Group commit on an SQLite file. SQLite has one writer, and every commit
// waits for its fsync (synchronous=FULL, M-4): writing transactions run
// one at a time, each paying a BEGIN IMMEDIATE, a COMMIT and an fsync, and
// under load (200 refund POSTs, the dispatcher marking their starts) they
// queue for seconds. So this process's writing transactions are handed to
// one goroutine, the committer, which runs those queued at once in one
// SQLite transaction, each inside a savepoint of its own: a write whose fn
// fails is rolled back to its savepoint, alone, and the others commit
// together, with one fsync. Nobody hears of a write before its commit, so a
// write reported done is durable, and a failed commit fails all of its
// batch. The writes of a batch run in the order they were queued, each
// seeing the ones before it, as if they had been separate transactions.

// maxBatch bounds the writes of one group commit.
const maxBatch = 128

// A write's progress: queued until the committer takes it (running) or
// its caller gives up first (abandoned).
const (
	writeQueued int32 = iota
	writeRunning
	writeAbandoned
)

type writeReq struct {
	ctx   context.Context
	what  string
	fn    func(*Tx) error
	state atomic.Int32
	// done receives the write's outcome once its batch is committed or
	// rolled back.
	done chan error
}

// committer runs the writing transactions of an SQLite file (Open starts
// it; Close stops it).
type committer struct {
	db    *DB
	pool  *sql.DB
	stmts *stmtCache
	reqs  chan *writeReq
	quit  chan struct{}
	wg    sync.WaitGroup
}

func newCommitter(db *DB, pool *sql.DB) *committer {
	c := &committer{db: db, pool: pool, stmts: newStmtCache(pool), reqs: make(chan *writeReq), quit: make(chan struct{})}
	c.wg.Go(c.run)
	return c
}

// write queues fn and waits for its batch's outcome. A write not yet taken
// when ctx ends is dropped (Unavailable); one taken runs to its commit.
func (c *committer) write(ctx context.Context, what string, fn func(*Tx) error) error {
	r := &writeReq{ctx: ctx, what: what, fn: fn, done: make(chan error, 1)}
	select {
	case c.reqs <- r:
	case <-ctx.Done():
		return dbError(ctx.Err(), "%s", what)
	case <-c.quit:
		return errs.E(errs.Unavailable, "%s: the store is closed", what)
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(writeQueued, writeAbandoned) {
			return dbError(ctx.Err(), "%s", what)
		}
		return <-r.done
	}
}

func (c *committer) run() {
	batch := make([]*writeReq, 0, maxBatch)
	for {
		select {
		case r := <-c.reqs:
			batch = append(batch[:0], r)
		case <-c.quit:
			return
		}
		// Whatever queued while the last batch ran joins this one: no
		// wait is added, a lone write commits at once.
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-c.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		c.commit(batch)
		clear(batch)
	}
}

// commit runs batch in one transaction, each write in a savepoint, and
// tells each its outcome once the transaction ended.
func (c *committer) commit(batch []*writeReq) {
	errsOf := make([]error, len(batch))
	// The batch's statements ignore their callers' cancellation (Tx.ctx):
	// SQLite interrupted in a statement rolls the whole transaction
	// back, every write of the batch with it.
	tx, err := c.pool.BeginTx(context.Background(), nil)
	if err != nil {
		for _, r := range batch {
			r.done <- dbError(err, "%s", r.what)
		}
		return
	}
	failed := false
	for i, r := range batch {
		if !r.state.CompareAndSwap(writeQueued, writeRunning) {
			errsOf[i] = errs.E(errs.Unavailable, "%s: abandoned", r.what) // nobody waits for it
			continue
		}
		if err := r.ctx.Err(); err != nil {
			errsOf[i] = dbError(err, "%s", r.what)
			continue
		}
		if errsOf[i], err = c.inSavepoint(tx, r); err != nil {
			// The transaction itself is lost (SQLite rolled it back):
			// nothing of the batch is kept.
			failed = true
			for j := range batch {
				if errsOf[j] == nil {
					errsOf[j] = dbError(err, "%s", batch[j].what)
				}
			}
			break
		}
	}
	if failed {
		_ = tx.Rollback()
	} else if err := tx.Commit(); err != nil {
		for i, r := range batch {
			if errsOf[i] == nil {
				errsOf[i] = dbError(err, "%s", r.what)
			}
		}
	}
	for i, r := range batch {
		r.done <- errsOf[i]
	}
}

// inSavepoint runs r's fn with its events in a savepoint of tx: its own
// error rolls back to the savepoint (fnErr); lost is an error that
// leaves tx unusable.
func (c *committer) inSavepoint(tx *sql.Tx, r *writeReq) (fnErr, lost error) {
	t := &Tx{tx: tx, db: c.db, stmts: c.stmts, detached: true}
	if _, err := t.ExecContext(r.ctx, "SAVEPOINT w"); err != nil {
		return nil, err
	}
	err := call(r.fn, t)
	if err == nil && len(t.events) > 0 {
		err = c.db.insertEvents(r.ctx, t)
	}
	if err != nil {
		if _, lost := t.ExecContext(r.ctx, "ROLLBACK TO w"); lost != nil {
			return nil, lost
		}
		fnErr = dbError(err, "%s", r.what)
	}
	if _, lost := t.ExecContext(r.ctx, "RELEASE w"); lost != nil {
		return nil, lost
	}
	return fnErr, nil
}

// call runs fn, its panic an Internal error: the committer runs the writes
// of every caller, and one's panic must not end the process (a handler's
// is a 500, as it was when the caller ran its own transaction).
func call(fn func(*Tx) error, t *Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = errs.Wrap(errs.Internal, fmt.Errorf("panic: %v", v), "writing")
		}
	}()
	return fn(t)
}

func (c *committer) close() {
	close(c.quit)
	c.wg.Wait()
	c.stmts.close()
}

// stmtCache holds a pool's prepared statements by query text. Parsing is
// most of an SQLite statement's cost (modernc.org/sqlite is SQLite in Go),
// and the store runs few distinct queries; database/sql prepares each on a
// connection the first time it runs there and keeps it.
type stmtCache struct {
	pool *sql.DB
	m    sync.Map // query → *sql.Stmt
	// preparing are the queries being prepared in the background
	// (cached), and wg their goroutines.
	preparing sync.Map
	wg        sync.WaitGroup
}

func newStmtCache(pool *sql.DB) *stmtCache { return &stmtCache{pool: pool} }

// get returns q's statement, prepared once. database/sql prepares it on a
// free connection of the pool: the caller must hold none (cached is for
// transactions).
func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	if s, ok := c.m.Load(q); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := c.pool.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := c.m.LoadOrStore(q, s); loaded {
		_ = s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// cached returns q's statement if it is prepared; if not, nil, and q is
// prepared in the background. A transaction holds one of the pool's
// connections: were it to wait for a free one to prepare on, transactions
// holding every connection would wait for each other forever.
func (c *stmtCache) cached(q string) *sql.Stmt {
	if s, ok := c.m.Load(q); ok {
		return s.(*sql.Stmt)
	}
	if _, busy := c.preparing.LoadOrStore(q, struct{}{}); !busy {
		c.wg.Go(func() {
			defer c.preparing.Delete(q)
			_, _ = c.get(context.Background(), q) // a failure is met again, and reported, by the query itself
		})
	}
	return nil
}

func (c *stmtCache) close() {
	c.wg.Wait()
	c.m.Range(func(_, s any) bool {
		_ = s.(*sql.Stmt).Close()
		return true
	})
}
