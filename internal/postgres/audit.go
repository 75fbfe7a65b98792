package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
)

type pgxTx = pgx.Tx

// audit records who did what to which entity, with before and after, in the
// same transaction as the change itself so the log can never disagree.
func audit(ctx context.Context, tx pgx.Tx, now time.Time, actor, action, entity, id string, before, after any) error {
	b, err := jsonOrNil(before)
	if err != nil {
		return err
	}
	a, err := jsonOrNil(after)
	if err != nil {
		return err
	}
	return dbsqlc.New(tx).AuditInsert(ctx, dbsqlc.AuditInsertParams{
		Actor: actor, Action: action, Entity: entity, EntityID: id, Before: b, After: a, Now: now,
	})
}

func jsonOrNil(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	if raw, ok := v.([]byte); ok {
		return raw, nil
	}
	return json.Marshal(v)
}

// Audit records an entry in the caller's transaction.
func Audit(ctx context.Context, tx pgx.Tx, now time.Time, actor, action, entity string, id int64, before, after any) error {
	return audit(ctx, tx, now, actor, action, entity, itoa(id), before, after)
}
