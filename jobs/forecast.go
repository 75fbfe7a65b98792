package jobs

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
	"github.com/rapport-dev/rapport/internal/schedule"
)

// TierForecast counts what would happen to one tier's contacts.
type TierForecast struct {
	Now      int            `json:"now"`
	Deferred int            `json:"deferred"`
	Expired  int            `json:"expired"`
	Skipped  map[string]int `json:"skipped"`
}

// Bucket is one bar of the deferral histogram.
type Bucket struct {
	Within string `json:"within"`
	Count  int    `json:"count"`
}

// Forecast is a campaign's dry run.
type Forecast struct {
	CampaignID int64                    `json:"campaign_id"`
	FireAt     time.Time                `json:"fire_at"`
	Contacts   int                      `json:"contacts"`
	Tiers      map[string]*TierForecast `json:"tiers"`
	Reasons    map[string]int           `json:"reasons"`
	Deferred   []Bucket                 `json:"deferred_until"`
}

var buckets = []struct {
	label string
	upTo  time.Duration
}{{"1h", time.Hour}, {"6h", 6 * time.Hour}, {"24h", 24 * time.Hour}, {"3d", 72 * time.Hour},
	{"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}, {"later", 1<<63 - 1}}

// Forecast dry-runs the campaign over its audience as if it fired now (or at
// its send_at / next cron firing), through the same planner the real run
// uses, in a read-only transaction: nothing is written.
func (l *Launcher) Forecast(ctx context.Context, id int64) (Forecast, error) {
	d := l.Deps
	var out Forecast
	err := pgx.BeginTxFunc(ctx, l.Store.Pool(), pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		q := dbsqlc.New(tx)
		row, err := q.CampaignGet(ctx, id)
		if err != nil {
			return err
		}
		c := postgres.CampaignFromRow(row)
		now := l.Clock.Now()
		fire := now
		if c.SendAt != nil && c.SendAt.After(now) {
			fire = *c.SendAt
		}
		if c.Cron != "" {
			if s, err := schedule.Parse(c.Cron, c.Timezone); err == nil {
				fire = s.Next(now)
			}
		}
		tiers, err := l.Store.Tiers(ctx)
		if err != nil {
			return err
		}
		p := d.planner(tiers)
		run := planner.Run{Campaign: c, FireAt: fire}
		if c.ExpiresAfter > 0 {
			run.ExpiresAt = fire.Add(c.ExpiresAfter)
		}
		out = Forecast{CampaignID: c.ID, FireAt: fire, Tiers: map[string]*TierForecast{}, Reasons: map[string]int{}}
		hist := make([]int, len(buckets))
		rng := rand.New(rand.NewPCG(uint64(id), 1))
		attrs, _ := json.Marshal(orEmptyMap(c.Audience.Attributes))
		var after int64
		for {
			rows, err := q.AudienceBatchNoLock(ctx, dbsqlc.AudienceBatchNoLockParams{AfterID: after,
				Tiers: orEmptySlice(c.Audience.Tiers), Topics: orEmptySlice(c.Audience.Topics), Attrs: attrs,
				Ids: orEmptyIDs(c.Audience.ContactIDs), Lim: 2000})
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				break
			}
			after = rows[len(rows)-1].ID
			targets, err := Targets(ctx, q, rows, now.Add(-longest(tiers)))
			if err != nil {
				return err
			}
			for _, t := range targets {
				o := p.Plan(run, t, now, rng)
				out.count(o, fire, hist)
			}
		}
		for i, b := range buckets {
			out.Deferred = append(out.Deferred, Bucket{Within: b.label, Count: hist[i]})
		}
		return nil
	})
	return out, postgresError("forecast", err)
}

func (f *Forecast) count(o planner.Outcome, fire time.Time, hist []int) {
	f.Contacts++
	tf := f.Tiers[o.Tier]
	if tf == nil {
		tf = &TierForecast{Skipped: map[string]int{}}
		f.Tiers[o.Tier] = tf
	}
	f.Reasons[string(o.Reason)]++
	switch {
	case o.Reason == outreach.ReasonExpired:
		tf.Expired++
	case o.State == outreach.DeliverySkipped:
		tf.Skipped[string(o.Reason)]++
	case o.Reason == outreach.ReasonScheduled:
		tf.Now++
	default:
		tf.Deferred++
		wait := o.PlannedFor.Sub(fire)
		for i, b := range buckets {
			if wait <= b.upTo {
				hist[i]++
				break
			}
		}
	}
}
