package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/postgres"
)

// consoleTab is one browser tab on the console, checking every page it
// visits: axe-core finds no serious or critical accessibility problem,
// the style sheet and htmx load under the Content-Security-Policy with
// no violation reported, and a screenshot is saved.
type consoleTab struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	axe  string
	name string // prefix of its screenshots

	mu       sync.Mutex
	problems []string // CSP violations and script errors seen
}

func newConsoleTab(t *testing.T, ctx context.Context, name string) *consoleTab {
	t.Helper()
	axe, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	require.NoError(t, err, "axe-core is vendored in testdata/axe (.ci/vendor.sh)")
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "output", "console"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	tab := &consoleTab{t: t, ctx: ctx, dir: dir, axe: string(axe), name: name}
	chromedp.ListenTarget(ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *cdplog.EventEntryAdded:
			if strings.Contains(e.Entry.Text, "Content Security Policy") || e.Entry.Source == cdplog.SourceSecurity {
				msg = "CSP: " + e.Entry.Text
			}
		case *runtime.EventExceptionThrown:
			msg = "script error: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
		}
		if msg != "" {
			tab.mu.Lock()
			tab.problems = append(tab.problems, msg)
			tab.mu.Unlock()
		}
	})
	// A laptop's window: the console is for people at work.
	require.NoError(t, chromedp.Run(ctx, emulation.SetDeviceMetricsOverride(1280, 900, 1, false)))
	return tab
}

// run runs actions, failing the test on error.
func (c *consoleTab) run(actions ...chromedp.Action) {
	c.t.Helper()
	require.NoError(c.t, chromedp.Run(c.ctx, actions...))
}

