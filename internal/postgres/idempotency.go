package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// Idem identifies a request made with an Idempotency-Key.
type Idem struct {
	APIKeyID int64
	Key      string
	Route    string
	Hash     []byte
}

// IdemResult is what an earlier request with the same key did.
type IdemResult struct {
	ResourceID int64
	RunID      *int64
}

// ClaimIdempotency records the key in the transaction. When the key was
// used before it returns that request's result (replay); a different
// request under the same key is an ECONFLICT error. A nil in is no key.
func (t *Tx) ClaimIdempotency(ctx context.Context, in *Idem) (*IdemResult, error) {
	if in == nil {
		return nil, nil
	}
	_, err := t.q.IdempotencyClaim(ctx, dbsqlc.IdempotencyClaimParams{ApiKeyID: in.APIKeyID, IdemKey: in.Key,
		Route: in.Route, RequestHash: in.Hash, Now: t.Now()})
	if err == nil {
		return nil, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, mapError("idempotency key", err)
	}
	prev, err := t.q.IdempotencyGet(ctx, dbsqlc.IdempotencyGetParams{ApiKeyID: in.APIKeyID, IdemKey: in.Key})
	if err != nil {
		return nil, mapError("idempotency key", err)
	}
	if prev.Route != in.Route || string(prev.RequestHash) != string(in.Hash) {
		return nil, &outreach.Error{Code: outreach.ECONFLICT, Message: "this Idempotency-Key was used for a different request",
			Fields: []outreach.FieldError{{Field: "Idempotency-Key", Message: "already used for a different request"}}}
	}
	return &IdemResult{ResourceID: prev.ResourceID, RunID: prev.RunID}, nil
}

// SetIdempotencyResult stores what the request did, in its transaction.
func (t *Tx) SetIdempotencyResult(ctx context.Context, in *Idem, resourceID int64, runID *int64) error {
	if in == nil {
		return nil
	}
	return mapError("idempotency result", t.q.IdempotencySetResult(ctx, dbsqlc.IdempotencySetResultParams{
		ApiKeyID: in.APIKeyID, IdemKey: in.Key, ResourceID: resourceID, RunID: runID}))
}
