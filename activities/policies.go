package activities

import (
	"context"
	"time"

	"github.com/certflow/certflow/calendar"
	"github.com/certflow/certflow/policy"
)

var _ Policies = (*RegistryPolicies)(nil)

// RegistryPolicies resolves profiles from a policy registry and calendars
// from the built-in set, unless the operator loaded a replacement calendar
// of the same name (T-2: the calendar is data, replaceable without a code
// change).
type RegistryPolicies struct {
	Registry *policy.Registry
	// Calendars overrides built-in calendars by name.
	Calendars map[string]calendar.Spec
}

// Resolve returns the profile in force at paidAt and its calendar.
func (p *RegistryPolicies) Resolve(_ context.Context, name string, paidAt time.Time) (policy.Profile, calendar.Spec, error) {
	prof, err := p.Registry.Resolve(name, paidAt)
	if err != nil {
		return policy.Profile{}, calendar.Spec{}, err
	}
	if spec, ok := p.Calendars[prof.Calendar]; ok {
		return prof, spec, nil
	}
	spec, err := calendar.Builtin(prof.Calendar)
	if err != nil {
		return policy.Profile{}, calendar.Spec{}, err
	}
	return prof, spec, nil
}
