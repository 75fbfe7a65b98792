package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// findChromium returns Debian's chromium, which .ci/browser.sh installs. In
// CI its absence fails the test: a skipped browser test proves nothing.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; run .ci/browser.sh")
	}
	t.Skip("chromium is not installed (run .ci/browser.sh); CI=true makes this a failure")
	return ""
}

// browser starts a headless chromium for the test, in a fresh profile and
// with a phone-sized window, since most people open mail on a phone.
func browser(t *testing.T) context.Context {
	t.Helper()
	// Not t.TempDir: chromium's helper processes may still be writing to
	// the profile for a moment after the browser exits, and a failed
	// TempDir cleanup would fail the test.
	profile, err := os.MkdirTemp("", "rapport-chromium-")
	require.NoError(t, err)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(findChromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(412, 915),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx) // close the browser gracefully first
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		for range 20 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not remove chromium profile %s", profile)
	})
	require.NoError(t, chromedp.Run(ctx)) // start the browser now, failing clearly
	return ctx
}

// shots saves full-page screenshots under testdata/output/browser/ at the
// repository root (gitignored), named in the test log.
type shots struct {
	t   *testing.T
	dir string
}

func newShots(t *testing.T) *shots {
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "output", "browser"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Logf("screenshots in %s", dir)
	return &shots{t: t, dir: dir}
}

func (s *shots) take(name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var png []byte
		if err := chromedp.FullScreenshot(&png, 100).Do(ctx); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(s.dir, name+".png"), png, 0o644)
	})
}

// heading waits until the page's h1 reads text: the form's POST answered.
// It polls by hand, retrying evaluation errors, because a form submission
// destroys the page's JavaScript context while the next page loads.
func heading(text string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		deadline := time.Now().Add(15 * time.Second)
		var got string
		for time.Now().Before(deadline) {
			err := chromedp.Evaluate(`(document.querySelector("h1") || {}).textContent || ""`, &got).Do(ctx)
			if err == nil && got == text {
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		return fmt.Errorf("heading %q never appeared; last seen %q", text, got)
	})
}

// pageChecks proves, in the real browser, what a page must be: language
// set, a label for every control, a legend for every fieldset, no positive
// tabindex (focus follows reading order), the nonce-bound styles applied
// under the Content-Security-Policy, and no sideways scrolling on a phone.
func pageChecks(t *testing.T, ctx context.Context) {
	t.Helper()
	var problems []string
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`(() => {
		const p = [];
		if (!document.documentElement.lang) p.push("no lang attribute");
		if (!document.querySelector('meta[name="viewport"]')) p.push("no viewport meta");
		for (const i of document.querySelectorAll('input:not([type="hidden"])'))
			if (i.labels.length === 0) p.push("input without label: " + i.id);
		for (const f of document.querySelectorAll("fieldset"))
			if (!f.querySelector(":scope > legend")) p.push("fieldset without legend");
		for (const e of document.querySelectorAll("[tabindex]"))
			if (e.tabIndex > 0) p.push("positive tabindex");
		if (getComputedStyle(document.querySelector("main")).maxWidth !== "640px") p.push("styles not applied (CSP nonce?)");
		if (document.documentElement.scrollWidth > document.documentElement.clientWidth) p.push("scrolls sideways");
		return p;
	})()`, &problems)))
	require.Empty(t, problems)
}

