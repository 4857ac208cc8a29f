-- +goose Up
-- The refund read model follows every state change of the refund workflow
-- (issue 7): what the refund waits for (the customer, a revocation review,
-- an operator), whether it was escalated (T-3), and who asked for it (the
-- API token's subject; GW-4 four eyes). (PostgreSQL's
-- 0002 under the old runner.)

ALTER TABLE refunds ADD COLUMN waiting      TEXT    NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN escalated    INTEGER NOT NULL DEFAULT 0 CHECK (escalated IN (0, 1));
ALTER TABLE refunds ADD COLUMN requested_by TEXT    NOT NULL DEFAULT '';
