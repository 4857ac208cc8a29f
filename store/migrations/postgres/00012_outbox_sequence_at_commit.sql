-- +goose Up
-- The outbox's sequence drawn at commit (issue 20). Until this step every
-- transaction that wrote events took the outbox's advisory lock with its
-- first event and held it until its COMMIT came back from the client: the
-- round trip between the insert and the COMMIT, and the wait for the
-- client's process to be scheduled on a busy machine, was spent holding
-- the one lock every writer of events needs (a refund POST's p99 at 200
-- clients on the real server: 612-1,058 ms; 292 ms with no lock at all).
--
-- Now an event is inserted with a provisional number (negative, from a
-- sequence of its own, never seen by anyone else: the row is not
-- committed), and a deferred constraint trigger renumbers it as the
-- transaction commits, inside PostgreSQL's commit: it takes the advisory
-- lock, draws the final number from events_seq, and the lock is released
-- only after the commit is visible. So final numbers still follow commit
-- order (and stay dense, as the identity's were), a reader paging by seq
-- never passes a number that commits later, and the lock is held for the
-- renumbering and the commit record alone, with no client round trip.
-- Several events of one transaction are renumbered in insertion order
-- (deferred triggers fire in the order their rows were queued). The lock
-- key is the one the writers took before: "cfoutbox" in ASCII,
-- 0x63666f7574626f78. A writer of the previous release (a rolling
-- deploy) still takes the lock as it inserts, and its events are
-- renumbered the same way.
ALTER TABLE events ALTER COLUMN seq DROP IDENTITY;
CREATE SEQUENCE events_seq OWNED BY events.seq;
SELECT setval('events_seq', COALESCE((SELECT MAX(seq) FROM events), 0) + 1, false);
CREATE SEQUENCE events_provisional_seq;
ALTER TABLE events ALTER COLUMN seq SET DEFAULT -nextval('events_provisional_seq');

-- +goose StatementBegin
CREATE FUNCTION events_sequence_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7162534807633817464);
    UPDATE events SET seq = nextval('events_seq') WHERE id = NEW.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE CONSTRAINT TRIGGER events_sequence_at_commit
    AFTER INSERT ON events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION events_sequence_at_commit();
