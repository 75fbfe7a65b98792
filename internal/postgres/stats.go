package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// analyzeMinRows is the fewest rows written since the last ANALYZE for
// RefreshDeliveryStats to bother: below it a sequential scan is as cheap
// as an index.
const analyzeMinRows = 2000

// RefreshDeliveryStats runs ANALYZE on deliveries when the rows written
// since its last one outnumber half the rows it counted then, and reports
// whether it did. The planning job calls it after each committed batch.
//
// Autovacuum would get there too, but only at its next round (a minute or
// more) and past a threshold of a tenth of the table: a first big plan on
// an empty or small table would meanwhile leave PostgreSQL's planner
// believing deliveries tiny, and the send path's lookups of a batch's
// deliveries and its contacts' history (`id = ANY(…)`, `contact_id =
// ANY(…)`) ran as sequential scans, 50 times slower than their indexes
// (9 ms against 0.2 ms a batch on 50,000 rows). Growth by half means a
// handful of ANALYZEs from empty to millions, and none for a plan that
// adds little to a big table. A second planner finding one running skips
// its own, and so does one that would wait more than 200 ms for the
// table's lock (autovacuum at work on it).
func (s *Store) RefreshDeliveryStats(ctx context.Context) (bool, error) {
	stale, err := s.q.DeliveriesStale(ctx, analyzeMinRows)
	if err != nil || !stale {
		return false, mapError("delivery statistics", err)
	}
	ran := false
	err = s.InTx(ctx, func(tx *Tx) error {
		ok, err := tx.q.AnalyzeLock(ctx)
		if err != nil || !ok {
			return err
		}
		// Autovacuum analyzing or vacuuming the table holds the lock
		// ANALYZE needs: it is refreshing them already, and planning does
		// not wait for it.
		if _, err := tx.tx.Exec(ctx, "SET LOCAL lock_timeout = '200ms'"); err != nil {
			return err
		}
		if _, err := tx.tx.Exec(ctx, "ANALYZE deliveries"); err != nil {
			return err
		}
		ran = true
		return nil
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
		return false, nil
	}
	return ran, mapError("analyze deliveries", err)
}
