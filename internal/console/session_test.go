package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/console"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

func cookieOf(t *testing.T, p page) *http.Cookie {
	t.Helper()
	for _, line := range p.Header.Values("Set-Cookie") {
		ck, err := http.ParseSetCookie(line)
		require.NoError(t, err)
		if ck.Name == "rapport_console" {
			return ck
		}
	}
	return nil
}

// TestSessionCookieAndFixation: the cookie is HttpOnly, SameSite=Lax,
// for /console only, and gets a new value at sign-in; the old value opens
// nothing. Signing out deletes the session.
func TestSessionCookieAndFixation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	email := b.user(outreach.RoleViewer)
	c := b.client()
	p := c.get("/console/sign-in")
	before := cookieOf(t, p)
	require.NotNil(t, before, "the sign-in form's session")
	require.True(t, before.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, before.SameSite)
	require.Equal(t, "/console", before.Path)
	require.False(t, before.Secure, "served over http")

	p = c.post("/console/sign-in", url.Values{"email": {email}, "password": {password}})
	require.Equal(t, http.StatusSeeOther, p.Status)
	after := cookieOf(t, p)
	require.NotNil(t, after)
	require.NotEqual(t, before.Value, after.Value, "a new token at sign-in")

	planted := b.client()
	u, _ := url.Parse(b.srv.URL + "/console/")
	planted.http.Jar.SetCookies(u, []*http.Cookie{{Name: "rapport_console", Value: before.Value, Path: "/console"}})
	require.Equal(t, http.StatusSeeOther, planted.get("/console/").Status, "the pre-sign-in token opens nothing")

	var stored string
	require.NoError(t, b.db.QueryRow(context.Background(), "SELECT token FROM sessions LIMIT 1").Scan(&stored))
	require.NotEqual(t, after.Value, stored, "the table holds hashes of tokens, not tokens")

	c.get("/console/")
	p = c.post("/console/sign-out", nil)
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, "/console/sign-in", p.Location)
	require.Contains(t, c.get("/console/sign-in").Body, "You are signed out.")
	stolen := b.client()
	stolen.http.Jar.SetCookies(u, []*http.Cookie{{Name: "rapport_console", Value: after.Value, Path: "/console"}})
	require.Equal(t, http.StatusSeeOther, stolen.get("/console/").Status, "a signed-out session is gone from the database")
}

func TestSecureCookieOverHTTPS(t *testing.T) {
	t.Parallel()
	public, _ := url.Parse("https://rapport.example.com")
	b := setup(t, func(d *console.Deps) { d.PublicURL = public })
	ck := cookieOf(t, b.client().get("/console/sign-in"))
	require.NotNil(t, ck)
	require.True(t, ck.Secure)
}

// TestSessionsExpire with a 1 s idle timeout and a 3 s lifetime: an idle
// session ends, and a busy one ends at its lifetime all the same.
func TestSessionsExpire(t *testing.T) {
	t.Parallel()
	b := setup(t, func(d *console.Deps) { d.IdleTimeout, d.Lifetime = time.Second, 3*time.Second })
	email := b.user(outreach.RoleViewer)

	idle := b.client()
	idle.signIn(email, password)
	time.Sleep(1500 * time.Millisecond)
	require.Equal(t, http.StatusSeeOther, idle.get("/console/").Status, "idle for longer than the timeout")

	busy := b.client()
	busy.signIn(email, password)
	start := time.Now()
	for time.Since(start) < 2500*time.Millisecond {
		require.Equal(t, http.StatusOK, busy.get("/console/").Status, "kept alive by use at %s", time.Since(start))
		time.Sleep(400 * time.Millisecond)
	}
	time.Sleep(time.Until(start.Add(3200 * time.Millisecond)))
	require.Equal(t, http.StatusSeeOther, busy.get("/console/").Status, "past the lifetime however busy")
}

// TestChangesApplyAtTheNextRequest: disabling a user, changing their role
// or resetting their password counts at their very next request.
func TestChangesApplyAtTheNextRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	c, email := b.as(outreach.RoleAdmin)
	u, err := b.store.UserByEmail(ctx, email)
	require.NoError(t, err)
	b.user(outreach.RoleAdmin) // so this one is not the last admin

	require.Equal(t, http.StatusOK, c.get("/console/users").Status)
	_, err = b.store.SetUserRole(ctx, "test", u.ID, outreach.RoleViewer)
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, c.get("/console/users").Status, "the new role, at once")
	require.Equal(t, http.StatusOK, c.get("/console/").Status, "still signed in")
	_, err = b.store.SetUserRole(ctx, "test", u.ID, outreach.RoleAdmin)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, c.get("/console/users").Status)

	_, err = b.store.SetUserDisabled(ctx, "test", u.ID, true)
	require.NoError(t, err)
	p := c.get("/console/users")
	require.Equal(t, http.StatusSeeOther, p.Status, "a disabled user is signed out")
	require.True(t, strings.HasPrefix(p.Location, "/console/sign-in"))
	_, err = b.store.SetUserDisabled(ctx, "test", u.ID, false)
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, c.get("/console/").Status, "enabling does not revive the old session")

	c.signIn(email, password)
	_, _, err = b.store.ResetPassword(ctx, "test", u.ID)
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, c.get("/console/").Status, "a reset password ends the session")
}

