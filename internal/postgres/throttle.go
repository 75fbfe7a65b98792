package postgres

import (
	"context"
	"time"

	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// ThrottleBackoff is a domain's slowed rate after "slow down" answers, as
// stored (see internal/throttle).
type ThrottleBackoff struct {
	PerSecond float64       // the halved rate
	At        time.Time     // when it was last halved
	Until     time.Time     // it holds until then, then doubles once per period
	Ceiling   float64       // the rate it climbs back to
	Period    time.Duration // time between doublings
}

func backoffOf(rate *float64, at, until *time.Time, ceiling *float64, periodMS *int64) *ThrottleBackoff {
	if rate == nil || at == nil || until == nil || ceiling == nil || periodMS == nil || *rate <= 0 || *periodMS <= 0 {
		return nil
	}
	return &ThrottleBackoff{PerSecond: *rate, At: *at, Until: *until, Ceiling: *ceiling,
		Period: time.Duration(*periodMS) * time.Millisecond}
}

// ThrottleBucket is one throttle key's stored calendar and limits.
type ThrottleBucket struct {
	Key       string
	FullUntil int64   // every quantum before this index is full …
	FullPerQ  float64 // … at this many slots a quantum
	Used      []byte  // the partly used quanta after it, encoded by internal/throttle
	PerSecond float64 // the configured rate; 0: none
	Backoff   *ThrottleBackoff
}

// ThrottleCalendars locks the buckets of keys (in key order, so batches
// never deadlock), reads them, lets reserve work out the reservation and
// writes the buckets it returns (none: nothing to write), committing. It
// takes two round trips (see pipeTx): reservations are on every send
// batch's path and hold row locks other processes wait for.
func (s *Store) ThrottleCalendars(ctx context.Context, keys []string, reserve func([]ThrottleBucket) ([]ThrottleBucket, error)) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return mapError("reserve send slots", err)
	}
	defer conn.Release()
	p := &pipeTx{conn: conn}
	q := dbsqlc.New(p)
	err = func() error {
		rows, err := q.ThrottleLoad(ctx, keys)
		if err != nil {
			return err
		}
		in := make([]ThrottleBucket, len(rows))
		for i, r := range rows {
			in[i] = ThrottleBucket{Key: r.Key, FullUntil: r.FullUntil, FullPerQ: r.FullPerQ, Used: r.Used, PerSecond: r.PerSecond,
				Backoff: backoffOf(r.SlowedPerSecond, r.SlowedAt, r.SlowedUntil, r.SlowCeiling, r.SlowPeriodMs)}
		}
		out, err := reserve(in)
		if err != nil || len(out) == 0 {
			return err
		}
		var sp dbsqlc.ThrottleSaveParams
		for _, b := range out {
			sp.Keys, sp.FullUntil = append(sp.Keys, b.Key), append(sp.FullUntil, b.FullUntil)
			sp.FullPerQ, sp.Used = append(sp.FullPerQ, b.FullPerQ), append(sp.Used, b.Used)
		}
		return q.ThrottleSave(ctx, sp)
	}()
	if err != nil {
		p.rollback(ctx)
		return mapError("reserve send slots", err)
	}
	return mapError("reserve send slots", p.commit(ctx))
}

// ThrottleRate is one configured rate: key "global" or "domain:<name>".
type ThrottleRate struct {
	Key       string
	PerSecond float64
	UpdatedAt time.Time
}

// ThrottleRates returns the configured rates.
func (s *Store) ThrottleRates(ctx context.Context) ([]ThrottleRate, error) {
	rows, err := s.q.ThrottleRates(ctx)
	if err != nil {
		return nil, mapError("throttle rates", err)
	}
	return throttleRates(rows), nil
}

func throttleRates(rows []dbsqlc.ThrottleRate) []ThrottleRate {
	out := make([]ThrottleRate, len(rows))
	for i, r := range rows {
		out[i] = ThrottleRate{Key: r.Key, PerSecond: r.PerSecond, UpdatedAt: r.UpdatedAt}
	}
	return out
}