// TestBrowserPreferenceCenter drives the preference center in headless
// chromium from the link in a real sent email: change frequency and a
// topic, pause, resume, unsubscribe, resubscribe, and the unsubscribe page's
// button. Each change is checked in the database, the admin API and in
// what is sent afterwards.
func TestBrowserPreferenceCenter(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	shot := newShots(t)
	a := startApp(t, nil)
	const email = "browser@example.com"
	id := a.pcContact(email, "high", zoneInWindow(), "en")
	a.pcSend("Welcome", "product-news", id)
	prefs, unsub := a.pcLinks(a.pcWaitMessageTo(email, 1))
	back := chromedp.Click(`a[href]`, chromedp.ByQuery) // "Back to your preferences"

	// The page as it arrives from the email.
	require.NoError(t, chromedp.Run(ctx, chromedp.Navigate(prefs), heading("Your email preferences"), shot.take("1-preferences")))
	pageChecks(t, ctx)
	var checked bool
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector("#frequency-high").checked`, &checked)))
	require.True(t, checked, "the current frequency is selected")
	var choices []string
	frequencies := chromedp.Evaluate(`[...document.querySelectorAll("#save .choice label[for^=frequency-]")].map(l => l.innerText.replace(/\s+/g, " ").trim())`, &choices)
	require.NoError(t, chromedp.Run(ctx, frequencies))
	require.Equal(t, []string{
		"Everything, up to daily Applies now: set by Rapport Demo Inc. At most one email a day and three a week. Only between 08:00 and 20:00 local time. We aim to write at least once every two weeks.",
		"About once a week At most one email a week and three every 30 days. Only between 08:00 and 20:00 local time. We aim to write at least once every 30 days.",
		"Only important updates At most one email every 30 days. Only between 08:00 and 20:00 local time. We aim to write at least once every 90 days.",
	}, choices, "most to least frequent, each with its meaning; the company's choice applies")
	var described string
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector("#frequency-medium").getAttribute("aria-describedby").split(" ")
		.map(id => document.getElementById(id).textContent).join(" | ")`, &described)))
	require.Equal(t, "At most one email a week and three every 30 days. Only between 08:00 and 20:00 local time. We aim to write at least once every 30 days. | "+
		"We never write more often than your account allows, whatever you choose.", described, "a screen reader hears the meaning with the choice")

	// Frequency and topic.
	var text string
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Click(`label[for="frequency-medium"]`, chromedp.ByQuery),
		chromedp.Click(`label[for="topic-offers"]`, chromedp.ByQuery),
		chromedp.Click(`#save button[type="submit"]`, chromedp.ByQuery),
		heading("Your preferences were saved"), shot.take("2-saved"),
		chromedp.Text("main", &text, chromedp.ByQuery)))
	require.Contains(t, text, "How often: “About once a week” (before: “Everything, up to daily”).")
	require.Contains(t, text, "You will no longer receive email about Offers.")
	pageChecks(t, ctx)
	s := a.pcSnapshot(id)
	require.Equal(t, "medium", s.PreferredTier)
	require.Equal(t, "offers", s.Topics)
	var api struct {
		PreferredTier  string     `json:"preferred_tier"`
		TopicsOptedOut []string   `json:"topics_opted_out"`
		PausedUntil    *time.Time `json:"paused_until"`
		Status         string
	}
	code, raw := a.call("GET", "/api/v1/contacts/"+itoa(id), a.Key, nil, &api)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Equal(t, "medium", api.PreferredTier)
	require.Equal(t, []string{"offers"}, api.TopicsOptedOut)
	offers := a.pcSend("Offers", "offers", id)
	_, reason, _ := a.pcDelivery(offers, id, "skipped")
	require.Equal(t, "topic_opt_out", reason)

	// Pause for 30 days.
	require.NoError(t, chromedp.Run(ctx, back, heading("Your email preferences"),
		chromedp.Evaluate(`document.querySelector("#frequency-medium").checked && !document.querySelector("#topic-offers").checked`, &checked)))
	require.True(t, checked, "the saved choices are shown")
	require.NoError(t, chromedp.Run(ctx, frequencies))
	require.Contains(t, choices[1], "About once a week Applies now: your choice", "the customer's choice applies now, and says so")
	require.NotContains(t, choices[0], "Applies now")
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Click(`button[value="30d"]`, chromedp.ByQuery),
		heading("Your preferences were saved"), shot.take("3-paused"),
		chromedp.Text("main", &text, chromedp.ByQuery)))
	require.Contains(t, text, "Marketing email is paused until")
	code, _ = a.call("GET", "/api/v1/contacts/"+itoa(id), a.Key, nil, &api)
	require.Equal(t, http.StatusOK, code)
	require.NotNil(t, api.PausedUntil)
	require.WithinDuration(t, time.Now().Add(30*24*time.Hour), *api.PausedUntil, time.Minute)
	paused := a.pcSend("While paused", "product-news", id)
	_, reason, _ = a.pcDelivery(paused, id, "skipped")
	require.Equal(t, "paused", reason)

	// Resume now.
	require.NoError(t, chromedp.Run(ctx, back, heading("Your email preferences"), shot.take("4-paused-page"),
		chromedp.Click(`button[value="resume"]`, chromedp.ByQuery),
		heading("Your preferences were saved"),
		chromedp.Text("main", &text, chromedp.ByQuery)))
	require.Contains(t, text, "The pause has ended")
	require.Empty(t, a.pcSnapshot(id).PausedUntil)

	// Unsubscribe from everything.
	require.NoError(t, chromedp.Run(ctx, back, heading("Your email preferences"),
		chromedp.Click(`#unsubscribe button`, chromedp.ByQuery),
		heading("Your preferences were saved"), shot.take("5-unsubscribed"),
		chromedp.Text("main", &text, chromedp.ByQuery)))
	require.Contains(t, text, "You are unsubscribed from all marketing email.")
	require.Equal(t, "unsubscribed", a.pcSnapshot(id).Status)
	require.Equal(t, "unsubscribe", a.pcSuppression(email))
	kind, actor, _ := a.pcLastEvent(id)
	require.Equal(t, []string{"unsubscribed", "customer"}, []string{kind, actor})
	gone := a.pcSend("After unsubscribe", "product-news", id)
	_, reason, _ = a.pcDelivery(gone, id, "skipped")
	require.Equal(t, "unsubscribed", reason)

	// Resubscribe.
	require.NoError(t, chromedp.Run(ctx, back, heading("Your email preferences"), shot.take("6-unsubscribed-page"),
		chromedp.Click(`#resubscribe button`, chromedp.ByQuery),
		heading("Your preferences were saved"), shot.take("7-resubscribed"),
		chromedp.Text("main", &text, chromedp.ByQuery)))
	require.Contains(t, text, "You are subscribed to our email again.")
	require.Equal(t, "active", a.pcSnapshot(id).Status)
	require.Empty(t, a.pcSuppression(email))
	a.pcAgeHistory(id) // so the caps cannot be why the next one waits
	again := a.pcSend("Welcome back", "product-news", id)
	a.pcWaitMessageTo(email, 2)
	_, _, tier := a.pcDelivery(again, id, "sent")
	require.Equal(t, "medium", tier, "sent at the customer's chosen frequency")

	// The unsubscribe link's page: a GET asks, its button unsubscribes.
	require.NoError(t, chromedp.Run(ctx, chromedp.Navigate(unsub), heading("Unsubscribe from Rapport Demo Inc.'s email?"),
		shot.take("8-unsubscribe-page")))
	pageChecks(t, ctx)
	require.Equal(t, "active", a.pcSnapshot(id).Status, "opening the page changed nothing")
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Click(`form button[type="submit"]`, chromedp.ByQuery),
		heading("You are unsubscribed"), shot.take("9-unsubscribe-done")))
	require.Equal(t, "unsubscribed", a.pcSnapshot(id).Status)

	// A forged link: the plain 404 page.
	require.NoError(t, chromedp.Run(ctx, chromedp.Navigate(prefs[:len(prefs)-2]), heading("Page not found"), shot.take("10-not-found")))
}

