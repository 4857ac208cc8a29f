-- +goose Up
-- The payment simulator's idempotency ledger (M-3, M-4). A row is a payout
-- attempt keyed by its idempotency key: 'paid' moved money, 'failed' was a
-- refund to the original method that did not go through (GEN-4) and moved
-- nothing. Rows are never deleted, and an order with payouts cannot be
-- deleted either: the money history outlives the order's facts.

CREATE TABLE payouts (
    idempotency_key TEXT    NOT NULL PRIMARY KEY CHECK (idempotency_key <> ''),
    order_id        TEXT    NOT NULL REFERENCES orders (id),
    cash            TEXT    NOT NULL,
    gift_card       TEXT    NOT NULL,
    benefit_points  INTEGER NOT NULL CHECK (benefit_points >= 0),
    currency        TEXT    NOT NULL,
    destination     TEXT    NOT NULL CHECK (destination IN ('original_method', 'account_balance')),
    payment_id      TEXT    NOT NULL UNIQUE,
    status          TEXT    NOT NULL CHECK (status IN ('paid', 'failed')),
    created_at      TEXT    NOT NULL
) STRICT;

CREATE INDEX payouts_by_order ON payouts (order_id, status);
