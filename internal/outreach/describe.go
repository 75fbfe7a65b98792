package outreach

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// DescribeRule says in plain words what a cadence rule means for the
// people it applies to, the way a customer reads it in the preference
// center and an admin on the console's tier pages:
//
//	At most one email a day and three a week. At least 14 days between two
//	emails. Only Monday to Friday, between 09:00 and 17:00 local time. We
//	aim to write at least once every 30 days.
//
// Every part of the rule is there — each cap with its window, the min gap
// (unless a cap of one already implies it), the send window and the
// target interval — and a part that limits nothing is left out. lang is a
// language tag ("en", "de", "de-CH"); languages without wording here fall
// back to English (see DescribeLanguages).
func DescribeRule(r Rule, lang string) string {
	w := wordingFor(lang)
	var out []string
	caps := slices.Clone(r.Caps)
	slices.SortStableFunc(caps, func(a, b Cap) int { return int(time.Duration(a.Window) - time.Duration(b.Window)) })
	var parts []string
	for _, c := range caps {
		if c.Max < 1 || c.Window <= 0 {
			continue
		}
		n, u := span(time.Duration(c.Window))
		if len(parts) == 0 {
			parts = append(parts, w.firstCap(c.Max, n, u))
		} else {
			parts = append(parts, w.moreCap(c.Max, n, u))
		}
	}
	if len(parts) > 0 {
		out = append(out, capitalize(w.list(parts))+".")
	}
	if r.MinGap > 0 && !gapImplied(caps, r.MinGap) {
		n, u := span(r.MinGap)
		out = append(out, w.minGap(n, u))
	}
	sw := r.SendWindow
	days := dedupDays(sw.Days)
	var dayPhrase, timePhrase string
	if len(days) > 0 && len(days) < 7 {
		dayPhrase = w.list(dayRuns(w, days))
	}
	if sw.Start > 0 || sw.End < 24*60 {
		timePhrase = w.between(sw.Start, sw.End)
	}
	if dayPhrase != "" || timePhrase != "" {
		out = append(out, w.sendWindow(dayPhrase, timePhrase))
	}
	if r.TargetInterval > 0 {
		n, u := span(r.TargetInterval)
		out = append(out, w.target(n, u))
	}
	if len(out) == 0 {
		return w.noLimit
	}
	return strings.Join(out, " ")
}

// DescribeLanguages lists the languages DescribeRule has wording for.
func DescribeLanguages() []string {
	out := make([]string, 0, len(wordings))
	for lang := range wordings {
		out = append(out, lang)
	}
	slices.Sort(out)
	return out
}

// gapImplied reports whether a cap of one message per window at least as
// long as gap already keeps messages gap apart, so saying so adds nothing.
func gapImplied(caps []Cap, gap time.Duration) bool {
	for _, c := range caps {
		if c.Max == 1 && time.Duration(c.Window) >= gap {
			return true
		}
	}
	return false
}

// unit is a calendar unit a duration is said in.
type unit int

const (
	second unit = iota
	minute
	hour
	day
	week
)

// span says d in the largest unit that divides it: 14d is 2 weeks, 30d is
// 30 days, 36h is 36 hours.
func span(d time.Duration) (int64, unit) {
	for _, u := range []struct {
		u    unit
		size time.Duration
	}{{week, 7 * 24 * time.Hour}, {day, 24 * time.Hour}, {hour, time.Hour}, {minute, time.Minute}} {
		if d%u.size == 0 {
			return int64(d / u.size), u.u
		}
	}
	return int64(d / time.Second), second
}

// dayRuns names the days, Monday first, three or more in a row as a range:
// Monday to Friday, Sunday.
func dayRuns(w *wording, days []time.Weekday) []string {
	monFirst := func(d time.Weekday) int { return (int(d) + 6) % 7 }
	var out []string
	for i := 0; i < len(days); {
		j := i
		for j+1 < len(days) && monFirst(days[j+1]) == monFirst(days[j])+1 {
			j++
		}
		switch {
		case j-i >= 2:
			out = append(out, w.dayRange(w.days[days[i]], w.days[days[j]]))
		default:
			for k := i; k <= j; k++ {
				out = append(out, w.days[days[k]])
			}
		}
		i = j + 1
	}
	return out
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	return strings.ToUpper(string(r[0])) + string(r[1:])
}

// wording is one language's phrases for DescribeRule.
type wording struct {
	firstCap   func(max int, n int64, u unit) string // "at most one email a day"
	moreCap    func(max int, n int64, u unit) string // "three a week"
	minGap     func(n int64, u unit) string          // "At least 14 days between two emails."
	between    func(start, end int) string           // "between 09:00 and 17:00"
	sendWindow func(days, times string) string       // "Only Monday to Friday, between … local time."
	target     func(n int64, u unit) string          // "We aim to write at least once a week."
	dayRange   func(from, to string) string          // "Monday to Friday"
	and        string
	days       map[time.Weekday]string
	noLimit    string
}