// page checks the page now shown and saves its screenshot as name.
func (c *consoleTab) page(name string) {
	c.t.Helper()
	// A page reached by a form or a click may still be fetching its
	// scripts when the element the test waited for is already there: the
	// checks are about the page once loaded, so they wait for that.
	c.run(waitFor(`document.readyState === "complete"`))
	var checks []string
	c.run(chromedp.Evaluate(`(() => {
		const p = [];
		if (getComputedStyle(document.body).display !== "flex") p.push("the style sheet is not applied");
		if (typeof htmx !== "object") p.push("htmx did not load");
		if (!document.querySelector("main#main")) p.push("no main landmark");
		if (!document.querySelector('a.skip[href="#main"]')) p.push("no skip link");
		if (!document.title.endsWith(" · rapport")) p.push("title " + document.title);
		for (const i of document.querySelectorAll("input:not([type=hidden]):not([hidden]), select"))
			if (i.labels.length === 0) p.push("control without label: " + (i.id || i.name));
		if (document.documentElement.scrollWidth > document.documentElement.clientWidth) p.push("scrolls sideways");
		return p;
	})()`, &checks))
	require.Empty(c.t, checks, "%s: page checks", name)

	var raw string
	c.run(chromedp.Evaluate(c.axe, nil), chromedp.Evaluate(`axe.run(document, {resultTypes: ["violations"]}).then(r =>
		JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" "))}))))`,
		&raw, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	var violations []struct {
		ID, Impact, Help string
		Nodes            []string
	}
	require.NoError(c.t, json.Unmarshal([]byte(raw), &violations))
	for _, v := range violations {
		line := fmt.Sprintf("%s: axe %s (%s): %s at %v", name, v.ID, v.Impact, v.Help, v.Nodes)
		if v.Impact == "serious" || v.Impact == "critical" {
			c.t.Error(line)
		} else {
			c.t.Log(line)
		}
	}
	c.mu.Lock()
	problems := append([]string(nil), c.problems...)
	c.mu.Unlock()
	require.Empty(c.t, problems, "%s: no CSP violation or script error", name)

	var png []byte
	c.run(chromedp.FullScreenshot(&png, 100))
	require.NoError(c.t, os.WriteFile(filepath.Join(c.dir, c.name+"-"+name+".png"), png, 0o644))
}

// waitFor waits until a JavaScript condition holds: the answer to a form
// arrived. It polls by hand, retrying evaluation errors, because a
// navigation destroys the page's JavaScript context meanwhile.
func waitFor(cond string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			var ok bool
			if err := chromedp.Evaluate("!!("+cond+")", &ok).Do(ctx); err == nil && ok {
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		return fmt.Errorf("%s never held", cond)
	})
}

func flashSays(text string) chromedp.Action {
	b, _ := json.Marshal(text)
	return waitFor(`(document.querySelector(".flash") || {textContent: ""}).textContent.includes(` + string(b) + `)`)
}

func text(sel string, out *string) chromedp.Action { return chromedp.Text(sel, out, chromedp.ByQuery) }

func click(sel string) chromedp.Action { return chromedp.Click(sel, chromedp.ByQuery) }

func setValue(sel, v string) chromedp.Action { return chromedp.SetValue(sel, v, chromedp.ByQuery) }

// signInChanging signs in with a one-time password and replaces it, the
// way every first sign-in goes.
func (c *consoleTab) signInChanging(base, email, oneTime, mine string) {
	c.t.Helper()
	c.run(chromedp.Navigate(base+"/"), heading("Sign in to rapport"))
	c.page("sign-in")
	c.run(setValue("#f-email", email), setValue("#f-password", oneTime), click(`form[action="/console/sign-in"] button`),
		heading("Change your password"))
	c.page("change-password")
	c.run(setValue("#f-current-password", oneTime), setValue("#f-new-password", "too short"), setValue("#f-confirm-password", "too short"),
		click(`form[action="/console/password"] button`), waitFor(`document.querySelector("#f-new-password-error")`))
	var msg string
	c.run(text("#f-new-password-error", &msg))
	require.Equal(c.t, "Error: must be at least 12 characters long", strings.TrimSpace(msg))
	c.page("change-password-error")
	c.run(setValue("#f-current-password", oneTime), setValue("#f-new-password", mine), setValue("#f-confirm-password", mine),
		click(`form[action="/console/password"] button`), heading("Dashboard"), flashSays("Your password is changed."))
}

// TestBrowserConsole drives the console in headless chromium: the first
// admin signs in with the printed one-time password and replaces it,
// creates a user, creates an API key (shown once) and revokes it, edits a
// throttle with a bad value and then a good one, adds and removes a
// suppression and finds all of it in the audit log under their name; then
// the new user, a viewer, sees pages without buttons, and a forged POST
// from another site is refused. Every page passes axe-core (nothing
// serious or critical) and is saved to testdata/output/console/.
func TestBrowserConsole(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	addr := freeAddr(t)
	base := "http://" + addr
	a := startApp(t, map[string]string{"HTTP_ADDR": addr, "PUBLIC_URL": base})
	admin := newConsoleTab(t, ctx, "admin")
	admin.signInChanging(base, a.AdminEmail, a.AdminPassword, "an admin's own passphrase")
	admin.page("dashboard")

	// A user.
	var secret string
	admin.run(click(`nav a[href="/console/users"]`), heading("Users"))
	admin.page("users")
	admin.run(click(`a[href="/console/users/new"]`), heading("New user"))
	admin.page("user-new")
	admin.run(setValue("#f-email", "Vera@Example.com"), setValue("#f-name", "Vera Viewer"), setValue("#f-role", "viewer"),
		click(`form[action="/console/users"] button`), heading("User created"), text("#secret", &secret))
	admin.page("user-created")
	veraPassword := strings.TrimSpace(secret)
	require.Regexp(t, `^[a-z0-9]{4}(-[a-z0-9]{4}){4}$`, veraPassword)

	// An API key, shown once, then revoked.
	admin.run(click(`nav a[href="/console/keys"]`), heading("API keys"), click(`a[href="/console/keys/new"]`), heading("New API key"))
	admin.page("key-new")
	admin.run(setValue("#f-name", "CRM sync"), setValue("#f-role", "marketer"), click(`form[action="/console/keys"] button`),
		heading("API key created"), text("#secret", &secret))
	admin.page("key-created")
	key := strings.TrimSpace(secret)
	code, _ := a.call("GET", "/api/v1/tiers", key, nil, nil)
	require.Equal(t, http.StatusOK, code, "the new key works")
	var list string
	admin.run(click(`a[href="/console/keys"]`), heading("API keys"), text("main", &list))
	require.Contains(t, list, "CRM sync")
	require.NotContains(t, list, key, "shown once only")
	admin.page("keys")
	var revoke string
	admin.run(chromedp.Evaluate(`[...document.querySelectorAll("tbody tr")].find(tr => tr.textContent.includes("CRM sync"))
		.querySelector("a[href$='/revoke']").getAttribute("href")`, &revoke))
	admin.run(click(`a[href="`+revoke+`"]`), heading("Revoke the API key “CRM sync”?"))
	admin.page("key-revoke")
	admin.run(click(`button.danger`), heading("API keys"), flashSays("The API key “CRM sync” is revoked."))
	code, _ = a.call("GET", "/api/v1/tiers", key, nil, nil)
	require.Equal(t, http.StatusUnauthorized, code, "a revoked key is refused")

	// Throttles: a bad value comes back next to its field, kept; a good
	// one is saved.
	admin.run(click(`nav a[href="/console/throttles"]`), heading("Throttles"))
	admin.page("throttles")
	admin.run(setValue("#f-global-per-second", "-5"), click(`form[action="/console/throttles"] button[type=submit]`),
		waitFor(`document.querySelector("#f-global-per-second-error")`))
	var msg, kept, invalid string
	admin.run(text("#f-global-per-second-error", &msg), chromedp.Value("#f-global-per-second", &kept, chromedp.ByQuery),
		chromedp.AttributeValue("#f-global-per-second", "aria-invalid", &invalid, nil, chromedp.ByQuery))
	require.Equal(t, "Error: must not be negative (0 means no limit)", strings.TrimSpace(msg))
	require.Equal(t, "-5", kept)
	require.Equal(t, "true", invalid)
	admin.page("throttles-error")
	admin.run(setValue("#f-global-per-second", "150"), setValue("#f-domain-0", "gmail.com"), setValue("#f-rate-0", "20"),
		click(`form[action="/console/throttles"] button[type=submit]`), flashSays("The throttles are saved"))
	admin.page("throttles-saved")
	var rates struct {
		GlobalPerSecond float64            `json:"global_per_second"`
		Domains         map[string]float64 `json:"domains"`
	}
	code, _ = a.call("GET", "/api/v1/throttles", a.Key, nil, &rates)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 150.0, rates.GlobalPerSecond)
	require.Equal(t, map[string]float64{"gmail.com": 20}, rates.Domains)

	// A suppression, added and removed.
	admin.run(click(`nav a[href="/console/suppressions"]`), heading("Suppressions"), click(`details.panel > summary`),
		setValue("#f-email", "blocked@example.com"), click(`form[method="post"][action="/console/suppressions"] button`),
		flashSays("blocked@example.com is suppressed (manual)"))
	admin.page("suppressions")
	require.Equal(t, "manual", a.pcSuppression("blocked@example.com"))
	admin.run(click(`a[href^="/console/suppressions/remove"]`), heading("Remove the suppression on blocked@example.com?"))
	admin.page("suppression-remove")
	admin.run(click(`button.danger`), heading("Suppressions"), flashSays("The suppression on blocked@example.com is removed."))
	require.Empty(t, a.pcSuppression("blocked@example.com"))

	// The audit log, filtered to this admin (htmx swaps the results in).
	var reloaded bool
	admin.run(click(`nav a[href="/console/audit"]`), heading("Audit log"), setValue("#f-actor", "user:"+a.AdminEmail),
		chromedp.Evaluate(`window.stillHere = true`, nil),
		click(`form.filters button[type=submit]`), waitFor(`location.search.includes("actor=")`),
		waitFor(`document.querySelectorAll("#results tbody tr").length >= 7`),
		chromedp.Evaluate(`window.stillHere !== true`, &reloaded))
	require.False(t, reloaded, "htmx swapped the results in, under the CSP, without reloading the page")
	var actors, done []string
	admin.run(waitFor(`document.querySelectorAll("#results tbody tr").length >= 7`),
		chromedp.Evaluate(`[...document.querySelectorAll("#results tbody tr td:nth-child(2)")].map(td => td.textContent.trim())`, &actors),
		chromedp.Evaluate(`[...document.querySelectorAll("#results tbody tr")].map(tr =>
			tr.children[2].textContent.trim() + " " + tr.children[3].textContent.trim().split(" ")[0])`, &done))
	admin.page("audit")
	for _, who := range actors {
		require.Equal(t, "user:"+a.AdminEmail, who, "their actions, under their name")
	}
	require.Equal(t, []string{"unsuppress suppression", "suppress suppression", "update throttles", "revoke api_key",
		"create api_key", "create user", "change_password user"}, done)

	// The layout on a phone: nothing scrolls sideways.
	admin.run(emulation.SetDeviceMetricsOverride(412, 915, 1, true), chromedp.Navigate(base+"/console/throttles"), heading("Throttles"))
	admin.page("phone-throttles")
	admin.run(chromedp.Navigate(base+"/console/audit"), heading("Audit log"))
	admin.page("phone-audit")
	admin.run(emulation.SetDeviceMetricsOverride(1280, 900, 1, false), click(`form[action="/console/sign-out"] button`),
		heading("Sign in to rapport"), flashSays("You are signed out."))

	// The viewer, in the same browser now that the admin signed out.
	viewer := newConsoleTab(t, ctx, "viewer")
	viewer.signInChanging(base, "vera@example.com", veraPassword, "vera's own long password")
	viewer.page("dashboard")
	var nav []string
	viewer.run(chromedp.Evaluate(`[...document.querySelectorAll("nav a")].map(a => a.textContent)`, &nav))
	require.Equal(t, []string{"Dashboard", "Campaigns", "Contacts", "Suppressions", "Tiers"}, nav)
	_, err := postgres.NewStore(a.DB, nil).Suppress(context.Background(), "test", "seen@example.com", "manual")
	require.NoError(t, err)
	var buttons []string
	viewer.run(click(`nav a[href="/console/suppressions"]`), heading("Suppressions"),
		chromedp.Evaluate(`[...document.querySelectorAll("main button, main a.button, main a[href*='remove']")].map(b => b.textContent)`, &buttons))
	require.Equal(t, []string{"Search"}, buttons, "a viewer gets no buttons that change anything")
	viewer.page("suppressions")
	viewer.run(chromedp.Navigate(base+"/console/users"), heading("You do not have access to this page"))
	viewer.page("forbidden")

	// Forged POSTs: with the viewer's own form token (refused by role)…
	var status int
	viewer.run(chromedp.Navigate(base+"/console/suppressions"), heading("Suppressions"),
		chromedp.Evaluate(`fetch("/console/suppressions", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
			body: "email=forged%40example.com&reason=manual&csrf=" + encodeURIComponent(document.querySelector("input[name=csrf]").value)}).then(r => r.status)`,
			&status, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	require.Equal(t, http.StatusForbidden, status)
	// … and from another site, which the browser marks as such.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<!DOCTYPE html><html lang="en"><title>Win a prize</title><form method="post" action="%s/console/suppressions">
<input name="email" value="forged@example.com"><input name="reason" value="manual"></form><script>document.forms[0].submit()</script>`, base)
	}))
	defer evil.Close()
	viewer.run(chromedp.Navigate(evil.URL), heading("This form cannot be accepted"))
	viewer.page("forged-post")
	require.Empty(t, a.pcSuppression("forged@example.com"), "nothing was written")
}
