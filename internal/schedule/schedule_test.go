package schedule

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

// utc reads "2006-01-02T15:04" as a UTC instant.
func utc(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse("2006-01-02T15:04", s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// firings lists the firings of s in [from, to) by chaining Next, the way
// callers walk a schedule.
func firings(t testing.TB, s Schedule, from, to time.Time) []time.Time {
	t.Helper()
	var out []time.Time
	for x := from.Add(-time.Nanosecond); ; {
		n := s.Next(x)
		if n.IsZero() || !n.Before(to) {
			return out
		}
		if !n.After(x) {
			t.Fatalf("Next(%s) = %s, not after it", x, n)
		}
		out = append(out, n)
		x = n
		if len(out) > 100000 {
			t.Fatal("runaway enumeration")
		}
	}
}

func fmtTimes(ts []time.Time) string {
	var b strings.Builder
	for _, x := range ts {
		b.WriteString(x.Format("01-02T15:04Z "))
	}
	return b.String()
}

func mustParse(t testing.TB, expr, zone string) Schedule {
	t.Helper()
	s, err := Parse(expr, zone)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", expr, zone, err)
	}
	return s
}

// TestRobfigDSTBugsFixed reproduces the two robfig/cron v3.0.1 bugs this
// package exists to work around, and checks that Next does not have them.
func TestRobfigDSTBugsFixed(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	chain := func(next func(time.Time) time.Time, from time.Time, n int) []time.Time {
		var out []time.Time
		for x := from; len(out) < n; {
			x = next(x)
			out = append(out, x.UTC())
		}
		return out
	}

	// Spring forward, 2026-03-08: robfig goes from 03-07 02:30 EST to 03-09
	// 02:30 EDT, with nothing on the 8th; Next fires at 03:00 EDT, the
	// instant the clock jumps to.
	gap, err := cron.ParseStandard("30 2 * * *")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 7, 0, 0, 0, 0, ny)
	robfig := []time.Time{utc(t, "2026-03-07T07:30"), utc(t, "2026-03-09T06:30")}
	if got := chain(gap.Next, from, 2); !slices.Equal(got, robfig) {
		t.Errorf("robfig/cron no longer skips the spring-forward day (%s); this wrapper may be unnecessary", fmtTimes(got))
	}
	want := []time.Time{utc(t, "2026-03-07T07:30"), utc(t, "2026-03-08T07:00"), utc(t, "2026-03-09T06:30")}
	if got := chain(mustParse(t, "30 2 * * *", "America/New_York").Next, from, 3); !slices.Equal(got, want) {
		t.Errorf("30 2 * * * New York: got %s, want %s", fmtTimes(got), fmtTimes(want))
	}

	// Fall back, 2026-11-01: robfig fires at 01:30 EDT and again at 01:30
	// EST; Next fires once, at 01:30 EDT.
	rep, err := cron.ParseStandard("30 1 * * *")
	if err != nil {
		t.Fatal(err)
	}
	from = time.Date(2026, 10, 31, 12, 0, 0, 0, ny)
	robfig = []time.Time{utc(t, "2026-11-01T05:30"), utc(t, "2026-11-01T06:30")}
	if got := chain(rep.Next, from, 2); !slices.Equal(got, robfig) {
		t.Errorf("robfig/cron no longer fires twice on the fall-back day (%s); this wrapper may be unnecessary", fmtTimes(got))
	}
	want = []time.Time{utc(t, "2026-11-01T05:30"), utc(t, "2026-11-02T06:30")}
	if got := chain(mustParse(t, "30 1 * * *", "America/New_York").Next, from, 2); !slices.Equal(got, want) {
		t.Errorf("30 1 * * * New York: got %s, want %s", fmtTimes(got), fmtTimes(want))
	}
}

