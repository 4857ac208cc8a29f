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
ALTER TABLE refunds ADD COLUMN waiting_kinds  TEXT    NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN escalation     TEXT;
ALTER TABLE refunds ADD COLUMN audit          TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE refunds ADD COLUMN message        TEXT    NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN gift_card      TEXT    NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN benefit_points INTEGER NOT NULL DEFAULT 0 CHECK (benefit_points >= 0);
ALTER TABLE refunds ADD COLUMN destination    TEXT    NOT NULL DEFAULT '';

CREATE INDEX refunds_by_outcome ON refunds (outcome);

-- The outbox: one row per change, written in the change's transaction.
-- seq is the cursor (AUTOINCREMENT: never reused, so a cursor never points
-- at another event later); id is the stable webhook-id. Events are history:
-- no foreign key to the order.
CREATE TABLE events (
    seq            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    id             TEXT    NOT NULL UNIQUE CHECK (id <> ''),
    type           TEXT    NOT NULL CHECK (type <> ''),
    order_id       TEXT    NOT NULL,
    certificate_id TEXT    NOT NULL DEFAULT '',
    occurred_at    TEXT    NOT NULL,
    data           TEXT    NOT NULL -- JSON: the state after the change
) STRICT;

-- The console endpoints events go to. position is the last event seq
-- fanned out to deliveries; retry_at '' (or past) means due now.
CREATE TABLE endpoints (
    name                 TEXT    NOT NULL PRIMARY KEY CHECK (name <> ''),
    url                  TEXT    NOT NULL CHECK (url <> ''),
    enabled              INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    disabled_reason      TEXT    NOT NULL DEFAULT '',
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    retry_at             TEXT    NOT NULL DEFAULT '',
    last_error           TEXT    NOT NULL DEFAULT '',
    last_success_at      TEXT    NOT NULL DEFAULT '',
    last_attempt_at      TEXT    NOT NULL DEFAULT '',
    position             INTEGER NOT NULL DEFAULT 0,
    created_at           TEXT    NOT NULL
) STRICT;

-- One row per event and endpoint. order_key orders deliveries per order;
-- next_attempt_at and lease_until are '' when unset (text times sort, and
-- '' sorts first, so '' is always due and never a live lease).
CREATE TABLE deliveries (
    endpoint        TEXT    NOT NULL REFERENCES endpoints (name) ON DELETE CASCADE,
    seq             INTEGER NOT NULL REFERENCES events (seq),
    order_key       TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL DEFAULT '',
    lease_owner     TEXT    NOT NULL DEFAULT '',
    lease_until     TEXT    NOT NULL DEFAULT '',
    delivered       INTEGER NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1)),
    delivered_at    TEXT    NOT NULL DEFAULT '',
    last_error      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (endpoint, seq)
) STRICT;

-- The claim walks undelivered rows oldest first and checks each is the
-- head of its (endpoint, order): both lookups stay on these partial
-- indexes however many deliveries are done.
CREATE INDEX deliveries_pending ON deliveries (endpoint, seq) WHERE delivered = 0;
CREATE INDEX deliveries_pending_by_order ON deliveries (endpoint, order_key, seq) WHERE delivered = 0;
