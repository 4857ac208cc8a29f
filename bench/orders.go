package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/statemachine"
	"github.com/certflow/certflow/store"
)

// The event-count paths: the orders whose refunds are counted event by
// event (the three paths).
const (
	PathIssued    = "issued"     // 1 issued certificate: revoke → review → delete → pay
	PathUnused    = "unused"     // unused quota: no certificate
	PathThreeYear = "three-year" // 3-year order, first year issued
	PathBaseline  = "baseline"   // the same-shape baseline workflow
)

// plan is every order of a run, registered before the worker starts.
type plan struct {
	throughput [][]domain.Order // per round
	paths      map[string]domain.Order
	waiting    []domain.Order
	callbacks  []domain.Order
}

func newPlan(cfg Config, now time.Time) plan {
	paid := now.Add(-24 * time.Hour).UTC().Truncate(time.Second)
	issued := paid.Add(time.Hour)
	var p plan
	if cfg.runs(ModeThroughput) {
		for r := range cfg.Rounds {
			var round []domain.Order
			for i := range cfg.Refunds {
				round = append(round, issuedOrder(fmt.Sprintf("tp%d-%05d", r+1, i), paid, issued))
			}
			p.throughput = append(p.throughput, round)
		}
		three := sslOrder("path-three-year", paid,
			issuedCert("path-three-year-y1", issued),
			domain.Certificate{ID: "path-three-year-y2", State: statemachine.NotActivated},
			domain.Certificate{ID: "path-three-year-y3", State: statemachine.NotActivated})
		three.ValidityYears, three.Price, three.Payment.Cash = 3, decimal.RequireFromString("270.00"), decimal.RequireFromString("270.00")
		p.paths = map[string]domain.Order{
			PathIssued:    issuedOrder("path-issued", paid, issued),
			PathUnused:    sslOrder("path-unused", paid),
			PathThreeYear: three,
		}
	}
	if cfg.runs(ModeWaiting) {
		for i := range cfg.Waiting {
			p.waiting = append(p.waiting, issuedOrder(fmt.Sprintf("wait-%05d", i), paid, issued))
		}
	}
	if cfg.runs(ModeCallbacks) {
		for i := range cfg.CallbackCertificates {
			p.callbacks = append(p.callbacks, issuedOrder(fmt.Sprintf("cb-%05d", i), paid, issued))
		}
	}
	return p
}

func (p plan) all() []domain.Order {
	var all []domain.Order
	for _, r := range p.throughput {
		all = append(all, r...)
	}
	for _, name := range []string{PathIssued, PathUnused, PathThreeYear} {
		if o, ok := p.paths[name]; ok {
			all = append(all, o)
		}
	}
	all = append(all, p.waiting...)
	return append(all, p.callbacks...)
}

// behaviours parks the waiting mode's reviews: casim leaves them pending
// until the harness sets the behaviour to approve.
func (p plan) behaviours() casimBehaviours {
	b := casimBehaviours{}
	for _, o := range p.waiting {
		b[o.Certificates[0].ID] = casim.Behaviour{Revocation: casim.RevocationNever}
	}
	return b
}

func sslOrder(id string, paid time.Time, certs ...domain.Certificate) domain.Order {
	return domain.Order{
		ID: id, Product: domain.SSLCertificate, Profile: "aliyun-intl", PaidAt: paid,
		Currency: "USD", Price: decimal.RequireFromString("100.00"), Payment: domain.Payment{Cash: decimal.RequireFromString("100.00")},
		ValidityYears: 1, ValueAdded: domain.VANone, Certificates: certs,
	}
}

func issuedCert(id string, issued time.Time) domain.Certificate {
	return domain.Certificate{ID: id, State: statemachine.Issued, IssuedAt: &issued}
}

// issuedOrder is the throughput path: one issued certificate, refunded
// by revoke → CA review → delete → pay.
func issuedOrder(id string, paid, issued time.Time) domain.Order {
	return sslOrder(id, paid, issuedCert(id+"-c1", issued))
}

// registerOrder is the one place the harness registers an order with the
// console. Today that is a write to the store, as the demo's seeder does;
// once the console API has order intake (PUT /v1/orders/{id}), this
// becomes that call and the harness needs no store of its own.
func registerOrder(ctx context.Context, db *store.DB, o domain.Order) error {
	if err := db.PutOrder(ctx, o); err != nil {
		return fmt.Errorf("registering order %s: %w", o.ID, err)
	}
	return nil
}
