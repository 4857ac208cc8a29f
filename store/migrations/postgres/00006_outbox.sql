-- +goose Up
-- Structured waiting, the audit trail and the outbound events (issue 15).
--
-- refunds gain what the status shows: waiting_on (JSON list of
-- domain.Wait), waiting_kinds (the same kinds as ",ca_review,customer,",
-- '' when it waits on nothing, so that ListOrders filters by kind with
-- LIKE '%,kind,%' in SQL), escalation (JSON domain.Escalation, NULL until
-- escalated), audit (JSON list of domain.AuditEntry), the message of a
-- rejection or cancellation and the rest of the payout.
ALTER TABLE refunds ADD COLUMN waiting_on     TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE refunds ADD COLUMN waiting_kinds  TEXT    COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN escalation     TEXT;
ALTER TABLE refunds ADD COLUMN audit          TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE refunds ADD COLUMN message        TEXT    NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN gift_card      TEXT    NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN benefit_points BIGINT  NOT NULL DEFAULT 0 CHECK (benefit_points >= 0);
ALTER TABLE refunds ADD COLUMN destination    TEXT    NOT NULL DEFAULT '';

CREATE INDEX refunds_by_outcome ON refunds (outcome);

-- The outbox: one row per change, written in the change's transaction.
-- seq is the cursor (an identity: never reused, so a cursor never points
-- at another event later); id is the stable webhook-id. Events are history:
-- no foreign key to the order.
CREATE TABLE events (
    seq            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             TEXT    COLLATE "C" NOT NULL UNIQUE CHECK (id <> ''),
    type           TEXT    NOT NULL CHECK (type <> ''),
    order_id       TEXT    COLLATE "C" NOT NULL,
    certificate_id TEXT    COLLATE "C" NOT NULL DEFAULT '',
    occurred_at    TEXT    COLLATE "C" NOT NULL,
    data           TEXT    NOT NULL -- JSON: the state after the change
);

-- The console endpoints events go to. position is the last event seq
-- fanned out to deliveries; retry_at '' (or past) means due now.
CREATE TABLE endpoints (
    name                 TEXT    COLLATE "C" NOT NULL PRIMARY KEY CHECK (name <> ''),
    url                  TEXT    NOT NULL CHECK (url <> ''),
    enabled              INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    disabled_reason      TEXT    NOT NULL DEFAULT '',
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    retry_at             TEXT    COLLATE "C" NOT NULL DEFAULT '',
    last_error           TEXT    NOT NULL DEFAULT '',
    last_success_at      TEXT    NOT NULL DEFAULT '',
    last_attempt_at      TEXT    NOT NULL DEFAULT '',
    position             BIGINT  NOT NULL DEFAULT 0,
    created_at           TEXT    NOT NULL
);

-- One row per event and endpoint. order_key orders deliveries per order;
-- next_attempt_at and lease_until are '' when unset (text times sort, and
-- '' sorts first, so '' is always due and never a live lease).
CREATE TABLE deliveries (
    endpoint        TEXT    COLLATE "C" NOT NULL REFERENCES endpoints (name) ON DELETE CASCADE,
    seq             BIGINT  NOT NULL REFERENCES events (seq),
    order_key       TEXT    COLLATE "C" NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    COLLATE "C" NOT NULL DEFAULT '',
    lease_owner     TEXT    COLLATE "C" NOT NULL DEFAULT '',
    lease_until     TEXT    COLLATE "C" NOT NULL DEFAULT '',
    delivered       INTEGER NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1)),
    delivered_at    TEXT    NOT NULL DEFAULT '',
    last_error      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (endpoint, seq)
);

-- The claim walks undelivered rows oldest first and checks each is the
-- head of its (endpoint, order): both lookups stay on these partial
-- indexes however many deliveries are done.
CREATE INDEX deliveries_pending ON deliveries (endpoint, seq) WHERE delivered = 0;
CREATE INDEX deliveries_pending_by_order ON deliveries (endpoint, order_key, seq) WHERE delivered = 0;

-- As on SQLite, with keys and compared times in the "C" collation
-- (byte-wise, as in SQLite). Sequence values are handed out in commit order
-- because every transaction that writes events takes one advisory lock
-- just before it inserts them (store.insertEvents): a reader paging by
-- seq never sees a later event before an earlier one commits.
