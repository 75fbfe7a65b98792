// Package schedule reads recurring campaign schedules: a cron expression
// (standard 5 fields, or descriptors such as @weekly) evaluated in an IANA
// time zone, by robfig/cron/v3.
package schedule

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/rapport-dev/rapport/internal/outreach"
)

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule yields a recurring campaign's firings.
type Schedule struct {
	expr string
	loc  *time.Location
	s    cron.Schedule
}

// Parse checks the expression and zone. The error carries the parser's
// message so the caller sees what is wrong with the expression.
func Parse(expr, zone string) (Schedule, error) {
	loc := time.UTC
	if zone != "" {
		l, ok := outreach.LoadZone(zone)
		if !ok {
			return Schedule{}, fmt.Errorf("unknown time zone %q", zone)
		}
		loc = l
	}
	if len(expr) > 0 && expr[0] == '@' && len(expr) > 6 && expr[:6] == "@every" {
		return Schedule{}, fmt.Errorf("@every is not supported: use a calendar expression such as \"0 9 * * MON\"")
	}
	s, err := parser.Parse(expr)
	if err != nil {
		return Schedule{}, err
	}
	return Schedule{expr: expr, loc: loc, s: s}, nil
}

// Next is the first firing strictly after t, in UTC.
func (s Schedule) Next(t time.Time) time.Time {
	n := s.s.Next(t.In(s.loc))
	if n.IsZero() {
		return n
	}
	return n.UTC()
}