// list joins phrases: "a", "a and b", "a, b and c".
func (w *wording) list(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " " + w.and + " " + parts[len(parts)-1]
}

// wordingFor picks the wording for a language tag: the tag, its base
// language, then English.
func wordingFor(lang string) *wording {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if w, ok := wordings[lang]; ok {
		return w
	}
	if base, _, ok := strings.Cut(lang, "-"); ok {
		if w, ok := wordings[base]; ok {
			return w
		}
	}
	return wordings["en"]
}

var wordings = map[string]*wording{"en": english(), "de": german()}

// englishUnits are each unit's English name, singular and plural.
var englishUnits = map[unit][2]string{second: {"second", "seconds"}, minute: {"minute", "minutes"}, hour: {"hour", "hours"},
	day: {"day", "days"}, week: {"week", "weeks"}}

func english() *wording {
	number := func(n int64) string {
		// Spelled out below ten, as English style guides have it.
		words := []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
		if n >= 0 && n < int64(len(words)) {
			return words[n]
		}
		return strconv.FormatInt(n, 10)
	}
	units := englishUnits
	one := map[unit]string{second: "a second", minute: "a minute", hour: "an hour", day: "a day", week: "a week"}
	// amount: "a day", "14 days".
	amount := func(n int64, u unit) string {
		if n == 1 {
			return one[u]
		}
		return number(n) + " " + units[u][1]
	}
	// per: "a day", "every 30 days".
	per := func(n int64, u unit) string {
		if n == 1 {
			return one[u]
		}
		return "every " + amount(n, u)
	}
	emails := func(max int) string {
		if max == 1 {
			return "one email"
		}
		return number(int64(max)) + " emails"
	}
	clock := func(m int) string {
		if m == 0 || m == 24*60 {
			return "midnight"
		}
		return FormatClock(m)
	}
	return &wording{
		firstCap: func(max int, n int64, u unit) string { return "at most " + emails(max) + " " + per(n, u) },
		moreCap:  func(max int, n int64, u unit) string { return number(int64(max)) + " " + per(n, u) },
		minGap:   func(n int64, u unit) string { return "At least " + amount(n, u) + " between two emails." },
		between:  func(start, end int) string { return "between " + clock(start) + " and " + clock(end) + " local time" },
		sendWindow: func(days, times string) string {
			switch {
			case days == "":
				return "Only " + times + "."
			case times == "":
				return "Only " + days + "."
			}
			return "Only " + days + ", " + times + "."
		},
		target:   func(n int64, u unit) string { return "We aim to write at least once " + per(n, u) + "." },
		dayRange: func(from, to string) string { return from + " to " + to },
		and:      "and",
		days: map[time.Weekday]string{time.Monday: "Monday", time.Tuesday: "Tuesday", time.Wednesday: "Wednesday",
			time.Thursday: "Thursday", time.Friday: "Friday", time.Saturday: "Saturday", time.Sunday: "Sunday"},
		noLimit: "No limit on how often we write.",
	}
}