// TestNextAcrossTransitions pins the exact firings over the three local days
// around each 2026 transition (the day before, the day, the day after).
func TestNextAcrossTransitions(t *testing.T) {
	at := func(ss ...string) func(testing.TB) []time.Time {
		return func(t testing.TB) []time.Time {
			var out []time.Time
			for _, s := range ss {
				out = append(out, utc(t, s))
			}
			return out
		}
	}
	// every is from, from+step, ... up to and including last.
	every := func(from, last string, step time.Duration) func(testing.TB) []time.Time {
		return func(t testing.TB) []time.Time {
			var out []time.Time
			for x := utc(t, from); !x.After(utc(t, last)); x = x.Add(step) {
				out = append(out, x)
			}
			return out
		}
	}
	then := func(parts ...func(testing.TB) []time.Time) func(testing.TB) []time.Time {
		return func(t testing.TB) []time.Time {
			var out []time.Time
			for _, p := range parts {
				out = append(out, p(t)...)
			}
			return out
		}
	}

	cases := []struct {
		zone, day string // day: local date of the transition
		shifts    bool   // whether the offset changes that day
		expr      string
		want      func(testing.TB) []time.Time
	}{
		// New York, spring forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z).
		{"America/New_York", "2026-03-08", true, "30 2 * * *", at("2026-03-07T07:30", "2026-03-08T07:00", "2026-03-09T06:30")}, // in the gap: 03:00 EDT
		{"America/New_York", "2026-03-08", true, "0 2 * * *", at("2026-03-07T07:00", "2026-03-08T07:00", "2026-03-09T06:00")},
		{"America/New_York", "2026-03-08", true, "0 2,3 * * *", at("2026-03-07T07:00", "2026-03-07T08:00", "2026-03-08T07:00", "2026-03-09T06:00", "2026-03-09T07:00")}, // 02:00 and 03:00 land on one instant
		{"America/New_York", "2026-03-08", true, "30 2 * * SUN", at("2026-03-08T07:00")},
		{"America/New_York", "2026-03-08", true, "30 1 * * *", at("2026-03-07T06:30", "2026-03-08T06:30", "2026-03-09T05:30")},
		{"America/New_York", "2026-03-08", true, "0 12 * * *", at("2026-03-07T17:00", "2026-03-08T16:00", "2026-03-09T16:00")},
		{"America/New_York", "2026-03-08", true, "0 * * * *", every("2026-03-07T05:00", "2026-03-10T03:00", time.Hour)}, // 71 real hours, none at 02:xx
		{"America/New_York", "2026-03-08", true, "@hourly", every("2026-03-07T05:00", "2026-03-10T03:00", time.Hour)},
		{"America/New_York", "2026-03-08", true, "30 * * * *", every("2026-03-07T05:30", "2026-03-10T03:30", time.Hour)},
		{"America/New_York", "2026-03-08", true, "*/15 * * * *", every("2026-03-07T05:00", "2026-03-10T03:45", 15*time.Minute)},
		// Every other hour is not in cadence at a 1h shift: 02:00 catches up at 03:00 EDT.
		{"America/New_York", "2026-03-08", true, "0 */2 * * *", then(every("2026-03-07T05:00", "2026-03-08T05:00", 2*time.Hour), at("2026-03-08T07:00"), every("2026-03-08T08:00", "2026-03-10T02:00", 2*time.Hour))},

		// New York, fall back 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z).
		{"America/New_York", "2026-11-01", true, "30 1 * * *", at("2026-10-31T05:30", "2026-11-01T05:30", "2026-11-02T06:30")}, // repeated: 01:30 EDT only
		{"America/New_York", "2026-11-01", true, "0 1 * * *", at("2026-10-31T05:00", "2026-11-01T05:00", "2026-11-02T06:00")},
		{"America/New_York", "2026-11-01", true, "30 1 * * SUN", at("2026-11-01T05:30")},
		{"America/New_York", "2026-11-01", true, "30 2 * * *", at("2026-10-31T06:30", "2026-11-01T07:30", "2026-11-02T07:30")},
		{"America/New_York", "2026-11-01", true, "0 12 * * *", at("2026-10-31T16:00", "2026-11-01T17:00", "2026-11-02T17:00")},
		{"America/New_York", "2026-11-01", true, "0 * * * *", every("2026-10-31T04:00", "2026-11-03T04:00", time.Hour)}, // 73 real hours, 01:00 EDT and 01:00 EST
		{"America/New_York", "2026-11-01", true, "@hourly", every("2026-10-31T04:00", "2026-11-03T04:00", time.Hour)},
		{"America/New_York", "2026-11-01", true, "*/15 * * * *", every("2026-10-31T04:00", "2026-11-03T04:45", 15*time.Minute)},
		// 01:00 is at the edge of the run 01:00, 02:00 (no 00:00): once.
		{"America/New_York", "2026-11-01", true, "0 1,2 * * *", at("2026-10-31T05:00", "2026-10-31T06:00", "2026-11-01T05:00", "2026-11-01T07:00", "2026-11-02T06:00", "2026-11-02T07:00")},
		// 01:00 is inside the run 00:00..03:00: both showings, every real hour.
		{"America/New_York", "2026-11-01", true, "0 0-3 * * *", then(every("2026-10-31T04:00", "2026-10-31T07:00", time.Hour), every("2026-11-01T04:00", "2026-11-01T08:00", time.Hour), every("2026-11-02T05:00", "2026-11-02T08:00", time.Hour))},

		// Berlin, spring forward 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z).
		{"Europe/Berlin", "2026-03-29", true, "30 2 * * *", at("2026-03-28T01:30", "2026-03-29T01:00", "2026-03-30T00:30")}, // in the gap: 03:00 CEST
		{"Europe/Berlin", "2026-03-29", true, "30 1 * * *", at("2026-03-28T00:30", "2026-03-29T00:30", "2026-03-29T23:30")},
		{"Europe/Berlin", "2026-03-29", true, "0 9 * * *", at("2026-03-28T08:00", "2026-03-29T07:00", "2026-03-30T07:00")},
		{"Europe/Berlin", "2026-03-29", true, "0 * * * *", every("2026-03-27T23:00", "2026-03-30T21:00", time.Hour)},
		{"Europe/Berlin", "2026-03-29", true, "*/15 * * * *", every("2026-03-27T23:00", "2026-03-30T21:45", 15*time.Minute)},

		// Berlin, fall back 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z).
		{"Europe/Berlin", "2026-10-25", true, "30 2 * * *", at("2026-10-24T00:30", "2026-10-25T00:30", "2026-10-26T01:30")}, // repeated: 02:30 CEST only
		{"Europe/Berlin", "2026-10-25", true, "30 1 * * *", at("2026-10-23T23:30", "2026-10-24T23:30", "2026-10-26T00:30")},
		{"Europe/Berlin", "2026-10-25", true, "0 9 * * *", at("2026-10-24T07:00", "2026-10-25T08:00", "2026-10-26T08:00")},
		{"Europe/Berlin", "2026-10-25", true, "0 * * * *", every("2026-10-23T22:00", "2026-10-26T22:00", time.Hour)},
		{"Europe/Berlin", "2026-10-25", true, "*/15 * * * *", every("2026-10-23T22:00", "2026-10-26T22:45", 15*time.Minute)},

		// Lord Howe, spring forward 2026-10-04 02:00 +1030 -> 02:30 +11 (10-03 15:30Z).
		{"Australia/Lord_Howe", "2026-10-04", true, "0 2 * * *", at("2026-10-02T15:30", "2026-10-03T15:30", "2026-10-04T15:00")}, // in the gap: 02:30 +11
		{"Australia/Lord_Howe", "2026-10-04", true, "15 2 * * *", at("2026-10-02T15:45", "2026-10-03T15:30", "2026-10-04T15:15")},
		{"Australia/Lord_Howe", "2026-10-04", true, "30 2 * * *", at("2026-10-02T16:00", "2026-10-03T15:30", "2026-10-04T15:30")}, // the gap's end exists
		{"Australia/Lord_Howe", "2026-10-04", true, "45 1 * * *", at("2026-10-02T15:15", "2026-10-03T15:15", "2026-10-04T14:45")},
		{"Australia/Lord_Howe", "2026-10-04", true, "0 9 * * *", at("2026-10-02T22:30", "2026-10-03T22:00", "2026-10-04T22:00")},
		// 02:00 is not in cadence (01:30 and 02:30 are not named): it catches up at 02:30 +11.
		{"Australia/Lord_Howe", "2026-10-04", true, "0 * * * *", then(every("2026-10-02T13:30", "2026-10-03T14:30", time.Hour), at("2026-10-03T15:30"), every("2026-10-03T16:00", "2026-10-05T12:00", time.Hour))},
		{"Australia/Lord_Howe", "2026-10-04", true, "30 * * * *", then(every("2026-10-02T14:00", "2026-10-03T15:00", time.Hour), every("2026-10-03T15:30", "2026-10-05T12:30", time.Hour))},
		{"Australia/Lord_Howe", "2026-10-04", true, "0,30 * * * *", every("2026-10-02T13:30", "2026-10-05T12:30", 30*time.Minute)},
		{"Australia/Lord_Howe", "2026-10-04", true, "*/15 * * * *", every("2026-10-02T13:30", "2026-10-05T12:45", 15*time.Minute)},

		// Lord Howe, fall back 2026-04-05 02:00 +11 -> 01:30 +1030 (04-04 15:00Z).
		{"Australia/Lord_Howe", "2026-04-05", true, "45 1 * * *", at("2026-04-03T14:45", "2026-04-04T14:45", "2026-04-05T15:15")}, // repeated: 01:45 +11 only
		{"Australia/Lord_Howe", "2026-04-05", true, "30 1 * * *", at("2026-04-03T14:30", "2026-04-04T14:30", "2026-04-05T15:00")},
		{"Australia/Lord_Howe", "2026-04-05", true, "0 2 * * *", at("2026-04-03T15:00", "2026-04-04T15:30", "2026-04-05T15:30")},
		{"Australia/Lord_Howe", "2026-04-05", true, "0 9 * * *", at("2026-04-03T22:00", "2026-04-04T22:30", "2026-04-05T22:30")},
		{"Australia/Lord_Howe", "2026-04-05", true, "0 * * * *", then(every("2026-04-03T13:00", "2026-04-04T14:00", time.Hour), every("2026-04-04T15:30", "2026-04-06T12:30", time.Hour))},
		// 01:30 is not in cadence (01:00 and 02:00 are not named): first showing only.
		{"Australia/Lord_Howe", "2026-04-05", true, "30 * * * *", then(every("2026-04-03T13:30", "2026-04-04T14:30", time.Hour), every("2026-04-04T16:00", "2026-04-06T13:00", time.Hour))},
		{"Australia/Lord_Howe", "2026-04-05", true, "0,30 * * * *", every("2026-04-03T13:00", "2026-04-06T13:00", 30*time.Minute)},
		{"Australia/Lord_Howe", "2026-04-05", true, "*/15 * * * *", every("2026-04-03T13:00", "2026-04-06T13:15", 15*time.Minute)},

		// Kolkata (+0530, no DST) on the New York dates: nothing special.
		{"Asia/Kolkata", "2026-03-08", false, "30 2 * * *", at("2026-03-06T21:00", "2026-03-07T21:00", "2026-03-08T21:00")},
		{"Asia/Kolkata", "2026-03-08", false, "30 1 * * *", at("2026-03-06T20:00", "2026-03-07T20:00", "2026-03-08T20:00")},
		{"Asia/Kolkata", "2026-03-08", false, "0 12 * * *", at("2026-03-07T06:30", "2026-03-08T06:30", "2026-03-09T06:30")},
		{"Asia/Kolkata", "2026-03-08", false, "0 * * * *", every("2026-03-06T18:30", "2026-03-09T17:30", time.Hour)},
		{"Asia/Kolkata", "2026-03-08", false, "*/15 * * * *", every("2026-03-06T18:30", "2026-03-09T18:15", 15*time.Minute)},
		{"Asia/Kolkata", "2026-11-01", false, "30 2 * * *", at("2026-10-30T21:00", "2026-10-31T21:00", "2026-11-01T21:00")},
		{"Asia/Kolkata", "2026-11-01", false, "30 1 * * *", at("2026-10-30T20:00", "2026-10-31T20:00", "2026-11-01T20:00")},
		{"Asia/Kolkata", "2026-11-01", false, "0 12 * * *", at("2026-10-31T06:30", "2026-11-01T06:30", "2026-11-02T06:30")},
		{"Asia/Kolkata", "2026-11-01", false, "0 * * * *", every("2026-10-30T18:30", "2026-11-02T17:30", time.Hour)},
		{"Asia/Kolkata", "2026-11-01", false, "*/15 * * * *", every("2026-10-30T18:30", "2026-11-02T18:15", 15*time.Minute)},

		// No zone means UTC.
		{"", "2026-03-08", false, "30 2 * * *", at("2026-03-07T02:30", "2026-03-08T02:30", "2026-03-09T02:30")},
		{"", "2026-11-01", false, "0 * * * *", every("2026-10-31T00:00", "2026-11-02T23:00", time.Hour)},
	}
	for _, c := range cases {
		t.Run(c.zone+"/"+c.day+"/"+c.expr, func(t *testing.T) {
			t.Parallel()
			loc := time.UTC
			if c.zone != "" {
				var err error
				if loc, err = time.LoadLocation(c.zone); err != nil {
					t.Fatal(err)
				}
			}
			day, err := time.ParseInLocation("2006-01-02", c.day, loc)
			if err != nil {
				t.Fatal(err)
			}
			from := day.AddDate(0, 0, -1)
			to := day.AddDate(0, 0, 2)
			_, o1 := day.Zone()
			_, o2 := day.AddDate(0, 0, 1).Zone()
			if (o1 != o2) != c.shifts {
				t.Fatalf("offset on %s goes %d -> %d; the case expects shifts=%v", c.day, o1, o2, c.shifts)
			}
			got := firings(t, mustParse(t, c.expr, c.zone), from, to)
			want := c.want(t)
			if !slices.Equal(got, want) {
				t.Errorf("firings in [%s, %s):\n got (%d) %s\nwant (%d) %s", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), len(got), fmtTimes(got), len(want), fmtTimes(want))
			}
			for _, g := range got {
				if g.Location() != time.UTC {
					t.Fatalf("Next returned %v, not in UTC", g)
				}
			}
		})
	}
}

