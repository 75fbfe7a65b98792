package postgres

import (
	"context"
	"time"

	"github.com/rapport-dev/rapport/internal/insight"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// FatigueCounts are the messages sent and negative events in one cell of
// the fatigue table.
type FatigueCounts struct {
	Sent   int64
	Events map[insight.Kind]int64
}

// FatigueRow is one tier's counts in one ISO week (Week is its Monday) or
// for one campaign (CampaignID 0: events no campaign had reached in the 7
// days before).
type FatigueRow struct {
	Tier         string
	Week         time.Time
	CampaignID   int64
	CampaignName string
	FatigueCounts
}

func counts(sent, unsub, compl, hard, down, pause, topics int64) FatigueCounts {
	return FatigueCounts{Sent: sent, Events: map[insight.Kind]int64{insight.Unsubscribe: unsub, insight.Complaint: compl,
		insight.HardBounce: hard, insight.Downgrade: down, insight.Pause: pause, insight.TopicOptOut: topics}}
}

// Fatigue reads the daily rollups of the days from..to (UTC dates,
// inclusive), per tier and ISO week and per tier and campaign; tier ""
// reads every tier.
func (s *Store) Fatigue(ctx context.Context, from, to time.Time, tier string) (weeks, campaigns []FatigueRow, err error) {
	wr, err := s.q.InsightFatigueWeeks(ctx, dbsqlc.InsightFatigueWeeksParams{FromDay: pgDate(from), ToDay: pgDate(to), Tier: tier})
	if err != nil {
		return nil, nil, mapError("fatigue", err)
	}
	for _, r := range wr {
		weeks = append(weeks, FatigueRow{Tier: r.Tier, Week: day(r.Week.Time),
			FatigueCounts: counts(r.Sent, r.Unsubscribes, r.Complaints, r.HardBounces, r.Downgrades, r.Pauses, r.TopicOptOuts)})
	}
	cr, err := s.q.InsightFatigueCampaigns(ctx, dbsqlc.InsightFatigueCampaignsParams{FromDay: pgDate(from), ToDay: pgDate(to), Tier: tier})
	if err != nil {
		return nil, nil, mapError("fatigue", err)
	}
	for _, r := range cr {
		campaigns = append(campaigns, FatigueRow{Tier: r.Tier, CampaignID: r.CampaignID, CampaignName: r.Name,
			FatigueCounts: counts(r.Sent, r.Unsubscribes, r.Complaints, r.HardBounces, r.Downgrades, r.Pauses, r.TopicOptOuts)})
	}
	return weeks, campaigns, nil
}

// PressureRow is one tier's contact-days at one number of messages
// received in the 30 days before (capped at insight.PressureCap) and the
// negative events on them.
type PressureRow struct {
	Tier        string
	Received    int
	ContactDays int64
	Events      int64
}

// Pressure sums the daily pressure rollup over the closed days from..to.
func (s *Store) Pressure(ctx context.Context, from, to time.Time, tier string) ([]PressureRow, error) {
	rows, err := s.q.InsightPressure(ctx, dbsqlc.InsightPressureParams{FromDay: pgDate(from), ToDay: pgDate(to), Tier: tier})
	if err != nil {
		return nil, mapError("pressure", err)
	}
	out := make([]PressureRow, len(rows))
	for i, r := range rows {
		out[i] = PressureRow{Tier: r.Tier, Received: int(r.Received), ContactDays: r.ContactDays, Events: r.Events}
	}
	return out, nil
}

// RollupState is how far the insight rollup has come.
type RollupState struct {
	EventsThrough int64
	DaysThrough   time.Time // the last closed day; zero before the first
	UpdatedAt     *time.Time
}

// InsightState reads the rollup's watermarks.
func (s *Store) InsightState(ctx context.Context) (RollupState, error) {
	r, err := s.q.InsightState(ctx)
	if err != nil {
		return RollupState{}, mapError("insight state", err)
	}
	d, _ := fromDate(r.DaysThrough)
	return RollupState{EventsThrough: r.EventsThrough, DaysThrough: d, UpdatedAt: r.UpdatedAt}, nil
}
