package main

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// signIn signs in with a password that needs no replacing.
func (c *consoleTab) signIn(base, email, pw string) {
	c.t.Helper()
	c.run(chromedp.Navigate(base+"/console/sign-in"), heading("Sign in to rapport"), setValue("#f-email", email),
		setValue("#f-password", pw), click(`form[action="/console/sign-in"] button`), heading("Dashboard"))
}

// TestBrowserConsoleCampaigns drives a marketer's campaign through the
// console in headless chromium, against `rapport serve` and its real SMTP
// sink: a template error comes back on its line, the draft with a
// variant for the high tier is saved, previewed for the sample contact,
// the high variant and a contact found by address, its forecast chart
// read, the launch confirmed with the number of people it reaches, and
// the run view, polled by htmx without a reload, reaches the final
// counts as the messages arrive. The calendar shows a recurring
// campaign in the viewer's zone; the deliveries list follows a count's
// link. axe-core finds nothing serious on any page; screenshots are
// saved as console-campaigns-*.png.
func TestBrowserConsoleCampaigns(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	addr := freeAddr(t)
	base := "http://" + addr
	a := startApp(t, map[string]string{"HTTP_ADDR": addr, "PUBLIC_URL": base})
	zone := zoneInWindow()
	code, imp, raw := a.importCSV(a.Key, "", "text/csv", "email,name,tier,timezone\n"+
		"grace@example.com,Grace Hopper,high,"+zone+"\nalan@example.com,Alan Turing,high,"+zone+"\nada@example.com,Ada Lovelace,medium,"+zone+"\n")
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Equal(t, 3, imp.Created)
	// A recurring campaign for the calendar, armed through the API.
	var weekly struct{ ID int64 }
	code, raw = a.call("POST", "/api/v1/campaigns", a.Key, map[string]any{"name": "Monday letter", "topic": "product-news",
		"subject": "S", "text": "T", "html": "<p>H</p>", "cron": "0 9 * * MON", "timezone": "Europe/Berlin",
		"audience": map[string]any{"contact_ids": []int64{999999}}}, &weekly)
	require.Equal(t, http.StatusCreated, code, string(raw))
	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(weekly.ID)+"/schedule", a.Key, nil, nil)
	require.Equal(t, http.StatusOK, code, string(raw))

	store := postgres.NewStore(a.DB, nil)
	_, u, err := store.CreateUser(context.Background(), "test", postgres.NewUser{Email: "mia@example.com", Name: "Mia Marketer", Role: outreach.RoleMarketer})
	require.NoError(t, err)
	_, err = store.SetPassword(context.Background(), "test", u.ID, "mia's long passphrase")
	require.NoError(t, err)

	tab := newConsoleTab(t, ctx, "console-campaigns")
	tab.signIn(base, "mia@example.com", "mia's long passphrase")
	tab.run(click(`nav a[href="/console/campaigns"]`), heading("Campaigns"))
	tab.page("list")

	// The calendar, in New York time.
	tab.run(click(`a[href="/console/campaigns/calendar"]`), heading("Campaign calendar"), setValue("#f-tz", "America/New_York"),
		click(`.zone-form button`), waitFor(`document.querySelector("#f-tz-hint").textContent.includes("America/New_York")`))
	next, err := nextMondayNine()
	require.NoError(t, err)
	tab.run(chromedp.Navigate(base+"/console/campaigns/calendar?view=week&date="+next.Format(time.DateOnly)), heading("Campaign calendar"))
	var week string
	tab.run(text("ol.cal-week", &week))
	require.Contains(t, week, next.Format("15:04")+" Monday letter", "09:00 in Berlin, in New York time")
	tab.page("calendar-week")
	tab.run(click(`.cal-nav a:last-child`), heading("Campaign calendar"), waitFor(`document.querySelector("table.cal-month")`))
	tab.page("calendar-month")

	// A draft: a template error first, then the real thing.
	tab.run(chromedp.Navigate(base+"/console/campaigns/new"), heading("New campaign"))
	tab.page("new")
	tab.run(setValue("#f-name", "Autumn news"), setValue("#f-topic", "product-news"), setValue("#f-subject", "Hello {{.Contact.Name}}"),
		setValue("#f-text", "Hello {{.Contact.Name}},\nthe news."), setValue("#f-html", "<p>Hello</p>\n<p>{{.Contact.Nmae}</p>"),
		click(`#variant-high summary`),
		setValue("#f-variants-high-subject", "For you first, {{.Contact.Name}}"),
		setValue("#f-variants-high-text", "Before anyone else: the news."), setValue("#f-variants-high-html", "<p>Before anyone else.</p>"),
		click(`button[value="save"]`), waitFor(`document.querySelector("#f-html-error")`))
	var msg string
	tab.run(text("#f-html-error", &msg))
	require.Contains(t, msg, "line 2:")
	tab.page("new-error")
	tab.run(setValue("#f-html", "<p>Hello {{.Contact.Name}}</p>\n<p>The news.</p>"), click(`button[value="save"]`),
		heading("Autumn news"), flashSays("The draft “Autumn news” is saved."))
	tab.page("draft")
	var path string
	tab.run(chromedp.Evaluate(`location.pathname`, &path))

	// The preview: the sample contact, the high variant, a real contact.
	tab.run(click(`a[href="`+path+`/preview"]`), heading("Preview “Autumn news”"), waitFor(`document.querySelector("iframe.preview-frame")`))
	var headers string
	tab.run(text("table.headers", &headers))
	require.Contains(t, headers, "Hello Ada Lovelace")
	require.Contains(t, headers, "List-Unsubscribe=One-Click")
	// A full-page screenshot leaves out the sandboxed frame (another
	// process); the viewport's shows it.
	var shot []byte
	tab.run(chromedp.ScrollIntoView("iframe", chromedp.ByQuery), chromedp.Sleep(300*time.Millisecond), chromedp.CaptureScreenshot(&shot))
	require.NoError(t, os.WriteFile(filepath.Join(tab.dir, "console-campaigns-preview-frame.png"), shot, 0o644))
	tab.page("preview")
	tab.run(click(`nav.tabs a[href$="tier=high"]`), waitFor(`document.querySelector("table.headers").textContent.includes("For you first, Ada Lovelace")`))
	tab.page("preview-high")
	tab.run(setValue("#q", "grace@"), click(`form.search button`), waitFor(`document.querySelector("#matches-h")`),
		click(`ul.links a`), waitFor(`document.querySelector(".preview-who").textContent.includes("grace@example.com")`))
	tab.run(text("table.headers", &headers))
	require.Contains(t, headers, "For you first, Grace Hopper", "her tier's variant")
	tab.page("preview-contact")

	// The forecast, then the launch.
	tab.run(chromedp.Navigate(base+path), heading("Autumn news"), click(`a[href="`+path+`/launch"]`), heading("Launch “Autumn news”"))
	var size string
	var bars int
	tab.run(text("#audience-size", &size), chromedp.Evaluate(`document.querySelectorAll("svg.chart rect").length`, &bars))
	require.Equal(t, "3", size)
	require.Greater(t, bars, 2, "the chart has bars")
	tab.page("launch")
	tab.run(click(`a[href="`+path+`/send"]`), heading("Send “Autumn news”?"))
	var lines string
	tab.run(text("main", &lines))
	require.Contains(t, lines, "It goes to an audience of 3 contacts, now: 3 would be sent at the firing")
	tab.page("send-confirm")

	// The run view: htmx swaps the counts in until they are final.
	tab.run(click(`button.danger`), heading("Autumn news"), flashSays("“Autumn news” is sending."),
		chromedp.Evaluate(`window.stillHere = true`, nil))
	msgs := a.SMTP.Wait(3, 20*time.Second)
	tab.run(waitFor(`document.querySelector("#progress-sent").textContent === "3"`))
	var stillHere bool
	var total string
	tab.run(chromedp.Evaluate(`window.stillHere === true`, &stillHere), text("#progress-total", &total))
	require.True(t, stillHere, "the counts came without a reload")
	require.Equal(t, "3", total)
	tab.page("run")
	subjects := map[string]int{}
	for _, m := range msgs {
		s, err := new(mime.WordDecoder).DecodeHeader(m.Parsed(t).Header.Get("Subject"))
		require.NoError(t, err)
		subjects[s]++
	}
	require.Equal(t, map[string]int{"For you first, Grace Hopper": 1, "For you first, Alan Turing": 1, "Hello Ada Lovelace": 1}, subjects)

	// The deliveries the "sent" count links to.
	tab.run(click(`#progress-table tfoot a[href*="state=sent"]`), heading("Deliveries of “Autumn news”"))
	var rows int
	tab.run(chromedp.Evaluate(`document.querySelectorAll("table.deliveries tbody tr").length`, &rows))
	require.Equal(t, 3, rows)
	tab.page("deliveries")
	tab.run(chromedp.Navigate(base+"/console/campaigns"), heading("Campaigns"))
	tab.page("list-after")
}

// nextMondayNine is the next firing of "0 9 * * MON" in Berlin, in New
// York time.
func nextMondayNine() (time.Time, error) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.Time{}, err
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		return time.Time{}, err
	}
	now := time.Now().In(berlin)
	for d := 0; d < 8; d++ {
		t := time.Date(now.Year(), now.Month(), now.Day()+d, 9, 0, 0, 0, berlin)
		if t.Weekday() == time.Monday && t.After(now) {
			return t.In(ny), nil
		}
	}
	return time.Time{}, fmt.Errorf("no Monday")
}
