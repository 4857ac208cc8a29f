-- +goose Up
-- The judgements of each refund run (issue 20): a refund's workflow draws
-- the next number of its run (its first run ID, as payouts.refund_run)
-- each time it judges its order, and its payout carries the number of
-- the judgement that decided it. A payout that would be recorded under an
-- older number than the run's latest is refused: the workflow task that
-- decided it was lost and run again (a local activity of the lost task
-- still running on a worker cut off from Temporal), or the refund was
-- reset, and the latest judgement decides alone. No row: no judgement
-- drawn (a refund started by an older release), nothing refused.
CREATE TABLE refund_judgements (
    order_id   TEXT    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    refund_run TEXT    NOT NULL CHECK (refund_run <> ''),
    number     INTEGER NOT NULL CHECK (number > 0),
    PRIMARY KEY (order_id, refund_run)
);
