package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/gateway"
	"github.com/certflow/certflow/statemachine"
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
			o := issuedOrder(fmt.Sprintf("cb-%05d", i), paid, issued)
			o.Certificates[0].State = statemachine.ValidatingRevocation
			p.callbacks = append(p.callbacks, o)
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

// behaviours parks the waiting mode's reviews (casim leaves them pending
// until the harness sets the behaviour to approve) and the callback mode's
// (their result is the callback the harness posts itself).
func (p plan) behaviours() casimBehaviours {
	b := casimBehaviours{}
	for _, o := range append(append([]domain.Order(nil), p.waiting...), p.callbacks...) {
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

// registerOrder registers o with the console API, PUT /v1/orders/{id}
// with the console token, as a console backend (and the demo's seeder)
// does; the run's directory is fresh, so every order must be created.
func (h *harness) registerOrder(ctx context.Context, o domain.Order) error {
	body, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("encoding order %s: %w", o.ID, err)
	}
	for attempt := 1; ; attempt++ {
		status, resp, err := h.console(ctx, http.MethodPut, "/v1/orders/"+url.PathEscape(o.ID), body)
		switch {
		case err != nil:
			return fmt.Errorf("registering order %s: %w", o.ID, err)
		case status == http.StatusCreated || status == http.StatusOK:
			var v gateway.OrderView
			if err := json.Unmarshal(resp, &v); err != nil {
				return fmt.Errorf("registering order %s: answer %s: %w", o.ID, resp, err)
			}
			if !v.Created && attempt == 1 { // a retry may find the order its first attempt created
				return fmt.Errorf("registering order %s: the gateway answered %d but did not create it: %s", o.ID, status, resp)
			}
			return nil
		case status == http.StatusServiceUnavailable && attempt < maxAttempts:
			h.retries.Add(1)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		default:
			return fmt.Errorf("registering order %s: PUT answered %d: %s", o.ID, status, resp)
		}
	}
}
