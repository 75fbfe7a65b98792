package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
)

// movingClock is a clock a test sets.
type movingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *movingClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *movingClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func userStore(t *testing.T) (*postgres.Store, *movingClock) {
	t.Helper()
	clock := &movingClock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	return postgres.NewStore(pgtest.Pool(t), clock), clock
}

func fieldsOf(t *testing.T, err error) map[string]string {
	t.Helper()
	var oe *outreach.Error
	require.ErrorAs(t, err, &oe)
	out := map[string]string{}
	for _, f := range oe.Fields {
		out[f.Field] = f.Message
	}
	return out
}

func TestUsersCreateAndSignIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := userStore(t)

	pw, u, err := s.CreateUser(ctx, "user:boss@example.com", postgres.NewUser{Email: " Ada@Example.COM ", Name: "Ada", Role: outreach.RoleMarketer})
	require.NoError(t, err)
	require.Equal(t, "ada@example.com", u.Email)
	require.True(t, u.MustChangePassword, "a one-time password must be replaced")
	require.Regexp(t, `^[a-z0-9]{4}(-[a-z0-9]{4}){4}$`, pw)

	got, err := s.SignIn(ctx, "ADA@example.com", pw, "192.0.2.1", postgres.LoginLimits{})
	require.NoError(t, err, "the address matches in any case")
	require.Equal(t, u.ID, got.ID)
	_, err = s.SignIn(ctx, "ada@example.com", pw+"x", "192.0.2.1", postgres.LoginLimits{})
	require.Equal(t, outreach.EUNAUTHORIZED, outreach.ErrorCode(err))
	_, err2 := s.SignIn(ctx, "nobody@example.com", pw, "192.0.2.1", postgres.LoginLimits{})
	require.Equal(t, err.Error(), err2.Error(), "no account and a wrong password answer alike")

	_, _, err = s.CreateUser(ctx, "test", postgres.NewUser{Email: "ADA@example.com", Name: "Twin", Role: outreach.RoleViewer})
	require.Equal(t, outreach.ECONFLICT, outreach.ErrorCode(err))
	require.Contains(t, fieldsOf(t, err), "email", "an address taken in another case")
	_, _, err = s.CreateUser(ctx, "test", postgres.NewUser{Email: "not an address", Name: "", Role: "root"})
	require.Equal(t, []string{"email", "name", "role"}, keys(fieldsOf(t, err)))
	_, _, err = s.CreateUser(ctx, "test", postgres.NewUser{Email: "admin@localhost", Name: "Admin", Role: outreach.RoleAdmin})
	require.NoError(t, err, "a console login need not be deliverable")

	entries, err := s.Audit(ctx, postgres.AuditFilter{Entity: "user", Limit: 10})
	require.NoError(t, err)
	require.Len(t, entries, 2)
	require.Equal(t, "user:boss@example.com", entries[1].Actor)
	require.NotContains(t, string(entries[1].After), "argon2", "the audit log never holds a hash")
}

