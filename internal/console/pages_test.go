package console_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/console"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/throttle"
)

// requireFieldError checks that a page shows msg next to the control with
// id, which says it is invalid and points at the message, and that the
// summary at the top links to it.
func requireFieldError(t *testing.T, p page, id, msg string) {
	t.Helper()
	require.Contains(t, p.Body, `<p class="error" id="`+id+`-error"><strong>Error:</strong> `+msg)
	control := regexp.MustCompile(`<(input|select) id="` + id + `"[^>]*>`).FindString(p.Body)
	require.NotEmpty(t, control, "control %s", id)
	require.Contains(t, control, `aria-invalid="true"`)
	require.Regexp(t, `aria-describedby="[^"]*`+id+`-error`, control)
	require.Contains(t, p.Body, `<div class="error-summary" role="alert"`)
	require.Contains(t, p.Body, `<a href="#`+id+`">`)
}

// TestUsersPages: an admin creates a user (their one-time password shown
// once), changes their role, disables and enables them and resets their
// password, each audited under the admin's name; bad input comes back
// with the values kept and writes nothing; the last admin cannot demote
// or disable themselves.
func TestUsersPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, admin := b.as(outreach.RoleAdmin)
	actor := "user:" + admin

	users, audit := b.count("users"), b.count("audit_log")
	c.get("/console/users/new")
	p := c.post("/console/users", url.Values{"email": {"not an address"}, "name": {"Grace Hopper"}, "role": {"marketer"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	requireFieldError(t, p, "f-email", "must be an email address such as ada@example.com")
	require.Contains(t, p.Body, `value="Grace Hopper"`, "values are kept")
	require.Contains(t, p.Body, `<option value="marketer" selected>`)
	require.Equal(t, users, b.count("users"), "nothing written")
	require.Equal(t, audit, b.count("audit_log"))

	p = c.post("/console/users", url.Values{"email": {"Grace@Example.com"}, "name": {"Grace Hopper"}, "role": {"marketer"}})
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "grace@example.com")
	pw := regexp.MustCompile(`<code id="secret">([^<]+)</code>`).FindStringSubmatch(p.Body)
	require.Len(t, pw, 2, "the one-time password is shown")
	grace, err := b.store.UserByEmail(context.Background(), "grace@example.com")
	require.NoError(t, err)
	p = c.get("/console/users")
	require.Contains(t, p.Body, "Grace Hopper")
	require.Contains(t, p.Body, "Has a one-time password")
	require.NotContains(t, p.Body, pw[1], "shown once only")

	dup := c.post("/console/users", url.Values{"email": {"GRACE@example.com"}, "name": {"Twin"}, "role": {"viewer"}})
	require.Equal(t, http.StatusUnprocessableEntity, dup.Status)
	requireFieldError(t, dup, "f-email", "already used by another user")

	path := "/console/users/" + itoa(grace.ID)
	c.get(path)
	p = c.post(path+"/role", url.Values{"role": {"admin"}})
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Contains(t, c.get(path).Body, "Grace Hopper is now admin.")

	p = c.post(path+"/disable", nil)
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, path+"/disable", p.Location, "an unconfirmed POST asks first")
	p = c.get(path + "/disable")
	require.Contains(t, p.Body, "Disable Grace Hopper?")
	require.Equal(t, http.StatusSeeOther, c.post(path+"/disable", url.Values{"confirm": {"yes"}}).Status)
	p = c.get(path)
	require.Contains(t, p.Body, "Grace Hopper is disabled.")
	require.Equal(t, http.StatusSeeOther, c.post(path+"/enable", nil).Status)
	c.get(path + "/reset-password")
	p = c.post(path+"/reset-password", url.Values{"confirm": {"yes"}})
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "Grace Hopper’s new one-time password")

	me, err := b.store.UserByEmail(context.Background(), admin)
	require.NoError(t, err)
	mine := "/console/users/" + itoa(me.ID)
	c.get(path)
	c.post(path+"/role", url.Values{"role": {"viewer"}})
	c.get(mine)
	p = c.post(mine+"/role", url.Values{"role": {"viewer"}})
	require.Equal(t, http.StatusConflict, p.Status, "the last admin cannot demote themselves")
	require.Contains(t, p.Body, admin+" is the last active admin; make another user an admin first")
	c.get(mine + "/disable")
	p = c.post(mine+"/disable", url.Values{"confirm": {"yes"}})
	require.Equal(t, http.StatusConflict, p.Status)
	require.Contains(t, p.Body, "is the last active admin")

	require.Equal(t, []string{"change_role user", "reset_password user", "enable user", "disable user", "change_role user", "create user"},
		b.audited(actor))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestKeysPages: a key is shown once; revoking asks first; the last admin
