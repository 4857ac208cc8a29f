-- +goose Up
-- The refund that reserved each payout (issue 20): the first run ID of its
-- workflow (Temporal keeps it across continue-as-new, retry and reset).
-- A refund judged again after its first workflow task was lost (the
-- payout's first attempt runs in that task) counts the payouts of other
-- refunds as already refunded (M-3), not its own. '' for payouts recorded
-- before this step: they count for every refund.
ALTER TABLE payouts ADD COLUMN refund_run TEXT NOT NULL DEFAULT '';
