// Package intake checks an order handed to certflow by the console
// (PUT /v1/orders/{id}, `starter import`) or written in a scenario
// (`certflow-sim simulate`): one validator, so an order the simulator would run
// is an order the gateway accepts, and the other way round.
//
// Validate is pure (no Temporal, no I/O, now passed in). Every error is an
// errs.Invalid error whose message starts with the field at fault, in the
// JSON path of the scenario format's "order" object (order.payment.cash,
// order.certificates[1].issued_at, ...).
package intake

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/policy"
	"github.com/certflow/certflow/statemachine"
)

// Bounds of what an order can be.
const (
	// MaxIDLen bounds order and certificate IDs.
	MaxIDLen = 200
	// MaxCertificates bounds an order's certificate list.
	MaxCertificates = 10
	// MaxPromotionDays bounds a promotion's own refund window.
	MaxPromotionDays = 366
	// ClockSkew is how far after now a date may lie (clocks differ).
	ClockSkew = 5 * time.Minute
)

// MaxAmount bounds every amount of an order: far above any real
// certificate price, far below what arithmetic or storage would mangle
// (a JSON 1e400 is a valid decimal, not a price).
var MaxAmount = decimal.New(1, 12)

// The earliest and latest instants an order's dates may name, whatever
// now is: a date outside them is a typo or garbage.
var (
	Earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	Latest   = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Validator checks orders against the refund-policy profiles.
type Validator struct {
	Registry *policy.Registry
}

// Validate checks o. now bounds its dates from above (nothing happens
// after now plus ClockSkew); a zero now skips that bound, as the simulator
// does, whose clock starts at the order's payment.
func (v Validator) Validate(o domain.Order, now time.Time) error {
	for _, check := range []func(domain.Order, time.Time) error{
		checkIdentity, checkDates, v.checkProfile, checkPayment, checkProduct, checkCertificates,
	} {
		if err := check(o, now); err != nil {
			return err
		}
	}
	return nil
}

func invalid(field, format string, args ...any) error {
	return errs.E(errs.Invalid, "%s: %s", field, fmt.Sprintf(format, args...))
}

// checkID: 1 to MaxIDLen visible ASCII characters, no slash (IDs appear in
// URL paths and workflow IDs).
func checkID(field, id string) error {
	if id == "" {
		return invalid(field, "is required")
	}
	if len(id) > MaxIDLen {
		return invalid(field, "is longer than %d characters", MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '/' {
			return invalid(field, "may hold only visible ASCII characters other than '/' (byte 0x%02x at %d)", c, i)
		}
	}
	return nil
}

func checkIdentity(o domain.Order, _ time.Time) error {
	if err := checkID("order.id", o.ID); err != nil {
		return err
	}
	if !o.Product.Valid() {
		return invalid("order.product", "unknown product %q (one of %v)", o.Product, domain.Products)
	}
	return nil
}

// checkProfile: the profile exists, has a version in force at payment, and
// sells the product.
func (v Validator) checkProfile(o domain.Order, _ time.Time) error {
	if o.Profile == "" {
		return invalid("order.profile", "is required (aliyun-intl, aliyun-cn or tencent)")
	}
	if o.PaidAt.IsZero() {
		return invalid("order.paid_at", "%s", paidAtMissing)
	}
	p, err := v.Registry.Resolve(o.Profile, o.PaidAt)
	if err != nil {
		return invalid("order.profile", "%s", errs.MessageOf(err))
	}
	if !p.Sells(o.Product) {
		return invalid("order.product", "%q is not sold under profile %s", o.Product, p.ID())
	}
	return nil
}

// checkDate bounds one instant.
func checkDate(field string, t, now time.Time) error {
	if t.Before(Earliest) || !t.Before(Latest) {
		return invalid(field, "%s is not between %s and %s", t.Format(time.RFC3339), Earliest.Format("2006"), Latest.Format("2006"))
	}
	if !now.IsZero() && t.After(now.Add(ClockSkew)) {
		return invalid(field, "%s is in the future", t.Format(time.RFC3339))
	}
	return nil
}

// paidAtMissing is the message of an absent or zero paid_at: both decode
// to the zero time.
const paidAtMissing = "is required: the RFC 3339 time the order was paid (absent, or the zero time 0001-01-01T00:00:00Z, which is no payment time)"

func checkDates(o domain.Order, now time.Time) error {
	if o.PaidAt.IsZero() {
		return invalid("order.paid_at", "%s", paidAtMissing)
	}
	if err := checkDate("order.paid_at", o.PaidAt, now); err != nil {
		return err
	}
	if pr := o.Promotion; pr != nil {
		if err := checkID("order.promotion.id", pr.ID); err != nil {
			return err
		}
		if d := pr.WindowDays; d != nil && (*d < 0 || *d > MaxPromotionDays) {
			return invalid("order.promotion.window_days", "%d is not between 0 and %d", *d, MaxPromotionDays)
		}
	}
	return nil
}

// checkPayment: known currency; amounts not negative, at the currency's
// minor unit (M-1), at most MaxAmount; cash + voucher + gift card is the
// price; no more refunded before than could be (M-3).
func checkPayment(o domain.Order, _ time.Time) error {
	cur, err := money.LookupCurrency(o.Currency)
	if err != nil {
		return invalid("order.currency", "%s", errs.MessageOf(err))
	}
	if cur.Code != o.Currency {
		return invalid("order.currency", "%q is written %s (ISO 4217 codes are upper case)", o.Currency, cur.Code)
	}
	for _, f := range []struct {
		field string
		value decimal.Decimal
	}{
		{"order.price", o.Price},
		{"order.payment.cash", o.Payment.Cash},
		{"order.payment.voucher", o.Payment.Voucher},
		{"order.payment.gift_card", o.Payment.GiftCard},
		{"order.already_refunded", o.AlreadyRefunded},
	} {
		if f.value.IsNegative() {
			return invalid(f.field, "%s is negative", f.value)
		}
		if f.value.GreaterThan(MaxAmount) {
			return invalid(f.field, "%s is more than %s", clipNumber(f.value), MaxAmount)
		}
		if _, err := money.New(f.value, cur); err != nil {
			return &errs.Error{Code: errs.Invalid, Message: f.field + ": " + errs.MessageOf(err), Rules: errs.RulesOf(err)}
		}
	}
	if o.Payment.BenefitPoints < 0 {
		return invalid("order.payment.benefit_points", "%d is negative", o.Payment.BenefitPoints)
	}
	if sum := o.Payment.Cash.Add(o.Payment.Voucher).Add(o.Payment.GiftCard); !sum.Equal(o.Price) {
		return invalid("order.payment", "cash + voucher + gift_card = %s, but order.price is %s", sum, o.Price)
	}
	if paid := o.Payment.Cash.Add(o.Payment.GiftCard); o.AlreadyRefunded.GreaterThan(paid) {
		return &errs.Error{Code: errs.Invalid, Rules: []string{"M-3"},
			Message: fmt.Sprintf("order.already_refunded: %s exceeds the %s paid in cash and gift card", o.AlreadyRefunded, paid)}
	}
	return nil
}

// clipNumber shows a huge decimal briefly.
func clipNumber(d decimal.Decimal) string {
	s := d.String()
	if len(s) > 24 {
		return s[:12] + "…(" + fmt.Sprint(len(s)) + " digits)"
	}
	return s
}

// checkProduct: what only some products have.
func checkProduct(o domain.Order, _ time.Time) error {
	ssl := o.Product == domain.SSLCertificate
	switch {
	case ssl && (o.ValidityYears < 1 || o.ValidityYears > 3):
		return invalid("order.validity_years", "must be 1, 2 or 3 for an ssl_certificate order, got %d", o.ValidityYears)
	case !ssl && o.ValidityYears != 0:
		return invalid("order.validity_years", "applies to ssl_certificate orders only (a %s order has %d)", o.Product, o.ValidityYears)
	case !ssl && o.CombinedMultiDomain:
		return invalid("order.combined_multi_domain", "applies to ssl_certificate orders only")
	}
	switch o.ValueAdded {
	case "", domain.VANone, domain.VABasic, domain.VAAdvanced:
	default:
		return invalid("order.value_added", "unknown level %q (none, basic or advanced)", o.ValueAdded)
	}
	if u := o.Usage; u != nil {
		if ssl {
			return invalid("order.usage", "an ssl_certificate order records its use as certificates, not usage")
		}
		for _, f := range []struct {
			field string
			n     int64
		}{
			{"order.usage.grcq_total", u.GRCQTotal}, {"order.usage.grcq_consumed", u.GRCQConsumed},
			{"order.usage.api_calls", u.APICalls}, {"order.usage.deployment_tasks", u.DeploymentTasks},
		} {
			if f.n < 0 {
				return invalid(f.field, "%d is negative", f.n)
			}
		}
		if u.GRCQConsumed > u.GRCQTotal {
			return invalid("order.usage.grcq_consumed", "%d exceeds grcq_total %d", u.GRCQConsumed, u.GRCQTotal)
		}
	}
	return nil
}

// checkCertificates: only SSL orders have certificates, at most one per
// year of validity (SSL-8), with unique IDs, known states, and dates that
// can be (issued after payment, revoked after issue, nothing in the future).
func checkCertificates(o domain.Order, now time.Time) error {
	if len(o.Certificates) == 0 {
		return nil
	}
	if o.Product != domain.SSLCertificate {
		return invalid("order.certificates", "a %s order has no certificates", o.Product)
	}
	if len(o.Certificates) > o.ValidityYears {
		return invalid("order.certificates", "%d certificates for a %d-year order: one per year at most (SSL-8)", len(o.Certificates), o.ValidityYears)
	}
	seen := make(map[string]bool, len(o.Certificates))
	for i, c := range o.Certificates {
		field := fmt.Sprintf("order.certificates[%d]", i)
		if err := checkID(field+".id", c.ID); err != nil {
			return err
		}
		if seen[c.ID] {
			return invalid(field+".id", "certificate %q is listed twice", c.ID)
		}
		seen[c.ID] = true
		if !statemachine.ValidCertState(c.State) {
			return invalid(field+".state", "unknown state %q", c.State)
		}
		if c.IssuedAt != nil {
			if err := checkDate(field+".issued_at", *c.IssuedAt, now); err != nil {
				return err
			}
			if c.IssuedAt.Before(o.PaidAt) {
				return invalid(field+".issued_at", "%s is before order.paid_at %s", c.IssuedAt.Format(time.RFC3339), o.PaidAt.Format(time.RFC3339))
			}
		}
		if c.RevokedAt != nil {
			if err := checkDate(field+".revoked_at", *c.RevokedAt, now); err != nil {
				return err
			}
			if c.IssuedAt == nil || c.RevokedAt.Before(*c.IssuedAt) {
				return invalid(field+".revoked_at", "a certificate is revoked after it was issued (issued_at missing or later)")
			}
		}
	}
	return nil
}
