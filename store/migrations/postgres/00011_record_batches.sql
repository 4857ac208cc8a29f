-- +goose Up
-- The last batch of records each refund wrote (issue 20): its workflow's
-- first run ID and the batch's number in that run. A workflow task that is
-- run again (its worker died before the task completed) writes its batches
-- again, in order; a batch of the same run no later than the last one
-- written is skipped, so the store never goes back to an earlier state of
-- the refund or of its certificates, and no event is emitted twice.
CREATE TABLE record_batches (
    order_id TEXT   NOT NULL PRIMARY KEY,
    run      TEXT   NOT NULL,
    seq      BIGINT NOT NULL CHECK (seq > 0)
);
