package prefcenter

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/token"
)

// The end-to-end behaviour (real server, database, SMTP and browser) is
// tested in cmd/rapport; these tests cover the parts that need none.

func TestCatalogsMatchEnglish(t *testing.T) {
	t.Parallel()
	en := catalogs["en"]
	for lang, m := range catalogs {
		require.ElementsMatch(t, slices.Collect(maps.Keys(en)), slices.Collect(maps.Keys(m)), "%s has exactly English's ids", lang)
		for id, s := range m {
			require.Equal(t, strings.Count(en[id], "%"), strings.Count(s, "%"), "%s %s: same format verbs as English", lang, id)
		}
	}
}

func TestLookupFallsBack(t *testing.T) {
	t.Parallel()
	require.Equal(t, "de", lookup("de-CH").lang)
	require.Equal(t, "de", lookup("DE").lang)
	require.Equal(t, "en", lookup("fr").lang)
	require.Equal(t, "en", lookup("").lang)
	require.Equal(t, "no.such.id", lookup("de").T("no.such.id"))
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	oldKey, newKey := strings.Repeat("o", 32), strings.Repeat("n", 32)
	before := newCSRF([]string{oldKey})
	after := newCSRF([]string{newKey, oldKey})
	f := before.field(token.Preferences, "tok")
	require.True(t, before.valid(token.Preferences, "tok", f))
	require.True(t, after.valid(token.Preferences, "tok", f), "a page served before a rotation still submits")
	require.False(t, newCSRF([]string{newKey}).valid(token.Preferences, "tok", f), "a retired key no longer verifies")
	require.False(t, before.valid(token.Unsubscribe, "tok", f), "bound to the purpose")
	require.False(t, before.valid(token.Preferences, "tok2", f), "bound to the token")
	require.False(t, before.valid(token.Preferences, "tok", ""))
	require.False(t, before.valid(token.Preferences, "tok", f[:len(f)-1]))
}

func TestSameSite(t *testing.T) {
	t.Parallel()
	public, _ := url.Parse("https://mail.example.com")
	cases := []struct {
		origin, fetchSite string
		ok                bool
	}{
		{"", "", true},
		{"null", "same-origin", true},
		{"http://pages.test", "same-origin", true},
		{"https://mail.example.com", "same-site", true},
		{"https://evil.example", "", false},
		{"", "cross-site", false},
		{"null", "cross-site", false},
		{"::bad", "", false},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "http://pages.test/p/x", nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if c.fetchSite != "" {
			r.Header.Set("Sec-Fetch-Site", c.fetchSite)
		}
		require.Equal(t, c.ok, sameSite(r, public), "Origin %q, Sec-Fetch-Site %q", c.origin, c.fetchSite)
	}
}

func TestMaskEmail(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a•••@example.com", maskEmail("ada@example.com"))
	require.Equal(t, "é•••@example.com", maskEmail("éa@example.com"))
	require.Equal(t, "•••", maskEmail("nonsense"))
}

// TestBadTokenAndRateLimit needs no database: a token that fails to verify
// never reaches the store, and the limiter answers before the handler.
func TestBadTokenAndRateLimit(t *testing.T) {
	t.Parallel()
	signer, err := token.New([]string{strings.Repeat("k", 32)})
	require.NoError(t, err)
	e := echo.New()
	mount(e, Deps{Signer: signer, SecretKeys: []string{strings.Repeat("k", 32)},
		Company: render.Company{Name: "Acme", Address: "1 Road"}, RatePerSecond: 0.001, Burst: 3})
	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w
	}
	for _, path := range []string{"/p/forged", "/u/forged", "/p/" + strings.Repeat("A", 400)} {
		w := get(path)
		require.Equal(t, http.StatusNotFound, w.Code)
		require.Contains(t, w.Body.String(), "This link is not valid")
		require.Contains(t, w.Body.String(), "1 Road")
		require.Equal(t, "no-referrer", w.Header().Get("Referrer-Policy"))
	}
	w := get("/p/forged")
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	require.Contains(t, w.Body.String(), "Too many requests")
	require.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	require.Contains(t, w.Header().Get("Content-Security-Policy"), "default-src 'none'")
}

// mount serves the pages on e as internal/api's routes.go does.
func mount(e *echo.Echo, d Deps) {
	p := New(d)
	mw := p.Middleware()
	e.GET("/p/:token", p.ShowPreferences, mw...)
	e.POST("/p/:token", p.ChangePreferences, mw...)
	e.GET("/u/:token", p.ShowUnsubscribe, mw...)
	e.POST("/u/:token", p.Unsubscribe, p.UnsubscribeMiddleware()...)
}
