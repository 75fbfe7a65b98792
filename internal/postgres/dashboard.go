package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// DeferralSlack is how long before a period's first day the deliveries the
// dashboard reads may have been planned: a message sent on the period's
// first day may have waited that long. Deliveries planned earlier still
// (a message deferred for more than 30 days, or waiting that long now) are
// not counted; the dashboard says so.
const DeferralSlack = 30 * 24 * time.Hour

// Dashboard is the console dashboard's figures over the last days, in UTC
// days: what was sent, what waits, who is overdue, who left.
type Dashboard struct {
	// Since and Until bound the days shown: Since is the first day's
	// midnight (UTC), Until the end of today.
	Since, Until time.Time
	// PlannedSince is the oldest plan the delivery figures read
	// (Since − DeferralSlack).
	PlannedSince time.Time
	// Sent is marketing messages sent per day and tier; days and tiers
	// with none are absent.
	Sent []DaySent
	// Deferred is what waits now because the cadence deferred it.
	Deferred []Deferred
	// Overdue is active contacts past their effective tier's target
	// interval, by that tier (as Store.Overdue lists them); tiers with none
	// are absent.
	Overdue map[string]int64
	// OptOuts is unsubscribes and complaints since Since, by the contact's
	// assigned tier.
	OptOuts []TierOptOuts
	// Queue is River's jobs waiting or running (Store.QueueDepth).
	Queue []QueueCount
}

// DaySent is how many marketing messages went to a tier's contacts on a
// day.
type DaySent struct {
	Day  time.Time
	Tier string
	N    int64
}

// Deferred is how many deliveries of a tier wait for a reason, and the
// latest moment one of them is planned for.
type Deferred struct {
	Reason, Tier string
	N            int64
	Latest       time.Time
}

// TierOptOuts is how many of a tier's contacts unsubscribed or complained.
type TierOptOuts struct {
	Tier                     string
	Unsubscribes, Complaints int64
}

// Dashboard computes the dashboard's figures for the last days (today
// included, UTC). Its cost follows the recent volume, not the tables'
// size: the delivery and event figures read from the first row of the
// period on (found by bisecting the primary key, see firstIDSince); the
// overdue count reads the contacts once, which is why the console keeps
// the result for a minute.
func (s *Store) Dashboard(ctx context.Context, days int) (Dashboard, error) {
	if days < 1 {
		days = 1
	}
	now := s.clock.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	d := Dashboard{Since: today.AddDate(0, 0, 1-days), Until: today.AddDate(0, 0, 1), Overdue: map[string]int64{}}
	d.PlannedSince = d.Since.Add(-DeferralSlack)
	tiers, err := s.Tiers(ctx)
	if err != nil {
		return d, err
	}

	err = s.InReadTx(ctx, func(tx *Tx) error {
		q := tx.q
		if err := q.DashboardTune(ctx); err != nil {
			return err
		}
		fromDelivery, err := firstIDSince(ctx, d.PlannedSince, func(ctx context.Context) (int64, int64, error) {
			b, err := q.DashboardDeliveryBounds(ctx)
			return b.Lo, b.Hi, err
		}, func(ctx context.Context, id int64) (int64, time.Time, error) {
			r, err := q.DashboardDeliveryAt(ctx, id)
			return r.ID, r.CreatedAt, err
		})
		if err != nil {
			return fmt.Errorf("deliveries since: %w", err)
		}
		rows, err := q.DashboardDeliveries(ctx, dbsqlc.DashboardDeliveriesParams{FromID: fromDelivery, Since: d.Since, Until: d.Until})
		if err != nil {
			return fmt.Errorf("deliveries: %w", err)
		}
		for _, r := range rows {
			if r.Reason == string(outreach.ReasonSent) {
				d.Sent = append(d.Sent, DaySent{Day: r.Day.UTC(), Tier: r.Tier, N: r.N})
			} else {
				d.Deferred = append(d.Deferred, Deferred{Reason: r.Reason, Tier: r.Tier, N: r.N, Latest: r.Latest.UTC()})
			}
		}
		if d.Overdue, err = overdueByTier(ctx, q, tiers, now); err != nil {
			return err
		}
		fromEvent, err := firstIDSince(ctx, d.Since, func(ctx context.Context) (int64, int64, error) {
			b, err := q.DashboardEventBounds(ctx)
			return b.Lo, b.Hi, err
		}, func(ctx context.Context, id int64) (int64, time.Time, error) {
			r, err := q.DashboardEventAt(ctx, id)
			return r.ID, r.CreatedAt, err
		})
		if err != nil {
			return fmt.Errorf("events since: %w", err)
		}
		optOuts, err := q.DashboardOptOuts(ctx, dbsqlc.DashboardOptOutsParams{FromID: fromEvent, Since: d.Since})
		if err != nil {
			return fmt.Errorf("opt-outs: %w", err)
		}
		for _, r := range optOuts {
			d.OptOuts = append(d.OptOuts, TierOptOuts{Tier: r.Tier, Unsubscribes: r.Unsubscribes, Complaints: r.Complaints})
		}
		queue, err := q.QueueDepthByKind(ctx)
		if err != nil {
			return fmt.Errorf("queue depth: %w", err)
		}
		d.Queue = queueCounts(queue)
		return nil
	})
	if err != nil {
		return Dashboard{}, mapError("dashboard", err)
	}
	return d, nil
}

// overdueByTier counts what Overdue lists, by effective tier, with the
// same cutoffs.
func overdueByTier(ctx context.Context, q *dbsqlc.Queries, tiers []outreach.Tier, now time.Time) (map[string]int64, error) {
	out := map[string]int64{}
	var p dbsqlc.DashboardOverdueParams
	p.Keys, p.Ranks, p.Cutoffs = overdueRules(tiers, now)
	if len(p.Keys) == 0 {
		return out, nil
	}
	rows, err := q.DashboardOverdue(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("overdue: %w", err)
	}
	for _, r := range rows {
		out[r.Tier] = r.N
	}
	return out, nil
}

// firstIDSince finds the first id of an append-only table whose
// created_at is at or after since, by bisecting its primary key: ids grow
// with created_at, so a few dozen index probes (at finds the first row at
// or after an id) replace a scan of the table. It returns the table's
// highest id + 1 when every row is older, and its lowest when none is.
// Rows written by transactions that overlap may be out of order by the
// seconds they overlapped, which moves the boundary by as much.
func firstIDSince(ctx context.Context, since time.Time, bounds func(context.Context) (lo, hi int64, err error),
	at func(context.Context, int64) (int64, time.Time, error)) (int64, error) {
	lo, hi, err := bounds(ctx)
	if err != nil {
		return 0, err
	}
	if hi == 0 {
		return 0, nil // an empty table
	}
	hi++
	for lo < hi {
		mid := lo + (hi-lo)/2
		id, t, err := at(ctx, mid)
		if err != nil {
			return 0, err
		}
		if !t.Before(since) {
			hi = mid // no row between mid and id
		} else {
			lo = id + 1
		}
	}
	return lo, nil
}
