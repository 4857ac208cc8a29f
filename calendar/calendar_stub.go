// Package calendar: STUB, replaced by the calendar helper.
package calendar

import "time"

// Spec is a calendar as data (JSON), versioned.
type Spec struct {
	Name     string   `json:"name"`
	Version  string   `json:"version"`
	Timezone string   `json:"timezone"`
	Holidays []string `json:"holidays"`
	Workdays []string `json:"workdays"`
}

// Calendar answers business-day questions (T-2).
type Calendar struct{ spec Spec }

// Deadline is an instant with what produced it.
type Deadline struct {
	At       time.Time `json:"at"`
	Rule     string    `json:"rule"`
	Calendar string    `json:"calendar,omitempty"`
}

func FromSpec(s Spec) (*Calendar, error)                             { panic("stub") }
func Builtin(name string) (Spec, error)                              { panic("stub") }
func (c *Calendar) Spec() Spec                                       { return c.spec }
func (c *Calendar) ID() string                                       { panic("stub") }
func (c *Calendar) Location() *time.Location                         { panic("stub") }
func (c *Calendar) IsBusinessDay(t time.Time) bool                   { panic("stub") }
func (c *Calendar) BusinessDaysAfter(from time.Time, n int) Deadline { panic("stub") }
