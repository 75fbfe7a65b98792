package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// APIKey is a stored key, without its secret.
type APIKey struct {
	ID         int64
	Name       string
	Role       outreach.Role
	Prefix     string
	CreatedAt  time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// keyPrefix starts every key so that leaked keys are easy to recognise
// (secret scanners) and to tell apart from other bearer tokens.
const keyPrefix = "rpk_"

func hashKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CreateKey makes a new API key and returns its plaintext, which is shown
// once and never stored: only a SHA-256 of it is kept. (A fast hash is right
// here: the secret is 256 random bits, so there is nothing to brute-force.)
func (s *Store) CreateKey(ctx context.Context, actor, name string, role outreach.Role) (string, APIKey, error) {
	var fields []outreach.FieldError
	name = strings.TrimSpace(name)
	if f := outreach.LineFault(name); f != "" {
		fields = append(fields, outreach.FieldError{Field: "name", Message: f})
	} else if name == "" || len(name) > 200 {
		fields = append(fields, outreach.FieldError{Field: "name", Message: "is required (at most 200 characters)"})
	}
	if !role.Valid() {
		fields = append(fields, outreach.FieldError{Field: "role", Message: "must be admin, marketer or viewer"})
	}
	if len(fields) > 0 {
		return "", APIKey{}, outreach.Invalid(fields...)
	}
	var id [8]byte
	var secret [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", APIKey{}, err
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", APIKey{}, err
	}
	prefix := hex.EncodeToString(id[:])
	plain := keyPrefix + prefix + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	now := s.clock.Now()
	var out APIKey
	err := s.InTx(ctx, func(tx *Tx) error {
		row, err := tx.q.KeyInsert(ctx, dbsqlc.KeyInsertParams{
			Name: name, Role: string(role), Prefix: prefix, SecretHash: hashKey(plain), Now: now,
		})
		if err != nil {
			return err
		}
		out = keyFromRow(row)
		return tx.Audit(ctx, actor, "create", "api_key", prefix, nil, map[string]any{"name": name, "role": role})
	})
	if err != nil {
		return "", APIKey{}, mapError("create key", err)
	}
	return plain, out, nil
}

// Authenticate finds the live key for a bearer token. The prefix locates the
// row; the hash is compared in constant time. Any failure is EUNAUTHORIZED
// with the same message so callers learn nothing about which part was wrong.
func (s *Store) Authenticate(ctx context.Context, token string) (APIKey, error) {
	denied := outreach.Errorf(outreach.EUNAUTHORIZED, "a valid API key is required")
	rest, ok := strings.CutPrefix(token, keyPrefix)
	if !ok || len(token) > 200 {
		return APIKey{}, denied
	}
	prefix, _, ok := strings.Cut(rest, "_")
	if !ok || len(prefix) != 16 {
		return APIKey{}, denied
	}
	row, err := s.q.KeyByPrefix(ctx, prefix)
	if err != nil {
		if outreach.ErrorCode(mapError("key", err)) == outreach.ENOTFOUND {
			// Spend the same comparison as a hit so timing does not reveal prefixes.
			subtle.ConstantTimeCompare(hashKey(token), hashKey(""))
			return APIKey{}, denied
		}
		return APIKey{}, mapError("authenticate", err)
	}
	if subtle.ConstantTimeCompare(hashKey(token), row.SecretHash) != 1 {
		return APIKey{}, denied
	}
	now := s.clock.Now()
	if err := s.q.KeyTouch(ctx, dbsqlc.KeyTouchParams{ID: row.ID, Now: now, StaleBefore: now.Add(-time.Minute)}); err != nil {
		return APIKey{}, mapError("authenticate", err)
	}
	return keyFromRow(row), nil
}

// KeyCount is the number of live keys; `make run` creates a first admin key
// only when there is none.
func (s *Store) KeyCount(ctx context.Context) (int64, error) {
	n, err := s.q.KeyCount(ctx)
	return n, mapError("count keys", err)
}

func keyFromRow(r dbsqlc.ApiKey) APIKey {
	return APIKey{ID: r.ID, Name: r.Name, Role: outreach.Role(r.Role), Prefix: r.Prefix,
		CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt, LastUsedAt: r.LastUsedAt}
}

// Keys lists API keys, without secrets.
func (s *Store) Keys(ctx context.Context, afterID int64, limit int) ([]APIKey, error) {
	rows, err := s.q.KeyList(ctx, dbsqlc.KeyListParams{AfterID: afterID, Lim: int32(limit)})
	if err != nil {
		return nil, mapError("list keys", err)
	}
	out := make([]APIKey, len(rows))
	for i, r := range rows {
		out[i] = keyFromRow(r)
	}
	return out, nil
}

// RevokeKey revokes a key at once. The last live admin key cannot be
// revoked: nobody could create another.
func (s *Store) RevokeKey(ctx context.Context, actor string, id int64) error {
	now := s.clock.Now()
	err := s.InTx(ctx, func(tx *Tx) error {
		q := tx.q
		if err := q.KeysLock(ctx); err != nil {
			return err
		}
		k, err := q.KeyGetForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return nil
		}
		if k.Role == string(outreach.RoleAdmin) {
			n, err := q.AdminKeysLive(ctx)
			if err != nil {
				return err
			}
			if n <= 1 {
				return outreach.Errorf(outreach.ECONFLICT, "this is the last admin key; create another admin key first")
			}
		}
		if err := q.KeyRevoke(ctx, dbsqlc.KeyRevokeParams{ID: id, Now: &now}); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, "revoke", "api_key", k.Prefix, map[string]any{"name": k.Name, "role": k.Role}, nil)
	})
	return mapError("revoke key", err)
}

// Key returns one API key, live or revoked, without its secret.
func (s *Store) Key(ctx context.Context, id int64) (APIKey, error) {
	row, err := s.q.KeyByID(ctx, id)
	if err != nil {
		return APIKey{}, mapError("key", err)
	}
	return keyFromRow(row), nil
}
