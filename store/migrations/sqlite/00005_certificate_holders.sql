-- +goose Up
-- Certificate holders (issue 10): a certificate has one writer at a time,
-- a refund releasing it ("refund/<order>") or its own workflow
-- ("certificate/<id>"), named here; '' when nobody holds it. The hold is
-- taken by one compare-and-set UPDATE (store.DB.HoldCertificate).
-- workflow_written is set once a workflow wrote the certificate's state
-- (SaveCertificate): intake never overwrites that state again, whether or
-- not a workflow still holds it. Rows written before this migration start
-- unheld and not workflow-written.

ALTER TABLE certificates ADD COLUMN holder           TEXT    NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN workflow_written INTEGER NOT NULL DEFAULT 0 CHECK (workflow_written IN (0, 1));
