package console

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// The tier form's fields: the tier's own, one line per cap (caps.N.max,
// caps.N.window; blank lines are ignored), the min gap and target
// interval as durations ("14d"; empty for none), and the send window
// (send_window.days, one checkbox per day, send_window.start and .end).
const (
	blankCaps = 2  // empty cap lines offered for new caps
	maxCaps   = 20 // cap lines read at most
)

// weekdays in the order the form shows them, Monday first.
var weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}

// tierForm makes the form for values with rows cap lines.
func tierForm(values url.Values, rows int) *Form {
	labels := []string{"key", "Key", "name", "Name", "description", "Description", "rank", "Rank",
		"min_gap", "Min gap", "target_interval", "Target interval",
		"send_window.days", "Send window days", "send_window.start", "Send window start", "send_window.end", "Send window end"}
	for i := range rows {
		n := strconv.Itoa(i)
		labels = append(labels, "caps."+n+".max", "Cap "+strconv.Itoa(i+1)+" messages", "caps."+n+".window", "Cap "+strconv.Itoa(i+1)+" window")
	}
	return newForm(values, labels...)
}

// capRows counts the cap lines a posted form has.
func capRows(values url.Values) int {
	n := 0
	for n < maxCaps && (values.Has("caps."+strconv.Itoa(n)+".max") || values.Has("caps."+strconv.Itoa(n)+".window")) {
		n++
	}
	return n
}

// fillTierForm shows a stored tier in the form, with blank cap lines.
func fillTierForm(t outreach.Tier) (*Form, int) {
	rows := len(t.Rule.Caps) + blankCaps
	f := tierForm(nil, rows)
	f.Set("key", t.Key)
	f.Set("name", t.Name)
	f.Set("description", t.Description)
	f.Set("rank", strconv.Itoa(t.Rank))
	f.Set("version", strconv.Itoa(t.Version))
	if t.Selectable {
		f.Set("selectable", "yes")
	}
	for i, c := range t.Rule.Caps {
		f.Set("caps."+strconv.Itoa(i)+".max", strconv.Itoa(c.Max))
		f.Set("caps."+strconv.Itoa(i)+".window", c.Window.String())
	}
	if t.Rule.MinGap > 0 {
		f.Set("min_gap", outreach.FormatDuration(t.Rule.MinGap))
	}
	if t.Rule.TargetInterval > 0 {
		f.Set("target_interval", outreach.FormatDuration(t.Rule.TargetInterval))
	}
	w := t.Rule.SendWindow
	f.values.Del("send_window.days")
	for _, d := range weekdays {
		if w.Allows(d) {
			f.values.Add("send_window.days", outreach.DayName(d))
		}
	}
	f.Set("send_window.start", outreach.FormatClock(w.Start))
	f.Set("send_window.end", outreach.FormatClock(w.End))
	return f, rows
}

// newTierDefaults is the form for a new tier: one cap line filled in as
// an example, mail every day from 08:00 to 20:00, like the shipped tiers.
func newTierDefaults() (*Form, int) {
	f, rows := fillTierForm(outreach.Tier{Rule: outreach.Rule{Caps: []outreach.Cap{{Max: 1, Window: outreach.Duration(7 * 24 * time.Hour)}},
		SendWindow: outreach.SendWindow{Days: outreach.AllDays(), Start: 8 * 60, End: 20 * 60}}})
	f.Set("rank", "")
	f.values.Del("version")
	return f, rows
}

