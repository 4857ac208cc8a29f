// Package domain holds the facts certflow reasons about: orders, their
// payments and usage, certificates, and refund requests. It is data only:
// no rules, no I/O. The JSON shape is the one of the scenario files and of
// the console API, so one set of types serves the simulator, the gateway and
// the workflows.
package domain

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/statemachine"
)

// Product is what an order bought.
type Product string

// The products of RULES.md.
const (
	SSLCertificate      Product = "ssl_certificate"
	HTTPSGateway        Product = "https_gateway"
	PrivateCA           Product = "private_ca"
	MessageNotification Product = "message_notification"
	DomainMonitoring    Product = "domain_monitoring"
	CertRepository      Product = "cert_repository"
	CloudDeployment     Product = "cloud_deployment"
)

// Products lists every known product, in a fixed order.
var Products = []Product{SSLCertificate, HTTPSGateway, PrivateCA, MessageNotification, DomainMonitoring, CertRepository, CloudDeployment}

// Valid reports whether p is a known product.
func (p Product) Valid() bool {
	for _, q := range Products {
		if p == q {
			return true
		}
	}
	return false
}

// ValueAdded is the aliyun-cn value-added service level (VAS-1).
type ValueAdded string

// The value-added service levels.
const (
	VANone     ValueAdded = "none"
	VABasic    ValueAdded = "basic"
	VAAdvanced ValueAdded = "advanced"
)

// Has reports whether a value-added service was bought ("" counts as none).
func (v ValueAdded) Has() bool { return v == VABasic || v == VAAdvanced }

// Payment is how an order was paid. Amounts are in the order's currency.
type Payment struct {
	Cash          decimal.Decimal `json:"cash"`
	Voucher       decimal.Decimal `json:"voucher"`
	GiftCard      decimal.Decimal `json:"gift_card"`
	BenefitPoints int64           `json:"benefit_points"`
}

// Promotion is the promotion an order was bought under (GEN-2). A nil
// Refundable means the promotion says nothing about refundability; a nil
// WindowDays means it keeps the profile's window.
type Promotion struct {
	ID         string `json:"id"`
	Refundable *bool  `json:"refundable,omitempty"`
	WindowDays *int   `json:"window_days,omitempty"`
}

// Usage is what the customer did with a non-certificate product. Absent
// (nil) means unused.
type Usage struct {
	GRCQTotal               int64 `json:"grcq_total,omitempty"`
	GRCQConsumed            int64 `json:"grcq_consumed,omitempty"`
	DomainAdded             bool  `json:"domain_added,omitempty"`
	CAEnabled               bool  `json:"ca_enabled,omitempty"`
	NotificationsConfigured bool  `json:"notifications_configured,omitempty"`
	MonitoringConfigured    bool  `json:"monitoring_configured,omitempty"`
	APICalls                int64 `json:"api_calls,omitempty"`
	DeploymentTasks         int64 `json:"deployment_tasks,omitempty"`
}

// Certificate is one certificate of an order as the console lists it. In a
// multi-year order the first element is the first year (SSL-8).
type Certificate struct {
	ID            string                 `json:"id"`
	State         statemachine.CertState `json:"state"`
	IssuedAt      *time.Time             `json:"issued_at,omitempty"`
	DomainChanged bool                   `json:"domain_changed"`
	// RevokedAt is when a revocation review completed, if it did.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// QuotaReturned records that this certificate's quota went back to the
	// customer (cancelled application, or a revocation that returns it).
	QuotaReturned bool `json:"quota_returned,omitempty"`
	// ResubmitRejected, when set, is the CA's reason for refusing an
	// automatic resubmission (SSL-6: the chain then needs the customer).
	ResubmitRejected string `json:"resubmit_rejected,omitempty"`
}

// Order is a paid order as the rules see it.
type Order struct {
	ID                  string          `json:"id"`
	Product             Product         `json:"product"`
	PaidAt              time.Time       `json:"paid_at"`
	Currency            string          `json:"currency"`
	Price               decimal.Decimal `json:"price"`
	Payment             Payment         `json:"payment"`
	Promotion           *Promotion      `json:"promotion"`
	ValidityYears       int             `json:"validity_years,omitempty"`
	ValueAdded          ValueAdded      `json:"value_added,omitempty"`
	CombinedMultiDomain bool            `json:"combined_multi_domain,omitempty"`
	Usage               *Usage          `json:"usage,omitempty"`
	Certificates        []Certificate   `json:"certificates,omitempty"`
	// AlreadyRefunded is cash refunded earlier for this order (M-3).
	AlreadyRefunded decimal.Decimal `json:"already_refunded,omitempty"`
	// Profile names the refund-policy profile the order was sold under.
	Profile string `json:"profile,omitempty"`
}

// Scope says what a refund request asks for back.
type Scope string

// The scopes. SSL-4: a multi-year certificate's managed service is refunded
// with the certificate, never on its own.
const (
	ScopeOrder          Scope = "order"
	ScopeManagedService Scope = "managed_service"
)

// RefundRequest is what the customer submitted, with the confirmations the
// console collected.
type RefundRequest struct {
	OrderID     string    `json:"order_id"`
	RequestedAt time.Time `json:"requested_at"`
	// Scope defaults to the whole order.
	Scope Scope `json:"scope,omitempty"`
	// Consent to the refund policy (TC-5).
	Consent bool `json:"consent"`
	// ConfirmIrreversible confirms revoke / reset (SSL-9, PCA-3).
	ConfirmIrreversible bool `json:"confirm_irreversible"`
	// AcceptLateReviewRisk confirms that the revocation review may end
	// after the refund window (SSL-9).
	AcceptLateReviewRisk bool `json:"accept_late_review_risk"`
	// RequestedBy identifies the customer or operator, for the audit trail.
	RequestedBy string `json:"requested_by,omitempty"`
}

// Destination is where refunded cash goes (GEN-4, TC-6).
type Destination string

// The destinations.
const (
	OriginalMethod Destination = "original_method"
	AccountBalance Destination = "account_balance"
)
