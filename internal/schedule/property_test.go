package schedule

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

// testZones mixes the zones named in the brief with ones whose transitions
// are unusual: half-hour shifts (Lord_Howe), a repeat across midnight
// (St_Johns before 2011), midnight gaps (Sao_Paulo 2018, Azores, Santiago,
// Havana, Beirut), 2h shifts (Troll), a skipped day (Apia, Fakaofo 2011),
// negative DST (Dublin), Ramadan transitions (Casablanca), :45 offsets
// (Chatham, Kathmandu), DST abolished (Tehran 2022) and none (Kolkata, UTC).
var testZones = []string{
	"America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata", "UTC",
	"America/St_Johns", "America/Sao_Paulo", "Antarctica/Troll", "Pacific/Apia",
	"Pacific/Fakaofo", "Europe/Dublin", "Africa/Casablanca", "America/Santiago",
	"Pacific/Chatham", "Asia/Tehran", "America/Havana", "Asia/Beirut",
	"Australia/Adelaide", "Europe/London", "Atlantic/Azores", "Asia/Kathmandu",
}

// transitions lists the instants in [from, to) where loc's offset changes.
func transitions(loc *time.Location, from, to time.Time) []time.Time {
	var out []time.Time
	for x := from; x.Before(to); {
		lx := x.In(loc)
		_, o := lx.Zone()
		_, end := lx.ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			break
		}
		if _, o2 := end.In(loc).Zone(); o2 != o {
			out = append(out, end)
		}
		x = end
	}
	return out
}

var refParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// refNamed returns whether a wall time (a UTC time) is a named time of expr,
// by robfig/cron evaluated in UTC, where it is exact: UTC has no transitions.
func refNamed(t testing.TB, expr string) func(time.Time) bool {
	t.Helper()
	s, err := refParser.Parse(expr)
	if err != nil {
		t.Fatal(err)
	}
	spec := *s.(*cron.SpecSchedule)
	spec.Location = time.UTC
	return func(w time.Time) bool {
		return w.Nanosecond() == 0 && spec.Next(w.Add(-time.Second)).Equal(w)
	}
}

