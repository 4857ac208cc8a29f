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
// last statements of t. Sequence numbers follow commit order, so a reader
// paging by cursor never skips an event that commits late: on SQLite
// because its writers run one at a time; on PostgreSQL because the number
// an event is inserted with is provisional, and a deferred trigger draws
// the final one as the transaction commits, under an advisory lock held
// until the commit is visible (migration 00012): the lock is held inside
// PostgreSQL's commit alone, never across a round trip to this process.
func (db *DB) insertEvents(ctx context.Context, t *Tx) error {
	for _, ev := range t.events {
		if _, err := t.ExecContext(ctx, eventInsert,
			newEventID(), string(ev.Type), ev.OrderID, ev.CertificateID, formatTime(ev.OccurredAt), string(ev.Data)); err != nil {
			return dbError(err, "writing event %s of order %s", ev.Type, ev.OrderID)
		}
	}
	return nil
}

const eventInsert = `INSERT INTO events (id, type, order_id, certificate_id, occurred_at, data) VALUES (?, ?, ?, ?, ?, ?)`

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
