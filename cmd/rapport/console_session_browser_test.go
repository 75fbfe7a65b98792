package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// TestBrowserConsoleSessionEnds: in headless chromium, a session that
// has expired in the database (as it does after CONSOLE_IDLE_TIMEOUT
// unused) sends the next click to the sign-in page, which then goes on to
// the page asked for; and after five wrong passwords for the account even
// the right one is refused with the limit's message, until it lapses.
func TestBrowserConsoleSessionEnds(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	addr := freeAddr(t)
	base := "http://" + addr
	a := startApp(t, map[string]string{"HTTP_ADDR": addr, "PUBLIC_URL": base})
	admin := newConsoleTab(t, ctx, "session")
	mine := "an admin's own passphrase"
	admin.signInChanging(base, a.AdminEmail, a.AdminPassword, mine)

	// The session ends: scs's PostgreSQL store finds no session past its
	// expiry, which is what idle and absolute timeouts write there.
	tag, err := a.DB.Exec(context.Background(), `UPDATE sessions SET expiry = now() - interval '1 second'`)
	require.NoError(t, err)
	require.Equal(t, int64(1), tag.RowsAffected(), "one signed-in session")
	admin.run(chromedp.Navigate(base+"/console/tiers"), heading("Sign in to rapport"))
	var loc string
	admin.run(chromedp.Location(&loc))
	require.Contains(t, loc, "/console/sign-in?next=%2Fconsole%2Ftiers", "asked for the page it was going to")
	admin.page("expired")
	admin.run(setValue("#f-email", a.AdminEmail), setValue("#f-password", mine),
		click(`form[action="/console/sign-in"] button`), heading("Tiers"))

	// Signed out, five wrong passwords, then the right one: refused.
	admin.run(click(`form[action="/console/sign-out"] button`), heading("Sign in to rapport"), flashSays("You are signed out."))
	for range 5 {
		// A fresh form each time, so the wait below sees this answer.
		admin.run(chromedp.Navigate(base+"/console/sign-in"), heading("Sign in to rapport"), setValue("#f-email", a.AdminEmail), setValue("#f-password", "not my passphrase at all"),
			click(`form[action="/console/sign-in"] button`), waitFor(`document.querySelector("main").textContent.includes("is not right")`))
	}
	admin.page("wrong-password")
	admin.run(setValue("#f-email", a.AdminEmail), setValue("#f-password", mine),
		click(`form[action="/console/sign-in"] button`), waitFor(`document.querySelector("main").textContent.includes("Too many")`))
	var main string
	admin.run(text("main", &main))
	require.Contains(t, main, "Too many sign-in attempts for this account; try again in 15 minutes.")
	require.NotContains(t, main, "Dashboard", "not signed in")
	admin.page("too-many")

	// Nothing signed in meanwhile: the console's pages still refuse.
	admin.run(chromedp.Navigate(base+"/console/"), heading("Sign in to rapport"))
	admin.run(chromedp.Location(&loc))
	require.True(t, strings.Contains(loc, "/console/sign-in"), loc)
}
