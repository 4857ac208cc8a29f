-- +goose Up
-- The amount a refund is due (issue 16): the policy decision's breakdown,
-- written once an eligible request is judged and kept after payment, so
-- that the console and the operator pages show what an unpaid refund (one
-- awaiting approval, GW-4) will pay. Amounts are decimal text at the
-- currency's minor unit (M-1), never floats. due_cash is NULL while there
-- is no amount due (not judged yet, or not eligible); the other columns
-- are then at their defaults.
ALTER TABLE refunds ADD COLUMN due_cash           TEXT;
ALTER TABLE refunds ADD COLUMN due_gift_card      TEXT    NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN due_benefit_points INTEGER NOT NULL DEFAULT 0 CHECK (due_benefit_points >= 0);
ALTER TABLE refunds ADD COLUMN due_currency       TEXT    NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN due_destination    TEXT    NOT NULL DEFAULT '';
