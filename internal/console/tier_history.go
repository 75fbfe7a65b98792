package console

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// tierVersion is one entry of a tier's history: who made which version
// when, and what changed, field by field.
type tierVersion struct {
	ID      int64
	Actor   string
	Action  string
	At      time.Time
	Version int
	Changes []change
}

// tierSnapshot is a tier as the store keeps it in the audit log
// (postgres.tierAudit).
type tierSnapshot struct {
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Rank        int           `json:"rank"`
	Selectable  bool          `json:"selectable"`
	Rule        outreach.Rule `json:"rule"`
	Version     int           `json:"version"`
}

// versionOf reads an audit entry of a tier; one that cannot be read as a
// tier is shown field by field as the audit log shows it.
func versionOf(e outreach.AuditEntry) tierVersion {
	v := tierVersion{ID: e.ID, Actor: e.Actor, Action: e.Action, At: e.CreatedAt}
	var before, after *tierSnapshot
	read := func(raw json.RawMessage) (*tierSnapshot, bool) {
		if len(raw) == 0 || string(raw) == "null" {
			return nil, true
		}
		var s tierSnapshot
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		return &s, true
	}
	var okB, okA bool
	before, okB = read(e.Before)
	after, okA = read(e.After)
	if !okB || !okA || after == nil {
		v.Changes = changes(e.Before, e.After)
		return v
	}
	v.Version = after.Version
	v.Changes = tierDiff(before, *after)
	return v
}

// tierDiff lists what differs between two versions of a tier, in the
// form's order, with the rule also in words when it changed; before nil
// (a new tier) lists every field.
func tierDiff(before *tierSnapshot, after tierSnapshot) []change {
	var out []change
	add := func(field string, show func(tierSnapshot) string) {
		b, a := "—", show(after)
		if before != nil {
			b = show(*before)
		}
		if before == nil || b != a {
			out = append(out, change{Field: field, Before: b, After: a})
		}
	}
	add("Name", func(s tierSnapshot) string { return s.Name })
	add("Description", func(s tierSnapshot) string { return s.Description })
	add("Rank", func(s tierSnapshot) string { return strconv.Itoa(s.Rank) })
	add("Customers may choose it", func(s tierSnapshot) string { return yesNo(s.Selectable) })
	n := len(out)
	add("Caps", func(s tierSnapshot) string { return capsText(s.Rule.Caps) })
	add("Min gap", func(s tierSnapshot) string { return durationOrNone(s.Rule.MinGap) })
	add("Target interval", func(s tierSnapshot) string { return durationOrNone(s.Rule.TargetInterval) })
	add("Send window", func(s tierSnapshot) string { return windowText(s.Rule.SendWindow) })
	if len(out) > n {
		add("In words", func(s tierSnapshot) string { return outreach.DescribeRule(s.Rule, consoleLang) })
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// capsText shows caps as the form takes them: "1 per 1d, 3 per 7d".
func capsText(caps []outreach.Cap) string {
	if len(caps) == 0 {
		return "none"
	}
	parts := make([]string, len(caps))
	for i, c := range caps {
		parts[i] = strconv.Itoa(c.Max) + " per " + c.Window.String()
	}
	return strings.Join(parts, ", ")
}

func durationOrNone(d time.Duration) string {
	if d <= 0 {
		return "none"
	}
	return outreach.FormatDuration(d)
}

// windowText shows a send window as the form takes it: "mon–fri
// 09:00–17:00", "every day 08:00–20:00".
func windowText(w outreach.SendWindow) string {
	days := "every day"
	if n := len(dedupWeekdays(w.Days)); n < 7 {
		var names []string
		for _, d := range weekdays {
			if w.Allows(d) {
				names = append(names, outreach.DayName(d))
			}
		}
		days = strings.Join(names, ", ")
		if n == 0 {
			days = "no day"
		}
	}
	return days + " " + outreach.FormatClock(w.Start) + "–" + outreach.FormatClock(w.End)
}

func dedupWeekdays(days []time.Weekday) map[time.Weekday]bool {
	m := map[time.Weekday]bool{}
	for _, d := range days {
		m[d] = true
	}
	return m
}
