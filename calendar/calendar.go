// Package calendar owns business days and business-day deadlines (T-2,
// T-3). A holiday calendar is data: a versioned JSON Spec naming a time
// zone, its holidays and its make-up working days, embedded for the
// built-in calendars (Builtin) or loaded from a file (LoadFile), so an
// operator can replace it without a code change.
//
// The package guarantees that every answer is a pure function of the
// calendar and the instants passed in: it never reads the clock, and its
// lookup tables are only ever read by key, so it is safe to call from
// Temporal workflow code. Time zones come from the embedded IANA database
// (time/tzdata), so answers do not depend on the machine's zoneinfo.
package calendar

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // answers must not depend on the machine's zoneinfo

	"github.com/certflow/certflow/errs"
)

// Spec is a calendar as data (JSON), versioned. Dates are "YYYY-MM-DD" in
// the calendar's time zone. Holidays are non-working days; Workdays are
// make-up working days, each a Saturday or Sunday declared a working day.
// Source says where the dates come from.
type Spec struct {
	Name     string   `json:"name"`
	Version  string   `json:"version"`
	Source   string   `json:"source,omitempty"`
	Timezone string   `json:"timezone"`
	Holidays []string `json:"holidays"`
	Workdays []string `json:"workdays"`
}

// Calendar answers business-day questions (T-2) for one validated Spec.
// It is immutable; build one with FromSpec.
type Calendar struct {
	spec     Spec
	loc      *time.Location
	holidays map[date]bool
	workdays map[date]bool
}

// Deadline is an instant with what produced it. At is the first instant
// after the deadline (24:00 local of the last day, written as 00:00 of the
// next day): something done at t meets the deadline if and only if
// t.Before(At).
type Deadline struct {
	At       time.Time `json:"at"`
	Rule     string    `json:"rule"`
	Calendar string    `json:"calendar,omitempty"`
}

// FromSpec validates s and returns its calendar. It refuses, with an
// errs.Invalid error naming the problem: an empty name or version, a name
// containing "@" (ID would be ambiguous), a time zone that is empty,
// "Local" or not in the IANA database, a date that is not YYYY-MM-DD, a
// date listed twice, a workday that is not a Saturday or Sunday, and a date
// that is both a holiday and a workday.
func FromSpec(s Spec) (*Calendar, error) {
	if s.Name == "" {
		return nil, errs.E(errs.Invalid, "calendar name is empty")
	}
	if strings.Contains(s.Name, "@") {
		return nil, errs.E(errs.Invalid, "calendar name %q contains \"@\"", s.Name)
	}
	if s.Version == "" {
		return nil, errs.E(errs.Invalid, "calendar %q has no version", s.Name)
	}
	id := s.Name + "@" + s.Version
	loc, err := loadZone(s.Timezone)
	if err != nil {
		return nil, errs.E(errs.Invalid, "calendar %s: %s", id, errs.MessageOf(err))
	}
	holidays, err := dateSet(s.Holidays)
	if err != nil {
		return nil, errs.E(errs.Invalid, "calendar %s: holiday %s", id, err)
	}
	workdays, err := dateSet(s.Workdays)
	if err != nil {
		return nil, errs.E(errs.Invalid, "calendar %s: workday %s", id, err)
	}
	// Walk the slice, not the set, so the first problem reported is always
	// the same one.
	for _, w := range s.Workdays {
		d, _ := parseDate(w)
		if wd := d.weekday(); wd != time.Saturday && wd != time.Sunday {
			return nil, errs.E(errs.Invalid, "calendar %s: workday %q is a %s, not a Saturday or Sunday", id, w, wd)
		}
		if holidays[d] {
			return nil, errs.E(errs.Invalid, "calendar %s: %q is both a holiday and a workday", id, w)
		}
	}
	s.Holidays = slices.Clone(s.Holidays)
	s.Workdays = slices.Clone(s.Workdays)
	return &Calendar{spec: s, loc: loc, holidays: holidays, workdays: workdays}, nil
}

// loadZone returns the named IANA zone. "Local" is refused: it would make
// the answers depend on the machine. (time.LoadLocation maps "" to UTC,
// which would hide a missing field, so "" is refused too.)
func loadZone(name string) (*time.Location, error) {
	switch name {
	case "":
		return nil, errs.E(errs.Invalid, "timezone is empty")
	case "Local":
		return nil, errs.E(errs.Invalid, "timezone \"Local\" depends on the machine; name an IANA zone")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "unknown timezone %q", name)
	}
	return loc, nil
}

