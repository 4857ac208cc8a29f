package store

import (
	"context"
	"database/sql"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
)

// HoldCertificate makes holder the one writer of certificate certID when
// nobody holds it, holder already does, or from does (a hand-over; from
// may be ""), and returns who holds it after the call: holder when taken,
// the other holder when refused. The hold is one compare-and-set UPDATE:
// SQLite runs it under the database's write lock, PostgreSQL re-checks its
// WHERE against the latest row version under the row's lock, so of
// would-be holders racing in any number of processes exactly one wins. An
// unknown certificate is errs.NotFound; an empty certID or holder is
// errs.Invalid.
func (db *DB) HoldCertificate(ctx context.Context, certID, holder, from string) (string, error) {
	switch {
	case certID == "":
		return "", errs.E(errs.Invalid, "holding a certificate needs its ID")
	case holder == "":
		return "", errs.E(errs.Invalid, "certificate %s: the holder is empty", certID)
	}
	var now string
	err := db.write(ctx, "holding certificate", func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE certificates SET holder = ?1, hold_seq = hold_seq + 1 WHERE id = ?2 AND holder IN ('', ?1, ?3)",
			holder, certID, from); err != nil {
			return dbError(err, "holding certificate %s for %s", certID, holder)
		}
		var err error
		now, err = holderTx(ctx, tx, certID)
		return err
	})
	return now, err
}

// CertificateHold returns who holds certID and the hold's sequence number
// (ports.Hold): what a take-over names. An unknown certificate is
// errs.NotFound.
func (db *DB) CertificateHold(ctx context.Context, certID string) (ports.Hold, error) {
	var h ports.Hold
	err := db.read(ctx, "reading certificate hold", func(tx *Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT holder, hold_seq FROM certificates WHERE id = ?", certID).Scan(&h.Holder, &h.Seq)
		if err == sql.ErrNoRows {
			return errs.E(errs.NotFound, "certificate %s not found", certID)
		}
		if err != nil {
			return dbError(err, "reading the hold of certificate %s", certID)
		}
		return nil
	})
	return h, err
}

// TakeOverCertificate makes holder the one writer of certID in place of
// dead, a holder whose workflow the caller found closed, provided the hold
// is still the one the caller read before it asked (dead.Holder with
// dead.Seq): one compare-and-set UPDATE, like HoldCertificate, so of
// would-be holders taking over one dead holder exactly one wins, and a
// new run of the dead holder's workflow ID that took its hold again
// meanwhile (hold_seq moved on) keeps it. It returns who holds the
// certificate after the call. An unknown certificate is errs.NotFound; an
// empty certID, holder or dead holder is errs.Invalid.
func (db *DB) TakeOverCertificate(ctx context.Context, certID, holder string, dead ports.Hold) (string, error) {
	switch {
	case certID == "":
		return "", errs.E(errs.Invalid, "taking a certificate over needs its ID")
	case holder == "":
		return "", errs.E(errs.Invalid, "certificate %s: the holder is empty", certID)
	case dead.Holder == "":
		return "", errs.E(errs.Invalid, "certificate %s: the holder to take over from is empty", certID)
	}
	var now string
	err := db.write(ctx, "taking certificate over", func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE certificates SET holder = ?1, hold_seq = hold_seq + 1 WHERE id = ?2 AND holder = ?3 AND hold_seq = ?4",
			holder, certID, dead.Holder, dead.Seq); err != nil {
			return dbError(err, "taking certificate %s over from %s for %s", certID, dead.Holder, holder)
		}
		var err error
		now, err = holderTx(ctx, tx, certID)
		return err
	})
	return now, err
}

// ReleaseCertificate ends holder's hold of certID; a certificate held by
// another, or by nobody, is left as it is (releasing twice is harmless).
// An unknown certificate is errs.NotFound; an empty certID or holder is
// errs.Invalid.
func (db *DB) ReleaseCertificate(ctx context.Context, certID, holder string) error {
	switch {
	case certID == "":
		return errs.E(errs.Invalid, "releasing a certificate needs its ID")
	case holder == "":
		return errs.E(errs.Invalid, "certificate %s: the holder to release is empty", certID)
	}
	return db.write(ctx, "releasing certificate", func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE certificates SET holder = '' WHERE id = ? AND holder = ?", certID, holder)
		if err != nil {
			return dbError(err, "releasing certificate %s from %s", certID, holder)
		}
		if n, err := res.RowsAffected(); err != nil {
			return dbError(err, "releasing certificate %s from %s", certID, holder)
		} else if n > 0 {
			return nil
		}
		_, err = holderTx(ctx, tx, certID) // NotFound, or held by another: left as it is
		return err
	})
}

// CertificateHolder returns who holds certID ("" when nobody does). An
// unknown certificate is errs.NotFound.
func (db *DB) CertificateHolder(ctx context.Context, certID string) (string, error) {
	var holder string
	err := db.read(ctx, "reading certificate holder", func(tx *Tx) error {
		var err error
		holder, err = holderTx(ctx, tx, certID)
		return err
	})
	return holder, err
}

func holderTx(ctx context.Context, tx *Tx, certID string) (string, error) {
	var holder string
	err := tx.QueryRowContext(ctx, "SELECT holder FROM certificates WHERE id = ?", certID).Scan(&holder)
	if err == sql.ErrNoRows {
		return "", errs.E(errs.NotFound, "certificate %s not found", certID)
	}
	if err != nil {
		return "", dbError(err, "reading the holder of certificate %s", certID)
	}
	return holder, nil
}
