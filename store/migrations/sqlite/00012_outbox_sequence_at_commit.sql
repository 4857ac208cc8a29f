-- +goose Up
-- PostgreSQL's outbox sequence drawn at commit (issue 20). Nothing to do
-- on SQLite: its writers run one at a time (one writer, and this process's
-- writes go through one committer), so an event's number, drawn as it is
-- inserted, already follows commit order. The step keeps the two
-- databases' numbering one.
SELECT 1;
