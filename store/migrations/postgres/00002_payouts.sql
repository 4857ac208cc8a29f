-- +goose Up
-- No-op on PostgreSQL, kept so that both databases share one numbering:
-- SQLite's 00002_payouts created the payment simulator's payouts table;
-- PostgreSQL's 00001_init already created payouts in its ledger shape
-- (SQLite's 00003_refund_ledger).
SELECT 1;
