package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/insight"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/tuning"
)

// whatIfInput is a proposed tier as PUT /api/v1/tiers/{key} takes it (the
// same decoding and validation, read-only fields ignored), plus the days
// to replay.
type whatIfInput struct {
	tierReplacement
	Days *int `json:"days"`
}

type tallyJSON = insight.Tally

type replayCampaignJSON struct {
	CampaignID int64     `json:"campaign_id"`
	Before     tallyJSON `json:"before"`
	After      tallyJSON `json:"after"`
}

type histogramJSON struct {
	Messages string `json:"messages"`
	Before   int    `json:"before"`
	After    int    `json:"after"`
}

type movesJSON struct {
	CampaignID *int64 `json:"campaign_id,omitempty"`
	insight.Moves
}

type tierForecastJSONv struct {
	Now      int            `json:"now"`
	Deferred int            `json:"deferred"`
	Expired  int            `json:"expired"`
	Skipped  map[string]int `json:"skipped"`
}

func toTierForecast(t campaign.TierForecast) tierForecastJSONv {
	out := tierForecastJSONv{Now: t.Now, Deferred: t.Deferred, Expired: t.Expired, Skipped: map[string]int{}}
	for r, n := range t.Skipped {
		out.Skipped[string(r)] = n
	}
	return out
}

type recurringJSON struct {
	CampaignID int64             `json:"campaign_id"`
	Name       string            `json:"name"`
	FireAt     time.Time         `json:"fire_at"`
	Current    tierForecastJSONv `json:"current"`
	Proposed   tierForecastJSONv `json:"proposed"`
}

func (s *Server) whatIf(c echo.Context) error {
	var body whatIfInput
	if err := decode(c, &body); err != nil {
		return err
	}
	in := body.tierInput
	key := c.Param("key")
	// An unknown tier is a 404 before anything about the body is judged.
	if _, err := s.Store.Tier(c.Request().Context(), key); err != nil {
		return err
	}
	if in.Key != "" && in.Key != key {
		return outreach.Invalid(outreach.FieldError{Field: "key", Message: "must match the key in the path (keys cannot be renamed)"})
	}
	in.Key = key
	// Every field at fault at once: the rule's (as a tier's save checks
	// them) and the days.
	var read []outreach.FieldError
	t, err := in.tier()
	if err != nil {
		var oe *outreach.Error
		if !errors.As(err, &oe) || oe.Code != outreach.EINVALID {
			return err
		}
		read = oe.Fields
	}
	days := 30
	if body.Days != nil {
		days = *body.Days
	}
	if errs := tuning.WhatIfErrors(t, read, days); len(errs) > 0 {
		return outreach.Invalid(errs...)
	}
	w, err := s.Insights.WhatIf(c.Request().Context(), t, days)
	if err != nil {
		return err
	}
	type past struct {
		Contacts   int                  `json:"contacts"`
		Deliveries int                  `json:"deliveries"`
		Before     tallyJSON            `json:"before"`
		After      tallyJSON            `json:"after"`
		Campaigns  []replayCampaignJSON `json:"campaigns"`
		Histogram  []histogramJSON      `json:"messages_per_contact_30d"`
		Change     struct {
			More     int     `json:"more"`
			Fewer    int     `json:"fewer"`
			Same     int     `json:"same"`
			MoreIDs  []int64 `json:"more_ids"`
			FewerIDs []int64 `json:"fewer_ids"`
		} `json:"contacts_change"`
	}
	r := w.Replay
	p := past{Contacts: r.Contacts, Deliveries: r.Deliveries, Before: r.Before, After: r.After,
		Campaigns: []replayCampaignJSON{}, Histogram: []histogramJSON{}}
	for _, ct := range r.Campaigns {
		p.Campaigns = append(p.Campaigns, replayCampaignJSON{CampaignID: ct.CampaignID, Before: ct.Before, After: ct.After})
	}
	for i, b := range insight.Buckets {
		p.Histogram = append(p.Histogram, histogramJSON{Messages: b.Label(), Before: r.HistogramBefore[i], After: r.HistogramAfter[i]})
	}
	p.Change.More, p.Change.Fewer, p.Change.Same = r.Change.More, r.Change.Fewer, r.Change.Same
	p.Change.MoreIDs, p.Change.FewerIDs = orNoIDs(r.Change.MoreIDs), orNoIDs(r.Change.FewerIDs)
	sched := struct {
		Total     movesJSON   `json:"total"`
		Campaigns []movesJSON `json:"campaigns"`
	}{Total: movesJSON{Moves: w.Scheduled}, Campaigns: []movesJSON{}}
	for _, m := range w.ScheduledBy {
		id := m.CampaignID
		sched.Campaigns = append(sched.Campaigns, movesJSON{CampaignID: &id, Moves: m.Moves})
	}
	rec := []recurringJSON{}
	for _, f := range w.Recurring {
		rec = append(rec, recurringJSON{CampaignID: f.CampaignID, Name: f.Name, FireAt: f.FireAt,
			Current: toTierForecast(f.Current), Proposed: toTierForecast(f.Proposed)})
	}
	out := struct {
		Tier         string        `json:"tier"`
		Days         int           `json:"days"`
		From         time.Time     `json:"from"`
		To           time.Time     `json:"to"`
		CurrentRule  outreach.Rule `json:"current_rule"`
		ProposedRule outreach.Rule `json:"proposed_rule"`
		Past         past          `json:"past"`
		Scheduled    any           `json:"scheduled"`
		Recurring    any           `json:"recurring"`
		Assumptions  []string      `json:"assumptions"`
		Timing       struct {
			ReadMS   int64 `json:"read_ms"`
			DecideMS int64 `json:"decide_ms"`
		} `json:"timing"`
	}{Tier: w.Tier, Days: w.Days, From: w.From, To: w.To, CurrentRule: w.Current, ProposedRule: w.Proposed, Past: p,
		Scheduled: sched, Recurring: rec, Assumptions: w.Assumptions}
	out.Timing.ReadMS, out.Timing.DecideMS = w.ReadTime.Milliseconds(), w.DecideTime.Milliseconds()
	return c.JSON(http.StatusOK, out)
}

func orNoIDs(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}
