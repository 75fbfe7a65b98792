package outreach

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDescribeRule(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	caps := func(cs ...Cap) []Cap { return cs }
	c := func(max int, w time.Duration) Cap { return Cap{Max: max, Window: Duration(w)} }
	weekdays := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	office := SendWindow{Days: weekdays, Start: 9 * 60, End: 17 * 60}
	daytime := SendWindow{Days: AllDays(), Start: 8 * 60, End: 20 * 60}
	cases := []struct {
		name string
		rule Rule
		lang string
		want string
	}{
		{"the issue's example", Rule{Caps: caps(c(1, day), c(3, 7*day)), SendWindow: AlwaysOpen}, "en",
			"At most one email a day and three a week."},
		{"caps in window order, whatever order given", Rule{Caps: caps(c(3, 7*day), c(1, day)), SendWindow: AlwaysOpen}, "en",
			"At most one email a day and three a week."},
		{"three caps", Rule{Caps: caps(c(2, day), c(5, 7*day), c(12, 30*day)), SendWindow: AlwaysOpen}, "en",
			"At most two emails a day, five a week and 12 every 30 days."},
		{"windows said in their largest whole unit", Rule{Caps: caps(c(1, 14*day), c(20, 36*time.Hour), c(1, time.Hour), c(40, 90*time.Minute)), SendWindow: AlwaysOpen}, "en",
			"At most one email an hour, 40 every 90 minutes, 20 every 36 hours and one every two weeks."},
		{"min gap", Rule{Caps: caps(c(3, 7*day)), MinGap: 2 * day, SendWindow: AlwaysOpen}, "en",
			"At most three emails a week. At least two days between two emails."},
		{"min gap of one unit", Rule{Caps: caps(c(3, 7*day)), MinGap: day, SendWindow: AlwaysOpen}, "en",
			"At most three emails a week. At least a day between two emails."},
		{"min gap implied by a cap of one", Rule{Caps: caps(c(1, 30*day)), MinGap: 14 * day, SendWindow: AlwaysOpen}, "en",
			"At most one email every 30 days."},
		{"min gap longer than the cap of one", Rule{Caps: caps(c(1, day)), MinGap: 3 * day, SendWindow: AlwaysOpen}, "en",
			"At most one email a day. At least three days between two emails."},
		{"send window hours only", Rule{Caps: caps(c(1, 7*day)), SendWindow: daytime}, "en",
			"At most one email a week. Only between 08:00 and 20:00 local time."},
		{"send window days and hours", Rule{Caps: caps(c(1, 7*day)), SendWindow: office}, "en",
			"At most one email a week. Only Monday to Friday, between 09:00 and 17:00 local time."},
		{"send window days only", Rule{Caps: caps(c(1, 7*day)), SendWindow: SendWindow{Days: []time.Weekday{time.Saturday, time.Sunday}, End: 24 * 60}}, "en",
			"At most one email a week. Only Saturday and Sunday."},
		{"days apart and in runs", Rule{Caps: caps(c(1, 7*day)), SendWindow: SendWindow{Days: []time.Weekday{time.Sunday, time.Friday, time.Monday, time.Wednesday, time.Tuesday}, Start: 0, End: 12 * 60}}, "en",
			"At most one email a week. Only Monday to Wednesday, Friday and Sunday, between midnight and 12:00 local time."},
		{"until midnight", Rule{Caps: caps(c(1, 7*day)), SendWindow: SendWindow{Days: AllDays(), Start: 18 * 60, End: 24 * 60}}, "en",
			"At most one email a week. Only between 18:00 and midnight local time."},
		{"target interval", Rule{Caps: caps(c(1, 7*day), c(3, 30*day)), TargetInterval: 30 * day, SendWindow: daytime}, "en",
			"At most one email a week and three every 30 days. Only between 08:00 and 20:00 local time. We aim to write at least once every 30 days."},
		{"target of one unit", Rule{Caps: caps(c(1, day)), TargetInterval: 7 * day, SendWindow: AlwaysOpen}, "en",
			"At most one email a day. We aim to write at least once a week."},
		{"everything", Rule{Caps: caps(c(1, day), c(3, 7*day)), MinGap: 36 * time.Hour, TargetInterval: 14 * day, SendWindow: office}, "en",
			"At most one email a day and three a week. At least 36 hours between two emails. Only Monday to Friday, between 09:00 and 17:00 local time. We aim to write at least once every two weeks."},
		{"nothing limits", Rule{SendWindow: AlwaysOpen}, "en", "No limit on how often we write."},
		{"invalid caps are left out", Rule{Caps: caps(c(0, day), c(2, 0)), SendWindow: AlwaysOpen}, "en", "No limit on how often we write."},

		{"German", Rule{Caps: caps(c(1, day), c(3, 7*day)), SendWindow: AlwaysOpen}, "de",
			"Höchstens eine E-Mail pro Tag und drei pro Woche."},
		{"German, everything", Rule{Caps: caps(c(2, day), c(5, 14*day)), MinGap: 36 * time.Hour, TargetInterval: 90 * day, SendWindow: office}, "de",
			"Höchstens zwei E-Mails pro Tag und fünf in zwei Wochen. Mindestens 36 Stunden zwischen zwei E-Mails. Nur Montag bis Freitag, zwischen 09:00 und 17:00 Uhr Ortszeit. Wir möchten mindestens einmal in 90 Tagen schreiben."},
		{"German, one of a unit", Rule{Caps: caps(c(3, 7*day)), MinGap: day, TargetInterval: 7 * day, SendWindow: SendWindow{Days: []time.Weekday{time.Saturday, time.Sunday}, End: 24 * 60}}, "de",
			"Höchstens drei E-Mails pro Woche. Mindestens ein Tag zwischen zwei E-Mails. Nur Samstag und Sonntag. Wir möchten mindestens einmal pro Woche schreiben."},
		{"German, a week's gap", Rule{Caps: caps(c(3, 30*day)), MinGap: 7 * day, SendWindow: AlwaysOpen}, "de",
			"Höchstens drei E-Mails in 30 Tagen. Mindestens eine Woche zwischen zwei E-Mails."},
		{"German by region", Rule{Caps: caps(c(1, day)), SendWindow: AlwaysOpen}, "de-CH", "Höchstens eine E-Mail pro Tag."},
		{"unknown language is English", Rule{Caps: caps(c(1, day)), SendWindow: AlwaysOpen}, "fr", "At most one email a day."},
		{"no language is English", Rule{Caps: caps(c(1, day)), SendWindow: AlwaysOpen}, "", "At most one email a day."},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, DescribeRule(tc.rule, tc.lang), tc.name)
	}
}

