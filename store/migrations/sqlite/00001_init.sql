-- +goose Up
-- Orders, their certificates, the quota-return ledger and the refund
-- projection. Times are UTC text in a fixed-width RFC 3339 form with
-- nanoseconds, so they sort as text; amounts are decimal text with exactly
-- the currency's minor unit (M-1), never REAL.

CREATE TABLE orders (
    id                    TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    profile               TEXT    NOT NULL DEFAULT '',
    product               TEXT    NOT NULL,
    paid_at               TEXT    NOT NULL,
    currency              TEXT    NOT NULL,
    price                 TEXT    NOT NULL,
    cash                  TEXT    NOT NULL,
    voucher               TEXT    NOT NULL,
    gift_card             TEXT    NOT NULL,
    benefit_points        INTEGER NOT NULL CHECK (benefit_points >= 0),
    promotion             TEXT,                -- JSON; NULL: no promotion
    validity_years        INTEGER NOT NULL DEFAULT 0 CHECK (validity_years >= 0),
    value_added           TEXT    NOT NULL DEFAULT '',
    combined_multi_domain INTEGER NOT NULL DEFAULT 0 CHECK (combined_multi_domain IN (0, 1)),
    usage                 TEXT,                -- JSON; NULL: unused
    already_refunded      TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL
) STRICT;

CREATE INDEX orders_by_paid_at ON orders (paid_at DESC, id);
CREATE INDEX orders_by_product ON orders (product, paid_at DESC, id);

-- Certificate IDs are the CA's and unique across orders: the CA API and its
-- callbacks name a certificate by ID alone.
CREATE TABLE certificates (
    id                TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    order_id          TEXT    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position          INTEGER NOT NULL CHECK (position >= 0), -- SSL-8: 0 is the first year
    state             TEXT    NOT NULL,
    issued_at         TEXT,
    domain_changed    INTEGER NOT NULL DEFAULT 0 CHECK (domain_changed IN (0, 1)),
    revoked_at        TEXT,
    quota_returned    INTEGER NOT NULL DEFAULT 0 CHECK (quota_returned IN (0, 1)),
    resubmit_rejected TEXT    NOT NULL DEFAULT '',
    updated_at        TEXT    NOT NULL
) STRICT;

CREATE INDEX certificates_by_order ON certificates (order_id, position);

-- One row per certificate whose quota went back to the customer: the
-- primary key makes a second return impossible.
CREATE TABLE quota_returns (
    cert_id  TEXT NOT NULL PRIMARY KEY REFERENCES certificates (id) ON DELETE CASCADE,
    order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    rule     TEXT NOT NULL CHECK (rule <> ''),
    at       TEXT NOT NULL
) STRICT;

CREATE INDEX quota_returns_by_order ON quota_returns (order_id);

-- The console's view of each order's refund (one per order).
CREATE TABLE refunds (
    order_id   TEXT NOT NULL PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
    state      TEXT NOT NULL CHECK (state <> ''),
    outcome    TEXT NOT NULL DEFAULT '',
    reasons    TEXT NOT NULL DEFAULT '[]', -- JSON array of rule IDs
    cash       TEXT NOT NULL DEFAULT '',
    currency   TEXT NOT NULL DEFAULT '',
    payment_id TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
) STRICT;

CREATE INDEX refunds_by_state ON refunds (state);