func keys(m map[string]string) []string {
	var out []string
	for _, k := range []string{"email", "name", "role", "password", "current_password", "new_password"} {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

func TestSignInLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clock := userStore(t)
	pw, _, err := s.CreateUser(ctx, "test", postgres.NewUser{Email: "ada@example.com", Name: "Ada", Role: outreach.RoleViewer})
	require.NoError(t, err)
	lim := postgres.LoginLimits{PerAccount: 5, PerIP: 20, Window: 15 * time.Minute}
	var tooMany *postgres.TooManyAttempts

	// Five failures, a minute apart, block the account, even for the
	// right password, until the oldest of them is 15 minutes old.
	for i := range 5 {
		_, err := s.SignIn(ctx, "ada@example.com", "wrong password "+string(rune('a'+i)), "192.0.2.1", lim)
		require.Equal(t, outreach.EUNAUTHORIZED, outreach.ErrorCode(err))
		clock.Add(time.Minute)
	}
	_, err = s.SignIn(ctx, "ada@example.com", pw, "192.0.2.9", lim)
	require.ErrorAs(t, err, &tooMany)
	require.True(t, tooMany.Account)
	require.Equal(t, 10*time.Minute, tooMany.RetryAfter)
	clock.Add(10 * time.Minute)
	_, err = s.SignIn(ctx, "ada@example.com", pw, "192.0.2.9", lim)
	require.NoError(t, err, "the oldest failure has aged out")

	// A success clears the account's failures …
	for range 4 {
		_, err := s.SignIn(ctx, "ada@example.com", "wrong password!", "192.0.2.2", lim)
		require.Equal(t, outreach.EUNAUTHORIZED, outreach.ErrorCode(err))
	}
	_, err = s.SignIn(ctx, "ada@example.com", pw, "192.0.2.2", lim)
	require.NoError(t, err)
	_, err = s.SignIn(ctx, "ada@example.com", "wrong password!", "192.0.2.2", lim)
	require.Equal(t, outreach.EUNAUTHORIZED, outreach.ErrorCode(err), "four old failures were cleared by the success")

	// … but not the client address's: 20 failures from one address, over
	// many accounts (most of them not existing), block it for every account.
	for i := range 15 {
		_, err := s.SignIn(ctx, "guess"+string(rune('a'+i))+"@example.com", "wrong password!", "192.0.2.2", lim)
		require.Equal(t, outreach.EUNAUTHORIZED, outreach.ErrorCode(err), "attempt %d", i)
	}
	_, err = s.SignIn(ctx, "ada@example.com", pw, "192.0.2.2", lim)
	require.ErrorAs(t, err, &tooMany)
	require.False(t, tooMany.Account, "the address's limit")
	_, err = s.SignIn(ctx, "ada@example.com", pw, "192.0.2.3", lim)
	require.NoError(t, err, "another address is not blocked")

	// An address without an account is limited exactly like one with.
	for range 5 {
		_, err := s.SignIn(ctx, "ghost@example.com", "wrong password!", "198.51.100.1", lim)
		require.Equal(t, outreach.EUNAUTHORIZED, outreach.ErrorCode(err))
	}
	_, err = s.SignIn(ctx, "ghost@example.com", "wrong password!", "198.51.100.1", lim)
	require.ErrorAs(t, err, &tooMany)
	require.True(t, tooMany.Account)
}

// TestSignInLimitHoldsUnderConcurrency: guesses sent at once are all
// counted, so exactly the limit get a password check.
func TestSignInLimitHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := userStore(t)
	_, _, err := s.CreateUser(ctx, "test", postgres.NewUser{Email: "ada@example.com", Name: "Ada", Role: outreach.RoleViewer})
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for range 12 {
		wg.Go(func() {
			_, err := s.SignIn(ctx, "ada@example.com", "wrong password!", "192.0.2.1", postgres.LoginLimits{PerAccount: 5})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	checked, limited := 0, 0
	for err := range errs {
		var tooMany *postgres.TooManyAttempts
		switch {
		case errors.As(err, &tooMany):
			limited++
		case outreach.ErrorCode(err) == outreach.EUNAUTHORIZED:
			checked++
		default:
			t.Fatalf("unexpected %v", err)
		}
	}
	require.Equal(t, 5, checked)
	require.Equal(t, 7, limited)
}

func TestLastAdminStays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := userStore(t)
	_, a, err := s.CreateUser(ctx, "test", postgres.NewUser{Email: "a@example.com", Name: "A", Role: outreach.RoleAdmin})
	require.NoError(t, err)
	pwB, b, err := s.CreateUser(ctx, "test", postgres.NewUser{Email: "b@example.com", Name: "B", Role: outreach.RoleAdmin})
	require.NoError(t, err)

	b, err = s.SetUserRole(ctx, "user:a@example.com", b.ID, outreach.RoleMarketer)
	require.NoError(t, err)
	require.Equal(t, outreach.RoleMarketer, b.Role)
	_, err = s.SetUserRole(ctx, "user:a@example.com", a.ID, outreach.RoleViewer)
	require.Equal(t, outreach.ECONFLICT, outreach.ErrorCode(err), "a is the last admin")
	_, err = s.SetUserDisabled(ctx, "user:a@example.com", a.ID, true)
	require.Equal(t, outreach.ECONFLICT, outreach.ErrorCode(err))
	_, err = s.SetUserRole(ctx, "test", a.ID, "root")
	require.Contains(t, fieldsOf(t, err), "role")

	b, err = s.SetUserDisabled(ctx, "user:a@example.com", b.ID, true)
	require.NoError(t, err)
	require.False(t, b.Active())
	_, err = s.SignIn(ctx, "b@example.com", pwB, "192.0.2.1", postgres.LoginLimits{})
	require.Equal(t, outreach.EUNAUTHORIZED, outreach.ErrorCode(err), "a disabled user cannot sign in")
	b, err = s.SetUserDisabled(ctx, "user:a@example.com", b.ID, false)
	require.NoError(t, err)
	_, err = s.SignIn(ctx, "b@example.com", pwB, "192.0.2.1", postgres.LoginLimits{})
	require.NoError(t, err)

	entries, err := s.Audit(ctx, postgres.AuditFilter{Actor: "user:a@example.com", Limit: 10})
	require.NoError(t, err)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	require.Equal(t, []string{"enable", "disable", "change_role"}, actions, "refused changes are not audited")
}

func TestPasswords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clock := userStore(t)
	pw, u, err := s.CreateUser(ctx, "test", postgres.NewUser{Email: "ada@example.com", Name: "Ada", Role: outreach.RoleViewer})
	require.NoError(t, err)

	_, err = s.ChangePassword(ctx, "user:ada@example.com", u.ID, "not it at all", "short")
	require.Equal(t, []string{"current_password", "new_password"}, keys(fieldsOf(t, err)))
	_, err = s.ChangePassword(ctx, "user:ada@example.com", u.ID, pw, pw)
	require.Equal(t, "must differ from the current password", fieldsOf(t, err)["new_password"])
	long := string(make([]rune, 257))
	_, err = s.ChangePassword(ctx, "user:ada@example.com", u.ID, pw, long)
	require.Contains(t, fieldsOf(t, err)["new_password"], "at most 256")

	clock.Add(time.Minute)
	const mine = "correct horse battery staple"
	changed, err := s.ChangePassword(ctx, "user:ada@example.com", u.ID, pw, mine)
	require.NoError(t, err)
	require.False(t, changed.MustChangePassword)
	require.True(t, changed.PasswordChangedAt.After(u.PasswordChangedAt))
	_, err = s.SignIn(ctx, "ada@example.com", pw, "192.0.2.1", postgres.LoginLimits{})
	require.Error(t, err, "the one-time password no longer works")
	_, err = s.SignIn(ctx, "ada@example.com", mine, "192.0.2.1", postgres.LoginLimits{})
	require.NoError(t, err)

	_, err = s.SetPassword(ctx, "cli", u.ID, "too short")
	require.Contains(t, fieldsOf(t, err), "password")
	_, err = s.SetPassword(ctx, "cli", u.ID, "twelve chars")
	require.NoError(t, err, "twelve characters, nothing else asked")

	again, reset, err := s.ResetPassword(ctx, "user:boss@example.com", u.ID)
	require.NoError(t, err)
	require.True(t, reset.MustChangePassword)
	_, err = s.SignIn(ctx, "ada@example.com", again, "192.0.2.1", postgres.LoginLimits{})
	require.NoError(t, err)

	entries, err := s.Audit(ctx, postgres.AuditFilter{Entity: "user", EntityID: "ada@example.com", Limit: 10})
	require.NoError(t, err)
	require.Equal(t, "reset_password", entries[0].Action)
	require.Equal(t, "set_password", entries[1].Action)
	require.Equal(t, "change_password", entries[2].Action)
	for _, e := range entries {
		require.NotContains(t, string(e.After), again)
		require.NotContains(t, string(e.After), mine)
	}
}

func TestAuditFilter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clock := userStore(t)
	start := clock.Now()
	_, _, err := s.CreateKey(ctx, "user:ada@example.com", "one", outreach.RoleViewer)
	require.NoError(t, err)
	clock.Add(24 * time.Hour)
	_, k, err := s.CreateKey(ctx, "user:bob@example.com", "two", outreach.RoleViewer)
	require.NoError(t, err)
	require.NoError(t, s.RevokeKey(ctx, "user:ada@example.com", k.ID))

	list := func(f postgres.AuditFilter) []string {
		f.Limit = 10
		entries, err := s.Audit(ctx, f)
		require.NoError(t, err)
		var out []string
		for _, e := range entries {
			out = append(out, e.Actor+" "+e.Action)
		}
		return out
	}
	require.Equal(t, []string{"user:ada@example.com revoke", "user:ada@example.com create"}, list(postgres.AuditFilter{Actor: "user:ada@example.com"}))
	require.Equal(t, []string{"user:ada@example.com revoke"}, list(postgres.AuditFilter{Action: "revoke"}))
	dayTwo := start.Add(24 * time.Hour)
	require.Equal(t, []string{"user:ada@example.com revoke", "user:bob@example.com create"}, list(postgres.AuditFilter{Since: &dayTwo}))
	require.Equal(t, []string{"user:ada@example.com create"}, list(postgres.AuditFilter{Until: &dayTwo}))
	require.Empty(t, list(postgres.AuditFilter{Actor: "user:bob@example.com", Action: "revoke"}))
}
