package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/insight"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/tuning"
)

// Insights is the relationship-insight service (tuning.Service).
type Insights interface {
	Fatigue(ctx context.Context, q tuning.FatigueQuery) (tuning.FatigueReport, error)
	Pressure(ctx context.Context, tier string, days int) (tuning.PressureReport, error)
	WhatIf(ctx context.Context, proposed outreach.Tier, days int) (tuning.WhatIf, error)
	Drift(ctx context.Context, tier string, afterID int64, limit int) (tuning.DriftPage, error)
	AcceptDrift(ctx context.Context, actor string, contactID int64, fingerprint string) (tuning.DriftItem, error)
	DismissDrift(ctx context.Context, actor string, contactID int64, fingerprint string) (tuning.DriftItem, error)
	Thresholds(ctx context.Context) (map[string]insight.Thresholds, error)
	SetThresholds(ctx context.Context, actor, tier string, th insight.Thresholds) (insight.Thresholds, error)
	AddSignal(ctx context.Context, actor string, sig postgres.Signal) (postgres.Signal, error)
}

// eventNames are the JSON names of the negative events.
var eventNames = map[insight.Kind]string{insight.Unsubscribe: "unsubscribes", insight.Complaint: "complaints",
	insight.HardBounce: "hard_bounces", insight.Downgrade: "downgrades", insight.Pause: "pauses", insight.TopicOptOut: "topic_opt_outs"}

type fatigueCellJSON struct {
	Tier         string              `json:"tier"`
	Week         string              `json:"week,omitempty"`       // ISO week, 2026-W47
	WeekStart    string              `json:"week_start,omitempty"` // its Monday
	CampaignID   *int64              `json:"campaign_id,omitempty"`
	CampaignName *string             `json:"campaign_name,omitempty"`
	Sent         int64               `json:"sent"`
	Events       map[string]int64    `json:"events"`
	Per1000Sent  map[string]*float64 `json:"per_1000_sent"`
}

func toFatigueCell(c tuning.FatigueCell, kind string) fatigueCellJSON {
	j := fatigueCellJSON{Tier: c.Tier, Sent: c.Sent, Events: map[string]int64{}, Per1000Sent: map[string]*float64{}}
	for k, name := range eventNames {
		j.Events[name] = c.Events[k]
		j.Per1000Sent[name] = c.Per1000[k]
	}
	switch kind {
	case "week":
		y, w := c.Week.ISOWeek()
		j.Week, j.WeekStart = strconv.Itoa(y)+"-W"+twoDigits(w), c.Week.Format(time.DateOnly)
	case "campaign":
		id, name := c.CampaignID, c.CampaignName
		if id != 0 {
			j.CampaignID, j.CampaignName = &id, &name
		}
	}
	return j
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// queryDate reads an optional YYYY-MM-DD query parameter.
func queryDate(c echo.Context, name string) (time.Time, error) {
	s := c.QueryParam(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, newBadRequest(name, "must be a date such as 2026-11-02 (YYYY-MM-DD, UTC)")
	}
	return t, nil
}

// queryInt reads an optional whole-number query parameter; absent is 0,
// which the services read as their default.
func queryInt(c echo.Context, name string, lo, hi int) (int, error) {
	s := c.QueryParam(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, newBadRequest(name, "must be a whole number")
	}
	if n < lo || n > hi {
		return 0, outreach.Invalid(outreach.FieldError{Field: name, Message: "must be from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)})
	}
	return n, nil
}

func (s *Server) fatigue(c echo.Context) error {
	from, err := queryDate(c, "from")
	if err != nil {
		return err
	}
	to, err := queryDate(c, "to")
	if err != nil {
		return err
	}
	r, err := s.Insights.Fatigue(c.Request().Context(), tuning.FatigueQuery{From: from, To: to, Tier: c.QueryParam("tier")})
	if err != nil {
		return err
	}
	out := struct {
		From          string            `json:"from"`
		To            string            `json:"to"`
		Tier          *string           `json:"tier"`
		Attribution   string            `json:"attribution"`
		RollupThrough *string           `json:"rollup_through"`
		Weeks         []fatigueCellJSON `json:"weeks"`
		Campaigns     []fatigueCellJSON `json:"campaigns"`
		Totals        []fatigueCellJSON `json:"totals"`
	}{From: r.From.Format(time.DateOnly), To: r.To.Format(time.DateOnly), Tier: strPtr(r.Tier), Attribution: r.Attribution,
		Weeks: []fatigueCellJSON{}, Campaigns: []fatigueCellJSON{}, Totals: []fatigueCellJSON{}}
	if !r.RollupThrough.IsZero() {
		d := r.RollupThrough.Format(time.DateOnly)
		out.RollupThrough = &d
	}
	for _, w := range r.Weeks {
		out.Weeks = append(out.Weeks, toFatigueCell(w, "week"))
	}
	for _, w := range r.Campaigns {
		out.Campaigns = append(out.Campaigns, toFatigueCell(w, "campaign"))
	}
	for _, w := range r.Totals {
		out.Totals = append(out.Totals, toFatigueCell(w, ""))
	}
	return c.JSON(http.StatusOK, out)
}

type pressureBucketJSON struct {
	Messages           string   `json:"messages"`
	Min                int      `json:"min"`
	Max                *int     `json:"max"`
	ContactDays        int64    `json:"contact_days"`
	Events             int64    `json:"events"`
	Per1000ContactDays *float64 `json:"per_1000_contact_days"`
}

type pressureTierJSON struct {
	Tier        string               `json:"tier"`
	ContactDays int64                `json:"contact_days"`
	Events      int64                `json:"events"`
	Buckets     []pressureBucketJSON `json:"buckets"`
}

func (s *Server) pressure(c echo.Context) error {
	days, err := queryInt(c, "days", 1, 365)
	if err != nil {
		return err
	}
	r, err := s.Insights.Pressure(c.Request().Context(), c.QueryParam("tier"), days)
	if err != nil {
		return err
	}
	out := struct {
		From   string             `json:"from"`
		To     string             `json:"to"`
		Days   int                `json:"days"`
		Method string             `json:"method"`
		Tiers  []pressureTierJSON `json:"tiers"`
	}{From: r.From.Format(time.DateOnly), To: r.To.Format(time.DateOnly), Days: r.Days, Method: tuning.PressureMethod,
		Tiers: []pressureTierJSON{}}
	for _, t := range r.Tiers {
		tj := pressureTierJSON{Tier: t.Tier, ContactDays: t.ContactDays, Events: t.Events, Buckets: []pressureBucketJSON{}}
		for _, b := range t.Buckets {
			bj := pressureBucketJSON{Messages: b.Range.Label(), Min: b.Range.Lo, ContactDays: b.ContactDays, Events: b.Events,
				Per1000ContactDays: b.Per1000}
			if b.Range.Hi >= 0 {
				hi := b.Range.Hi
				bj.Max = &hi
			}
			tj.Buckets = append(tj.Buckets, bj)
		}
		out.Tiers = append(out.Tiers, tj)
	}
	return c.JSON(http.StatusOK, out)
}
