package refund_test

import (
	"slices"
	"testing"
)

// The certificate performs the release step after an approved revocation
// (delete) itself and reports the chain once; the refund records it and
// never commands it again: the CA is asked to delete exactly once.
func TestReleaseChainedAfterApproval(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "",
		`{"id":"c-1","state":"issued","issued_at":"2026-03-03T09:00:00+08:00","domain_changed":false}`,
		`{"at":"2026-03-04T09:00:00+08:00","type":"refund.requested","consent":true,"confirm_irreversible":true,"accept_late_review_risk":true},
		 {"at":"2026-03-06T15:00:00+08:00","type":"ca.revocation_approved","certificate":"c-1"}`, "")
	res, fakes := run(t, sc, nil)
	if res.Outcome != "refunded" || res.Certificates["c-1"] != "removed" {
		t.Fatalf("outcome %s certificates %v, want refunded with c-1 removed", res.Outcome, res.Certificates)
	}
	if want := []string{"revoke c-1", "delete c-1"}; !slices.Equal(fakes.CA.Actions, want) {
		t.Errorf("CA actions %v, want %v", fakes.CA.Actions, want)
	}
	var steps []string
	for _, s := range res.Steps {
		steps = append(steps, s.Step)
	}
	i, j := slices.Index(steps, "revoked"), slices.Index(steps, "delete")
	if i < 0 || j < i {
		t.Errorf("steps %v: want the deletion recorded after the revocation", steps)
	}
	// The workflow task that applies the approval writes SSL-7's quota
	// return and the revoked certificate in one store transaction.
	together := false
	for _, b := range fakes.Store.Batches() {
		for _, c := range b.Certificates {
			if c.Certificate.ID == "c-1" && c.Certificate.State == "revoked" {
				together = len(b.QuotaReturns) == 1 && b.QuotaReturns[0].CertificateID == "c-1" && b.QuotaReturns[0].Rule == "SSL-7"
			}
		}
	}
	if !together {
		t.Errorf("records written %+v: want c-1's SSL-7 quota return in the batch that records it revoked", fakes.Store.Batches())
	}
}

// Every state a held certificate passes through reaches the store, in
// order: each write is a certificate.state_changed event. (The refund used
// to fold a certificate's states kept while an earlier write was still in
// flight into the last one, so a slow store could lose "revoked" from the
// events; keep now appends every state. That timing is not reproducible
// here; e2e's TestEventsSurviveKills checks each certificate's chain.)
func TestHeldCertificateWritesEveryState(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "",
		`{"id":"c-1","state":"issued","issued_at":"2026-03-03T09:00:00+08:00","domain_changed":false}`,
		`{"at":"2026-03-04T09:00:00+08:00","type":"refund.requested","consent":true,"confirm_irreversible":true,"accept_late_review_risk":true},
		 {"at":"2026-03-06T15:00:00+08:00","type":"ca.revocation_approved","certificate":"c-1"}`, "")
	res, fakes := run(t, sc, nil)
	if res.Outcome != "refunded" {
		t.Fatalf("outcome %s, want refunded", res.Outcome)
	}
	var states []string
	for _, b := range fakes.Store.Batches() {
		for _, c := range b.Certificates {
			if c.Certificate.ID == "c-1" {
				states = append(states, string(c.Certificate.State))
			}
		}
	}
	if want := []string{"validating_revocation", "revoked", "removed"}; !slices.Equal(states, want) {
		t.Errorf("c-1's states written %v, want %v", states, want)
	}
}

// A revocation completed too late (SSL-2) refuses the refund; the
// certificate judges the same and does not chain the deletion: it stays
// revoked.
func TestLateApprovalIsNotChained(t *testing.T) {
	sc := scenario(t, "aliyun-intl", "",
		`{"id":"c-1","state":"issued","issued_at":"2026-03-02T18:00:00+08:00","domain_changed":false}`,
		`{"at":"2026-03-06T10:00:00+08:00","type":"refund.requested","consent":true,"confirm_irreversible":true,"accept_late_review_risk":true},
		 {"at":"2026-03-10T11:00:00+08:00","type":"ca.revocation_approved","certificate":"c-1"}`, "")
	res, fakes := run(t, sc, nil)
	if res.Outcome != "rejected" || !contains(res.Reasons, "SSL-2") {
		t.Fatalf("outcome %s reasons %v, want rejected SSL-2", res.Outcome, res.Reasons)
	}
	if res.Certificates["c-1"] != "revoked" || slices.Contains(fakes.CA.Actions, "delete c-1") {
		t.Errorf("certificate %s, CA actions %v: want revoked and no deletion", res.Certificates["c-1"], fakes.CA.Actions)
	}
}
