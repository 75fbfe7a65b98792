package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// Run is one firing of a campaign, planned in contact-id ranges.
type Run struct {
	ID         int64
	CampaignID int64
	FireAt     time.Time
	ExpiresAt  *time.Time
	// Status is planning, planned, completed or canceled.
	Status string
}

// RunPlanning is the status of a run whose ranges are still being planned.
const RunPlanning = "planning"

// Run returns one run.
func (s *Store) Run(ctx context.Context, id int64) (Run, error) {
	r, err := s.q.RunGet(ctx, id)
	if err != nil {
		return Run{}, mapError("run", err)
	}
	return Run{ID: r.ID, CampaignID: r.CampaignID, FireAt: r.FireAt, ExpiresAt: r.ExpiresAt, Status: r.Status}, nil
}

// ContactIDRange is the lowest and highest contact id (0, 0 when there are
// none), for splitting a run's planning into ranges.
func (t *Tx) ContactIDRange(ctx context.Context) (lo, hi int64, err error) {
	r, err := t.q.ContactIDRange(ctx)
	return r.Lo, r.Hi, mapError("contact id range", err)
}

// InsertRun creates a campaign's run firing at fireAt, to be planned in
// shards ranges. A (campaign, fire_at) pair has one run, ever: a second
// insert is an ECONFLICT error.
func (t *Tx) InsertRun(ctx context.Context, campaignID int64, fireAt time.Time, expiresAt *time.Time, shards int) (int64, error) {
	r, err := t.q.RunInsert(ctx, dbsqlc.RunInsertParams{CampaignID: campaignID, FireAt: fireAt, ExpiresAt: expiresAt,
		Shards: int32(shards), Now: t.Now()})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, conflictf("campaign %d already has a run firing at %s", campaignID, fireAt.Format(time.RFC3339))
	}
	return r.ID, mapError("insert run", err)
}

// RunLastContact is the last contact a run's planning reached in the id
// range (lo, hi], lo when none: an interrupted planning job resumes after
// it.
func (s *Store) RunLastContact(ctx context.Context, runID, lo, hi int64) (int64, error) {
	n, err := s.q.RunLastContact(ctx, dbsqlc.RunLastContactParams{RunID: runID, Lo: lo, Hi: hi})
	return n, mapError("run progress", err)
}

// RunShardDone records that one of a run's ranges is planned; the last
// one marks the run planned.
func (t *Tx) RunShardDone(ctx context.Context, runID int64) error {
	_, err := t.q.RunShardDone(ctx, dbsqlc.RunShardDoneParams{ID: runID, Now: t.Now()})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // the run was canceled meanwhile
	}
	return mapError("run shard done", err)
}
