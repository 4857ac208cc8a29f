package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/casim"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/gateway"
	"github.com/certflow/certflow/statemachine"
)

// demoOrder is one seeded order, the refund request the demo sends for it
// through the gateway, and what the demo expects to see.
type demoOrder struct {
	Order   domain.Order
	Request refundBody
	// CA is how the CA simulator treats the order's certificates.
	CA map[string]casim.Behaviour
	// Eligible is the rules' verdict on the request when it is sent; when
	// false, Refused lists the rules that refuse it.
	Eligible bool
	Refused  []string
	// Approve marks the refund an operator approves (GW-4).
	Approve bool
	// ReviewOpen names a certificate whose revocation was submitted from
	// the console before the refund: the demo opens the review at the CA
	// simulator so its result arrives.
	ReviewOpen string
	// NoRefund marks an order the demo asks no refund for.
	NoRefund bool
	// ConsoleRevoke names a certificate the demo revokes from the console
	// (through the gateway); its CA callback is then sent twice.
	ConsoleRevoke string
	// FailOriginalMethod makes the payment simulator refuse the original
	// method for this order (GEN-4: the refund goes to the balance).
	FailOriginalMethod bool
	// Story says in a few words what the demo shows with the order.
	Story string
}

// refundBody is the body of POST /v1/orders/{id}/refund (the requester is
// the token's subject).
type refundBody struct {
	Consent              bool `json:"consent"`
	ConfirmIrreversible  bool `json:"confirm_irreversible"`
	AcceptLateReviewRisk bool `json:"accept_late_review_risk"`
}

// Certificate IDs are the order's ID plus a suffix: the CA's IDs are
// unique across orders.
func cert(orderID, n string, state statemachine.CertState) domain.Certificate {
	return domain.Certificate{ID: orderID + "-" + n, State: state}
}

