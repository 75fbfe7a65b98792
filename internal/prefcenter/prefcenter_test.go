package prefcenter

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
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

func TestOneFullStop(t *testing.T) {
	t.Parallel()
	en := lookup("en")
	require.Equal(t, "You cannot resubscribe yourself: please contact Rapport Demo Inc.",
		en.T("status.blocked", "Rapport Demo Inc.")[len("This address is blocked from our marketing email. "):])
	require.True(t, strings.HasSuffix(en.T("status.blocked", "Acme"), "please contact Acme."))
	require.True(t, strings.HasSuffix(lookup("de").T("status.blocked", "Rapport Demo Inc."), "an Rapport Demo Inc."))
	require.Equal(t, "50%% of %s. Done.", oneFullStop("50%% of %s. Done.", []any{"Acme"}), "only after an argument ending one")
	require.Equal(t, "a Inc. b X.", fmt.Sprintf(oneFullStop("a %s. b %s.", []any{"Inc.", "X"}), "Inc.", "X"))
	require.Equal(t, "Shout!", fmt.Sprintf(oneFullStop("%s.", []any{"Shout!"}), "Shout!"))
}

// TestFrequencyChoices: the choices come from most to least frequent with
// their meaning; the one that applies now is marked with who chose it,
// and a company tier customers cannot choose is named, never its key.
func TestFrequencyChoices(t *testing.T) {
	t.Parallel()
	tiers := postgres.DefaultTiers() // low, medium, high: ranked strictest first
	vip := outreach.Tier{Key: "vip", Name: "Partner programme", Rank: 40,
		Rule: outreach.Rule{Caps: []outreach.Cap{{Max: 2, Window: outreach.Duration(24 * time.Hour)}}, SendWindow: outreach.AlwaysOpen}}
	tiers = append(tiers, vip)
	en := lookup("en")
	type row struct{ Key, Mark string }
	rows := func(f frequency) []row {
		var out []row
		for _, c := range f.Choices {
			out = append(out, row{c.Key, c.Mark})
		}
		return out
	}
	checked := func(f frequency) string {
		for _, c := range f.Choices {
			if c.Checked {
				return c.Key
			}
		}
		return ""
	}

	// The company's tier, no choice of the customer's.
	f := frequencyFor(en, "Acme", tiers, outreach.Contact{Tier: "medium"})
	require.Equal(t, []row{{"high", ""}, {"medium", "Applies now: set by Acme"}, {"low", ""}}, rows(f), "most to least frequent")
	require.Equal(t, "medium", checked(f))
	require.Empty(t, f.Note)
	require.Equal(t, "Everything, up to daily", f.Choices[0].Name)
	require.Equal(t, "At most one email a day and three a week. Only between 08:00 and 20:00 local time. We aim to write at least once every two weeks.",
		f.Choices[0].Meaning)
	require.Equal(t, "At most one email every 30 days. Only between 08:00 and 20:00 local time. We aim to write at least once every 90 days.",
		f.Choices[2].Meaning, "the 14-day gap goes without saying under one per 30 days")

	// The customer asked for less: theirs applies.
	f = frequencyFor(en, "Acme", tiers, outreach.Contact{Tier: "high", PreferredTier: "low"})
	require.Equal(t, []row{{"high", ""}, {"medium", ""}, {"low", "Applies now: your choice"}}, rows(f))
	require.Equal(t, "low", checked(f))

	// The customer asked for more than the company allows: the company's
	// applies, and their choice says so.
	f = frequencyFor(en, "Acme", tiers, outreach.Contact{Tier: "low", PreferredTier: "high"})
	require.Equal(t, []row{{"high", "Your choice; your account allows less for now"}, {"medium", ""}, {"low", "Applies now: set by Acme"}}, rows(f))
	require.Equal(t, "high", checked(f))

	// A company tier nobody may choose: named in words, not by its key.
	f = frequencyFor(en, "Acme", tiers, outreach.Contact{Tier: "vip"})
	require.Equal(t, []row{{"high", ""}, {"medium", ""}, {"low", ""}}, rows(f))
	require.Equal(t, "Now “Partner programme” applies, set for your account by Acme: At most two emails a day.", f.Note)
	require.NotContains(t, f.Note, "vip")
	require.Empty(t, checked(f))

	// A preference that names no tier is ignored: the company's applies.
	f = frequencyFor(en, "Acme", tiers, outreach.Contact{Tier: "medium", PreferredTier: "gone"})
	require.Equal(t, []row{{"high", ""}, {"medium", "Applies now: set by Acme"}, {"low", ""}}, rows(f))

	// A company tier not (yet) in the list: no tier applies, as the planner
	// sees it, so none is said to apply, not even the customer's; their
	// choice is still theirs, and every choice stays open.
	f = frequencyFor(en, "Acme", tiers, outreach.Contact{Tier: "new", PreferredTier: "low"})
	require.Equal(t, []row{{"high", ""}, {"medium", ""}, {"low", "Your choice"}}, rows(f))
	require.Equal(t, "low", checked(f))
	require.Empty(t, f.Note)
	f = frequencyFor(en, "Acme", tiers, outreach.Contact{Tier: "new"})
	require.Equal(t, []row{{"high", ""}, {"medium", ""}, {"low", ""}}, rows(f))
	require.Empty(t, checked(f))
	require.Empty(t, f.Note)
	f = frequencyFor(lookup("de"), "Acme", tiers, outreach.Contact{Tier: "new", PreferredTier: "medium"})
	require.Equal(t, []row{{"high", ""}, {"medium", "Ihre Wahl"}, {"low", ""}}, rows(f))

	// In the customer's language.
	f = frequencyFor(lookup("de"), "Acme", tiers, outreach.Contact{Tier: "high", PreferredTier: "high"})
	require.Equal(t, "Gilt jetzt: Ihre Wahl", f.Choices[0].Mark)
	require.True(t, strings.HasPrefix(f.Choices[0].Meaning, "Höchstens eine E-Mail pro Tag und drei pro Woche."), f.Choices[0].Meaning)
}

// TestRuleWordsInEveryLanguage: every language the pages speak has its
// own words for the rules.
func TestRuleWordsInEveryLanguage(t *testing.T) {
	t.Parallel()
	require.ElementsMatch(t, slices.Collect(maps.Keys(catalogs)), outreach.DescribeLanguages())
}
