package calendar

import (
	"fmt"
	"time"
)

// date is a civil date, with no time zone: the unit holidays are listed in.
// It is comparable, so it keys the holiday and workday sets.
type date struct {
	y int
	m time.Month
	d int
}

// parseDate parses a strict "YYYY-MM-DD" date.
func parseDate(s string) (date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Format(time.DateOnly) != s {
		return date{}, fmt.Errorf("%q is not a YYYY-MM-DD date", s)
	}
	return dateOf(t, time.UTC), nil
}

// dateOf returns the day t falls on in loc.
func dateOf(t time.Time, loc *time.Location) date {
	y, m, d := t.In(loc).Date()
	return date{y, m, d}
}

// noon is d at 12:00 UTC; day arithmetic is done there, away from any
// time-zone transition.
func (d date) noon() time.Time { return time.Date(d.y, d.m, d.d, 12, 0, 0, 0, time.UTC) }

func (d date) next() date { return dateOf(d.noon().AddDate(0, 0, 1), time.UTC) }

func (d date) weekday() time.Weekday { return d.noon().Weekday() }

func (d date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.y, d.m, d.d) }

// startOf returns the first instant of day d in loc: 00:00 local, or, where
// a daylight-saving change skips midnight, the instant of the change (for
// such a non-existent time time.Date may return an instant of the day
// before).
func startOf(d date, loc *time.Location) time.Time {
	t := time.Date(d.y, d.m, d.d, 0, 0, 0, 0, loc)
	if dateOf(t, loc) != d {
		_, end := t.ZoneBounds()
		t = end.In(loc)
	}
	return t
}