func TestDescribeLanguages(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"de", "en"}, DescribeLanguages())
	r := Rule{Caps: []Cap{{Max: 1, Window: Duration(24 * time.Hour)}}, SendWindow: AlwaysOpen}
	for _, lang := range DescribeLanguages() {
		if lang != "en" {
			require.NotEqual(t, DescribeRule(r, "en"), DescribeRule(r, lang), "%s has its own words", lang)
		}
	}
}

func TestByFrequency(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	tier := func(key string, rank int, caps ...Cap) Tier {
		return Tier{Key: key, Rank: rank, Rule: Rule{Caps: caps, SendWindow: AlwaysOpen}}
	}
	c := func(max int, w time.Duration) Cap { return Cap{Max: max, Window: Duration(w)} }
	low := tier("low", 10, c(1, 30*day))
	low.Rule.MinGap = 14 * day
	medium := tier("medium", 20, c(1, 7*day), c(3, 30*day))
	high := tier("high", 30, c(1, day), c(3, 7*day))
	// Ranked against their rules: the tier ranked highest writes least.
	odd := tier("odd", 40, c(1, 90*day))
	twin := tier("twin", 5, c(1, 7*day), c(3, 30*day))
	got := ByFrequency([]Tier{low, odd, twin, medium, high})
	var keys []string
	for _, t := range got {
		keys = append(keys, t.Key)
	}
	require.Equal(t, []string{"high", "medium", "twin", "low", "odd"}, keys)

	require.Equal(t, int64(13), low.Rule.MostIn(Year), "one per 30 days: 13 windows in a year")
	require.Equal(t, int64(39), medium.Rule.MostIn(Year))
	require.Equal(t, int64(159), high.Rule.MostIn(Year), "3 a week over 53 weeks is less than one a day")
	gap := Rule{Caps: []Cap{c(10, day)}, MinGap: 12 * time.Hour}
	require.Equal(t, int64(2), gap.MostIn(day), "a 12h gap lets two through in a day")
	require.Equal(t, int64(0), gap.MostIn(0))
}

