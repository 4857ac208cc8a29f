package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/errs/errtemporal"
	"github.com/certflow/certflow/policy"
)

// Deps are the clients certflow's activities use, owned as interfaces by
// this package: the worker injects real ones, the simulator and tests
// fakes. Each process's activities (workflows/refund.Activities,
// workflows/certificate.Activities) embed them; Deps itself has no
// methods, so it adds no activity of its own.
type Deps struct {
	CA       CA
	Payments Payments
	Store    Store
	Policies Policies
	// Runs tells whether a holder's workflow still runs, so a would-be
	// holder can take over a hold its holder left behind (holds.go). Nil:
	// no take-over, a hold is only ever handed over or released.
	Runs Runs
	// ReviewPoll is how often a refund asks the CA about a revocation
	// review still open (zero: DefaultReviewPoll). It reaches workflows
	// through PolicyBundle, recorded in their history.
	ReviewPoll time.Duration
	// PayPollInterval is how often Pay polls a pending refund; zero means
	// DefaultPayPollInterval.
	PayPollInterval time.Duration
}

// DefaultReviewPoll is the review polling interval when none is configured.
const DefaultReviewPoll = time.Hour

// DefaultPayPollInterval is how often Pay asks the provider about a
// pending refund when Deps.PayPollInterval is zero.
const DefaultPayPollInterval = 500 * time.Millisecond

// PolicyBundle is the profile and calendar that judge an order, recorded in
// workflow history so a later profile edit never changes a running refund.
type PolicyBundle struct {
	Profile  policy.Profile `json:"profile"`
	Calendar calendar.Spec  `json:"calendar"`
	// ReviewPoll is the worker's review polling interval when the bundle
	// was resolved (an operational setting, not a rule).
	ReviewPoll time.Duration `json:"review_poll,omitempty"`
}

// CAError converts a CA failure for a workflow; refused credentials are
// the non-retryable errs.Misconfigured (logged by the workflow once, not
// per attempt), whatever code the client gave them.
func CAError(err error) error {
	if errors.Is(err, ErrCARefusedCredentials) && errs.CodeOf(err) != errs.Misconfigured {
		err = errs.Wrap(errs.Misconfigured, err, "the CA refuses our credentials")
	}
	return errtemporal.From(err)
}

// loadOrder reads an order with its certificates' current states. What
// the refund ledger paid out for the order counts as already refunded
// (M-3): a refund after a paid one is refused by the rules, not by the
// payment. The payouts of the refund refundRun (its workflow's first run
// ID; "" for none) are not counted, so a refund that judges again after it
// paid (its first workflow task lost and run again, or a reset) is not
// refused by its own payment.
func loadOrder(ctx context.Context, d Deps, orderID, refundRun string) (domain.Order, error) {
	o, err := d.Store.GetOrder(ctx, orderID)
	if err != nil {
		return domain.Order{}, errtemporal.From(fmt.Errorf("loading order %s: %w", orderID, err))
	}
	paid, err := d.Store.RefundedByOthers(ctx, orderID, refundRun)
	if err != nil {
		return domain.Order{}, errtemporal.From(fmt.Errorf("reading payouts of order %s: %w", orderID, err))
	}
	o.AlreadyRefunded = o.AlreadyRefunded.Add(paid)
	return o, nil
}

// resolvePolicy returns the profile version in force when the order was
// paid, and its business-day calendar.
func resolvePolicy(ctx context.Context, d Deps, profile string, paidAt time.Time) (PolicyBundle, error) {
	p, cal, err := d.Policies.Resolve(ctx, profile, paidAt)
	if err != nil {
		return PolicyBundle{}, errtemporal.From(fmt.Errorf("resolving profile %q: %w", profile, err))
	}
	poll := d.ReviewPoll
	if poll <= 0 {
		poll = DefaultReviewPoll
	}
	return PolicyBundle{Profile: p, Calendar: cal, ReviewPoll: poll}, nil
}

// LoadJudgement reads the order (with what others refunded, see
// loadOrder) and resolves the policy in force when it was paid: the
// judgement of the refund refundRun ("" for none).
func LoadJudgement(ctx context.Context, d Deps, orderID, refundRun string) (Judgement, error) {
	o, err := loadOrder(ctx, d, orderID, refundRun)
	if err != nil {
		return Judgement{}, err
	}
	b, err := resolvePolicy(ctx, d, o.Profile, o.PaidAt)
	if err != nil {
		return Judgement{}, err
	}
	return Judgement{Order: o, Bundle: b}, nil
}
