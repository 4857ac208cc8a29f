// Package sim runs refund scenarios — an order, a timeline of what happens
// to it, and what must come out — through the real workflows and activities
// in Temporal's time-skipping test environment, against in-memory fakes of
// the CA, the payment system and the store that follow the timeline. It is
// what the development tool cmd/certflow-sim and the acceptance tests run.
// It links Temporal's testsuite and testify's mock, so no shipped binary
// (worker, gateway, starter) may import it; deploy/shipped_test.go holds
// that.
package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/domain"
	"github.com/certflow/certflow/errs"
	"github.com/certflow/certflow/intake"
	"github.com/certflow/certflow/policy"
)

// Event types of a scenario timeline.
const (
	EvRefundRequested     = "refund.requested"
	EvRevocationApproved  = "ca.revocation_approved"
	EvRevocationRejected  = "ca.revocation_rejected"
	EvCustomerResubmitted = "customer.resubmitted"
	EvRevokeRequested     = "certificate.revoke_requested"
	EvOriginalMethodFails = "payment.original_method_fails"
	EvOperatorApproved    = "operator.approved"
	EvCancelRequested     = "refund.cancel_requested"
	EvStrayResult         = "ca.stray_result"
)

// Deliveries of a CA result event.
const (
	// DeliveryCallback: the callback arrives at the event's time (default).
	DeliveryCallback = "callback"
	// DeliveryLost: the CA decides at the event's time and answers status
	// queries truthfully, but its callback never arrives.
	DeliveryLost = "lost"
)

var eventTypes = []string{EvRefundRequested, EvRevocationApproved, EvRevocationRejected, EvCustomerResubmitted,
	EvRevokeRequested, EvOriginalMethodFails, EvOperatorApproved, EvCancelRequested, EvStrayResult}

// Scenario is one refund story (format: testdata/scenarios/FORMAT.md).
type Scenario struct {
	Name     string          `json:"name"`
	Rules    []string        `json:"rules"`
	Profile  string          `json:"profile"`
	Timezone string          `json:"timezone,omitempty"`
	Holidays []string        `json:"holidays,omitempty"`
	Workdays []string        `json:"workdays,omitempty"`
	Order    domain.Order    `json:"order"`
	Events   []Event         `json:"events"`
	Until    *time.Time      `json:"until,omitempty"`
	Expect   json.RawMessage `json:"expect,omitempty"`
}

// Event is one thing that happens on the timeline.
type Event struct {
	At                   time.Time `json:"at"`
	Type                 string    `json:"type"`
	Certificate          string    `json:"certificate,omitempty"`
	Reason               string    `json:"reason,omitempty"`
	Consent              bool      `json:"consent,omitempty"`
	ConfirmIrreversible  bool      `json:"confirm_irreversible,omitempty"`
	AcceptLateReviewRisk bool      `json:"accept_late_review_risk,omitempty"`
	// Delivery of a ca.revocation_* result: "callback" (default) or "lost".
	Delivery string `json:"delivery,omitempty"`
	// Result of a ca.stray_result: "approved" or "rejected".
	Result string `json:"result,omitempty"`
	// OccurredAt is the decision time a ca.stray_result claims.
	OccurredAt *time.Time `json:"occurred_at,omitempty"`
}

// MaxEvents bounds a timeline: the time-skipping environment plays each
// event as a callback, and a longer timeline would not finish in its
// test timeout.
const MaxEvents = 200

// DefaultHorizon is how long the clock runs after the last event when the
// scenario names no `until`.
const DefaultHorizon = 30 * 24 * time.Hour

// LoadFile reads and validates a scenario file.
func LoadFile(path string) (Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, errs.Wrap(errs.Invalid, err, "cannot read %s", path)
	}
	return Parse(bytes.NewReader(b))
}

// Parse decodes and validates a scenario. Errors name the field at fault.
func Parse(r io.Reader) (Scenario, error) {
	var sc Scenario
	dec := json.NewDecoder(r)
	if err := dec.Decode(&sc); err != nil {
		return Scenario{}, errs.E(errs.Invalid, "invalid scenario JSON: %v", err)
	}
	if dec.More() {
		return Scenario{}, errs.E(errs.Invalid, "invalid scenario JSON: data after the scenario object")
	}
	if err := sc.validate(); err != nil {
		return Scenario{}, err
	}
	sc.Order.Profile = sc.Profile
	return sc, nil
}