// refFirings computes the firings of expr in [from, to) straight from the
// rule in the package comment, the other way round from Next: it walks the
// named times in wall-clock order (robfig/cron in UTC), finds each one's
// instants by trying every offset the zone uses near the window, and
// applies the rule for zero, one or two showings.
func refFirings(t testing.TB, expr string, loc *time.Location, from, to time.Time) []time.Time {
	t.Helper()
	s, err := refParser.Parse(expr)
	if err != nil {
		t.Fatal(err)
	}
	spec := *s.(*cron.SpecSchedule)
	spec.Location = time.UTC
	named := refNamed(t, expr)

	margin := 48 * time.Hour
	offsets := map[time.Duration]bool{}
	type jump struct {
		at            time.Time
		before, after time.Duration
	}
	var jumps []jump
	_, o := from.Add(-margin).In(loc).Zone()
	offsets[time.Duration(o)*time.Second] = true
	for _, tr := range transitions(loc, from.Add(-margin), to.Add(margin)) {
		_, b := tr.Add(-time.Nanosecond).In(loc).Zone()
		_, a := tr.In(loc).Zone()
		jumps = append(jumps, jump{tr, time.Duration(b) * time.Second, time.Duration(a) * time.Second})
		offsets[time.Duration(a)*time.Second] = true
	}
	lo, hi := from.UTC().Add(-16*time.Hour), to.UTC().Add(16*time.Hour)

	var out []time.Time
	for w := spec.Next(lo); !w.IsZero() && w.Before(hi); w = spec.Next(w) {
		var shown []time.Time
		for off := range offsets {
			x := w.Add(-off)
			if _, ox := x.In(loc).Zone(); time.Duration(ox)*time.Second == off {
				shown = append(shown, x)
			}
		}
		slices.SortFunc(shown, func(a, b time.Time) int { return a.Compare(b) })
		switch len(shown) {
		case 0:
			for _, j := range jumps {
				d := j.after - j.before
				if d > 0 && !w.Before(j.at.Add(j.before)) && w.Before(j.at.Add(j.after)) {
					if !(named(w.Add(-d)) && named(w.Add(d))) {
						out = append(out, j.at.UTC())
					}
				}
			}
		default:
			out = append(out, shown[0])
			for i := 1; i < len(shown); i++ {
				d := shown[i].Sub(shown[i-1])
				if named(w.Add(-d)) && named(w.Add(d)) {
					out = append(out, shown[i])
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(x time.Time) bool { return x.Before(from) || !x.Before(to) })
}

var refExprs = []string{
	"30 2 * * *", "0 2 * * *", "30 1 * * *", "0 1 * * *", "0 0 * * *", "30 23 * * *",
	"0 3 * * *", "45 1 * * *", "15 2 * * *", "59 23 * * *", "@daily", "@weekly", "@monthly",
	"0 9 * * MON", "30 2 * * SUN", "0 2 1-7 * SUN", "0 1 * * SAT,SUN",
	"0 * * * *", "@hourly", "*/15 * * * *", "30 * * * *", "0,30 * * * *", "*/5 * * * *",
	"10,40 * * * *", "0 */2 * * *", "0 1,2 * * *", "0 0-3 * * *", "0 0-6 * * *",
	"15,45 1-3 * * *", "* 2 * * *", "*/10 1 * * *", "0 22-23,0-2 * * *",
}

// TestNextMatchesReference compares Next, chained, with refFirings around
// every transition of the test zones in 2026 (and the odd historical ones),
// for many expressions.
func TestNextMatchesReference(t *testing.T) {
	type window struct {
		zone string
		at   time.Time
	}
	var windows []window
	for _, z := range testZones {
		loc, err := time.LoadLocation(z)
		if err != nil {
			t.Fatal(err)
		}
		trs := transitions(loc, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
		if len(trs) == 0 {
			trs = []time.Time{time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)}
		}
		for _, tr := range trs {
			windows = append(windows, window{z, tr})
		}
	}
	for _, w := range []struct{ zone, day string }{
		{"America/St_Johns", "2010-11-07"}, {"America/Sao_Paulo", "2018-11-04"},
		{"America/Sao_Paulo", "2018-02-18"}, {"Pacific/Apia", "2011-12-30"},
		{"Pacific/Fakaofo", "2011-12-30"}, {"Asia/Tehran", "2021-03-22"},
		{"Asia/Tehran", "2021-09-22"}, {"America/Havana", "2025-03-09"},
	} {
		at, _ := time.Parse("2006-01-02", w.day)
		windows = append(windows, window{w.zone, at})
	}
	for _, w := range windows {
		t.Run(w.zone+"/"+w.at.Format("2006-01-02"), func(t *testing.T) {
			t.Parallel()
			loc, _ := time.LoadLocation(w.zone)
			from, to := w.at.Add(-36*time.Hour), w.at.Add(36*time.Hour)
			for _, expr := range refExprs {
				got := firings(t, mustParse(t, expr, w.zone), from, to)
				want := refFirings(t, expr, loc, from, to)
				if !slices.Equal(got, want) {
					t.Errorf("%q: Next and the reference differ\n got %s\nwant %s", expr, fmtLocal(got, loc), fmtLocal(want, loc))
				}
			}
		})
	}
}

func fmtLocal(ts []time.Time, loc *time.Location) string {
	var b strings.Builder
	for _, x := range ts {
		b.WriteString(x.In(loc).Format("01-02 15:04 -0700, "))
	}
	return b.String()
}

// genExpr makes a random expression of one of three kinds. daily: one hour,
// one or two minutes, every day. wall: hours at least 3 apart on the 24h
// circle (so no named time is ever in cadence at a shift of 2h or less),
// random minutes and days. cadence: hourly-ish hour fields and sub-hour
// minute steps.
func genExpr(r *rand.Rand) (expr, kind string) {
	hour := func() int {
		if r.IntN(2) == 0 {
			return r.IntN(4) // where transitions are
		}
		return r.IntN(24)
	}
	minutes := func() string {
		m := []int{0, 15, 30, 45, r.IntN(60)}
		a := m[r.IntN(len(m))]
		if r.IntN(3) > 0 {
			return fmt.Sprint(a)
		}
		b := (a + 1 + r.IntN(59)) % 60
		return fmt.Sprintf("%d,%d", min(a, b), max(a, b))
	}
	switch r.IntN(3) {
	case 0:
		return fmt.Sprintf("%s %d * * *", minutes(), hour()), "daily"
	case 1:
		h := []int{hour()}
		for range r.IntN(3) {
			c := r.IntN(24)
			ok := true
			for _, x := range h {
				d := (c - x + 24) % 24
				ok = ok && d >= 3 && d <= 21
			}
			if ok {
				h = append(h, c)
			}
		}
		slices.Sort(h)
		hs := make([]string, len(h))
		for i, x := range h {
			hs[i] = fmt.Sprint(x)
		}
		days := []string{"* * *", "* * SUN", "* * MON-FRI", "1-7 * SUN", "15 * *", "* 3,4,10,11 *", "* * SAT,SUN"}
		return fmt.Sprintf("%s %s %s", minutes(), strings.Join(hs, ","), days[r.IntN(len(days))]), "wall"
	default:
		hs := []string{"*", "*", "*/2", "0-6", "1-3", "22-23,0-3", "*/3"}
		ms := []string{"0", "30", "0,30", "*/15", "*/5", "*/20", "10,40", "*", "45"}
		return fmt.Sprintf("%s %s * * *", ms[r.IntN(len(ms))], hs[r.IntN(len(hs))]), "cadence"
	}
}

// checkProperties enumerates the firings of expr from start for a few days
// and checks what must hold whatever the rule's details: strictly
// increasing; Next from any instant between two firings lands on the later
// one; every firing is a named wall time or the instant of a forward jump;
// for "daily" and "wall" expressions at most one firing per local date and
// wall time; for "daily" ones at least one firing on every local day.
func checkProperties(t *testing.T, expr, kind, zone string, start time.Time, r *rand.Rand) {
	t.Helper()
	s, err := Parse(expr, zone)
	if err != nil {
		t.Fatalf("Parse(%q): %v", expr, err)
	}
	loc := s.loc
	named := refNamed(t, expr)
	end := start.Add(6 * 24 * time.Hour)
	fs := firings(t, s, start, end)
	if kind == "daily" && len(fs) < 5 {
		t.Fatalf("%q in %s from %s: only %d firings in 6 days", expr, zone, start, len(fs))
	}
	seen := map[string]bool{}
	for i, f := range fs {
		if i > 0 && !f.After(fs[i-1]) {
			t.Fatalf("%q in %s: %s after %s", expr, zone, f, fs[i-1])
		}
		lf := f.In(loc)
		_, o := lf.Zone()
		if !named(f.Add(time.Duration(o) * time.Second)) {
			_, before := f.Add(-time.Nanosecond).In(loc).Zone()
			if before >= o {
				t.Errorf("%q in %s: %s is neither a named time nor a forward jump", expr, zone, lf)
			}
		}
		if kind != "cadence" {
			key := lf.Format("2006-01-02 15:04")
			if seen[key] {
				t.Errorf("%q in %s: fired twice at %s", expr, zone, key)
			}
			seen[key] = true
		}
		// Next from a random instant in (previous firing, f) is f.
		if i > 0 && r.IntN(4) == 0 {
			gap := f.Sub(fs[i-1])
			x := fs[i-1].Add(time.Duration(r.Int64N(int64(gap)-1) + 1))
			if got := s.Next(x); !got.Equal(f) {
				t.Errorf("%q in %s: Next(%s) = %s, want %s", expr, zone, x, got, f)
			}
		}
	}
	if len(fs) > 0 {
		if got := s.Next(start.Add(-time.Nanosecond)); !got.Equal(fs[0]) {
			t.Errorf("%q in %s: first firing %s, then %s", expr, zone, fs[0], got)
		}
	}
	if kind == "daily" {
		days := map[string]bool{}
		for _, f := range fs {
			days[f.In(loc).Format("2006-01-02")] = true
		}
		ls := start.In(loc)
		for d := 1; d < 5; d++ {
			noon := time.Date(ls.Year(), ls.Month(), ls.Day()+d, 12, 0, 0, 0, loc)
			want := time.Date(ls.Year(), ls.Month(), ls.Day()+d, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
			if noon.Format("2006-01-02") != want {
				continue // the day does not exist (Apia, 2011-12-30)
			}
			if !days[want] {
				t.Errorf("%q in %s: no firing on %s (%s)", expr, zone, want, fmtLocal(fs, loc))
			}
		}
	}
}

// TestNextProperties runs checkProperties on random expressions, zones and
// start times, half of them a few days before a transition. The seed is
// fixed, so failures reproduce.
func TestNextProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 3))
	n := 1500
	if testing.Short() {
		n = 200
	}
	lo, hi := time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	trs := map[string][]time.Time{}
	for _, z := range testZones {
		loc, err := time.LoadLocation(z)
		if err != nil {
			t.Fatal(err)
		}
		trs[z] = transitions(loc, lo, hi)
	}
	for range n {
		zone := testZones[r.IntN(len(testZones))]
		start := lo.Add(time.Duration(r.Int64N(int64(hi.Sub(lo)))))
		if zt := trs[zone]; len(zt) > 0 && r.IntN(2) == 0 {
			start = zt[r.IntN(len(zt))].Add(-time.Duration(r.Int64N(int64(3 * 24 * time.Hour))))
		}
		start = start.Truncate(time.Minute).Add(time.Duration(r.IntN(3)-1) * time.Nanosecond)
		expr, kind := genExpr(r)
		checkProperties(t, expr, kind, zone, start, r)
	}
}

// FuzzNext runs the same checks on fuzzed inputs; go test runs the seeds,
// go test -fuzz=FuzzNext ./internal/schedule/ explores further.
func FuzzNext(f *testing.F) {
	f.Add(uint64(1), uint8(0), int64(1772900000))
	f.Add(uint64(2), uint8(2), int64(1775300000))
	f.Add(uint64(3), uint8(6), int64(1541300000))
	f.Add(uint64(4), uint8(8), int64(1325100000))
	f.Fuzz(func(t *testing.T, seed uint64, zone uint8, unix int64) {
		if unix < 0 || unix > 4102444800 { // 1970 to 2100
			t.Skip()
		}
		r := rand.New(rand.NewPCG(seed, 0))
		expr, kind := genExpr(r)
		checkProperties(t, expr, kind, testZones[int(zone)%len(testZones)], time.Unix(unix, 0), r)
	})
}

// BenchmarkNext measures Next the way callers use it: once per campaign per
// tick, and chained in LatestFiring's catch-up loop.
func BenchmarkNext(b *testing.B) {
	for _, c := range []struct{ expr, zone string }{
		{"30 2 * * *", "America/New_York"},
		{"0 9 * * MON", "Europe/Berlin"},
		{"*/15 * * * *", "Australia/Lord_Howe"},
		{"0 0 29 2 *", "America/New_York"},
		{"0 9 * * *", "UTC"},
	} {
		s, err := Parse(c.expr, c.zone)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.zone+"/"+c.expr, func(b *testing.B) {
			x := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for b.Loop() {
				x = s.Next(x)
			}
		})
	}
}
