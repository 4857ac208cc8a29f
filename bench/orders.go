package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
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
	// callbacksHeld are the callback mode's held path: refunds parked at
	// the CA's review, each holding its certificate.
	callbacksHeld []domain.Order
	// The api mode's orders: refunds parked at the CA's review while it
	// measures; per client count, GW-4 orders whose refunds await an
	// operator's approval (to approve and to cancel) and new orders for
	// the refund POSTs (registered by the measured clients themselves,
	// not before the worker starts).
	apiParked             []domain.Order
	apiApprove, apiCancel map[int][]domain.Order
	apiPost               map[int][]domain.Order
	// paid and issued are the times the orders were paid and issued at
	// (the api mode's background orders are made during the run).
	paid, issued time.Time
}

func newPlan(cfg Config, now time.Time) plan {
	paid := now.Add(-24 * time.Hour).UTC().Truncate(time.Second)
	issued := paid.Add(time.Hour)
	p := plan{paid: paid, issued: issued}
	if cfg.runs(ModeThroughput) {
		for r := range cfg.Rounds {
			var round []domain.Order
			for i := range 2 * cfg.Refunds { // a paired round's ops: see throughput
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
			p.callbacksHeld = append(p.callbacksHeld, issuedOrder(fmt.Sprintf("cb-held-%05d", i), paid, issued))
		}
	}
	if cfg.runs(ModeAPI) {
		for i := range cfg.InFlight {
			p.apiParked = append(p.apiParked, issuedOrder(fmt.Sprintf("api-park-%05d", i), paid, issued))
		}
		p.apiApprove, p.apiCancel, p.apiPost = map[int][]domain.Order{}, map[int][]domain.Order{}, map[int][]domain.Order{}
		for _, c := range cfg.APIClients {
			for i := range cfg.APIRequests {
				p.apiApprove[c] = append(p.apiApprove[c], gw4Order(fmt.Sprintf("api-approve-c%d-%05d", c, i), paid))
				p.apiCancel[c] = append(p.apiCancel[c], gw4Order(fmt.Sprintf("api-cancel-c%d-%05d", c, i), paid))
				p.apiPost[c] = append(p.apiPost[c], issuedOrder(fmt.Sprintf("api-post-c%d-%05d", c, i), paid, issued))
			}
		}
	}
	return p
}

// apiGW4 is every GW-4 order of the api mode, in client-count order.
func (p plan) apiGW4() []domain.Order {
	var all []domain.Order
	for _, c := range sortedKeys(p.apiApprove) {
		all = append(append(all, p.apiApprove[c]...), p.apiCancel[c]...)
	}
	return all
}

// gw4Order is an HTTPS gateway order with part of its GRCQ consumed: its
// refund waits for an operator's approval (GW-4) before it pays, and may
// be cancelled while it waits.
func gw4Order(id string, paid time.Time) domain.Order {
	return domain.Order{ID: id, Product: domain.HTTPSGateway, Profile: "aliyun-intl", PaidAt: paid, Currency: "USD",
		Price: decimal.RequireFromString("1.60"), Payment: domain.Payment{Cash: decimal.RequireFromString("1.60")},
		Usage: &domain.Usage{GRCQTotal: 300, GRCQConsumed: 60, DomainAdded: true}}
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
	all = append(all, p.callbacks...)
	all = append(all, p.callbacksHeld...)
	all = append(all, p.apiParked...)
	return append(all, p.apiGW4()...)
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// behaviours parks the waiting mode's reviews (casim leaves them pending
// until the harness sets the behaviour to approve), the callback mode's
// on both paths (their callbacks are the ones the harness posts itself;
// the held path's refunds stay at the review) and the api
// mode's (its parked refunds and the refunds its POSTs start stay in
// flight).
func (p plan) behaviours() casimBehaviours {
	b := casimBehaviours{}
	parked := append(append(append(append([]domain.Order(nil), p.waiting...), p.callbacks...), p.callbacksHeld...), p.apiParked...)
	for _, c := range sortedKeys(p.apiPost) {
		parked = append(parked, p.apiPost[c]...)
	}
	for _, o := range parked {
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