// dateSet parses dates into a set, refusing malformed and repeated dates.
func dateSet(dates []string) (map[date]bool, error) {
	set := make(map[date]bool, len(dates))
	for _, s := range dates {
		d, err := parseDate(s)
		if err != nil {
			return nil, err
		}
		if set[d] {
			return nil, fmt.Errorf("%q is listed twice", s)
		}
		set[d] = true
	}
	return set, nil
}

// Load decodes a Spec from JSON and validates it as FromSpec does, so that
// a bad calendar file is refused when it is loaded, not when it is first
// used. Unknown fields and trailing data are refused: a misspelt
// "holiday" must not silently drop every holiday. All errors are
// errs.Invalid.
func Load(r io.Reader) (Spec, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return Spec{}, errs.Wrap(errs.Invalid, err, "calendar spec is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Spec{}, errs.E(errs.Invalid, "calendar spec has data after the JSON object")
	}
	if _, err := FromSpec(s); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// LoadFile reads and validates a Spec from the JSON file at path (see
// Load). A missing file is errs.NotFound.
func LoadFile(path string) (Spec, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Spec{}, errs.Wrap(errs.NotFound, err, "calendar file %q not found", path)
	}
	if err != nil {
		return Spec{}, errs.Wrap(errs.Internal, err, "reading calendar file %q", path)
	}
	s, err := Load(bytes.NewReader(b))
	if err != nil {
		return Spec{}, fmt.Errorf("loading calendar file %s: %w", path, err)
	}
	return s, nil
}

//go:embed data/*.json
var builtins embed.FS

// BuiltinNames returns the names of the built-in calendars, sorted.
func BuiltinNames() []string {
	entries, err := fs.ReadDir(builtins, "data")
	if err != nil {
		panic("calendar: embedded data missing: " + err.Error()) // cannot happen: go:embed checked it at build time
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries { // fs.ReadDir sorts by name
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	return names
}

// Builtin returns the embedded Spec of the given name: "cn-mainland" (the
// 2026 public holidays of mainland China, Asia/Shanghai) or "weekends" (no
// holidays, Asia/Shanghai). An unknown name is errs.NotFound naming it.
func Builtin(name string) (Spec, error) {
	if !slices.Contains(BuiltinNames(), name) {
		return Spec{}, errs.E(errs.NotFound, "unknown calendar %q (built-in: %s)", name, strings.Join(BuiltinNames(), ", "))
	}
	b, err := builtins.ReadFile("data/" + name + ".json")
	if err != nil {
		return Spec{}, errs.Wrap(errs.Internal, err, "reading built-in calendar %q", name)
	}
	s, err := Load(bytes.NewReader(b))
	if err != nil {
		return Spec{}, fmt.Errorf("built-in calendar %s: %w", name, err)
	}
	return s, nil
}

// Spec returns the calendar's Spec. The slices are copies.
func (c *Calendar) Spec() Spec {
	s := c.spec
	s.Holidays = slices.Clone(s.Holidays)
	s.Workdays = slices.Clone(s.Workdays)
	return s
}

// ID returns name@version, which deadlines and decisions record.
func (c *Calendar) ID() string { return c.spec.Name + "@" + c.spec.Version }

// Location returns the calendar's time zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// IsBusinessDay reports whether the day of t, in the calendar's time zone,
// is a business day (T-2): a make-up workday, or Monday to Friday and not a
// holiday.
func (c *Calendar) IsBusinessDay(t time.Time) bool {
	return c.isBusinessDay(dateOf(t, c.loc))
}

func (c *Calendar) isBusinessDay(d date) bool {
	if c.workdays[d] {
		return true
	}
	if c.holidays[d] {
		return false
	}
	wd := d.weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// BusinessDaysAfter returns the T-3 deadline "up to n business days after
// from": the day of from, in the calendar's time zone, does not count, and
// the deadline is the end (24:00 local) of the n-th business day after it,
// so Deadline.At is 00:00 local of the following day. Revoked on Friday
// 2026-03-06 10:00 +08:00 with n = 5, the deadline is the end of Friday
// 2026-03-13: At = 2026-03-14T00:00:00+08:00.
//
// With n = 0 the deadline is the end of the day of from, whether or not
// that is a business day. A negative n is a programming error and panics.
//
// Holidays are known only as far as the calendar lists them: beyond its
// last listed year, weekdays count as business days.
func (c *Calendar) BusinessDaysAfter(from time.Time, n int) Deadline {
	if n < 0 {
		panic(fmt.Sprintf("calendar: BusinessDaysAfter with negative n %d", n))
	}
	d := dateOf(from, c.loc)
	for counted := 0; counted < n; {
		d = d.next()
		if c.isBusinessDay(d) {
			counted++
		}
	}
	return Deadline{At: startOf(d.next(), c.loc), Rule: "T-3", Calendar: c.ID()}
}
