package policy

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/money"
	"github.com/certflow/certflow/statemachine"
)

// paid is an order's payment as amounts of its currency, checked.
type paid struct {
	cur      money.Currency
	price    money.Amount
	cash     money.Amount
	voucher  money.Amount
	giftCard money.Amount
	already  money.Amount
}

// invalid builds the errs.Invalid error Evaluate returns for bad input.
func invalid(field, format string, args ...any) error {
	return errs.E(errs.Invalid, "%s: %s", field, fmt.Sprintf(format, args...))
}

// validate checks everything Evaluate relies on and returns the payment as
// amounts. Only malformed input is an error; a well-formed request that the
// rules refuse is a Decision.
func validate(p Profile, o domain.Order, req domain.RefundRequest, now time.Time) (paid, error) {
	if err := validateContext(p, o, req, now); err != nil {
		return paid{}, err
	}
	if err := validateProduct(p, o, req); err != nil {
		return paid{}, err
	}
	pay, err := validatePayment(p, o)
	if err != nil {
		return paid{}, err
	}
	if err := validateUsage(o.Usage); err != nil {
		return paid{}, err
	}
	return pay, validateCertificates(o)
}

func validateContext(p Profile, o domain.Order, req domain.RefundRequest, now time.Time) error {
	switch {
	case p.Name == "" || p.Version == "":
		return invalid("profile", "not loaded (resolve it from a Registry)")
	case o.Profile != "" && o.Profile != p.Name:
		return invalid("order.profile", "order sold under %q, evaluated with %q", o.Profile, p.Name)
	case req.OrderID != "" && req.OrderID != o.ID:
		return invalid("request.order_id", "%q is not order %q", req.OrderID, o.ID)
	case o.PaidAt.IsZero():
		return invalid("order.paid_at", "missing")
	case now.IsZero():
		return invalid("now", "missing request instant")
	case now.Before(o.PaidAt):
		return invalid("request.requested_at", "%s is before order.paid_at %s",
			now.Format(time.RFC3339), o.PaidAt.Format(time.RFC3339))
	}
	if pr := o.Promotion; pr != nil && pr.WindowDays != nil && *pr.WindowDays < 0 {
		return invalid("order.promotion.window_days", "negative (%d)", *pr.WindowDays)
	}
	return nil
}

func validateProduct(p Profile, o domain.Order, req domain.RefundRequest) error {
	if !o.Product.Valid() {
		return invalid("order.product", "unknown product %q", o.Product)
	}
	if !p.Sells(o.Product) {
		return invalid("order.product", "%q is not sold under profile %s", o.Product, p.ID())
	}
	switch req.Scope {
	case "", domain.ScopeOrder:
	case domain.ScopeManagedService:
		if o.Product != domain.SSLCertificate {
			return invalid("request.scope", "%q applies to ssl_certificate orders only", req.Scope)
		}
	default:
		return invalid("request.scope", "unknown scope %q", req.Scope)
	}
	if o.Product == domain.SSLCertificate && (o.ValidityYears < 0 || o.ValidityYears > 3) {
		return invalid("order.validity_years", "must be 1, 2 or 3, got %d", o.ValidityYears)
	}
	switch o.ValueAdded {
	case "", domain.VANone, domain.VABasic, domain.VAAdvanced:
		return nil
	}
	return invalid("order.value_added", "unknown level %q", o.ValueAdded)
}

// validatePayment requires cash + voucher + gift_card to equal the price
// exactly: the console records how the whole price was paid, and an order
// whose parts do not add up cannot be split by GEN-3 / TC-6.
func validatePayment(p Profile, o domain.Order) (paid, error) {
	cur, err := money.LookupCurrency(o.Currency)
	if err != nil {
		return paid{}, errs.Wrap(errs.Invalid, err, "order.currency: unknown currency %q", o.Currency)
	}
	pay := paid{cur: cur}
	for _, f := range []struct {
		field string
		value decimal.Decimal
		into  *money.Amount
	}{
		{"order.price", o.Price, &pay.price},
		{"order.payment.cash", o.Payment.Cash, &pay.cash},
		{"order.payment.voucher", o.Payment.Voucher, &pay.voucher},
		{"order.payment.gift_card", o.Payment.GiftCard, &pay.giftCard},
		{"order.already_refunded", o.AlreadyRefunded, &pay.already},
	} {
		if *f.into, err = amount(f.field, f.value, cur); err != nil {
			return paid{}, err
		}
	}
	if o.Payment.BenefitPoints < 0 {
		return paid{}, invalid("order.payment.benefit_points", "negative (%d)", o.Payment.BenefitPoints)
	}
	sum := o.Payment.Cash.Add(o.Payment.Voucher).Add(o.Payment.GiftCard)
	if !sum.Equal(o.Price) {
		return paid{}, invalid("order.payment", "cash + voucher + gift_card = %s, but price is %s", sum, o.Price)
	}
	// M-3: the books cannot show more refunded than was refundable.
	refundable, what := o.Payment.Cash, "cash"
	if p.Refund.GiftCard {
		refundable, what = refundable.Add(o.Payment.GiftCard), "cash and gift card"
	}
	if o.AlreadyRefunded.GreaterThan(refundable) {
		return paid{}, invalid("order.already_refunded", "%s exceeds the %s paid in %s", o.AlreadyRefunded, refundable, what)
	}
	return pay, nil
}

// amount converts one decimal field to an amount of cur (M-1).
func amount(field string, d decimal.Decimal, cur money.Currency) (money.Amount, error) {
	if d.IsNegative() {
		return money.Amount{}, invalid(field, "negative amount %s", d)
	}
	a, err := money.New(d, cur)
	if err != nil {
		return money.Amount{}, errs.Wrap(errs.Invalid, err, "%s: %s is not an amount of %s", field, d, cur.Code)
	}
	return a, nil
}

func validateUsage(u *domain.Usage) error {
	if u == nil {
		return nil
	}
	for _, f := range []struct {
		field string
		n     int64
	}{
		{"order.usage.grcq_total", u.GRCQTotal}, {"order.usage.grcq_consumed", u.GRCQConsumed},
		{"order.usage.api_calls", u.APICalls}, {"order.usage.deployment_tasks", u.DeploymentTasks},
	} {
		if f.n < 0 {
			return invalid(f.field, "negative (%d)", f.n)
		}
	}
	if u.GRCQConsumed > 0 && u.GRCQTotal == 0 {
		return invalid("order.usage.grcq_total", "must be positive when grcq_consumed is %d", u.GRCQConsumed)
	}
	if u.GRCQConsumed > u.GRCQTotal {
		return invalid("order.usage.grcq_consumed", "%d exceeds grcq_total %d", u.GRCQConsumed, u.GRCQTotal)
	}
	return nil
}

func validateCertificates(o domain.Order) error {
	if len(o.Certificates) > 0 && o.Product != domain.SSLCertificate {
		return invalid("order.certificates", "a %s order has no certificates", o.Product)
	}
	seen := make(map[string]bool, len(o.Certificates))
	for i, c := range o.Certificates {
		field := fmt.Sprintf("order.certificates[%d]", i)
		switch {
		case c.ID == "":
			return invalid(field+".id", "missing")
		case seen[c.ID]:
			return invalid(field+".id", "duplicate certificate %q", c.ID)
		case !statemachine.ValidCertState(c.State):
			return invalid(field+".state", "unknown state %q of certificate %q", c.State, c.ID)
		}
		seen[c.ID] = true
	}
	return nil
}
