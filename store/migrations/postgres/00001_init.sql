-- +goose Up
-- certflow's schema on PostgreSQL: the same tables as SQLite's
-- 00001-00003 (PostgreSQL's 00002 and 00003 are no-ops), in PostgreSQL's
-- SQL. Times are UTC text in a
-- fixed-width RFC 3339 form with nanoseconds (they sort as text and read
-- back exactly, as in SQLite); amounts are decimal text with exactly the
-- currency's minor unit (M-1), never floating point. Keys and sort columns
-- use the "C" collation so that pages are ordered byte-wise, as in SQLite,
-- whatever the database's locale.

CREATE TABLE orders (
    id                    TEXT    COLLATE "C" NOT NULL PRIMARY KEY CHECK (id <> ''),
    profile               TEXT    NOT NULL DEFAULT '',
    product               TEXT    NOT NULL,
    paid_at               TEXT    COLLATE "C" NOT NULL,
    currency              TEXT    NOT NULL,
    price                 TEXT    NOT NULL,
    cash                  TEXT    NOT NULL,
    voucher               TEXT    NOT NULL,
    gift_card             TEXT    NOT NULL,
    benefit_points        BIGINT  NOT NULL CHECK (benefit_points >= 0),
    promotion             TEXT,                -- JSON; NULL: no promotion
    validity_years        INTEGER NOT NULL DEFAULT 0 CHECK (validity_years >= 0),
    value_added           TEXT    NOT NULL DEFAULT '',
    combined_multi_domain INTEGER NOT NULL DEFAULT 0 CHECK (combined_multi_domain IN (0, 1)),
    usage                 TEXT,                -- JSON; NULL: unused
    already_refunded      TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL
);

CREATE INDEX orders_by_paid_at ON orders (paid_at DESC, id);
CREATE INDEX orders_by_product ON orders (product, paid_at DESC, id);

-- Certificate IDs are the CA's and unique across orders.
CREATE TABLE certificates (
    id                TEXT    COLLATE "C" NOT NULL PRIMARY KEY CHECK (id <> ''),
    order_id          TEXT    COLLATE "C" NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position          INTEGER NOT NULL CHECK (position >= 0), -- SSL-8: 0 is the first year
    state             TEXT    NOT NULL,
    issued_at         TEXT,
    domain_changed    INTEGER NOT NULL DEFAULT 0 CHECK (domain_changed IN (0, 1)),
    revoked_at        TEXT,
    quota_returned    INTEGER NOT NULL DEFAULT 0 CHECK (quota_returned IN (0, 1)),
    resubmit_rejected TEXT    NOT NULL DEFAULT '',
    updated_at        TEXT    NOT NULL
);

CREATE INDEX certificates_by_order ON certificates (order_id, position);

-- One row per certificate whose quota went back to the customer.
CREATE TABLE quota_returns (
    cert_id  TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES certificates (id) ON DELETE CASCADE,
    order_id TEXT COLLATE "C" NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    rule     TEXT NOT NULL CHECK (rule <> ''),
    at       TEXT NOT NULL
);

CREATE INDEX quota_returns_by_order ON quota_returns (order_id);

-- The console's view of each order's refund (one per order).
CREATE TABLE refunds (
    order_id   TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
    state      TEXT NOT NULL CHECK (state <> ''),
    outcome    TEXT NOT NULL DEFAULT '',
    reasons    TEXT NOT NULL DEFAULT '[]', -- JSON array of rule IDs
    cash       TEXT NOT NULL DEFAULT '',
    currency   TEXT NOT NULL DEFAULT '',
    payment_id TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);

CREATE INDEX refunds_by_state ON refunds (state);

-- The refund ledger (M-3, M-4): a payout is reserved 'pending' before the
-- payment provider is called, then settled 'paid' with the provider's
-- refund ID or 'failed'. Rows are never deleted, and an order with payouts
-- cannot be deleted either.
CREATE TABLE payouts (
    idempotency_key TEXT    COLLATE "C" NOT NULL PRIMARY KEY CHECK (idempotency_key <> ''),
    order_id        TEXT    COLLATE "C" NOT NULL REFERENCES orders (id),
    cash            TEXT    NOT NULL,
    gift_card       TEXT    NOT NULL,
    benefit_points  BIGINT  NOT NULL CHECK (benefit_points >= 0),
    currency        TEXT    NOT NULL,
    destination     TEXT    NOT NULL CHECK (destination IN ('original_method', 'account_balance')),
    payment_id      TEXT    UNIQUE,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'paid', 'failed')),
    reason          TEXT    NOT NULL DEFAULT '',
    created_at      TEXT    COLLATE "C" NOT NULL,
    settled_at      TEXT,
    CHECK ((status = 'pending') = (settled_at IS NULL)),
    CHECK (status <> 'paid' OR payment_id IS NOT NULL)
);

CREATE INDEX payouts_by_order ON payouts (order_id, status);
