package outreach

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// RuleSpec is the API's (and the database's) form of a Rule.
type RuleSpec struct {
	Caps           []Cap           `json:"caps"`
	MinGap         Duration        `json:"min_gap"`
	TargetInterval *Duration       `json:"target_interval"`
	SendWindow     *SendWindowSpec `json:"send_window"`
}

// SendWindowSpec is the API's form of a SendWindow.
type SendWindowSpec struct {
	Days  []string `json:"days"`
	Start string   `json:"start"`
	End   string   `json:"end"`
}

// MarshalJSON writes the rule in the API's shape.
func (r Rule) MarshalJSON() ([]byte, error) {
	out := RuleSpec{Caps: r.Caps, MinGap: Duration(r.MinGap)}
	if out.Caps == nil {
		out.Caps = []Cap{}
	}
	if r.TargetInterval > 0 {
		ti := Duration(r.TargetInterval)
		out.TargetInterval = &ti
	}
	w := r.SendWindow
	days := make([]string, 0, len(w.Days))
	for _, d := range dedupDays(w.Days) {
		days = append(days, DayName(d))
	}
	out.SendWindow = &SendWindowSpec{Days: days, Start: FormatClock(w.Start), End: FormatClock(w.End)}
	return json.Marshal(out)
}

// UnmarshalJSON reads a rule strictly: unknown fields are errors. A missing
// send window means always open; further validation is Validate's job.
func (r *Rule) UnmarshalJSON(b []byte) error {
	var in RuleSpec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return err
	}
	rule, errs := in.Rule()
	if len(errs) > 0 {
		return Invalid(errs...)
	}
	*r = rule
	return nil
}

// Rule converts the spec, reporting unreadable days and times as field
// errors; Rule.Validate checks the rest.
func (in RuleSpec) Rule() (Rule, []FieldError) {
	r := Rule{Caps: in.Caps, MinGap: time.Duration(in.MinGap), SendWindow: AlwaysOpen}
	if in.TargetInterval != nil {
		r.TargetInterval = time.Duration(*in.TargetInterval)
	}
	var errs []FieldError
	if sw := in.SendWindow; sw != nil {
		var w SendWindow
		for i, s := range sw.Days {
			d, err := ParseDay(s)
			if err != nil {
				errs = append(errs, FieldError{Field: fmt.Sprintf("send_window.days[%d]", i), Message: err.Error()})
				continue
			}
			w.Days = append(w.Days, d)
		}
		var err error
		if w.Start, err = ParseClock(sw.Start); err != nil {
			errs = append(errs, FieldError{Field: "send_window.start", Message: err.Error()})
		}
		if w.End, err = ParseClock(sw.End); err != nil {
			errs = append(errs, FieldError{Field: "send_window.end", Message: err.Error()})
		}
		r.SendWindow = w
	}
	return r, errs
}
