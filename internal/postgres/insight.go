package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/rapport-dev/rapport/internal/insight"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// RollupOptions tune the insight rollup; zero values take the defaults.
type RollupOptions struct {
	// Grace is how long after midnight (UTC) a day stays open: sends and
	// events committed late still land in it. Default 1h.
	Grace time.Duration
	// Settle is how old a timeline event must be before the event
	// watermark passes it (newer ones are read again next time). Default 5m.
	Settle time.Duration
	// Lookback is how long after its firing a run without expiry is
	// looked at for sends. Default 60 days.
	Lookback time.Duration
	// MaxDays bounds the closed days one call catches up (0: all).
	MaxDays int
}

func (o *RollupOptions) defaults() {
	if o.Grace <= 0 {
		o.Grace = time.Hour
	}
	if o.Settle <= 0 {
		o.Settle = 5 * time.Minute
	}
	if o.Lookback <= 0 {
		o.Lookback = 60 * 24 * time.Hour
	}
}

// RollupReport says what one rollup did, with its timings.
type RollupReport struct {
	Events        int           // negative events added to the ledger
	EventsTime    time.Duration // reading and attributing timeline events
	ClosedDays    int           // days closed (final sends and pressure)
	ClosedTime    time.Duration
	OpenDays      int // days recomputed but still open (today, and yesterday within the grace)
	OpenTime      time.Duration
	DaysThrough   time.Time // the last closed day (zero: none yet)
	EventsThrough int64
}

// day is the UTC date of t, at midnight.
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func pgDate(t time.Time) pgtype.Date { return pgtype.Date{Time: day(t), Valid: true} }

func fromDate(d pgtype.Date) (time.Time, bool) {
	if !d.Valid {
		return time.Time{}, false
	}
	return day(d.Time), true
}

