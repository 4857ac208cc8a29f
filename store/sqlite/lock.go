package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/pressly/goose/v3/lock"

	"github.com/certflow/certflow/errs"
)

// MigrationLockTimeout is how long Open waits for another process's
// migrations before it gives up (errs.Unavailable).
const MigrationLockTimeout = 5 * time.Minute

// MigrationLocker returns the lock processes hold while they migrate the
// database file at path, or nil for Memory (private to one connection).
//
// goose reads the applied versions before it applies the missing ones,
// each in its own transaction, so two processes opening one fresh file at
// once would both apply step 1: SQLite's serialised writers alone do not
// make migrating once. The lock is an exclusive transaction on a
// companion file, path+"-migrate" (an empty SQLite database, kept beside
// the -wal and -shm files): SQLite's own file locking, which the
// operating system drops when a process dies, so a crash never leaves a
// stale lock. It cannot be the database file itself, whose write lock the
// migrations need.
func MigrationLocker(path string) lock.Locker {
	if path == Memory {
		return nil
	}
	return &fileLocker{path: path + "-migrate"}
}

type fileLocker struct {
	path string
	db   *sql.DB
	conn *sql.Conn
}

var _ lock.Locker = (*fileLocker)(nil)

func (l *fileLocker) Lock(ctx context.Context, _ *sql.DB) error {
	db, err := sql.Open(DriverName, fmt.Sprintf("%s?_pragma=busy_timeout(%d)", l.path, time.Second.Milliseconds()))
	if err != nil {
		return errs.Wrap(errs.Internal, err, "opening the migration lock %s", l.path)
	}
	ctx, cancel := context.WithTimeout(ctx, MigrationLockTimeout)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		_ = db.Close()
		return errs.Wrap(errs.Unavailable, err, "opening the migration lock %s", l.path)
	}
	for {
		_, err = conn.ExecContext(ctx, "BEGIN EXCLUSIVE")
		if err == nil {
			l.db, l.conn = db, conn
			return nil
		}
		if !Unavailable(err) || ctx.Err() != nil {
			_ = conn.Close()
			_ = db.Close()
			return errs.Wrap(errs.Unavailable, err, "taking the migration lock %s", l.path)
		}
	}
}

func (l *fileLocker) Unlock(ctx context.Context, _ *sql.DB) error {
	if l.conn == nil {
		return nil
	}
	_, err := l.conn.ExecContext(ctx, "ROLLBACK")
	_ = l.conn.Close()
	_ = l.db.Close()
	l.db, l.conn = nil, nil
	if err != nil {
		return errs.Wrap(errs.Internal, err, "releasing the migration lock %s", l.path)
	}
	return nil
}
