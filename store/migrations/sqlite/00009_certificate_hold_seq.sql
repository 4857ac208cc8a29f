-- +goose Up
-- Holds that cannot be orphaned (issue 17): hold_seq counts the holds taken
-- of a certificate (every successful HoldCertificate, a holder taking its
-- own hold again included). A would-be holder that finds the certificate
-- held by a workflow that no longer runs takes the hold over with one
-- compare-and-set naming that holder and the hold_seq it read before it
-- asked Temporal (store.DB.TakeOverCertificate): a new run of the same
-- workflow ID that took the hold meanwhile changed hold_seq, so the
-- take-over is refused and the new run keeps its hold.

ALTER TABLE certificates ADD COLUMN hold_seq INTEGER NOT NULL DEFAULT 0;
