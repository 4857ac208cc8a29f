package activities

import (
	"context"
	"fmt"
)

// HoldInput asks to hold certificates for Holder (taking them over from
// From when it holds them).
type HoldInput struct {
	Holder       string   `json:"holder"`
	From         string   `json:"from,omitempty"`
	Certificates []string `json:"certificates"`
}

// HoldCertificates holds each certificate for in.Holder and returns, per
// certificate ID, who holds it after the call.
//
// Each hold is the store's compare-and-set, so a retry after a failure
// part-way is safe: a certificate already held for in.Holder stays so. A
// certificate held by another is not an error: the map names its holder,
// and the workflow decides what to do (send the work to that holder).
func (a *Activities) HoldCertificates(ctx context.Context, in HoldInput) (map[string]string, error) {
	out := make(map[string]string, len(in.Certificates))
	for _, id := range in.Certificates {
		holder, err := a.Store.HoldCertificate(ctx, id, in.Holder, in.From)
		if err != nil {
			return nil, toApplicationError(fmt.Errorf("holding certificate %s for %s: %w", id, in.Holder, err))
		}
		out[id] = holder
	}
	return out, nil
}

// ReleaseInput ends Holder's hold of certificates.
type ReleaseInput struct {
	Holder       string   `json:"holder"`
	Certificates []string `json:"certificates"`
}

// ReleaseCertificates ends in.Holder's hold of each certificate; one held
// by another, or by nobody, is left as it is, so a retry is harmless.
func (a *Activities) ReleaseCertificates(ctx context.Context, in ReleaseInput) error {
	for _, id := range in.Certificates {
		if err := a.Store.ReleaseCertificate(ctx, id, in.Holder); err != nil {
			return toApplicationError(fmt.Errorf("releasing certificate %s from %s: %w", id, in.Holder, err))
		}
	}
	return nil
}