// readTier reads the form into a tier. What the form cannot even read (a
// duration that is not one, a number that is not) fails its field here;
// the tier's own rules are Tier.Validate's, the same the API and the store
// apply: when a field failed to read, the rest is validated at once, so
// every error shows on the first submit; otherwise the store validates it
// again as it saves. capLine maps the rule's cap index to its form line.
func readTier(f *Form, rows int, key string) (t outreach.Tier, capLine []int, errs []outreach.FieldError) {
	t = outreach.Tier{Key: key, Name: f.Get("name"), Description: f.Get("description"), Selectable: f.Get("selectable") == "yes"}
	fail := func(field, msg string) { errs = append(errs, outreach.FieldError{Field: field, Message: msg}) }
	switch s := f.Get("rank"); {
	case s == "":
		fail("rank", "is required (higher means a closer relationship)")
	default:
		n, err := strconv.Atoi(s)
		if err != nil {
			fail("rank", "must be a whole number such as 20")
		}
		t.Rank = n
	}
	var spec outreach.RuleSpec
	for i := range rows {
		n := strconv.Itoa(i)
		maxS, winS := f.Get("caps."+n+".max"), f.Get("caps."+n+".window")
		if maxS == "" && winS == "" {
			continue
		}
		c := outreach.Cap{}
		line := "caps." + strconv.Itoa(len(spec.Caps))
		if m, err := strconv.Atoi(maxS); err != nil {
			fail(line+".max", "enter how many messages at most, such as 3")
		} else {
			c.Max = m
		}
		if winS == "" {
			fail(line+".window", "enter the window, such as 7d")
		} else if w, err := outreach.ParseDuration(winS); err != nil {
			fail(line+".window", err.Error())
		} else {
			c.Window = outreach.Duration(w)
		}
		spec.Caps = append(spec.Caps, c)
		capLine = append(capLine, i)
	}
	duration := func(name string) (outreach.Duration, bool) {
		s := f.Get(name)
		if s == "" {
			return 0, false
		}
		d, err := outreach.ParseDuration(s)
		if err != nil {
			fail(name, err.Error())
			return 0, false
		}
		return outreach.Duration(d), true
	}
	spec.MinGap, _ = duration("min_gap")
	if d, ok := duration("target_interval"); ok {
		spec.TargetInterval = &d
	}
	spec.SendWindow = &outreach.SendWindowSpec{Days: f.values["send_window.days"], Start: f.Get("send_window.start"), End: f.Get("send_window.end")}
	rule, ruleErrs := spec.Rule()
	errs = append(errs, ruleErrs...)
	t.Rule = rule
	if len(errs) > 0 {
		errs = append(errs, t.Validate()...)
		slices.SortStableFunc(errs, func(a, b outreach.FieldError) int { return formOrder(a.Field) - formOrder(b.Field) })
	}
	return t, capLine, errs
}

// formOrder ranks a field by where the form shows it, so the error
// summary reads top to bottom: caps by line ("caps.1.max", "caps[1].max"),
// a line's max before its window.
func formOrder(field string) int {
	for i, prefix := range []string{"key", "name", "description", "rank", "caps", "min_gap", "target_interval", "send_window.days", "send_window"} {
		if !strings.HasPrefix(field, prefix) {
			continue
		}
		rank := i * 1000
		if m := capLineOf.FindStringSubmatch(field); m != nil {
			n, _ := strconv.Atoi(m[1])
			rank += 1 + 2*n
			if strings.HasSuffix(field, "window") {
				rank++
			}
		}
		return rank
	}
	return 1 << 20
}

var capLineOf = regexp.MustCompile(`^caps[.\[](\d+)`)

var capField = regexp.MustCompile(`^caps\[(\d+)\]\.(max|window)$`)

// tierFieldName maps a rule's field names (Tier.Validate's, the API's) to
// the form's: "caps[1].max" to the line that cap came from, "caps" (none
// at all) to the first line, a day to the days, the window's order to its
// start.
func tierFieldName(capLine []int) func(string) string {
	return func(field string) string {
		switch {
		case field == "caps":
			return "caps.0.max"
		case field == "send_window":
			return "send_window.start"
		case strings.HasPrefix(field, "send_window.days"):
			return "send_window.days"
		case strings.HasPrefix(field, "caps."):
			// Already a form name: readTier's own errors.
			if i, rest, ok := strings.Cut(strings.TrimPrefix(field, "caps."), "."); ok {
				if n, err := strconv.Atoi(i); err == nil && n < len(capLine) {
					return fmt.Sprintf("caps.%d.%s", capLine[n], rest)
				}
			}
		}
		if m := capField.FindStringSubmatch(field); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n < len(capLine) {
				return fmt.Sprintf("caps.%d.%s", capLine[n], m[2])
			}
		}
		return field
	}
}

// tierFormData is what the tier form needs besides its values: its cap
// lines and day boxes.
type tierFormData struct {
	Form *Form
	Caps []capLineView
	Days []dayBox
	// DaysError is the days' error, shown in their fieldset.
	DaysError string
}

type capLineView struct {
	N, Line     int
	Max, Window Field
}

type dayBox struct {
	ID, Value, Label string
	Checked          bool
}

func tierFormView(f *Form, rows int) tierFormData {
	d := tierFormData{Form: f, DaysError: f.Error("send_window.days")}
	for i := range rows {
		n := strconv.Itoa(i)
		d.Caps = append(d.Caps, capLineView{N: i, Line: i + 1,
			Max:    field(f, "caps."+n+".max", "At most", "inputmode=numeric"),
			Window: field(f, "caps."+n+".window", "In any", "autocomplete=off")})
	}
	days := f.values["send_window.days"]
	for i, wd := range weekdays {
		name := outreach.DayName(wd)
		id := "f-send-window-days-" + name
		if i == 0 {
			id = fieldID("send_window.days") // where the error summary links to
		}
		d.Days = append(d.Days, dayBox{ID: id, Value: name, Label: wd.String(), Checked: slices.Contains(days, name)})
	}
	return d
}
