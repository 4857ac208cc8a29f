package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
)

// insertEvents writes t's queued events to the outbox, in order, as the
// last statements of t. On PostgreSQL the first insert also takes the
// outbox lock (held until commit), so that sequence numbers are handed
// out in commit order and a reader paging by cursor never skips an event
// that commits late; the lock is the last one the transaction takes, so it
// cannot close a cycle with the row locks taken before it.
//
// The lock rides in the first insert (lockedEventInsert) rather than in a
// statement of its own: a round trip fewer per writing transaction, and
// one fewer while every other writer of events waits for the lock.
func (db *DB) insertEvents(ctx context.Context, t *Tx) error {
	for i, ev := range t.events {
		q := eventInsert
		if i == 0 && db.d.LockOutbox != "" {
			q = lockedEventInsert(db.d.LockOutbox)
		}
		if _, err := t.ExecContext(ctx, q,
			newEventID(), string(ev.Type), ev.OrderID, ev.CertificateID, formatTime(ev.OccurredAt), string(ev.Data)); err != nil {
			return dbError(err, "writing event %s of order %s", ev.Type, ev.OrderID)
		}
	}
	return nil
}

const eventInsert = `INSERT INTO events (id, type, order_id, certificate_id, occurred_at, data) VALUES (?, ?, ?, ?, ?, ?)`

// lockedEventInsert is eventInsert with the dialect's outbox lock taken in
// the same statement, before the event's sequence number is drawn: the
// row inserted is built from the lock's (materialised) CTE row, and the
// identity's next value is computed as that row is projected, so no
// sequence number is handed out before the lock is held.
func lockedEventInsert(lock string) string {
	return `WITH outbox_lock AS MATERIALIZED (` + lock + `)
		INSERT INTO events (id, type, order_id, certificate_id, occurred_at, data)
		SELECT ?, ?, ?, ?, ?, ? FROM outbox_lock`
}

// newEventID is a fresh event ID: "evt_" and 128 random bits in hex.
func newEventID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it aborts the program instead)
	return "evt_" + hex.EncodeToString(b)
}

const eventCols = `seq, id, type, order_id, certificate_id, occurred_at, data`

func scanEvent(s scanner) (seq int64, ev ports.Event, err error) {
	var typ, occurred, data string
	if err := s.Scan(&seq, &ev.ID, &typ, &ev.OrderID, &ev.CertificateID, &occurred, &data); err != nil {
		return 0, ports.Event{}, err
	}
	ev.Type = ports.EventType(typ)
	ev.Data = json.RawMessage(data)
	ev.Cursor = strconv.FormatInt(seq, 10)
	if ev.OccurredAt, err = parseTime(occurred); err != nil {
		return 0, ports.Event{}, err
	}
	return seq, ev, nil
}

// parseEventCursor reads a cursor of the outbox: "" (before the first
// event) or an event's sequence number in canonical decimal.
func parseEventCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	seq, err := strconv.ParseInt(c, 10, 64)
	if err != nil || seq < 0 || strconv.FormatInt(seq, 10) != c {
		return 0, errs.E(errs.Invalid, "event cursor %q is malformed (want the cursor of an event)", c)
	}
	return seq, nil
}

// ListEvents returns up to limit events after the cursor, oldest first
// (ports.Outbox). limit 0 means ports.DefaultEventPage; a negative limit,
// one above ports.MaxEventPage and a malformed cursor are errs.Invalid.
func (db *DB) ListEvents(ctx context.Context, after string, limit int) (ports.EventPage, error) {
	seq, err := parseEventCursor(after)
	if err != nil {
		return ports.EventPage{}, err
	}
	switch {
	case limit == 0:
		limit = ports.DefaultEventPage
	case limit < 0 || limit > ports.MaxEventPage:
		return ports.EventPage{}, errs.E(errs.Invalid, "event page size %d is not between 1 and %d", limit, ports.MaxEventPage)
	}
	page := ports.EventPage{Events: []ports.Event{}, Next: after}
	err = db.read(ctx, "listing events", func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+eventCols+" FROM events WHERE seq > ? ORDER BY seq LIMIT ?", seq, limit)
		if err != nil {
			return dbError(err, "listing events")
		}
		defer rows.Close()
		for rows.Next() {
			_, ev, err := scanEvent(rows)
			if err != nil {
				return dbError(err, "listing events")
			}
			page.Events = append(page.Events, ev)
			page.Next = ev.Cursor
		}
		return rows.Err()
	})
	if err != nil {
		return ports.EventPage{}, err
	}
	return page, nil
}
