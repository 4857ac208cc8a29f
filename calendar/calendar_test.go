package calendar

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/errs/errstest"

	"github.com/certflow/certflow/errs"
)

// builtin returns the built-in calendar of the given name or fails the test.
func builtin(t testing.TB, name string) *Calendar {
	t.Helper()
	s, err := Builtin(name)
	if err != nil {
		t.Fatalf("Builtin(%q): %v", name, err)
	}
	c, err := FromSpec(s)
	if err != nil {
		t.Fatalf("FromSpec(%q): %v", name, err)
	}
	return c
}

// at parses an RFC 3339 instant or fails the test.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestBusinessDaysAfter(t *testing.T) {
	tests := map[string]struct {
		calendar string
		from     string
		n        int
		want     string
	}{
		"T-3 RULES example across a weekend": {
			calendar: "weekends", from: "2026-03-06T10:00:00+08:00", n: 5,
			want: "2026-03-14T00:00:00+08:00", // end of Friday 2026-03-13
		},
		"T-3 RULES example with cn-mainland (no holidays in between)": {
			calendar: "cn-mainland", from: "2026-03-06T10:00:00+08:00", n: 5,
			want: "2026-03-14T00:00:00+08:00",
		},
		"T-3 across the National Day holiday week": {
			// Oct 1-7 off; Thu 8 (1), Fri 9 (2), Sat 10 make-up (3),
			// Mon 12 (4), Tue 13 (5).
			calendar: "cn-mainland", from: "2026-09-30T10:00:00+08:00", n: 5,
			want: "2026-10-14T00:00:00+08:00",
		},
		"T-3 the same week without holidays": {
			calendar: "weekends", from: "2026-09-30T10:00:00+08:00", n: 5,
			want: "2026-10-08T00:00:00+08:00",
		},
		"T-3 across the Spring Festival and its make-up Saturday": {
			// Fri 13 (1), Sat 14 make-up (2), Feb 15-23 off, Tue 24 (3),
			// Wed 25 (4), Thu 26 (5).
			calendar: "cn-mainland", from: "2026-02-12T09:00:00+08:00", n: 5,
			want: "2026-02-27T00:00:00+08:00",
		},
		"T-3 across the Labour Day make-up Saturday": {
			// Thu 7 (1), Fri 8 (2), Sat 9 make-up (3), Mon 11 (4), Tue 12 (5).
			calendar: "cn-mainland", from: "2026-05-06T18:00:00+08:00", n: 5,
			want: "2026-05-13T00:00:00+08:00",
		},
		"T-3 a make-up Sunday the day of from does not count": {
			// Sun Sep 20 is worked but is the day of from; Mon 21 (1) .. Thu 24 (4),
			// Sep 25-27 off, Mon 28 (5).
			calendar: "cn-mainland", from: "2026-09-20T11:00:00+08:00", n: 5,
			want: "2026-09-29T00:00:00+08:00",
		},
		"T-3 from on a holiday counts from the next business day": {
			calendar: "cn-mainland", from: "2026-10-03T12:00:00+08:00", n: 1,
			want: "2026-10-09T00:00:00+08:00",
		},
		"T-3 from is read in the calendar's zone": {
			// Thursday 20:00 UTC is Friday 04:00 in Shanghai: same as the RULES example.
			calendar: "weekends", from: "2026-03-05T20:00:00Z", n: 5,
			want: "2026-03-14T00:00:00+08:00",
		},
		"T-3 from at local midnight belongs to that day": {
			calendar: "weekends", from: "2026-03-06T00:00:00+08:00", n: 5,
			want: "2026-03-14T00:00:00+08:00",
		},
		"T-3 from just before local midnight belongs to that day": {
			calendar: "weekends", from: "2026-03-05T23:59:59+08:00", n: 5,
			want: "2026-03-13T00:00:00+08:00",
		},
		"T-3 across the year end into New Year holidays": {
			// The 2026 calendar knows nothing of 2027: Jan 1 2027 counts.
			calendar: "cn-mainland", from: "2026-12-30T10:00:00+08:00", n: 2,
			want: "2027-01-02T00:00:00+08:00",
		},
		"T-3 New Year 2026 and its make-up Sunday": {
			// Jan 1-3 off, Sun 4 make-up (1), Mon 5 (2).
			calendar: "cn-mainland", from: "2025-12-31T10:00:00+08:00", n: 2,
			want: "2026-01-06T00:00:00+08:00",
		},
		"T-3 n = 0 is the end of the day of from": {
			calendar: "weekends", from: "2026-03-07T10:00:00+08:00", n: 0,
			want: "2026-03-08T00:00:00+08:00",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := builtin(t, tc.calendar)
			got := c.BusinessDaysAfter(at(t, tc.from), tc.n)
			if got.At.Format(time.RFC3339) != tc.want {
				t.Fatalf("At = %s, want %s", got.At.Format(time.RFC3339), tc.want)
			}
			if !got.At.Equal(at(t, tc.want)) {
				t.Fatalf("At = %s is not the instant %s", got.At, tc.want)
			}
			if got.Rule != "T-3" || got.Calendar != c.ID() {
				t.Fatalf("Rule, Calendar = %q, %q; want T-3, %q", got.Rule, got.Calendar, c.ID())
			}
		})
	}
}

