package postgres

import (
	"context"

	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// QueueCount is how many River jobs of a queue and kind are in a state.
type QueueCount struct {
	Queue, Kind, State string
	N                  int64
}

// QueueDepth counts River jobs waiting or running, by queue, kind and
// state, across the whole cluster.
func (s *Store) QueueDepth(ctx context.Context) ([]QueueCount, error) {
	rows, err := s.q.QueueDepthByKind(ctx)
	if err != nil {
		return nil, mapError("queue depth", err)
	}
	return queueCounts(rows), nil
}

// queueCounts are River's job counts as the store gives them.
func queueCounts(rows []dbsqlc.QueueDepthByKindRow) []QueueCount {
	out := make([]QueueCount, len(rows))
	for i, r := range rows {
		out[i] = QueueCount{Queue: r.Queue, Kind: r.Kind, State: r.State, N: r.N}
	}
	return out
}

// RiverLeader is the id of the River client leading the cluster now, ""
// when none: cluster-wide gauges are exported by the leader alone, so
// summing them over processes never counts a job twice.
func (s *Store) RiverLeader(ctx context.Context) (string, error) {
	id, err := s.q.RiverLeader(ctx)
	return id, mapError("river leader", err)
}
