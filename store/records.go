package store

import (
	"context"

	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/ports"
)

// SaveRecords writes one workflow task's records in one transaction: its
// quota returns first (a certificate saved with its quota returned would
// otherwise hide the return from the quota ledger), then its certificates,
// then its refund record. Each is checked and written as ReturnQuota,
// SaveCertificate and SaveRefund do; any error rolls all of them back and
// is returned, naming the record.
func (db *DB) SaveRecords(ctx context.Context, recs ports.Records) error {
	if recs.OrderID == "" {
		return errs.E(errs.Invalid, "records: order ID is empty")
	}
	for _, q := range recs.QuotaReturns {
		if err := checkQuotaReturn(recs.OrderID, q.CertificateID, q.Rule, q.At); err != nil {
			return err
		}
	}
	for _, c := range recs.Certificates {
		if err := checkCertificateRecord(recs.OrderID, c.Certificate, c.At); err != nil {
			return err
		}
	}
	if r := recs.Refund; r != nil {
		if r.OrderID != recs.OrderID {
			return errs.E(errs.Invalid, "records of order %s: the refund record is of order %q", recs.OrderID, r.OrderID)
		}
		if err := checkRefundRecord(*r); err != nil {
			return err
		}
	}
	if recs.Empty() {
		return nil
	}
	return db.write(ctx, "saving records", func(tx *Tx) error {
		for _, q := range recs.QuotaReturns {
			if _, err := returnQuota(ctx, tx, recs.OrderID, q.CertificateID, q.Rule, q.At); err != nil {
				return err
			}
		}
		for _, c := range recs.Certificates {
			if err := saveCertificate(ctx, tx, recs.OrderID, c.Certificate, c.At); err != nil {
				return err
			}
		}
		if recs.Refund != nil {
			return saveRefund(ctx, tx, *recs.Refund)
		}
		return nil
	})
}