func TestBusinessDaysAfterDeadlineJSON(t *testing.T) {
	d := builtin(t, "cn-mainland").BusinessDaysAfter(at(t, "2026-03-06T10:00:00+08:00"), 5)
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"at":"2026-03-14T00:00:00+08:00","rule":"T-3","calendar":"cn-mainland@2026"}`; string(b) != want {
		t.Fatalf("JSON = %s, want %s", b, want)
	}
}

func TestBusinessDaysAfterNegativePanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("n = -1 did not panic")
		}
	}()
	builtin(t, "weekends").BusinessDaysAfter(at(t, "2026-03-06T10:00:00+08:00"), -1)
}

func TestBusinessDaysAfterDSTSkipsMidnight(t *testing.T) {
	// In 2018 São Paulo moved its clocks from 00:00 to 01:00 on Sunday
	// November 4: that day began at 01:00 -02:00, and the deadline ending
	// Saturday November 3 (a declared workday here) is that instant.
	c, err := FromSpec(Spec{Name: "sp", Version: "1", Timezone: "America/Sao_Paulo", Workdays: []string{"2018-11-03"}})
	if err != nil {
		t.Fatal(err)
	}
	got := c.BusinessDaysAfter(at(t, "2018-11-02T10:00:00-03:00"), 1).At
	if want := at(t, "2018-11-04T01:00:00-02:00"); !got.Equal(want) {
		t.Fatalf("At = %s, want %s", got, want)
	}
	if d := dateOf(got, c.Location()); d != (date{2018, time.November, 4}) {
		t.Fatalf("At falls on %s, want 2018-11-04", d)
	}
	if before := dateOf(got.Add(-time.Nanosecond), c.Location()); before != (date{2018, time.November, 3}) {
		t.Fatalf("the instant before At falls on %s, want 2018-11-03", before)
	}
}

func TestIsBusinessDay(t *testing.T) {
	tests := map[string]struct {
		calendar string
		at       string
		want     bool
	}{
		"T-2 a holiday weekday is not a business day":          {calendar: "cn-mainland", at: "2026-10-01T10:00:00+08:00", want: false},
		"T-2 the same weekday without holidays is":             {calendar: "weekends", at: "2026-10-01T10:00:00+08:00", want: true},
		"T-2 a make-up Saturday is a business day":             {calendar: "cn-mainland", at: "2026-10-10T10:00:00+08:00", want: true},
		"T-2 a make-up Sunday is a business day":               {calendar: "cn-mainland", at: "2026-01-04T10:00:00+08:00", want: true},
		"T-2 the same Saturday without make-up days is not":    {calendar: "weekends", at: "2026-10-10T10:00:00+08:00", want: false},
		"T-2 a normal Sunday is not a business day":            {calendar: "cn-mainland", at: "2026-03-08T10:00:00+08:00", want: false},
		"T-2 a normal Monday is a business day":                {calendar: "cn-mainland", at: "2026-03-09T10:00:00+08:00", want: true},
		"T-2 a holiday Saturday is not a business day":         {calendar: "cn-mainland", at: "2026-10-03T10:00:00+08:00", want: false},
		"T-2 Friday in UTC but Saturday in Asia/Shanghai":      {calendar: "weekends", at: "2026-03-06T20:00:00Z", want: false},
		"T-2 Sunday in UTC but Monday in Asia/Shanghai":        {calendar: "weekends", at: "2026-03-08T18:00:00Z", want: true},
		"T-2 holiday eve in UTC is the holiday in Shanghai":    {calendar: "cn-mainland", at: "2026-09-30T16:00:00Z", want: false},
		"T-2 last holiday second in Shanghai":                  {calendar: "cn-mainland", at: "2026-10-07T23:59:59+08:00", want: false},
		"T-2 first second after the holidays in Shanghai":      {calendar: "cn-mainland", at: "2026-10-08T00:00:00+08:00", want: true},
		"T-2 make-up Saturday in Shanghai is Friday UTC 16:00": {calendar: "cn-mainland", at: "2026-10-09T16:00:00Z", want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := builtin(t, tc.calendar).IsBusinessDay(at(t, tc.at)); got != tc.want {
				t.Fatalf("IsBusinessDay(%s) = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
}

func TestBuiltin(t *testing.T) {
	if got := strings.Join(BuiltinNames(), " "); got != "cn-mainland weekends" {
		t.Fatalf("BuiltinNames = %s", got)
	}
	tests := map[string]struct {
		id       string
		zone     string
		holidays int
		workdays int
	}{
		// T-2: the 2026 State Council arrangement, 33 days off and 6 make-up days.
		"cn-mainland": {id: "cn-mainland@2026", zone: "Asia/Shanghai", holidays: 33, workdays: 6},
		"weekends":    {id: "weekends@1", zone: "Asia/Shanghai"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := builtin(t, name)
			s := c.Spec()
			if s.Name != name {
				t.Fatalf("file %s.json is named %q", name, s.Name)
			}
			if c.ID() != tc.id || c.Location().String() != tc.zone {
				t.Fatalf("ID, Location = %s, %s; want %s, %s", c.ID(), c.Location(), tc.id, tc.zone)
			}
			if len(s.Holidays) != tc.holidays || len(s.Workdays) != tc.workdays {
				t.Fatalf("%d holidays, %d workdays; want %d, %d", len(s.Holidays), len(s.Workdays), tc.holidays, tc.workdays)
			}
			if s.Source == "" {
				t.Fatal("no source")
			}
		})
	}
}

func TestBuiltinCNMainland2026(t *testing.T) {
	// T-2: each range of 国办发明电〔2025〕7号, day by day.
	c := builtin(t, "cn-mainland")
	off := []string{
		"2026-01-01..2026-01-03", "2026-02-15..2026-02-23", "2026-04-04..2026-04-06",
		"2026-05-01..2026-05-05", "2026-06-19..2026-06-21", "2026-09-25..2026-09-27",
		"2026-10-01..2026-10-07",
	}
	worked := []string{"2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"}
	for _, r := range off {
		from, to, _ := strings.Cut(r, "..")
		for d := at(t, from+"T12:00:00+08:00"); !d.After(at(t, to+"T12:00:00+08:00")); d = d.AddDate(0, 0, 1) {
			if c.IsBusinessDay(d) {
				t.Errorf("%s is a business day, want a holiday", d.Format(time.DateOnly))
			}
		}
	}
	for _, w := range worked {
		d := at(t, w+"T12:00:00+08:00")
		if !c.IsBusinessDay(d) {
			t.Errorf("%s is not a business day, want a make-up workday", w)
		}
	}
	// Every other day of 2026 follows Monday to Friday.
	isListed := map[string]bool{}
	for _, w := range worked {
		isListed[w] = true
	}
	for _, h := range c.Spec().Holidays {
		isListed[h] = true
	}
	for d := at(t, "2026-01-01T12:00:00+08:00"); d.Year() == 2026; d = d.AddDate(0, 0, 1) {
		if isListed[d.Format(time.DateOnly)] {
			continue
		}
		want := d.Weekday() != time.Saturday && d.Weekday() != time.Sunday
		if got := c.IsBusinessDay(d); got != want {
			t.Errorf("%s (%s) IsBusinessDay = %v, want %v", d.Format(time.DateOnly), d.Weekday(), got, want)
		}
	}
}

func TestBuiltinUnknown(t *testing.T) {
	for _, name := range []string{"us-federal", "", "../cn-mainland", "cn-mainland.json", "data/weekends"} {
		_, err := Builtin(name)
		errstest.Want(t, err, errs.NotFound, `unknown calendar "`+name+`"`)
	}
}

func validSpec() Spec {
	return Spec{
		Name:     "test",
		Version:  "1",
		Timezone: "Asia/Shanghai",
		Holidays: []string{"2026-10-01", "2026-10-02"},
		Workdays: []string{"2026-10-10"},
	}
}

func TestFromSpec(t *testing.T) {
	tests := map[string]struct {
		edit   func(*Spec)
		errMsg string
	}{
		"valid":                             {edit: func(*Spec) {}},
		"UTC is a zone":                     {edit: func(s *Spec) { s.Timezone = "UTC" }},
		"a holiday on a weekend is allowed": {edit: func(s *Spec) { s.Holidays = append(s.Holidays, "2026-10-03") }},
		"no holidays or workdays":           {edit: func(s *Spec) { s.Holidays, s.Workdays = nil, nil }},
		"T-2 empty name":                    {edit: func(s *Spec) { s.Name = "" }, errMsg: "calendar name is empty"},
		"T-2 name with @":                   {edit: func(s *Spec) { s.Name = "a@b" }, errMsg: `calendar name "a@b" contains "@"`},
		"T-2 empty version":                 {edit: func(s *Spec) { s.Version = "" }, errMsg: `calendar "test" has no version`},
		"T-2 empty timezone":                {edit: func(s *Spec) { s.Timezone = "" }, errMsg: "calendar test@1: timezone is empty"},
		"T-2 Local timezone":                {edit: func(s *Spec) { s.Timezone = "Local" }, errMsg: `calendar test@1: timezone "Local" depends on the machine`},
		"T-2 unknown timezone":              {edit: func(s *Spec) { s.Timezone = "Mars/Olympus_Mons" }, errMsg: `calendar test@1: unknown timezone "Mars/Olympus_Mons"`},
		"T-2 holiday not a date":            {edit: func(s *Spec) { s.Holidays[1] = "2026-10-32" }, errMsg: `calendar test@1: holiday "2026-10-32" is not a YYYY-MM-DD date`},
		"T-2 holiday without zero padding":  {edit: func(s *Spec) { s.Holidays[0] = "2026-1-1" }, errMsg: `calendar test@1: holiday "2026-1-1" is not a YYYY-MM-DD date`},
		"T-2 holiday with a time":           {edit: func(s *Spec) { s.Holidays[0] = "2026-10-01T00:00:00Z" }, errMsg: `holiday "2026-10-01T00:00:00Z" is not a YYYY-MM-DD date`},
		"T-2 holiday listed twice":          {edit: func(s *Spec) { s.Holidays = append(s.Holidays, "2026-10-01") }, errMsg: `calendar test@1: holiday "2026-10-01" is listed twice`},
		"T-2 workday not a date":            {edit: func(s *Spec) { s.Workdays[0] = "10/10/2026" }, errMsg: `calendar test@1: workday "10/10/2026" is not a YYYY-MM-DD date`},
		"T-2 workday on a weekday":          {edit: func(s *Spec) { s.Workdays = append(s.Workdays, "2026-10-12") }, errMsg: `calendar test@1: workday "2026-10-12" is a Monday, not a Saturday or Sunday`},
		"T-2 workday listed twice":          {edit: func(s *Spec) { s.Workdays = append(s.Workdays, "2026-10-10") }, errMsg: `calendar test@1: workday "2026-10-10" is listed twice`},
		"T-2 holiday and workday":           {edit: func(s *Spec) { s.Holidays = append(s.Holidays, "2026-10-10") }, errMsg: `calendar test@1: "2026-10-10" is both a holiday and a workday`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := validSpec()
			tc.edit(&s)
			c, err := FromSpec(s)
			if tc.errMsg != "" {
				errstest.Want(t, err, errs.Invalid, tc.errMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ID() != s.Name+"@"+s.Version {
				t.Fatalf("ID = %s", c.ID())
			}
		})
	}
}

func TestCalendarDoesNotShareSlices(t *testing.T) {
	s := validSpec()
	c, err := FromSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	s.Holidays[0] = "2030-01-01"
	c.Spec().Holidays[1] = "2030-01-02"
	if got := c.Spec().Holidays; got[0] != "2026-10-01" || got[1] != "2026-10-02" {
		t.Fatalf("Spec().Holidays = %v after callers changed their copies", got)
	}
}

func TestLoad(t *testing.T) {
	tests := map[string]struct {
		in     string
		errMsg string
	}{
		"valid":                   {in: `{"name":"x","version":"1","timezone":"UTC","holidays":["2026-01-01"],"workdays":[]}`},
		"T-2 misspelt field":      {in: `{"name":"x","version":"1","timezone":"UTC","holiday":["2026-01-01"]}`, errMsg: "calendar spec is not valid JSON"},
		"T-2 trailing data":       {in: `{"name":"x","version":"1","timezone":"UTC"} {}`, errMsg: "calendar spec has data after the JSON object"},
		"T-2 not JSON":            {in: `name: x`, errMsg: "calendar spec is not valid JSON"},
		"T-2 validated like spec": {in: `{"name":"x","version":"1","timezone":"UTC","workdays":["2026-01-01"]}`, errMsg: `workday "2026-01-01" is a Thursday`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := Load(strings.NewReader(tc.in))
			if tc.errMsg != "" {
				errstest.Want(t, err, errs.Invalid, tc.errMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != "x" || len(s.Holidays) != 1 {
				t.Fatalf("got %+v", s)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	// An operator's replacement: the built-in calendar plus one extra holiday.
	s, err := Builtin("cn-mainland")
	if err != nil {
		t.Fatal(err)
	}
	s.Version = "2026-ops-1"
	s.Holidays = append(s.Holidays, "2026-03-09")
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "cn.json")
	if err := os.WriteFile(good, b, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"name":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}

	got, err := LoadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromSpec(got)
	if err != nil {
		t.Fatal(err)
	}
	// T-3: the extra holiday moves the RULES example by one day.
	d := c.BusinessDaysAfter(at(t, "2026-03-06T10:00:00+08:00"), 5)
	if want := at(t, "2026-03-17T00:00:00+08:00"); !d.At.Equal(want) || d.Calendar != "cn-mainland@2026-ops-1" {
		t.Fatalf("deadline %s by %s, want %s by cn-mainland@2026-ops-1", d.At, d.Calendar, want)
	}

	_, err = LoadFile(bad)
	errstest.Want(t, err, errs.Invalid, `calendar "x" has no version`)
	if !strings.Contains(err.Error(), bad) {
		t.Fatalf("error %q does not name the file", err)
	}
	_, err = LoadFile(filepath.Join(dir, "missing.json"))
	errstest.Want(t, err, errs.NotFound, "missing.json")
}

func TestDate(t *testing.T) {
	tests := map[string]struct {
		d    date
		next date
		wd   time.Weekday
	}{
		"month end":      {d: date{2026, time.January, 31}, next: date{2026, time.February, 1}, wd: time.Saturday},
		"leap day":       {d: date{2028, time.February, 28}, next: date{2028, time.February, 29}, wd: time.Monday},
		"no leap day":    {d: date{2026, time.February, 28}, next: date{2026, time.March, 1}, wd: time.Saturday},
		"year end":       {d: date{2026, time.December, 31}, next: date{2027, time.January, 1}, wd: time.Thursday},
		"RULES example":  {d: date{2026, time.March, 6}, next: date{2026, time.March, 7}, wd: time.Friday},
		"make-up Sunday": {d: date{2026, time.September, 20}, next: date{2026, time.September, 21}, wd: time.Sunday},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.d.next(); got != tc.next {
				t.Errorf("next = %s, want %s", got, tc.next)
			}
			if got := tc.d.weekday(); got != tc.wd {
				t.Errorf("weekday = %s, want %s", got, tc.wd)
			}
			back, err := parseDate(tc.d.String())
			if err != nil || back != tc.d {
				t.Errorf("parseDate(%s) = %v, %v", tc.d, back, err)
			}
		})
	}
}

func BenchmarkBusinessDaysAfter(b *testing.B) {
	c := builtin(b, "cn-mainland")
	from := at(b, "2026-09-30T10:00:00+08:00")
	b.ReportAllocs()
	for b.Loop() {
		c.BusinessDaysAfter(from, 5)
	}
}