// TestOneTimePasswordMustBeReplaced: a user with a one-time password can
// do nothing but choose their own; a bad choice comes back with the error
// next to the field and changes nothing.
func TestOneTimePasswordMustBeReplaced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	pw, u, err := b.store.CreateUser(ctx, "test", postgres.NewUser{Email: "new@example.com", Name: "New", Role: outreach.RoleAdmin})
	require.NoError(t, err)
	c := b.client()
	c.get("/console/sign-in?next=%2Fconsole%2Fkeys")
	p := c.post("/console/sign-in", url.Values{"email": {"new@example.com"}, "password": {pw}, "next": {"/console/keys"}})
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, "/console/password?next=%2Fconsole%2Fkeys", p.Location)
	p = c.get("/console/users")
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, "/console/password?next=%2Fconsole%2Fusers", p.Location, "nothing else first")
	p = c.get("/console/password?next=%2Fconsole%2Fkeys")
	require.Contains(t, p.Body, "You signed in with a one-time password.")
	keys := b.count("api_keys")
	p = c.post("/console/keys", url.Values{"name": {"x"}, "role": {"viewer"}})
	require.Equal(t, http.StatusForbidden, p.Status)
	require.Contains(t, p.Body, "Choose your own password first")
	require.Equal(t, keys, b.count("api_keys"))
	p = c.post("/console/password", url.Values{"current_password": {pw}, "new_password": {"too short"}, "confirm_password": {"too short"}, "next": {"/console/keys"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.Body, `id="f-new-password-error"><strong>Error:</strong> must be at least 12 characters long`)
	require.Contains(t, p.Body, `aria-describedby="f-new-password-hint f-new-password-error" aria-invalid="true"`)
	require.NotContains(t, p.Body, "too short", "passwords are never sent back")
	still, err := b.store.UserByID(ctx, u.ID)
	require.NoError(t, err)
	require.True(t, still.MustChangePassword, "nothing changed")

	p = c.post("/console/password", url.Values{"current_password": {pw}, "new_password": {password}, "confirm_password": {password}, "next": {"/console/keys"}})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(t, "/console/keys", p.Location)
	p = c.get("/console/keys")
	require.Equal(t, http.StatusOK, p.Status, "this session stays signed in")
	require.Contains(t, p.Body, "Your password is changed.")
	require.Equal(t, []string{"change_password user"}, b.audited("user:new@example.com"))
}

// TestSignInLimits: five failures (here three) block an account, twenty
// (here five) a client address; the message says so and when to retry;
// a success does not clear the address's failures; and the answer never
// says whether an account exists.
func TestSignInLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, func(d *console.Deps) {
		d.LoginLimits = postgres.LoginLimits{PerAccount: 3, PerIP: 5, Window: 15 * time.Minute}
	})
	email := b.user(outreach.RoleViewer)
	signIn := func(c *client, email, pw string) page {
		c.get("/console/sign-in")
		return c.post("/console/sign-in", url.Values{"email": {email}, "password": {pw}})
	}

	a := b.client()
	a.ip = "192.0.2.1"
	wrong := signIn(a, email, "not the password")
	missing := signIn(a, "nobody@example.com", "not the password")
	require.Equal(t, http.StatusUnauthorized, wrong.Status)
	require.Equal(t, wrong.Status, missing.Status)
	require.Equal(t, strings.ReplaceAll(wrong.Body, email, "EMAIL"), strings.ReplaceAll(missing.Body, "nobody@example.com", "EMAIL"),
		"an unknown address and a wrong password read the same")

	b2 := b.client()
	b2.ip = "192.0.2.2"
	signIn(b2, email, "not the password")
	signIn(b2, email, "not the password") // the account's third failure
	p := signIn(b2, email, password)
	require.Equal(t, http.StatusTooManyRequests, p.Status)
	require.Contains(t, p.Body, "Too many sign-in attempts for this account; try again in 15 minutes.")
	require.Equal(t, "900", p.Header.Get("Retry-After"))

	// A client address: five failures over any accounts.
	c := b.client()
	c.ip = "198.51.100.7"
	other := b.user(outreach.RoleViewer)
	for i := range 4 {
		require.Equal(t, http.StatusUnauthorized, signIn(c, "guess"+string(rune('a'+i))+"@example.com", "x").Status)
	}
	require.Equal(t, http.StatusSeeOther, signIn(c, other, password).Status, "the fifth attempt succeeds")
	c.get("/console/")
	require.Equal(t, http.StatusSeeOther, c.post("/console/sign-out", nil).Status)
	require.Equal(t, http.StatusUnauthorized, signIn(c, "guesse@example.com", "x").Status, "the fifth failure")
	p = signIn(c, other, password)
	require.Equal(t, http.StatusTooManyRequests, p.Status, "the success did not clear the address")
	require.Contains(t, p.Body, "Too many sign-in attempts for your network address; try again in 15 minutes.")
}