// TestParse checks that parsing and its error messages are robfig/cron's,
// with @every refused and the zone applied.
func TestParse(t *testing.T) {
	const every = "@every is not supported: use a calendar expression such as \"0 9 * * MON\""
	for _, c := range []struct{ expr, zone, err string }{
		{"@every 5m", "UTC", every},
		{"TZ=UTC @every 5m", "UTC", every},
		{"0 9 * * MON", "Mars/Base", `unknown time zone "Mars/Base"`},
		{"0 9 * * MON", "Local", `unknown time zone "Local"`},
		{"not a cron", "UTC", "expected exactly 5 fields, found 3: [not a cron]"},
		{"0 0 9 * * MON", "UTC", "expected exactly 5 fields, found 6: [0 0 9 * * MON]"},
		{"61 * * * *", "UTC", "end of range (61) above maximum (59): 61"},
		{"", "UTC", "empty spec string"},
		{"@fortnightly", "UTC", "unrecognized descriptor: @fortnightly"},
	} {
		_, err := Parse(c.expr, c.zone)
		if err == nil || err.Error() != c.err {
			t.Errorf("Parse(%q, %q) = %v, want %q", c.expr, c.zone, err, c.err)
		}
	}

	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		expr, zone string
		want       string
	}{
		{"0 9 * * *", "", "2026-06-01T09:00"},
		{"0 9 * * *", "UTC", "2026-06-01T09:00"},
		{"0 9 * * *", "Europe/Berlin", "2026-06-01T07:00"},
		{"TZ=Europe/Berlin 0 9 * * *", "America/New_York", "2026-06-01T07:00"}, // the prefix wins, as it did
		{"CRON_TZ=Asia/Kolkata 30 2 * * *", "", "2026-06-01T21:00"},
		{"0 9 * * MON", "UTC", "2026-06-01T09:00"}, // 2026-06-01 is a Monday
		{"@weekly", "UTC", "2026-06-07T00:00"},
		{"@monthly", "UTC", "2026-07-01T00:00"},
		{"@yearly", "UTC", "2027-01-01T00:00"},
		{"@daily", "UTC", "2026-06-02T00:00"},
		{"0 0 13 * FRI", "UTC", "2026-06-05T00:00"},   // both day fields set: either matches
		{"0 0 13 * */1", "UTC", "2026-06-13T00:00"},   // "*/1" is a star: both must match
		{"0 0 29 2 *", "UTC", "2028-02-29T00:00"},     // leap day
		{"30 8 1-7 * MON", "UTC", "2026-06-01T08:30"}, // dom OR dow, as cron does
	} {
		got := mustParse(t, c.expr, c.zone).Next(from)
		if want := utc(t, c.want); !got.Equal(want) {
			t.Errorf("Parse(%q, %q).Next(%s) = %s, want %s", c.expr, c.zone, from, got, want)
		}
	}
}

