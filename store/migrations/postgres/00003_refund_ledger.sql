-- +goose Up
-- No-op on PostgreSQL, kept so that both databases share one numbering:
-- SQLite's 00003_refund_ledger rebuilt payouts as the refund ledger
-- (pending, reason, settled_at); PostgreSQL's 00001_init already created
-- it in that shape.
SELECT 1;
