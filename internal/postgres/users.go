package postgres

import (
	"context"
	"net/mail"
	"strings"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// User is a person who signs in to the web console, without their
// password hash, which never leaves this package.
type User struct {
	ID    int64
	Email string
	Name  string
	// Role is the API's: admin includes marketer includes viewer.
	Role outreach.Role
	// MustChangePassword is set while the password is a one-time one
	// (printed at bootstrap, or made by an admin's reset): the console
	// lets such a user do nothing but choose a new one.
	MustChangePassword bool
	DisabledAt         *time.Time
	// PasswordChangedAt ends every session begun before it.
	PasswordChangedAt time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Active reports whether the user may sign in.
func (u User) Active() bool { return u.DisabledAt == nil }

func userFromRow(r dbsqlc.User) User {
	return User{ID: r.ID, Email: r.Email, Name: r.Name, Role: outreach.Role(r.Role), MustChangePassword: r.MustChangePassword,
		DisabledAt: r.DisabledAt, PasswordChangedAt: r.PasswordChangedAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// auditUser is what the audit log records of a user: never a hash.
func auditUser(u dbsqlc.User) map[string]any {
	return map[string]any{"email": u.Email, "name": u.Name, "role": u.Role, "disabled": u.DisabledAt != nil}
}

// normalizeUserEmail lower-cases a sign-in address. It is looser than
// outreach.NormalizeEmail, which is for addresses mail is sent to: a
// console login such as admin@localhost need not be deliverable.
func normalizeUserEmail(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 3 || len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>\"") {
		return "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", false
	}
	return strings.ToLower(s), true
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Email, Name string
	Role        outreach.Role
}

// CreateUser adds a console user with a one-time password, which it
// returns (it is shown once; only its hash is kept) and which the user
// must replace at the first sign-in. An address already used, in any
// case, is a conflict on the field "email".
func (s *Store) CreateUser(ctx context.Context, actor string, in NewUser) (string, User, error) {
	var fields []outreach.FieldError
	email, ok := normalizeUserEmail(in.Email)
	if !ok {
		fields = append(fields, outreach.FieldError{Field: "email", Message: "must be an email address such as ada@example.com"})
	}
	name := strings.TrimSpace(in.Name)
	if name == "" || len([]rune(name)) > 200 {
		fields = append(fields, outreach.FieldError{Field: "name", Message: "is required (at most 200 characters)"})
	}
	if !in.Role.Valid() {
		fields = append(fields, outreach.FieldError{Field: "role", Message: "must be admin, marketer or viewer"})
	}
	if len(fields) > 0 {
		return "", User{}, outreach.Invalid(fields...)
	}
	plain := oneTimePassword()
	hash, err := hashPassword(plain)
	if err != nil {
		return "", User{}, err
	}
	var out User
	err = s.InTx(ctx, func(tx *Tx) error {
		row, err := tx.q.UserInsert(ctx, dbsqlc.UserInsertParams{Email: email, Name: name, Role: string(in.Role),
			PasswordHash: hash, MustChangePassword: true, Now: tx.Now()})
		if err != nil {
			return err
		}
		out = userFromRow(row)
		return tx.Audit(ctx, actor, "create", "user", email, nil, auditUser(row))
	})
	if err != nil {
		return "", User{}, mapError("create user", err)
	}
	return plain, out, nil
}

// UserByID returns a user, disabled or not; ENOTFOUND if there is none.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	row, err := s.q.UserByID(ctx, id)
	if err != nil {
		return User{}, mapError("user", err)
	}
	return userFromRow(row), nil
}

// UserByEmail finds a user by address, in any case.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	row, err := s.q.UserByEmail(ctx, strings.TrimSpace(email))
	if err != nil {
		return User{}, mapError("user "+strings.TrimSpace(email), err)
	}
	return userFromRow(row), nil
}

// Users lists users in id order after afterID.
func (s *Store) Users(ctx context.Context, afterID int64, limit int) ([]User, error) {
	rows, err := s.q.UserList(ctx, dbsqlc.UserListParams{AfterID: afterID, Lim: int32(limit)})
	if err != nil {
		return nil, mapError("list users", err)
	}
	out := make([]User, len(rows))
	for i, r := range rows {
		out[i] = userFromRow(r)
	}
	return out, nil
}

// UserCount is the number of users, disabled ones included; `serve`
// creates the first admin only when there is none.
func (s *Store) UserCount(ctx context.Context) (int64, error) {
	n, err := s.q.UserCount(ctx)
	return n, mapError("count users", err)
}

// SetUserRole changes a user's role. The last active admin cannot stop
// being one: nobody could then manage users.
func (s *Store) SetUserRole(ctx context.Context, actor string, id int64, role outreach.Role) (User, error) {
	if !role.Valid() {
		return User{}, outreach.Invalid(outreach.FieldError{Field: "role", Message: "must be admin, marketer or viewer"})
	}
	return s.changeUser(ctx, "change role", actor, id, func(tx *Tx, u dbsqlc.User) (dbsqlc.User, string, error) {
		if u.Role == string(role) {
			return u, "", nil
		}
		if role != outreach.RoleAdmin {
			if err := tx.keepAnAdmin(ctx, u); err != nil {
				return u, "", err
			}
		}
		row, err := tx.q.UserSetRole(ctx, dbsqlc.UserSetRoleParams{ID: u.ID, Role: string(role), Now: tx.Now()})
		return row, "change_role", err
	})
}

// SetUserDisabled disables a user (their sessions end at their next
// request) or enables them again. The last active admin cannot be
// disabled.
func (s *Store) SetUserDisabled(ctx context.Context, actor string, id int64, disabled bool) (User, error) {
	return s.changeUser(ctx, "disable user", actor, id, func(tx *Tx, u dbsqlc.User) (dbsqlc.User, string, error) {
		if (u.DisabledAt != nil) == disabled {
			return u, "", nil
		}
		var at *time.Time
		action := "enable"
		if disabled {
			if err := tx.keepAnAdmin(ctx, u); err != nil {
				return u, "", err
			}
			now := tx.Now()
			at, action = &now, "disable"
		}
		row, err := tx.q.UserSetDisabled(ctx, dbsqlc.UserSetDisabledParams{ID: u.ID, DisabledAt: at, Now: tx.Now()})
		return row, action, err
	})
}

// changeUser runs one change to a user under the users lock and audits
// it; change returns the action to record, "" when nothing changed.
func (s *Store) changeUser(ctx context.Context, op, actor string, id int64,
	change func(tx *Tx, u dbsqlc.User) (dbsqlc.User, string, error)) (User, error) {
	var out User
	err := s.InTx(ctx, func(tx *Tx) error {
		if err := tx.q.UsersLock(ctx); err != nil {
			return err
		}
		before, err := tx.q.UserGetForUpdate(ctx, id)
		if err != nil {
			return err
		}
		after, action, err := change(tx, before)
		if err != nil {
			return err
		}
		out = userFromRow(after)
		if action == "" {
			return nil
		}
		return tx.Audit(ctx, actor, action, "user", before.Email, auditUser(before), auditUser(after))
	})
	return out, mapError(op, err)
}

// keepAnAdmin refuses a change that would leave no active admin user.
func (t *Tx) keepAnAdmin(ctx context.Context, u dbsqlc.User) error {
	if u.Role != string(outreach.RoleAdmin) || u.DisabledAt != nil {
		return nil
	}
	n, err := t.q.AdminUsersActive(ctx)
	if err != nil {
		return err
	}
	if n <= 1 {
		return conflictf("%s is the last active admin; make another user an admin first", u.Email)
	}
	return nil
}
