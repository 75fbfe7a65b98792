package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/console"
	"github.com/rapport-dev/rapport/internal/outreach"
)

// routes is every console route that needs someone signed in.
func routes(t *testing.T, b *bundle) []console.Route {
	t.Helper()
	var out []console.Route
	for _, r := range b.console.Routes() {
		if !r.Public() {
			out = append(out, r)
		}
	}
	require.Greater(t, len(out), 20, "routes.go is walked")
	return out
}

// TestEveryRouteRefusesAnonymous walks routes.go: a GET sends an
// anonymous visitor to sign in (and back afterwards), a POST is refused
// with 403, even with a valid form token, and nothing is written.
func TestEveryRouteRefusesAnonymous(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client()
	c.get("/console/sign-in") // a session with a form token, but no user
	audit := b.count("audit_log")
	for _, r := range routes(t, b) {
		path := "/console" + concrete(r.Path)
		switch r.Method {
		case http.MethodGet:
			p := c.get(path + "?x=1")
			require.Equal(t, http.StatusSeeOther, p.Status, path)
			require.Equal(t, "/console/sign-in?next="+url.QueryEscape(path+"?x=1"), p.Location, path)
		case http.MethodPost:
			p := c.post(path, url.Values{"confirm": {"yes"}, "email": {"x@example.com"}, "role": {"admin"}, "name": {"x"}})
			require.Equal(t, http.StatusForbidden, p.Status, path)
			require.Contains(t, p.Body, "Sign in first", path)
		default:
			t.Fatalf("%s %s: a method the test does not know", r.Method, r.Path)
		}
	}
	require.Equal(t, audit, b.count("audit_log"), "nothing was written")
}

// TestRolesAreTheAPIs walks routes.go with a viewer and a marketer: every
// route needing more than their role answers 403, GET or POST, and
// nothing is written; the routes their role allows answer.
func TestRolesAreTheAPIs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, role := range []outreach.Role{outreach.RoleViewer, outreach.RoleMarketer} {
		c, _ := b.as(role)
		audit := b.count("audit_log")
		for _, r := range routes(t, b) {
			path := "/console" + concrete(r.Path)
			var p page
			if r.Method == http.MethodGet {
				p = c.get(path)
			} else {
				p = c.post(path, url.Values{"confirm": {"yes"}, "email": {"x@example.com"}, "role": {"admin"}, "name": {"x"},
					"global_per_second": {"1"}, "reason": {"manual"}})
			}
			if r.Account || role.Includes(r.Role) {
				require.NotEqual(t, http.StatusForbidden, p.Status, "%s %s as %s", r.Method, path, role)
				continue
			}
			require.Equal(t, http.StatusForbidden, p.Status, "%s %s as %s", r.Method, path, role)
			require.Contains(t, p.Body, "You do not have access to this page")
			require.Contains(t, p.Body, "Your role, "+string(role)+", cannot use it; it needs "+string(r.Role))
		}
		if role == outreach.RoleViewer {
			require.Equal(t, audit, b.count("audit_log"), "a viewer wrote nothing")
		}
	}
}

// TestButtonsFollowRole: a page shows only what its user may do, and the
// navigation only the pages they may open.
func TestButtonsFollowRole(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.store.Suppress(t.Context(), "test", "gone@example.com", outreach.SuppressManual)
	require.NoError(t, err)

	viewer, _ := b.as(outreach.RoleViewer)
	p := viewer.get("/console/suppressions")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "gone@example.com")
	require.NotContains(t, p.Body, `method="post" action="/console/suppressions"`, "no add form")
	require.NotContains(t, p.Body, "/console/suppressions/remove", "no remove link")
	require.NotContains(t, p.Body, ">Users<", "no admin navigation")
	require.Contains(t, p.Body, `href="/console/suppressions" aria-current="page"`)
	require.Equal(t, 1, strings.Count(p.Body, `method="post"`), "the sign-out button is the viewer's only form")

	marketer, _ := b.as(outreach.RoleMarketer)
	p = marketer.get("/console/suppressions")
	require.Contains(t, p.Body, `method="post" action="/console/suppressions"`, "marketers add")
	require.NotContains(t, p.Body, "/console/suppressions/remove", "admins remove")

	admin, _ := b.as(outreach.RoleAdmin)
	p = admin.get("/console/suppressions")
	require.Contains(t, p.Body, `method="post" action="/console/suppressions"`)
	require.Contains(t, p.Body, "/console/suppressions/remove?email=gone%40example.com")
	for _, label := range []string{"Dashboard", "Campaigns", "Contacts", "Suppressions", "Tiers", "Throttles", "API keys", "Users", "Audit log"} {
		require.Contains(t, p.Body, ">"+label+"</a>")
	}
}

// TestForgedPostsAreRefused: a POST without the form token, with another
// session's, or that the browser says comes from another site, is a 403
// and writes nothing; the same form from the console's page works.
func TestForgedPostsAreRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin, _ := b.as(outreach.RoleAdmin)
	other, _ := b.as(outreach.RoleAdmin)
	admin.get("/console/keys/new")
	form := func() url.Values { return url.Values{"name": {"forged"}, "role": {"admin"}} }
	keys, audit := b.count("api_keys"), b.count("audit_log")

	without := form()
	without.Set("csrf", "")
	foreign := form()
	foreign.Set("csrf", other.token)
	for name, p := range map[string]page{
		"no token":                  admin.post("/console/keys", without),
		"another session's token":   admin.post("/console/keys", foreign),
		"Origin of another site":    admin.post("/console/keys", form(), "Origin", "https://evil.example", "Sec-Fetch-Site", ""),
		"Sec-Fetch-Site cross-site": admin.post("/console/keys", form(), "Sec-Fetch-Site", "cross-site", "Origin", ""),
		"cross-site, valid token":   admin.post("/console/keys", form(), "Sec-Fetch-Site", "cross-site"),
	} {
		require.Equal(t, http.StatusForbidden, p.Status, name)
		require.Contains(t, p.Body, "This form cannot be accepted", name)
	}
	require.Equal(t, keys, b.count("api_keys"), "no key was made")
	require.Equal(t, audit, b.count("audit_log"))

	p := admin.post("/console/keys", form())
	require.Equal(t, http.StatusOK, p.Status, "the console's own form")
	require.Equal(t, keys+1, b.count("api_keys"))

	// Signing in needs the token too: no one can be signed in to an
	// account of the attacker's choosing.
	anon := b.client()
	p = anon.post("/console/sign-in", url.Values{"email": {"a@example.com"}, "password": {password}})
	require.Equal(t, http.StatusForbidden, p.Status)
}
