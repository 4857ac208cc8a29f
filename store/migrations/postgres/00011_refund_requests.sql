-- +goose Up
-- Durable refund intake (issue 20): the console's refund request, recorded
-- by the gateway in the transaction that writes the read model's
-- refund_requested record, and started in Temporal afterwards by the
-- gateway's dispatcher. One row per order: its latest request. input is
-- the workflow's input (refund.Input as JSON) and by the actor (JSON);
-- state is pending until the workflow started (started, with run_id) or
-- the start was refused for good (failed, with error_code, error_rule,
-- error_message). A dispatcher leases a pending request (lease_owner,
-- lease_until) while it starts it; next_attempt_at is when a sweeper may
-- take it (a retry's backoff). Times are fixed-width UTC text ("C" collation: they compare as text); '' sorts
-- first, so '' is always due and never a live lease.
CREATE TABLE refund_requests (
    order_id        TEXT    COLLATE "C" NOT NULL PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
    request_id      TEXT    NOT NULL CHECK (request_id <> ''),
    input           TEXT    NOT NULL,
    requested_at    TEXT    COLLATE "C" NOT NULL,
    by_actor        TEXT    NOT NULL DEFAULT '{}',
    idempotency_key TEXT    NOT NULL DEFAULT '',
    after_finished  INTEGER NOT NULL DEFAULT 0 CHECK (after_finished IN (0, 1)),
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'started', 'failed')),
    run_id          TEXT    NOT NULL DEFAULT '',
    error_code      TEXT    NOT NULL DEFAULT '',
    error_rule      TEXT    NOT NULL DEFAULT '',
    error_message   TEXT    NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    COLLATE "C" NOT NULL DEFAULT '',
    lease_owner     TEXT    NOT NULL DEFAULT '',
    lease_until     TEXT    COLLATE "C" NOT NULL DEFAULT '',
    last_error      TEXT    NOT NULL DEFAULT '',
    updated_at      TEXT    NOT NULL
);

-- The sweeper's look stays on the pending requests however many started.
CREATE INDEX refund_requests_pending ON refund_requests (next_attempt_at) WHERE state = 'pending';
