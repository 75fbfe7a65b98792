package postgres

import (
	"context"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// ChangePassword is a user replacing their own password: the current one
// must be given (field "current_password"), and the new one must follow
// the password rule and differ from it (field "new_password"). It clears
// MustChangePassword and ends the user's other sessions.
func (s *Store) ChangePassword(ctx context.Context, actor string, id int64, current, next string) (User, error) {
	row, err := s.q.UserByID(ctx, id)
	if err != nil {
		return User{}, mapError("change password", err)
	}
	var fields []outreach.FieldError
	ok, err := verifyPassword(current, row.PasswordHash)
	if err != nil {
		return User{}, err
	}
	if !ok {
		fields = append(fields, outreach.FieldError{Field: "current_password", Message: "is not your current password"})
	}
	if fe := checkPassword("new_password", next); fe != nil {
		fields = append(fields, *fe)
	} else if next == current {
		fields = append(fields, outreach.FieldError{Field: "new_password", Message: "must differ from the current password"})
	}
	if len(fields) > 0 {
		return User{}, outreach.Invalid(fields...)
	}
	return s.storePassword(ctx, actor, "change_password", row.ID, next, false)
}

// SetPassword gives a user a password chosen for them (by an operator at
// the command line), checked against the password rule (field
// "password"). The user is not asked to change it.
func (s *Store) SetPassword(ctx context.Context, actor string, id int64, password string) (User, error) {
	if fe := checkPassword("password", password); fe != nil {
		return User{}, outreach.Invalid(*fe)
	}
	return s.storePassword(ctx, actor, "set_password", id, password, false)
}

// ResetPassword gives a user a new one-time password, which it returns
// (shown once): their sessions end, and at the next sign-in they must
// choose their own.
func (s *Store) ResetPassword(ctx context.Context, actor string, id int64) (string, User, error) {
	plain := oneTimePassword()
	u, err := s.storePassword(ctx, actor, "reset_password", id, plain, true)
	if err != nil {
		return "", User{}, err
	}
	return plain, u, nil
}

// storePassword hashes and stores a password and audits the action (the
// entry names the user, never the password or its hash).
func (s *Store) storePassword(ctx context.Context, actor, action string, id int64, password string, mustChange bool) (User, error) {
	hash, err := hashPassword(password)
	if err != nil {
		return User{}, err
	}
	var out User
	err = s.InTx(ctx, func(tx *Tx) error {
		row, err := tx.q.UserSetPassword(ctx, dbsqlc.UserSetPasswordParams{ID: id, PasswordHash: hash,
			MustChangePassword: mustChange, Now: tx.Now()})
		if err != nil {
			return err
		}
		out = userFromRow(row)
		return tx.Audit(ctx, actor, action, "user", row.Email, nil, map[string]any{"must_change_password": mustChange})
	})
	return out, mapError(action, err)
}
