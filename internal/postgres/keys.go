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
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
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
	if name == "" || len(name) > 200 {
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
	err := s.InTx(ctx, func(tx pgxTx) error {
		row, err := Queries(tx).KeyInsert(ctx, dbsqlc.KeyInsertParams{
			Name: name, Role: string(role), Prefix: prefix, SecretHash: hashKey(plain), Now: now,
		})
		if err != nil {
			return err
		}
		out = keyFromRow(row)
		return audit(ctx, tx, now, actor, "create", "api_key", prefix, nil, map[string]any{"name": name, "role": role})
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
