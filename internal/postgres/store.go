package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// Store reads and writes rapport's tables. Every use the rest of rapport
// has for the database is one of its methods (or one of Tx's, for the
// use cases that must commit together); the generated queries behind them
// are visible to this package alone. Times come from its clock, never from
// the database's now(), so tests can move time.
type Store struct {
	pool  *pgxpool.Pool
	q     *dbsqlc.Queries
	clock outreach.Clock
	subs  subscriptions // webhook event types some endpoint takes
	// claims merges the send jobs' concurrent RecordAndClaim calls.
	claims claimGroup
	// retention is how long final deliveries are kept (DELIVERY_RETENTION);
	// a tier whose rule reaches further back is refused. Zero: unchecked.
	retention time.Duration
}

// SetRetention makes CreateTier and UpdateTier refuse a rule whose cap
// windows, min gap or target interval are longer than d, the time final
// deliveries are kept (PruneDeliveries). Call it before serving.
func (s *Store) SetRetention(d time.Duration) { s.retention = d }

// NewStore returns a store over pool.
func NewStore(pool *pgxpool.Pool, clock outreach.Clock) *Store {
	if clock == nil {
		clock = outreach.SystemClock{}
	}
	return &Store{pool: pool, q: dbsqlc.New(pool), clock: clock}
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Tx is one transaction on the store. Use cases that must commit together
// (a run and its planning jobs, a send chunk's outcomes and the next
// claim, an action and its audit entry) are its methods, called inside
// Store.InTx.
type Tx struct {
	tx pgx.Tx
	q  *dbsqlc.Queries
	s  *Store
}

// RiverTx is the transaction for River's *Tx calls alone (InsertTx,
// InsertManyFastTx, JobCompleteTx), so a job is enqueued or completed in
// the same commit as the write that needs it. Nothing else may run SQL on
// it: the store's methods are the only way to the tables.
func (t *Tx) RiverTx() pgx.Tx { return t.tx }

// Now is the store clock's time, for the transaction's writes.
func (t *Tx) Now() time.Time { return t.s.clock.Now() }

// InTx runs fn in a transaction, committed when fn returns nil and rolled
// back otherwise. Database errors the caller can fix come back as domain
// errors (see mapError).
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return fn(&Tx{tx: tx, q: dbsqlc.New(tx), s: s})
	})
	return mapError("transaction", err)
}

// InReadTx runs fn in a read-only transaction: a dry run (a forecast, a
// replay) that is guaranteed to write nothing.
func (s *Store) InReadTx(ctx context.Context, fn func(tx *Tx) error) error {
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return fn(&Tx{tx: tx, q: dbsqlc.New(tx), s: s})
	})
	return mapError("read transaction", err)
}

// constraintFields maps constraint names to the API field they protect, so a
// violation becomes a field error instead of a 500.
var constraintFields = map[string]outreach.FieldError{
	"contacts_tier_fkey":           {Field: "tier", Message: "no such tier"},
	"contacts_preferred_tier_fkey": {Field: "preferred_tier", Message: "no such tier"},
	"contacts_email_idx":           {Field: "email", Message: "already used by another contact"},
	"contacts_external_id_idx":     {Field: "external_id", Message: "already used by another contact"},
	"campaigns_topic_fkey":         {Field: "topic", Message: "no such topic"},
	"tiers_pkey":                   {Field: "key", Message: "a tier with this key exists"},
	"topics_pkey":                  {Field: "key", Message: "a topic with this key exists"},
	"users_email_idx":              {Field: "email", Message: "already used by another user"},
}

// mapError turns database errors the caller can fix into domain errors and
// wraps everything else with the operation.
func mapError(op string, err error) error {
	if err == nil {
		return nil
	}
	var oe *outreach.Error
	if errors.As(err, &oe) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return outreach.Errorf(outreach.ENOTFOUND, "%s: not found", op)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if badText(pgErr) {
			// Validation refuses such text field by field; this is the net
			// under it, so that bad bytes are never a 500.
			return outreach.Errorf(outreach.EINVALID, "%s: the input holds text that cannot be stored (NUL or invalid UTF-8)", op)
		}
		if fe, ok := constraintFields[pgErr.ConstraintName]; ok {
			if pgErr.Code == "23505" {
				return &outreach.Error{Code: outreach.ECONFLICT, Message: fe.Field + ": " + fe.Message, Fields: []outreach.FieldError{fe}}
			}
			return outreach.Invalid(fe)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// badText reports whether PostgreSQL refused a value for its bytes: NUL in
// text (22021 character_not_in_repertoire, which also covers invalid
// UTF-8) or a \u0000 in JSON (22P05 untranslatable_character).
func badText(err *pgconn.PgError) bool {
	return err.Code == "22021" || err.Code == "22P05"
}

// GenericPlans makes the rest of the transaction run each prepared
// statement on its generic plan instead of planning it again for its
// parameters. The send path's statements look rows up by id or contact
// through their indexes whatever the ids, and PostgreSQL's default (a
// custom plan for every execution while it looks cheaper) planned River's
// job completion (1.6 ms) and each lookup afresh for every batch: a
// fifth of PostgreSQL's CPU per message. Only for statements whose best
// plan does not depend on their parameters: the planner's history read
// (CapHistory) is ten times slower on its generic plan.
func (t *Tx) GenericPlans(ctx context.Context) error {
	_, err := t.tx.Exec(ctx, "SET LOCAL plan_cache_mode = force_generic_plan")
	return mapError("generic plans", err)
}
