package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
)

// Store reads and writes rapport's tables. Times come from its clock, never
// from the database's now(), so tests can move time.
type Store struct {
	pool  *pgxpool.Pool
	q     *dbsqlc.Queries
	clock outreach.Clock
}

// NewStore returns a store over pool.
func NewStore(pool *pgxpool.Pool, clock outreach.Clock) *Store {
	return &Store{pool: pool, q: dbsqlc.New(pool), clock: clock}
}

// Pool returns the connection pool, for River and for the jobs that share
// transactions with it.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Queries returns the typed queries bound to tx.
func Queries(tx pgx.Tx) *dbsqlc.Queries { return dbsqlc.New(tx) }

// InTx runs fn in a transaction, committed when fn returns nil.
func (s *Store) InTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
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
}

// mapError turns database errors the caller can fix into domain errors and
// wraps everything else with the operation.
func mapError(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return outreach.Errorf(outreach.ENOTFOUND, "%s: not found", op)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if fe, ok := constraintFields[pgErr.ConstraintName]; ok {
			if pgErr.Code == "23505" {
				return &outreach.Error{Code: outreach.ECONFLICT, Message: fe.Field + ": " + fe.Message, Fields: []outreach.FieldError{fe}}
			}
			return outreach.Invalid(fe)
		}
	}
	var oe *outreach.Error
	if errors.As(err, &oe) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// MapError is mapError for the packages that run their own transactions.
func MapError(op string, err error) error { return mapError(op, err) }