func amount(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// demoOrders returns the demo's orders, paid relative to now so that their
// refund windows are open (except the late one): every certificate state,
// every product, the three profiles, and two the rules refuse.
func demoOrders(now time.Time) []demoOrder {
	paid := now.Add(-26 * time.Hour).UTC().Truncate(time.Second)
	issued := paid.Add(3 * time.Hour)
	revoked := now.Add(-3 * time.Hour).UTC().Truncate(time.Second)

	ssl := func(id, profile string, certs ...domain.Certificate) domain.Order {
		cur := "USD"
		if profile != "aliyun-intl" {
			cur = "CNY"
		}
		return domain.Order{
			ID: id, Product: domain.SSLCertificate, Profile: profile, PaidAt: paid,
			Currency: cur, Price: amount("100.00"), Payment: domain.Payment{Cash: amount("100.00")},
			ValidityYears: 1, ValueAdded: domain.VANone, Certificates: certs,
		}
	}
	product := func(id string, p domain.Product, price string, u *domain.Usage) domain.Order {
		return domain.Order{
			ID: id, Product: p, Profile: "aliyun-intl", PaidAt: paid,
			Currency: "USD", Price: amount(price), Payment: domain.Payment{Cash: amount(price)}, Usage: u,
		}
	}
	withIssued := func(c domain.Certificate) domain.Certificate { c.IssuedAt = &issued; return c }

	var out []demoOrder
	add := func(d demoOrder) {
		if d.Request == (refundBody{}) {
			// Every confirmation the console collects (TC-5, SSL-9).
			d.Request = refundBody{Consent: true, ConfirmIrreversible: true, AcceptLateReviewRisk: true}
		}
		out = append(out, d)
	}

	// aliyun-intl: one order per certificate state (SSL-6, SSL-8).
	add(demoOrder{Order: ssl("d01-intl-pending-app", "aliyun-intl", cert("d01", "c1", statemachine.PendingApplication)),
		Eligible: true, Story: "withdraw + cancel at the CA, quota back, cash back"})
	add(demoOrder{Order: ssl("d02-intl-validating", "aliyun-intl", cert("d02", "c1", statemachine.ValidatingApplication)),
		Eligible: true, Story: "withdraw the application, cancel, refund"})
	add(demoOrder{Order: ssl("d03-intl-valfail", "aliyun-intl", cert("d03", "c1", statemachine.ValidationFailed)),
		Eligible: true, Story: "resubmit, withdraw, cancel, refund"})
	rejected := cert("d04", "c1", statemachine.ValidationFailed)
	rejected.ResubmitRejected = "missing contact ID number"
	add(demoOrder{Order: ssl("d04-intl-valfail-ca-refuses", "aliyun-intl", rejected),
		CA:       map[string]casim.Behaviour{rejected.ID: {ResubmitRejected: rejected.ResubmitRejected}},
		Eligible: true, Story: "the CA refuses the resubmission: waits for the customer (SSL-6)"})
	add(demoOrder{Order: ssl("d05-intl-issued", "aliyun-intl", withIssued(cert("d05", "c1", statemachine.Issued))),
		Eligible: true, Story: "revoke, CA review callback, delete, refund"})
	inReview := withIssued(cert("d06", "c1", statemachine.ValidatingRevocation))
	add(demoOrder{Order: ssl("d06-intl-in-review", "aliyun-intl", inReview),
		ReviewOpen: inReview.ID, Eligible: true, Story: "revocation already in review: wait for the CA, delete, refund"})
	gone := withIssued(cert("d07", "c1", statemachine.Revoked))
	gone.RevokedAt = &revoked
	add(demoOrder{Order: ssl("d07-intl-revoked", "aliyun-intl", gone),
		Eligible: true, Story: "revoked inside the window (SSL-2): delete, refund"})
	three := ssl("d08-intl-3-years", "aliyun-intl",
		cert("d08", "y1", statemachine.PendingApplication),
		cert("d08", "y2", statemachine.NotActivated),
		cert("d08", "y3", statemachine.NotActivated))
	three.ValidityYears, three.Price, three.Payment.Cash = 3, amount("270.00"), amount("270.00")
	add(demoOrder{Order: three, Eligible: true, Story: "3-year order: removing year 1 removes years 2-3 (SSL-8)"})

	// aliyun-intl: the other products (GW-*, PCA-*, UNU-*).
	add(demoOrder{Order: product("d09-gateway-grcq", domain.HTTPSGateway, "16.00", &domain.Usage{GRCQTotal: 300, GRCQConsumed: 60, DomainAdded: true}),
		Eligible: true, Approve: true, Story: "GRCQ consumed: reset, operator approval (GW-4), prorated refund"})
	add(demoOrder{Order: product("d10-private-ca", domain.PrivateCA, "500.00", &domain.Usage{CAEnabled: true}),
		Eligible: true, Story: "CA enabled: reset (confirmed, PCA-3), refund"})
	add(demoOrder{Order: product("d11-notification", domain.MessageNotification, "10.00", nil),
		Eligible: true, Story: "unused: full refund"})
	add(demoOrder{Order: product("d12-monitoring", domain.DomainMonitoring, "20.00", nil),
		Eligible: true, Story: "unused: full refund"})
	add(demoOrder{Order: product("d13-cert-repository", domain.CertRepository, "30.00", nil),
		Eligible: true, Story: "unused: full refund"})
	add(demoOrder{Order: product("d14-cloud-deployment", domain.CloudDeployment, "40.00", nil),
		Eligible: true, Story: "unused: full refund"})

	// aliyun-cn and tencent.
	cn := ssl("d15-cn-value-added", "aliyun-cn", cert("d15", "c1", statemachine.PendingApplication))
	cn.ValueAdded = domain.VABasic
	add(demoOrder{Order: cn, Eligible: true, Story: "aliyun-cn with value-added service (VAS-1)"})
	tc := ssl("d16-tencent-pending-sub", "tencent", cert("d16", "c1", statemachine.PendingSubmission))
	tc.Price = amount("120.00")
	tc.Payment = domain.Payment{Cash: amount("70.00"), Voucher: amount("20.00"), GiftCard: amount("30.00"), BenefitPoints: 5}
	add(demoOrder{Order: tc, Eligible: true, Story: "cancel (TC-4); cash, gift card and points to the balance (TC-6)"})
	add(demoOrder{Order: ssl("d17-tencent-issued", "tencent", withIssued(cert("d17", "c1", statemachine.Issued))),
		Refused: []string{"TC-1"}, Story: "issued certificates are not refundable (TC-1)"})

	// Refused by the rules, and the payment fallback.
	late := ssl("d18-intl-late", "aliyun-intl", cert("d18", "c1", statemachine.PendingApplication))
	late.PaidAt = now.Add(-10 * 24 * time.Hour).UTC().Truncate(time.Second)
	add(demoOrder{Order: late, Refused: []string{"GEN-1"}, Story: "asked after the 7-day window (GEN-1)"})
	combined := ssl("d19-intl-combined", "aliyun-intl", cert("d19", "c1", statemachine.PendingApplication))
	combined.CombinedMultiDomain = true
	add(demoOrder{Order: combined, Refused: []string{"SSL-3"}, Story: "combined multi-domain certificate (SSL-3)"})
	add(demoOrder{Order: ssl("d20-intl-card-fails", "aliyun-intl"), FailOriginalMethod: true,
		Eligible: true, Story: "unused quota; the card refund fails: paid to the balance (GEN-4)"})
	// A console action outside any refund (SSL-7).
	console := withIssued(cert("d21", "c1", statemachine.Issued))
	add(demoOrder{Order: ssl("d21-intl-console-revoke", "aliyun-intl", console), NoRefund: true, ConsoleRevoke: console.ID,
		Eligible: true, Story: "no refund: revoked from the console; the CA's callback comes twice, applied once"})
	return out
}

// seedOrders registers the orders through PUT /v1/orders/{id} with the
// console token. An order whose refund paid in an earlier run
// (-fresh=false) is refused 409 and kept as it is.
func seedOrders(ctx context.Context, d *demo, orders []demoOrder) (created, kept int, err error) {
	for i, o := range orders {
		var v gateway.OrderView
		status, err := d.call(ctx, http.MethodPut, d.gatewayFor(i)+"/v1/orders/"+url.PathEscape(o.Order.ID), o.Order, &v, d.as("console")...)
		switch {
		case status == http.StatusConflict:
			kept++
		case err != nil:
			return created, kept, fmt.Errorf("registering order %s: %w", o.Order.ID, err)
		case v.Created:
			created++
		}
	}
	return created, kept, nil
}

// writeBehaviours writes the CA simulator's per-certificate behaviours
// (the -behaviours file of cmd/casim).
func writeBehaviours(path string, orders []demoOrder) error {
	b := map[string]casim.Behaviour{}
	for _, d := range orders {
		for id, beh := range d.CA {
			b[id] = beh
		}
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding CA behaviours: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("writing CA behaviours: %w", err)
	}
	return nil
}

// failingOrders lists the orders whose original-method refunds fail.
func failingOrders(orders []demoOrder) []string {
	var ids []string
	for _, d := range orders {
		if d.FailOriginalMethod {
			ids = append(ids, d.Order.ID)
		}
	}
	return ids
}
