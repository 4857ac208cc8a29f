-- +goose Up
-- The payouts table becomes certflow's refund ledger in front of an
-- external payment provider (cmd/paysim or a real one): a payout is
-- reserved ('pending', counting against M-3) before the provider is
-- called, then settled 'paid' with the provider's refund ID or 'failed'
-- with its reason. payment_id is the provider's ID, unknown while pending.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt.

CREATE TABLE payouts_v3 (
    idempotency_key TEXT    NOT NULL PRIMARY KEY CHECK (idempotency_key <> ''),
    order_id        TEXT    NOT NULL REFERENCES orders (id),
    cash            TEXT    NOT NULL,
    gift_card       TEXT    NOT NULL,
    benefit_points  INTEGER NOT NULL CHECK (benefit_points >= 0),
    currency        TEXT    NOT NULL,
    destination     TEXT    NOT NULL CHECK (destination IN ('original_method', 'account_balance')),
    payment_id      TEXT    UNIQUE,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'paid', 'failed')),
    reason          TEXT    NOT NULL DEFAULT '',
    created_at      TEXT    NOT NULL,
    settled_at      TEXT,
    CHECK ((status = 'pending') = (settled_at IS NULL)),
    CHECK (status <> 'paid' OR payment_id IS NOT NULL)
) STRICT;

INSERT INTO payouts_v3 (idempotency_key, order_id, cash, gift_card, benefit_points, currency, destination,
    payment_id, status, reason, created_at, settled_at)
SELECT idempotency_key, order_id, cash, gift_card, benefit_points, currency, destination,
    payment_id, status, '', created_at, created_at
FROM payouts;

DROP TABLE payouts;
ALTER TABLE payouts_v3 RENAME TO payouts;
CREATE INDEX payouts_by_order ON payouts (order_id, status);