// key cannot be revoked, and the page says so.
func TestKeysPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, admin := b.as(outreach.RoleAdmin)
	c.get("/console/keys/new")
	p := c.post("/console/keys", url.Values{"name": {""}, "role": {"root"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	requireFieldError(t, p, "f-name", "is required")
	requireFieldError(t, p, "f-role", "must be admin, marketer or viewer")
	require.Zero(t, b.count("api_keys"))

	p = c.post("/console/keys", url.Values{"name": {"CRM sync"}, "role": {"admin"}})
	require.Equal(t, http.StatusOK, p.Status)
	key := regexp.MustCompile(`rpk_[0-9a-f]{16}_[A-Za-z0-9_-]+`).FindString(p.Body)
	require.NotEmpty(t, key, "the key is shown")
	_, err := b.store.Authenticate(context.Background(), key)
	require.NoError(t, err, "and it works")
	p = c.get("/console/keys")
	require.Contains(t, p.Body, "CRM sync")
	require.NotContains(t, p.Body, key, "shown once only")

	k, err := b.store.Authenticate(context.Background(), key)
	require.NoError(t, err)
	revoke := "/console/keys/" + itoa(k.ID) + "/revoke"
	p = c.get(revoke)
	require.Contains(t, p.Body, "Revoke the API key “CRM sync”?")
	p = c.post(revoke, url.Values{"confirm": {"yes"}})
	require.Equal(t, http.StatusConflict, p.Status, "the only admin key")
	require.Contains(t, p.Body, "This is the last admin key; create another admin key first")

	c.post("/console/keys", url.Values{"name": {"spare"}, "role": {"admin"}})
	c.get(revoke)
	p = c.post(revoke, url.Values{"confirm": {"yes"}})
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Contains(t, c.get("/console/keys").Body, "The API key “CRM sync” is revoked.")
	_, err = b.store.Authenticate(context.Background(), key)
	require.Error(t, err)
	require.Equal(t, []string{"revoke api_key", "create api_key", "create api_key"}, b.audited("user:"+admin))
}

// TestThrottlesPage: a bad rate comes back next to its field (the
// limiter's own field errors, "domains.<name>" on that domain's line),
// with the values kept and nothing written; a good one is saved.
func TestThrottlesPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, admin := b.as(outreach.RoleAdmin)
	c.get("/console/throttles")
	audit := b.count("audit_log")
	form := func(global, d0, r0, d1, r1 string) url.Values {
		return url.Values{"global_per_second": {global}, "domain.0": {d0}, "rate.0": {r0}, "domain.1": {d1}, "rate.1": {r1},
			"domain.2": {""}, "rate.2": {""}}
	}
	p := c.post("/console/throttles", form("-5", "gmail.com", "20", "not a domain", "3"))
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	requireFieldError(t, p, "f-global-per-second", "must not be negative (0 means no limit)")
	require.Contains(t, p.Body, `id="f-domain-1-error"><strong>Error:</strong> not a valid domain name`)
	require.Contains(t, p.Body, `value="not a domain"`)
	require.Contains(t, p.Body, `value="-5"`)
	p = c.post("/console/throttles", form("100", "gmail.com", "fast", "", ""))
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.Body, "the rate for gmail.com must be a number such as 20")
	require.Contains(t, p.Body, `value="fast"`)
	require.Equal(t, audit, b.count("audit_log"), "nothing written")

	p = c.post("/console/throttles", form("200", "Gmail.com", "20", "", ""))
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	s, err := throttle.New(b.store, nil, throttle.Config{}).Get(context.Background())
	require.NoError(t, err)
	require.Equal(t, 200.0, s.GlobalPerSecond)
	require.Equal(t, map[string]float64{"gmail.com": 20}, s.Domains)
	p = c.get("/console/throttles")
	require.Contains(t, p.Body, "The throttles are saved")
	require.Contains(t, p.Body, `value="gmail.com"`)

	f := url.Values{"global_per_second": {"200"}, "domain.0": {"gmail.com"}, "rate.0": {"20"}, "remove.0": {"yes"}, "existing.0": {"yes"}}
	require.Equal(t, http.StatusSeeOther, c.post("/console/throttles", f).Status)
	s, err = throttle.New(b.store, nil, throttle.Config{}).Get(context.Background())
	require.NoError(t, err)
	require.Empty(t, s.Domains, "removed")
	require.Equal(t, []string{"update throttles", "update throttles"}, b.audited("user:"+admin))
}