func german() *wording {
	// number in the feminine (eine E-Mail, eine Woche); ein Tag is the one
	// masculine case and is handled where it occurs.
	number := func(n int64) string {
		words := []string{"null", "eine", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn", "elf", "zwölf"}
		if n >= 0 && n < int64(len(words)) {
			return words[n]
		}
		return strconv.FormatInt(n, 10)
	}
	// Singular, plural (nominative) and dative plural.
	units := map[unit][3]string{second: {"Sekunde", "Sekunden", "Sekunden"}, minute: {"Minute", "Minuten", "Minuten"},
		hour: {"Stunde", "Stunden", "Stunden"}, day: {"Tag", "Tage", "Tagen"}, week: {"Woche", "Wochen", "Wochen"}}
	// amount: "ein Tag", "14 Tage".
	amount := func(n int64, u unit) string {
		if n == 1 {
			if u == day {
				return "ein Tag"
			}
			return "eine " + units[u][0]
		}
		return number(n) + " " + units[u][1]
	}
	// per: "pro Tag", "in 30 Tagen".
	per := func(n int64, u unit) string {
		if n == 1 {
			return "pro " + units[u][0]
		}
		return "in " + number(n) + " " + units[u][2]
	}
	emails := func(max int) string {
		if max == 1 {
			return "eine E-Mail"
		}
		return number(int64(max)) + " E-Mails"
	}
	return &wording{
		firstCap: func(max int, n int64, u unit) string { return "höchstens " + emails(max) + " " + per(n, u) },
		moreCap:  func(max int, n int64, u unit) string { return number(int64(max)) + " " + per(n, u) },
		minGap:   func(n int64, u unit) string { return "Mindestens " + amount(n, u) + " zwischen zwei E-Mails." },
		between: func(start, end int) string {
			return "zwischen " + FormatClock(start) + " und " + FormatClock(end) + " Uhr Ortszeit"
		},
		sendWindow: func(days, times string) string {
			switch {
			case days == "":
				return "Nur " + times + "."
			case times == "":
				return "Nur " + days + "."
			}
			return "Nur " + days + ", " + times + "."
		},
		target:   func(n int64, u unit) string { return "Wir möchten mindestens einmal " + per(n, u) + " schreiben." },
		dayRange: func(from, to string) string { return from + " bis " + to },
		and:      "und",
		days: map[time.Weekday]string{time.Monday: "Montag", time.Tuesday: "Dienstag", time.Wednesday: "Mittwoch",
			time.Thursday: "Donnerstag", time.Friday: "Freitag", time.Saturday: "Samstag", time.Sunday: "Sonntag"},
		noLimit: "Keine Begrenzung, wie oft wir schreiben.",
	}
}

// DescribeSendWindow says when a send window lets messages go, on the
// contact's own clock: "every day, 08:00–20:00", "Monday to Friday,
// 09:00–17:30", "at any time".
func DescribeSendWindow(w SendWindow) string {
	if w.IsAlwaysOpen() {
		return "at any time"
	}
	days := dedupDays(w.Days) // Monday first
	en := wordingFor("en")
	var when string
	switch {
	case len(days) == 7:
		when = "every day"
	case len(days) > 2 && consecutive(days):
		when = en.dayRange(en.days[days[0]], en.days[days[len(days)-1]])
	default:
		names := make([]string, len(days))
		for i, d := range days {
			names[i] = en.days[d]
		}
		when = en.list(names)
	}
	if w.Start == 0 && w.End >= 24*60 {
		return when + ", at any hour"
	}
	return when + ", " + FormatClock(w.Start) + "–" + FormatClock(w.End)
}

// consecutive reports whether days (Monday first, no repeats) follow one
// another.
func consecutive(days []time.Weekday) bool {
	for i := 1; i < len(days); i++ {
		if (days[i]+6)%7 != (days[i-1]+6)%7+1 {
			return false
		}
	}
	return true
}

// DescribeInterval says a target interval as "every 14 days", "every
// week", in figures and the largest unit that divides it.
func DescribeInterval(d time.Duration) string {
	if d <= 0 || d%time.Second != 0 {
		return "every " + FormatDuration(d)
	}
	n, u := span(d)
	if n == 1 {
		return "every " + englishUnits[u][0]
	}
	return "every " + strconv.FormatInt(n, 10) + " " + englishUnits[u][1]
}

// DescribeRuleName says in plain words the rule a decision names
// (Delivery.Rule), caps and gaps as DescribeRule says them: "cap 3/7d" is
// "At most three emails a week.", "min_gap 14d" is "At least two weeks
// between two emails.", "send_window mon,tue 09:00-20:00
// Europe/Berlin" is "Monday and Tuesday, 09:00–20:00 (Europe/Berlin)".
// Anything else, such as a mail server's answer, is "".
func DescribeRuleName(name string) string {
	kind, rest, _ := strings.Cut(strings.TrimSpace(name), " ")
	switch kind {
	case "cap":
		n, w, ok := strings.Cut(rest, "/")
		most, err := strconv.Atoi(n)
		window, err2 := ParseDuration(w)
		if !ok || err != nil || err2 != nil || most < 1 || window <= 0 {
			return ""
		}
		return DescribeRule(Rule{Caps: []Cap{{Max: most, Window: Duration(window)}}, SendWindow: AlwaysOpen}, "en")
	case "min_gap":
		gap, err := ParseDuration(rest)
		if err != nil || gap <= 0 {
			return ""
		}
		return DescribeRule(Rule{MinGap: gap, SendWindow: AlwaysOpen}, "en")
	case "send_window":
		f := strings.Fields(rest)
		if len(f) < 2 {
			return ""
		}
		var w SendWindow
		for d := range strings.SplitSeq(f[0], ",") {
			day, err := ParseDay(d)
			if err != nil {
				return ""
			}
			w.Days = append(w.Days, day)
		}
		from, to, ok := strings.Cut(f[1], "-")
		var err, err2 error
		w.Start, err = ParseClock(from)
		w.End, err2 = ParseClock(to)
		if !ok || err != nil || err2 != nil {
			return ""
		}
		s := DescribeSendWindow(w)
		if len(f) > 2 {
			s += " (" + strings.Join(f[2:], " ") + ")"
		}
		return s
	}
	return ""
}