func (sc *Scenario) validate() error {
	reg, err := policy.LoadRegistry()
	if err != nil {
		return err
	}
	if _, err := reg.Resolve(sc.Profile, sc.Order.PaidAt); err != nil {
		return errs.E(errs.Invalid, "profile: %s", errs.MessageOf(err))
	}
	// The order is checked by the validator the gateway's intake uses.
	o := sc.Order
	o.Profile = sc.Profile
	if err := (intake.Validator{Registry: reg}).Validate(o, time.Time{}); err != nil {
		return err
	}
	if len(sc.Events) > MaxEvents {
		return errs.E(errs.Invalid, "events: %d events; a timeline runs at most %d", len(sc.Events), MaxEvents)
	}
	if _, err := sc.CalendarSpec(reg); err != nil {
		return err
	}
	return sc.validateEvents()
}

func (sc *Scenario) validateEvents() error {
	prev := sc.Order.PaidAt
	for i, ev := range sc.Events {
		if !known(ev.Type) {
			return errs.E(errs.Invalid, "events[%d].type: unknown event type %q", i, ev.Type)
		}
		if ev.At.IsZero() {
			return errs.E(errs.Invalid, "events[%d].at is required", i)
		}
		if ev.At.Before(prev) {
			return errs.E(errs.Invalid, "events[%d].at %s is before the previous event or the payment", i, ev.At.Format(time.RFC3339))
		}
		prev = ev.At
		needsCert := ev.Type == EvRevocationApproved || ev.Type == EvRevocationRejected || ev.Type == EvCustomerResubmitted ||
			ev.Type == EvRevokeRequested || ev.Type == EvStrayResult
		if needsCert && !sc.hasCertificate(ev.Certificate) {
			return errs.E(errs.Invalid, "events[%d].certificate: %q is not a certificate of the order", i, ev.Certificate)
		}
		if err := ev.validateCA(i); err != nil {
			return err
		}
	}
	if sc.Until != nil && sc.Until.Before(prev) {
		return errs.E(errs.Invalid, "until %s is before the last event", sc.Until.Format(time.RFC3339))
	}
	return nil
}

// validateCA checks the fields of the CA result events.
func (ev Event) validateCA(i int) error {
	isResult := ev.Type == EvRevocationApproved || ev.Type == EvRevocationRejected
	switch {
	case ev.Delivery != "" && !isResult:
		return errs.E(errs.Invalid, "events[%d].delivery: only a ca.revocation_* event has a delivery", i)
	case ev.Delivery != "" && ev.Delivery != DeliveryCallback && ev.Delivery != DeliveryLost:
		return errs.E(errs.Invalid, "events[%d].delivery: %q is not callback or lost", i, ev.Delivery)
	case ev.Type != EvStrayResult:
		if ev.Result != "" || ev.OccurredAt != nil {
			return errs.E(errs.Invalid, "events[%d]: result and occurred_at belong to a ca.stray_result", i)
		}
		return nil
	case ev.Result != "approved" && ev.Result != "rejected":
		return errs.E(errs.Invalid, "events[%d].result: %q is not approved or rejected", i, ev.Result)
	case ev.OccurredAt == nil:
		return errs.E(errs.Invalid, "events[%d].occurred_at is required for a ca.stray_result", i)
	}
	return nil
}

func known(t string) bool {
	for _, k := range eventTypes {
		if k == t {
			return true
		}
	}
	return false
}

func (sc *Scenario) hasCertificate(id string) bool {
	for _, c := range sc.Order.Certificates {
		if c.ID == id {
			return true
		}
	}
	return false
}

// CalendarSpec is the scenario's business-day calendar: exactly weekends
// plus its holidays and make-up workdays, in its time zone (the profile's
// own by default).
func (sc *Scenario) CalendarSpec(reg *policy.Registry) (calendar.Spec, error) {
	p, err := reg.Resolve(sc.Profile, sc.Order.PaidAt)
	if err != nil {
		return calendar.Spec{}, err
	}
	tz := sc.Timezone
	if tz == "" {
		tz = p.Timezone
	}
	spec := calendar.Spec{Name: "scenario", Version: "1", Timezone: tz, Holidays: sc.Holidays, Workdays: sc.Workdays}
	if _, err := calendar.FromSpec(spec); err != nil {
		return calendar.Spec{}, errs.E(errs.Invalid, "calendar: %s", errs.MessageOf(err))
	}
	return spec, nil
}

// End is when the simulated clock stops.
func (sc *Scenario) End() time.Time {
	if sc.Until != nil {
		return *sc.Until
	}
	last := sc.Order.PaidAt
	if n := len(sc.Events); n > 0 {
		last = sc.Events[n-1].At
	}
	return last.Add(DefaultHorizon)
}

func (sc *Scenario) String() string { return fmt.Sprintf("%s (%s)", sc.Name, sc.Order.ID) }