// TestSuppressionsPages: a marketer suppresses an address (the one
// suppression path, audited as them) and finds it; an admin removes it
// after confirming.
func TestSuppressionsPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m, marketer := b.as(outreach.RoleMarketer)
	m.get("/console/suppressions")
	p := m.post("/console/suppressions", url.Values{"email": {"nope"}, "reason": {"manual"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	requireFieldError(t, p, "f-email", "must be a valid email address")
	require.Zero(t, b.count("suppressions"))
	p = m.post("/console/suppressions", url.Values{"email": {"ada@example.com"}, "reason": {"erased"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status, "erasure is not a reason a person gives")
	requireFieldError(t, p, "f-reason", "choose one of the reasons listed")

	p = m.post("/console/suppressions", url.Values{"email": {"Ada@Example.com"}, "reason": {"complaint"}})
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, "/console/suppressions?q=ada%40example.com", p.Location)
	p = m.get(p.Location)
	require.Contains(t, p.Body, "ada@example.com is suppressed (complaint)")
	require.Contains(t, p.Body, `<th scope="row">ada@example.com</th>`)
	require.Contains(t, m.get("/console/suppressions?q=nobody%40example.com").Body, "That address is not suppressed.")

	a, admin := b.as(outreach.RoleAdmin)
	p = a.get("/console/suppressions/remove?email=ada%40example.com")
	require.Contains(t, p.Body, "Remove the suppression on ada@example.com?")
	p = a.post("/console/suppressions/remove", url.Values{"email": {"ada@example.com"}, "confirm": {"yes"}})
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Zero(t, b.count("suppressions"))
	require.Equal(t, []string{"suppress suppression"}, b.audited("user:"+marketer))
	require.Equal(t, []string{"unsuppress suppression"}, b.audited("user:"+admin))
}

// TestAuditPage: filters by who, action, what and UTC days, newest first,
// with an "Older" link; a date it cannot read is shown next to its field.
func TestAuditPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	c, admin := b.as(outreach.RoleAdmin)
	for i := range 55 {
		_, _, err := b.store.CreateKey(ctx, "user:bot@example.com", "key "+itoa(int64(i)), outreach.RoleViewer)
		require.NoError(t, err)
	}
	p := c.get("/console/audit?actor=user%3Abot%40example.com")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, 50, strings.Count(p.Body, `<td>create</td>`))
	require.Contains(t, p.Body, "key 54", "newest first")
	older := regexp.MustCompile(`<a href="([^"]+)" rel="next">Older →</a>`).FindStringSubmatch(p.Body)
	require.Len(t, older, 2)
	next, err := url.Parse(strings.ReplaceAll(older[1], "&amp;", "&"))
	require.NoError(t, err)
	require.Equal(t, "user:bot@example.com", next.Query().Get("actor"), "the filter is kept")
	p = c.get(next.String())
	require.Equal(t, 5, strings.Count(p.Body, `<td>create</td>`))
	require.NotContains(t, p.Body, "Older →")

	require.Contains(t, c.get("/console/audit?action=create&entity=api_key&from=2000-01-01&to=2999-12-31").Body, "key 3")
	require.Contains(t, c.get("/console/audit?to=2000-01-01").Body, "No entries match.")
	p = c.get("/console/audit?from=yesterday&actor=someone")
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	requireFieldError(t, p, "f-from", "must be a date such as 2026-12-01")
	require.Contains(t, p.Body, `value="someone"`)
	_ = admin
}

// TestPagesAreStrict: every page carries the strict headers, the static
// files are cached under content-hashed names, and errors are pages in
// the console's layout that tell nothing of what went wrong inside.
func TestPagesAreStrict(t *testing.T) {
	t.Parallel()
	failing := failingThrottles{}
	b := setup(t, func(d *console.Deps) { d.Throttles = failing })
	c, _ := b.as(outreach.RoleAdmin)
	for _, path := range []string{"/console/", "/console/sign-in", "/console/users", "/console/nope"} {
		p := c.get(path)
		require.Equal(t, "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "+
			"frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", p.Header.Get("Content-Security-Policy"), path)
		require.Equal(t, "DENY", p.Header.Get("X-Frame-Options"))
		require.Equal(t, "nosniff", p.Header.Get("X-Content-Type-Options"))
		require.Equal(t, "same-origin", p.Header.Get("Referrer-Policy"))
		require.Equal(t, "no-store", p.Header.Get("Cache-Control"))
		require.NotContains(t, p.Body, "<script>", "no inline script")
		require.NotContains(t, p.Body, "<style", "no inline style")
		require.NotContains(t, p.Body, " style=", "no style attributes")
	}
	p := c.get("/console/nope")
	require.Equal(t, http.StatusNotFound, p.Status)
	require.Contains(t, p.Body, "<h1>Page not found</h1>")
	require.Contains(t, p.Body, `<nav class="nav" aria-label="Main">`, "in the layout, with the navigation")
	p = c.get("/console/throttles")
	require.Equal(t, http.StatusInternalServerError, p.Status)
	require.Contains(t, p.Body, "Something went wrong on our side")
	require.NotContains(t, p.Body, "calendar on fire", "no internal detail")
	p = c.get("/console")
	require.Equal(t, http.StatusMovedPermanently, p.Status)
	require.Equal(t, "/console/", p.Location)

	css := regexp.MustCompile(`href="(/console/static/console\.[0-9a-f]{10}\.css)"`).FindStringSubmatch(c.get("/console/").Body)
	require.Len(t, css, 2)
	p = c.get(css[1])
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, "public, max-age=31536000, immutable", p.Header.Get("Cache-Control"))
	require.Equal(t, "text/css; charset=utf-8", p.Header.Get("Content-Type"))
	require.Empty(t, cookieOf(t, p), "static files need no session")
	js := regexp.MustCompile(`src="(/console/static/vendor/htmx/htmx\.min\.[0-9a-f]{10}\.js)"`).FindStringSubmatch(c.get("/console/").Body)
	require.Len(t, js, 2)
	require.Equal(t, http.StatusOK, c.get(js[1]).Status)
	require.Equal(t, http.StatusNotFound, c.get("/console/static/console.css").Status, "only hashed names")
	require.Equal(t, http.StatusNotFound, c.get("/console/static/vendor/htmx/LICENSE").Status)
}

type failingThrottles struct{}

func (failingThrottles) Get(context.Context) (throttle.Settings, error) {
	return throttle.Settings{}, errors.New("calendar on fire")
}

func (failingThrottles) Put(context.Context, string, throttle.Settings) (throttle.Settings, error) {
	return throttle.Settings{}, errors.New("calendar on fire")
}
