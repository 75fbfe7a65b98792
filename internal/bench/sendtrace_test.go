package bench

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// queryTracer sums, per statement, how often it ran and how long it took
// from the client's side (BENCH_TRACE=1), to see where a phase's database
// time goes.
type queryTracer struct {
	mu sync.Mutex
	m  map[string]*queryStat
}

type queryStat struct {
	n     int
	total time.Duration
}

type traceKey struct{}

type traceStart struct {
	sql string
	at  time.Time
}

func newQueryTracer() *queryTracer { return &queryTracer{m: map[string]*queryStat{}} }

func (t *queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traceStart{sql: d.SQL, at: time.Now()})
}

func (t *queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	s, ok := ctx.Value(traceKey{}).(traceStart)
	if !ok {
		return
	}
	key := strings.Join(strings.Fields(s.sql), " ")
	if i := strings.Index(key, "-- name: "); i >= 0 {
		key = strings.Fields(key[i+9:])[0]
	} else if len(key) > 70 {
		key = key[:70]
	}
	d := time.Since(s.at)
	t.mu.Lock()
	st := t.m[key]
	if st == nil {
		st = &queryStat{}
		t.m[key] = st
	}
	st.n++
	st.total += d
	t.mu.Unlock()
}

func (t *queryTracer) reset() {
	t.mu.Lock()
	clear(t.m)
	t.mu.Unlock()
}

func (t *queryTracer) print(phase string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return t.m[keys[i]].total > t.m[keys[j]].total })
	for _, k := range keys[:min(len(keys), 25)] {
		st := t.m[k]
		fmt.Printf("# %s query: %8.2f s total %6d calls %7.2f ms avg  %s\n", phase, st.total.Seconds(), st.n,
			float64(st.total.Microseconds())/1000/float64(st.n), k)
	}
}
