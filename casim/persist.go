package casim

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// journal is the simulator's own SQLite file: every change to what the CA
// knows is written through before it is acted on, so a restarted simulator
// picks up its open reviews (decided on time) and its callbacks still being
// delivered (retried). It is casim's alone; certflow never reads it.
type journal struct {
	db *sql.DB
}

const journalSchema = `
CREATE TABLE IF NOT EXISTS certificates (
	id       TEXT PRIMARY KEY,
	accepted TEXT NOT NULL,
	removed  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS behaviours (
	id        TEXT PRIMARY KEY,
	behaviour TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
	certificate  TEXT PRIMARY KEY,
	review_id    TEXT NOT NULL,
	reason       TEXT NOT NULL,
	requested_at TEXT NOT NULL,
	status       TEXT NOT NULL,
	event_id     TEXT NOT NULL,
	result       TEXT NOT NULL,
	decided_at   TEXT NOT NULL,
	parked       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
	id          TEXT PRIMARY KEY,
	certificate TEXT NOT NULL,
	body        BLOB NOT NULL,
	-- pending: still to be delivered (retried after a restart);
	-- 0 once delivered, refused (4xx) or given up.
	pending     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS resets (
	order_id TEXT PRIMARY KEY,
	product  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
	key  TEXT PRIMARY KEY,
	path TEXT NOT NULL
);`

// openJournal opens (creating) the SQLite file at path.
func openJournal(path string) (*journal, error) {
	dsn := fmt.Sprintf("file:%s?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)", url.PathEscape(path))
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("casim: opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(journalSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("casim: creating the schema in %s: %w", path, err)
	}
	return &journal{db: db}, nil
}

func (j *journal) close() error { return j.db.Close() }

const stamp = time.RFC3339Nano

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(stamp)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(stamp, s)
}

func (j *journal) saveCertificate(c *certificate) error {
	acc, err := json.Marshal(c.accepted)
	if err != nil {
		return err
	}
	if _, err := j.db.Exec(`INSERT INTO certificates (id, accepted, removed) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET accepted = excluded.accepted, removed = excluded.removed`, c.id, string(acc), c.removed); err != nil {
		return err
	}
	if c.rev == nil {
		_, err = j.db.Exec(`DELETE FROM reviews WHERE certificate = ?`, c.id)
		return err
	}
	rv := c.rev
	_, err = j.db.Exec(`INSERT INTO reviews (certificate, review_id, reason, requested_at, status, event_id, result, decided_at, parked)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (certificate) DO UPDATE SET review_id = excluded.review_id, reason = excluded.reason,
			requested_at = excluded.requested_at, status = excluded.status, event_id = excluded.event_id,
			result = excluded.result, decided_at = excluded.decided_at, parked = excluded.parked`,
		c.id, rv.reviewID, rv.reason, fmtTime(rv.requestedAt), rv.status, rv.eventID, rv.result, fmtTime(rv.decidedAt), rv.parked)
	return err
}

func (j *journal) saveBehaviour(id string, b Behaviour) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	_, err = j.db.Exec(`INSERT INTO behaviours (id, behaviour) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET behaviour = excluded.behaviour`, id, string(data))
	return err
}

func (j *journal) saveEvent(ev *event, pending bool) error {
	_, err := j.db.Exec(`INSERT INTO events (id, certificate, body, pending) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET pending = excluded.pending`, ev.id, ev.cert, ev.body, pending)
	return err
}

func (j *journal) saveReset(orderID, product string) error {
	_, err := j.db.Exec(`INSERT INTO resets (order_id, product) VALUES (?, ?)
		ON CONFLICT (order_id) DO UPDATE SET product = excluded.product`, orderID, product)
	return err
}

func (j *journal) saveIdemKey(key, path string) error {
	_, err := j.db.Exec(`INSERT INTO idempotency_keys (key, path) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, path)
	return err
}

// load fills s's maps from the journal and returns the events still to be
// delivered.
func (j *journal) load(s *Sim) ([]*event, error) {
	rows, err := j.db.Query(`SELECT id, accepted, removed FROM certificates`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var (
			id, acc string
			removed bool
		)
		if err := rows.Scan(&id, &acc, &removed); err != nil {
			rows.Close()
			return nil, err
		}
		c := &certificate{id: id, accepted: map[string]bool{}, removed: removed}
		if err := json.Unmarshal([]byte(acc), &c.accepted); err != nil {
			rows.Close()
			return nil, fmt.Errorf("certificate %s: %w", id, err)
		}
		s.certs[id] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := j.loadReviews(s); err != nil {
		return nil, err
	}
	if err := j.loadPairs(`SELECT id, behaviour FROM behaviours`, func(id, v string) error {
		var b Behaviour
		if err := json.Unmarshal([]byte(v), &b); err != nil {
			return fmt.Errorf("behaviour of %s: %w", id, err)
		}
		s.behaviours[id] = b
		return nil
	}); err != nil {
		return nil, err
	}
	if err := j.loadPairs(`SELECT order_id, product FROM resets`, func(k, v string) error { s.resets[k] = v; return nil }); err != nil {
		return nil, err
	}
	if err := j.loadPairs(`SELECT key, path FROM idempotency_keys`, func(k, v string) error { s.idemKeys[k] = v; return nil }); err != nil {
		return nil, err
	}
	return j.loadEvents(s)
}

func (j *journal) loadReviews(s *Sim) error {
	rows, err := j.db.Query(`SELECT certificate, review_id, reason, requested_at, status, event_id, result, decided_at, parked FROM reviews`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			cert, req, dec string
			rv             revocation
		)
		if err := rows.Scan(&cert, &rv.reviewID, &rv.reason, &req, &rv.status, &rv.eventID, &rv.result, &dec, &rv.parked); err != nil {
			return err
		}
		if rv.requestedAt, err = parseTime(req); err != nil {
			return fmt.Errorf("review of %s: %w", cert, err)
		}
		if rv.decidedAt, err = parseTime(dec); err != nil {
			return fmt.Errorf("review of %s: %w", cert, err)
		}
		c, ok := s.certs[cert]
		if !ok {
			c = &certificate{id: cert, accepted: map[string]bool{}}
			s.certs[cert] = c
		}
		c.rev = &rv
	}
	return rows.Err()
}

func (j *journal) loadPairs(query string, put func(k, v string) error) error {
	rows, err := j.db.Query(query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		if err := put(k, v); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (j *journal) loadEvents(s *Sim) ([]*event, error) {
	rows, err := j.db.Query(`SELECT id, certificate, body, pending FROM events ORDER BY rowid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var pending []*event
	for rows.Next() {
		ev := &event{}
		var p bool
		if err := rows.Scan(&ev.id, &ev.cert, &ev.body, &p); err != nil {
			return nil, err
		}
		s.events[ev.id] = ev
		if p {
			pending = append(pending, ev)
		}
	}
	return pending, rows.Err()
}
