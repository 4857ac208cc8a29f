-- +goose Up
-- The refund's timeline (issue 20): the steps the workflow took, as a JSON
-- list of {at, step, detail}, written with every record, so that the
-- console's GET of a refund answers from the store with no workflow query.
-- Records written before this step have no steps ('[]').
ALTER TABLE refunds ADD COLUMN steps TEXT NOT NULL DEFAULT '[]';