// TestNextNoFiring checks the zero-time answers.
func TestNextNoFiring(t *testing.T) {
	if got := mustParse(t, "0 0 30 2 *", "Europe/Berlin").Next(time.Now()); !got.IsZero() {
		t.Errorf("February 30 fired at %s", got)
	}
	if got := mustParse(t, "0 0 31 4,6,9,11 *", "UTC").Next(time.Now()); !got.IsZero() {
		t.Errorf("the 31st of a 30-day month fired at %s", got)
	}
	if got := (Schedule{}).Next(time.Now()); !got.IsZero() {
		t.Errorf("the zero Schedule fired at %s", got)
	}
	// The longest gap between two firings of a satisfiable expression:
	// 2100 is not a leap year.
	got := mustParse(t, "0 0 29 2 *", "UTC").Next(time.Date(2096, 3, 1, 0, 0, 0, 0, time.UTC))
	if want := time.Date(2104, 2, 29, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("leap day after 2096: %s, want %s", got, want)
	}
}

// TestNextStrictlyAfter checks sub-second and non-UTC inputs: the next
// firing is strictly after t, whatever t's location or fraction.
func TestNextStrictlyAfter(t *testing.T) {
	s := mustParse(t, "0 9 * * *", "America/New_York")
	ny, _ := time.LoadLocation("America/New_York")
	at9 := time.Date(2026, 6, 1, 9, 0, 0, 0, ny)
	for _, c := range []struct {
		t    time.Time
		want time.Time
	}{
		{at9.Add(-time.Nanosecond), at9},
		{at9, at9.AddDate(0, 0, 1)},
		{at9.Add(time.Nanosecond), at9.AddDate(0, 0, 1)},
		{at9.Add(-500 * time.Millisecond).In(time.FixedZone("X", 3*3600+1)), at9},
		{time.Now(), time.Time{}}, // only checked to be after
	} {
		got := s.Next(c.t)
		if !got.After(c.t) || (!c.want.IsZero() && !got.Equal(c.want)) || got.Location() != time.UTC {
			t.Errorf("Next(%s) = %s, want %s (UTC, after)", c.t, got, c.want)
		}
	}
}