// PutThrottleRates replaces every configured rate with rates (keys
// "global" and "domain:<name>"), making sure each has a bucket, and writes
// the audit entry that audit derives from the rates it replaced — all in
// one transaction, serialised with other puts. It returns the replaced
// rates.
func (s *Store) PutThrottleRates(ctx context.Context, actor string, rates []ThrottleRate, audit func(before []ThrottleRate) (b, a any)) ([]ThrottleRate, error) {
	var before []ThrottleRate
	err := s.InTx(ctx, func(tx *Tx) error {
		q := tx.q
		if err := q.ThrottleLockSettings(ctx); err != nil {
			return err
		}
		rows, err := q.ThrottleRates(ctx)
		if err != nil {
			return err
		}
		before = throttleRates(rows)
		keys := make([]string, len(rates))
		per := make([]float64, len(rates))
		for i, r := range rates {
			keys[i], per[i] = r.Key, r.PerSecond
		}
		if err := q.ThrottleRatesDeleteExcept(ctx, keys); err != nil {
			return err
		}
		if err := q.ThrottleRatesUpsert(ctx, dbsqlc.ThrottleRatesUpsertParams{Now: tx.Now(), Keys: keys, Rates: per}); err != nil {
			return err
		}
		// Reservations lock bucket rows; a limited domain needs one.
		if err := q.ThrottleBucketsEnsure(ctx, keys); err != nil {
			return err
		}
		b, a := audit(before)
		return tx.Audit(ctx, actor, "update", "throttles", "global", b, a)
	})
	return before, mapError("put throttles", err)
}

// ThrottleSlowState is what a domain's new back-off is derived from.
type ThrottleSlowState struct {
	PerSecond       float64 // the domain's configured rate; 0: none
	GlobalPerSecond float64 // the global rate; 0: none
	Backoff         *ThrottleBackoff
}

// ThrottleSlowDown locks a domain key's bucket (creating it), lets slow
// work out the new back-off from its state and stores it, in one
// transaction.
func (s *Store) ThrottleSlowDown(ctx context.Context, key string, slow func(ThrottleSlowState) ThrottleBackoff) error {
	err := s.InTx(ctx, func(tx *Tx) error {
		q := tx.q
		if err := q.ThrottleBucketsEnsure(ctx, []string{key}); err != nil {
			return err
		}
		row, err := q.ThrottleBackoffLoad(ctx, key)
		if err != nil {
			return err
		}
		b := slow(ThrottleSlowState{PerSecond: row.PerSecond, GlobalPerSecond: row.GlobalPerSecond,
			Backoff: backoffOf(row.SlowedPerSecond, row.SlowedAt, row.SlowedUntil, row.SlowCeiling, row.SlowPeriodMs)})
		periodMS := b.Period.Milliseconds()
		return q.ThrottleBackoffSave(ctx, dbsqlc.ThrottleBackoffSaveParams{Key: key, SlowedPerSecond: &b.PerSecond,
			SlowedAt: &b.At, SlowedUntil: &b.Until, SlowCeiling: &b.Ceiling, SlowPeriodMs: &periodMS})
	})
	return mapError("slow down "+key, err)
}

// ThrottleState returns a key's configured rate and back-off; found is
// false when the key has no bucket.
func (s *Store) ThrottleState(ctx context.Context, key string) (perSecond float64, b *ThrottleBackoff, found bool, err error) {
	rows, err := s.q.ThrottleBackoffGet(ctx, key)
	if err != nil || len(rows) == 0 {
		return 0, nil, false, mapError("throttle "+key, err)
	}
	r := rows[0]
	return r.PerSecond, backoffOf(r.SlowedPerSecond, r.SlowedAt, r.SlowedUntil, r.SlowCeiling, r.SlowPeriodMs), true, nil
}