// RollupInsights brings the fatigue and pressure rollups up to now: it
// reads the timeline events after its watermark into the negative-event
// ledger (classified by insight.Classify, attributed to a tier and a
// campaign), then recomputes day by day from the last closed day: each
// closed day's sends, events and pressure once, in a transaction of its
// own that also moves the watermark, and the days still open (today) on
// every call. Every step locks the watermark row first and re-reads it, so
// any number of processes may run it at once: they queue, and each finds
// the work of the others done. Re-running it changes nothing.
func (s *Store) RollupInsights(ctx context.Context, now time.Time, o RollupOptions) (RollupReport, error) {
	o.defaults()
	var rep RollupReport
	start := time.Now()
	through, err := s.rollupEvents(ctx, now, o, &rep)
	if err != nil {
		return rep, err
	}
	rep.EventsTime = time.Since(start)
	first := through
	if first.IsZero() {
		act, err := s.q.InsightFirstActivity(ctx, now)
		if err != nil {
			return rep, mapError("insight first activity", err)
		}
		first = day(act).AddDate(0, 0, -1)
	}
	lastClosed := day(now.Add(-o.Grace)).AddDate(0, 0, -1)
	start = time.Now()
	for d := first.AddDate(0, 0, 1); !d.After(lastClosed); d = d.AddDate(0, 0, 1) {
		if o.MaxDays > 0 && rep.ClosedDays >= o.MaxDays {
			break
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		done, err := s.rollupDay(ctx, d, true, now, o)
		if err != nil {
			return rep, err
		}
		if done {
			rep.ClosedDays++
		}
		rep.DaysThrough = d
	}
	rep.ClosedTime = time.Since(start)
	start = time.Now()
	if o.MaxDays == 0 || rep.ClosedDays < o.MaxDays {
		for d := lastClosed.AddDate(0, 0, 1); !d.After(day(now)); d = d.AddDate(0, 0, 1) {
			if _, err := s.rollupDay(ctx, d, false, now, o); err != nil {
				return rep, err
			}
			rep.OpenDays++
		}
	}
	rep.OpenTime = time.Since(start)
	if rep.DaysThrough.IsZero() {
		rep.DaysThrough = through
	}
	return rep, nil
}

// rollupEvents reads the negative events after the watermark, in one
// transaction, and recomputes the event counts of closed days they fall
// on. It returns the last closed day.
func (s *Store) rollupEvents(ctx context.Context, now time.Time, o RollupOptions, rep *RollupReport) (time.Time, error) {
	var closed time.Time
	err := s.InTx(ctx, func(tx *Tx) error {
		q := tx.q
		st, err := q.InsightStateLock(ctx)
		if err != nil {
			return err
		}
		closed, _ = fromDate(st.DaysThrough)
		tiers, err := q.TierList(ctx)
		if err != nil {
			return err
		}
		ranks := make(map[string]int, len(tiers))
		byKey := make(map[string]outreach.Tier, len(tiers))
		for _, t := range tiers {
			ranks[t.Key] = int(t.Rank)
			// Key and rank are all the attribution needs; the rule is
			// left undecoded.
			byKey[t.Key] = outreach.Tier{Key: t.Key, Rank: int(t.Rank)}
		}
		const batch = 5000
		touched := map[time.Time]bool{}
		for after := st.EventsThrough; ; {
			rows, err := q.InsightNewEvents(ctx, dbsqlc.InsightNewEventsParams{AfterID: after, Lim: batch})
			if err != nil {
				return err
			}
			var p dbsqlc.InsightEventsInsertParams
			for _, r := range rows {
				tier := r.LastTier
				if tier == "" {
					tier = effectiveKey(r.Assigned, r.Preferred, byKey)
				}
				for kind, n := range insight.Classify(insight.TimelineEvent{Kind: r.Kind, Detail: r.Detail, Assigned: r.Assigned}, ranks) {
					p.EventIds, p.Kinds, p.Ns = append(p.EventIds, r.ID), append(p.Kinds, string(kind)), append(p.Ns, int32(n))
					p.Days, p.Ats, p.ContactIds = append(p.Days, pgDate(r.CreatedAt)), append(p.Ats, r.CreatedAt), append(p.ContactIds, r.ContactID)
					p.Tiers, p.CampaignIds = append(p.Tiers, tier), append(p.CampaignIds, r.CampaignID)
				}
			}
			if len(p.EventIds) > 0 {
				days, err := q.InsightEventsInsert(ctx, p)
				if err != nil {
					return err
				}
				rep.Events += len(days)
				for _, d := range days {
					touched[day(d.Time)] = true
				}
			}
			if len(rows) < batch {
				break
			}
			after = rows[len(rows)-1].ID
		}
		settled, err := q.InsightEventsSettled(ctx, dbsqlc.InsightEventsSettledParams{AfterID: st.EventsThrough, Cutoff: now.Add(-o.Settle)})
		if err != nil {
			return err
		}
		rep.EventsThrough = max(settled, st.EventsThrough)
		// Days already closed get their event counts again; open days are
		// recomputed whole by the caller.
		for d := range touched {
			if closed.IsZero() || d.After(closed) {
				continue
			}
			if err := q.InsightDailyEventsReset(ctx, pgDate(d)); err != nil {
				return err
			}
			if err := q.InsightDailyEvents(ctx, pgDate(d)); err != nil {
				return err
			}
		}
		n := now
		return q.InsightStateSet(ctx, dbsqlc.InsightStateSetParams{EventsThrough: rep.EventsThrough, DaysThrough: st.DaysThrough, Now: &n})
	})
	return closed, mapError("insight events", err)
}

// rollupDay recomputes one day's sends and events, and for a closed day
// its pressure, moving the watermark to it. It reports false when another
// process had closed the day already.
func (s *Store) rollupDay(ctx context.Context, d time.Time, closing bool, now time.Time, o RollupOptions) (bool, error) {
	var did bool
	err := s.InTx(ctx, func(tx *Tx) error {
		q := tx.q
		st, err := q.InsightStateLock(ctx)
		if err != nil {
			return err
		}
		if through, ok := fromDate(st.DaysThrough); ok && !d.After(through) {
			return nil // another rollup closed it
		}
		if err := q.InsightTuneTx(ctx); err != nil {
			return err
		}
		pd := pgDate(d)
		if err := q.InsightDailyClear(ctx, pd); err != nil {
			return err
		}
		hi := d.AddDate(0, 0, 1)
		runs, err := q.InsightRunsActive(ctx, dbsqlc.InsightRunsActiveParams{Lo: d, Hi: hi, LookbackSecs: o.Lookback.Seconds()})
		if err != nil {
			return err
		}
		if runs == nil {
			runs = []int64{}
		}
		if err := q.InsightDaySends(ctx, dbsqlc.InsightDaySendsParams{Day: pd, Lo: d, Hi: hi, RunIds: runs}); err != nil {
			return err
		}
		if err := q.InsightDailyEvents(ctx, pd); err != nil {
			return err
		}
		did = true
		if !closing {
			return nil
		}
		if err := q.InsightPressureClear(ctx, pd); err != nil {
			return err
		}
		if err := q.InsightPressureDay(ctx, dbsqlc.InsightPressureDayParams{Column1: pd, Column2: insight.PressureCap}); err != nil {
			return err
		}
		n := now
		return q.InsightStateSet(ctx, dbsqlc.InsightStateSetParams{EventsThrough: st.EventsThrough, DaysThrough: pd, Now: &n})
	})
	return did, mapError("insight day "+d.Format(time.DateOnly), err)
}

// effectiveKey is the tier an event is attributed to when the contact's
// last delivery names none: the tier in force by the domain's rule
// (outreach.EffectiveTier, the one the planner sends by). When the
// assigned tier is not among tiers no tier is in force; the event then
// goes to the assigned key as given, which here is only a label: the
// contact's own tier, not their preference, which the engine would not
// send by either.
func effectiveKey(assigned, preferred string, tiers map[string]outreach.Tier) string {
	if t, ok := outreach.EffectiveTier(tiers, assigned, preferred); ok {
		return t.Key
	}
	return assigned
}
