package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// LoginLimits bound failed sign-ins. The zero value of each field picks
// its default.
type LoginLimits struct {
	// PerAccount failures for one address within Window block it until
	// the oldest of them is older than Window (default 5). A successful
	// sign-in clears an account's failures.
	PerAccount int
	// PerIP failures from one client address within Window block it
	// (default 20). A success does not clear them: an attacker who owns
	// one account must not be able to guess on at others from the same
	// address.
	PerIP  int
	Window time.Duration // default 15m
}

func (l LoginLimits) withDefaults() LoginLimits {
	if l.PerAccount <= 0 {
		l.PerAccount = 5
	}
	if l.PerIP <= 0 {
		l.PerIP = 20
	}
	if l.Window <= 0 {
		l.Window = 15 * time.Minute
	}
	return l
}

// loginRetention is how long attempts are kept: far longer than any
// window, short enough that the table stays small.
const loginRetention = 24 * time.Hour

// TooManyAttempts is SignIn's answer when an account or a client address
// has failed too often. It is the same whether the account exists or not.
type TooManyAttempts struct {
	// Account is true when the account's limit was hit, false for the
	// client address's.
	Account bool
	// RetryAfter is when the next attempt will be counted again.
	RetryAfter time.Duration
}

// Error says which limit was hit and when to try again.
func (e *TooManyAttempts) Error() string {
	who := "this client address"
	if e.Account {
		who = "this account"
	}
	return fmt.Sprintf("too many sign-in attempts for %s; retry after %s", who, e.RetryAfter.Round(time.Second))
}

// errSignIn is every refused sign-in's error, whatever was wrong: no such
// account, a wrong password or a disabled account.
var errSignIn = outreach.Errorf(outreach.EUNAUTHORIZED, "the email address or password is not right")

// SignIn checks an address and password from a client address and returns
// the user. Within the limits, the attempt is recorded as a failure before
// the password is checked (so parallel guesses all count) and marked
// successful after. Over them, it is *TooManyAttempts and no password is
// checked. Every refusal is the same EUNAUTHORIZED error, and an address
// without an account is checked against a decoy hash, so neither the
// answer nor its timing says whether an account exists.
func (s *Store) SignIn(ctx context.Context, email, password, ip string, lim LoginLimits) (User, error) {
	lim = lim.withDefaults()
	account := strings.ToLower(strings.TrimSpace(email))
	if ip == "" {
		ip = "unknown"
	}
	attempt, err := s.recordAttempt(ctx, EmailHash(account), ip, lim)
	if err != nil {
		return User{}, err
	}
	// The hash is checked outside the transaction: argon2id takes tens of
	// milliseconds and must not hold the locks meanwhile.
	hash, found := decoyHash(), false
	row, err := s.q.UserByEmail(ctx, account)
	switch {
	case err == nil:
		hash, found = row.PasswordHash, true
	case !errors.Is(err, pgx.ErrNoRows):
		return User{}, mapError("sign in", err)
	}
	ok, err := verifyPassword(password, hash)
	if err != nil {
		return User{}, err
	}
	if !ok || !found || row.DisabledAt != nil {
		return User{}, errSignIn
	}
	if err := s.q.LoginAttemptSucceeded(ctx, attempt); err != nil {
		return User{}, mapError("sign in", err)
	}
	return userFromRow(row), nil
}

// recordAttempt checks the limits and records the attempt as a failure,
// under locks on the account and the client address taken in that order
// (so two attempts never wait on each other in a cycle).
func (s *Store) recordAttempt(ctx context.Context, account []byte, ip string, lim LoginLimits) (int64, error) {
	now := s.clock.Now()
	since := now.Add(-lim.Window)
	var id int64
	err := s.InTx(ctx, func(tx *Tx) error {
		q := tx.q
		if err := q.LoginLock(ctx, lockKey("account", string(account))); err != nil {
			return err
		}
		if err := q.LoginLock(ctx, lockKey("ip", ip)); err != nil {
			return err
		}
		oldest, err := q.LoginAccountFailure(ctx, dbsqlc.LoginAccountFailureParams{AccountHash: account, Since: since, Skip: int32(lim.PerAccount - 1)})
		if err == nil {
			return &TooManyAttempts{Account: true, RetryAfter: oldest.Add(lim.Window).Sub(now)}
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		oldest, err = q.LoginIPFailure(ctx, dbsqlc.LoginIPFailureParams{Ip: ip, Since: since, Skip: int32(lim.PerIP - 1)})
		if err == nil {
			return &TooManyAttempts{RetryAfter: oldest.Add(lim.Window).Sub(now)}
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if id, err = q.LoginAttemptInsert(ctx, dbsqlc.LoginAttemptInsertParams{AccountHash: account, Ip: ip, Now: now}); err != nil {
			return err
		}
		return q.LoginAttemptsPrune(ctx, now.Add(-max(loginRetention, 2*lim.Window)))
	})
	var tooMany *TooManyAttempts
	if errors.As(err, &tooMany) {
		return 0, tooMany
	}
	return id, mapError("sign in", err)
}

// lockKey is an advisory lock key for one account or client address.
// Two that collide only wait on each other.
func lockKey(kind, v string) int64 {
	h := sha256.Sum256([]byte("rapport/login/" + kind + "/" + v))
	return int64(binary.BigEndian.Uint64(h[:8]))
}
