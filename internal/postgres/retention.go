package postgres

import (
	"context"
	"time"

	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// PruneReport is what one PruneDeliveries call did.
type PruneReport struct {
	// Before is the moment deliveries had to count before to go: now minus
	// the retention, or the start of the first day the insight rollup has
	// not closed, whichever is earlier; zero when the rollup has closed no
	// day yet (nothing goes).
	Before  time.Time
	Deleted int64
	Batches int
	// Done says the walk reached deliveries too recent to go; false when
	// it stopped at maxBatches (the next call carries on).
	Done bool
}

// PruneDeliveries deletes final deliveries (sent, skipped, failed, unknown)
// whose place in their contact's history (history_at, counting the day of
// slack) is older than retention, in batches of at most batch rows, each
// its own short transaction, at most maxBatches of them. It walks the
// primary key from the oldest delivery; ids grow with created_at, so it
// stops at the first batch holding a delivery created after the cutoff.
//
// Only what the insight rollup has covered goes: the cutoff is never later
// than the start of the first day it has not closed, so its daily
// aggregates per contact (insight_contact_sends), per tier and campaign
// (insight_daily) and the pressure curve keep every deleted send.
// Scheduled and sending deliveries stay, whatever their age, and no
// contact is locked: a send job never waits for it.
func (s *Store) PruneDeliveries(ctx context.Context, retention time.Duration, batch, maxBatches int) (PruneReport, error) {
	var rep PruneReport
	days, err := s.q.InsightDaysThrough(ctx)
	if err != nil {
		return rep, mapError("prune deliveries", err)
	}
	if !days.Valid {
		rep.Done = true
		return rep, nil
	}
	cutoff := s.clock.Now().Add(-retention)
	closed := time.Date(days.Time.Year(), days.Time.Month(), days.Time.Day()+1, 0, 0, 0, 0, time.UTC)
	if closed.Before(cutoff) {
		cutoff = closed
	}
	rep.Before = cutoff
	before := cutoff.Add(-HistorySlack) // coalesce(sent_at, planned_for) <= history_at + HistorySlack
	var after int64
	for rep.Batches < maxBatches {
		span, err := s.q.PruneBatchSpan(ctx, dbsqlc.PruneBatchSpanParams{AfterID: after, Before: before, Lim: int32(batch)})
		if err != nil {
			return rep, mapError("prune deliveries", err)
		}
		if span.Hi == 0 {
			rep.Done = true
			return rep, nil
		}
		n, err := s.q.PruneDeliveries(ctx, dbsqlc.PruneDeliveriesParams{AfterID: after, HiID: span.Hi, Before: before})
		if err != nil {
			return rep, mapError("prune deliveries", err)
		}
		rep.Deleted += n
		rep.Batches++
		after = span.Hi
		if span.Reached {
			rep.Done = true
			return rep, nil
		}
	}
	return rep, nil
}