// TestBrowserRiverUI opens River's UI in chromium under the headers rapport
// adds (its Content-Security-Policy above all): the app renders with no
// policy violation, and a request its own page makes the way River's
// frontend does (a JSON body without a Content-Type, which the browser
// labels text/plain) passes the cross-origin and content-type checks.
func TestBrowserRiverUI(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	a := startApp(t, nil)
	id := a.pcContact("night@example.com", "high", zoneAt(2), "en")
	camp := a.pcSend("Morning news", "product-news", id)
	a.pcDelivery(camp, id, "scheduled")
	var jobID int64
	require.Eventually(t, func() bool {
		return a.DB.QueryRow(context.Background(), "SELECT id FROM river_job WHERE kind = 'send_batch' AND state = 'scheduled'").Scan(&jobID) == nil
	}, 10*time.Second, 50*time.Millisecond)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+a.Key))
	var rendered bool
	var violations []string
	var status int
	require.NoError(t, chromedp.Run(ctx,
		network.Enable(),
		network.SetExtraHTTPHeaders(network.Headers{"Authorization": auth}),
		chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(`window.__csp = [];
				document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + e.blockedURI));`).Do(ctx)
			return err
		}),
		chromedp.Navigate(a.Base+"/riverui/jobs?state=scheduled"),
		chromedp.Poll(`document.querySelector("#root") && document.querySelector("#root").innerText.includes("send_batch")`, &rendered,
			chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Evaluate(`window.__csp`, &violations),
		chromedp.Evaluate(`fetch("/riverui/api/jobs/delete", {method: "POST", body: JSON.stringify({ids: ["`+itoa(jobID)+`"]})}).then(r => r.status)`,
			&status, func(p *cdpruntime.EvaluateParams) *cdpruntime.EvaluateParams { return p.WithAwaitPromise(true) }),
	))
	require.True(t, rendered, "River's UI lists the scheduled send job")
	// zod, in River's bundle, probes for eval with a Function("") in a
	// try/catch and does without it when the policy refuses: the one
	// violation expected, and harmless.
	violations = slices.DeleteFunc(violations, func(v string) bool { return v == "script-src eval" })
	require.Empty(t, violations, "no other Content-Security-Policy violation")
	require.Equal(t, http.StatusOK, status, "River's own page may still delete a job")
	var n int
	require.NoError(t, a.DB.QueryRow(context.Background(), "SELECT count(*) FROM river_job WHERE id = $1", jobID).Scan(&n))
	require.Zero(t, n)
}