func TestDescribeRuleLeavesTheRuleAlone(t *testing.T) {
	t.Parallel()
	r := Rule{Caps: []Cap{{3, Duration(7 * 24 * time.Hour)}, {1, Duration(24 * time.Hour)}}}
	DescribeRule(r, "en")
	require.Equal(t, 3, r.Caps[0].Max, "the caps are sorted in a copy")
}

func TestDescribeSendWindow(t *testing.T) {
	t.Parallel()
	mon, tue, wed, thu, fri, sat, sun := time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday
	for _, tc := range []struct {
		w    SendWindow
		want string
	}{
		{AlwaysOpen, "at any time"},
		{SendWindow{Days: AllDays(), Start: 8 * 60, End: 20 * 60}, "every day, 08:00–20:00"},
		{SendWindow{Days: []time.Weekday{fri, mon, wed, tue, thu}, Start: 9 * 60, End: 17*60 + 30}, "Monday to Friday, 09:00–17:30"},
		{SendWindow{Days: []time.Weekday{sat, sun}, Start: 10 * 60, End: 24 * 60}, "Saturday and Sunday, 10:00–24:00"},
		{SendWindow{Days: []time.Weekday{mon, wed, fri}, Start: 0, End: 24 * 60}, "Monday, Wednesday and Friday, at any hour"},
		{SendWindow{Days: []time.Weekday{sun, mon}, Start: 6 * 60, End: 7 * 60}, "Monday and Sunday, 06:00–07:00"},
		{SendWindow{Days: []time.Weekday{fri, sat, sun}, Start: 6 * 60, End: 7 * 60}, "Friday to Sunday, 06:00–07:00"},
		{SendWindow{Days: []time.Weekday{tue, tue}, Start: 60, End: 120}, "Tuesday, 01:00–02:00"},
	} {
		require.Equal(t, tc.want, DescribeSendWindow(tc.w), "%+v", tc.w)
	}
}

func TestDescribeInterval(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	require.Equal(t, "every 2 weeks", DescribeInterval(14*day))
	require.Equal(t, "every 90 days", DescribeInterval(90*day))
	require.Equal(t, "every week", DescribeInterval(7*day))
	require.Equal(t, "every 12 hours", DescribeInterval(12*time.Hour))
}

func TestDescribeRuleName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"cap 3/7d":    "At most three emails a week.",
		"cap 1/1d":    "At most one email a day.",
		"cap 1/30d":   "At most one email every 30 days.",
		"min_gap 14d": "At least two weeks between two emails.",
		"min_gap 6h":  "At least six hours between two emails.",
		"send_window mon,tue,wed,thu,fri 09:00-20:00 Europe/Berlin": "Monday to Friday, 09:00–20:00 (Europe/Berlin)",
		"send_window mon,tue,wed,thu,fri,sat,sun 08:00-20:00 UTC":   "every day, 08:00–20:00 (UTC)",
		"send_window sat 10:00-12:00":                               "Saturday, 10:00–12:00",
		"":                                                          "",
		"cap x/7d":                                                  "",
		"cap 0/7d":                                                  "",
		"cap 3":                                                     "",
		"min_gap soon":                                              "",
		"send_window someday 09:00-20:00":                           "",
		"send_window mon 9-20":                                      "",
		"retries exhausted: 451 4.7.1 go away":                      "",
	} {
		require.Equal(t, want, DescribeRuleName(in), in)
	}
}
