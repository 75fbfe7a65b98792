package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// TestBrowserConsoleContacts: a marketer finds a contact by address
// (htmx swaps the result in), opens them and reads why their message
// waits — the reason, the rule and until when — and whose cadence
// applies; changes their tier; then imports a CSV file with one bad row
// and reads that row's error with its line, the good rows imported.
// axe-core finds nothing serious on any page; screenshots are saved.
func TestBrowserConsoleContacts(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	addr := freeAddr(t)
	base := "http://" + addr
	a := startApp(t, map[string]string{"HTTP_ADDR": addr, "PUBLIC_URL": base})
	store := postgres.NewStore(a.DB, nil)
	bg := context.Background()

	// A marketer, and a contact whose next message waits for a cap.
	_, u, err := store.CreateUser(bg, "test", postgres.NewUser{Email: "mia@example.com", Name: "Mia Marketer", Role: outreach.RoleMarketer})
	require.NoError(t, err)
	_, err = store.SetPassword(bg, "test", u.ID, "mia's long passphrase")
	require.NoError(t, err)
	var ada struct {
		ID int64 `json:"id"`
	}
	code, body := a.call("POST", "/api/v1/contacts", a.Key, map[string]any{"email": "ada@example.com", "name": "Ada Lovelace",
		"tier": "medium", "timezone": "Europe/London", "external_id": "crm-42"}, &ada)
	require.Equal(t, http.StatusCreated, code, string(body))
	planned := time.Now().Add(50 * time.Hour).UTC().Truncate(time.Minute)
	var campaignID, runID int64
	require.NoError(t, a.DB.QueryRow(bg, `INSERT INTO campaigns (name, topic, category, priority, content, status, created_at, updated_at)
		VALUES ('Autumn offers', 'offers', 'marketing', 50, '{}', 'running', now(), now()) RETURNING id`).Scan(&campaignID))
	require.NoError(t, a.DB.QueryRow(bg, `INSERT INTO campaign_runs (campaign_id, fire_at, status, created_at, updated_at)
		VALUES ($1, now(), 'planned', now(), now()) RETURNING id`, campaignID).Scan(&runID))
	_, err = a.DB.Exec(bg, `INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, rule,
		planned_for, created_at, updated_at) VALUES ($1, $2, $3, true, 50, 'medium', 'scheduled', 'deferred_cap', 'cap 1/7d', $4, now(), now())`,
		runID, campaignID, ada.ID, planned)
	require.NoError(t, err)

	tab := newConsoleTab(t, ctx, "marketer")
	tab.signIn(base, "mia@example.com", "mia's long passphrase")
	tab.run(click(`nav a[href="/console/contacts"]`), heading("Contacts"))
	tab.page("contacts")

	// Search: htmx swaps the result in without reloading the page.
	var reloaded bool
	tab.run(setValue("#q", "ADA@example.com"), chromedp.Evaluate(`window.stillHere = true`, nil),
		click(`form.search button[type=submit]`), waitFor(`location.search.includes("q=")`),
		waitFor(`document.querySelectorAll("#results tbody tr").length === 1`),
		chromedp.Evaluate(`window.stillHere !== true`, &reloaded))
	require.False(t, reloaded, "htmx swapped the result in")
	var row string
	tab.run(text("#results tbody tr", &row))
	require.Contains(t, row, "ada@example.com")
	require.Contains(t, row, "crm-42")
	tab.page("contacts-search")

	// The contact: why the message waits, by which rule, until when.
	tab.run(click(`#results tbody a[href^="/console/contacts/"]`), heading("ada@example.com"))
	var reason, code2, rule, until, inForce string
	tab.run(text("tr.tl-delivery .reason", &reason), text("tr.tl-delivery td:nth-child(3) code", &code2),
		text("tr.tl-delivery code.rule", &rule), text("tr.tl-delivery .planned-for", &until), text(".in-force", &inForce))
	require.Equal(t, "Deferred: a frequency cap was full", reason)
	require.Equal(t, "deferred_cap", code2)
	require.Equal(t, "cap 1/7d", rule)
	require.Equal(t, planned.Format("2 Jan 2006 15:04 UTC"), until)
	require.Contains(t, inForce, "About once a week")
	require.Contains(t, inForce, "company’s choice")
	var cell string
	tab.run(text("tr.tl-delivery td:nth-child(3)", &cell))
	require.Contains(t, cell, "At most one email a week.")
	require.Contains(t, cell, "Waits until")
	tab.page("contact")

	// The assigned tier, changed.
	tab.run(setValue("#f-tier", "high"), click(`form[action$="/tier"] button`), flashSays("The assigned tier is now high."))
	tab.run(text(".in-force", &inForce))
	require.Contains(t, inForce, "Everything, up to daily")
	tab.page("contact-tier-changed")
	got, err := store.Contact(bg, ada.ID)
	require.NoError(t, err)
	require.Equal(t, "high", got.Tier)

	// Import: one bad row, shown with its line; the others are in.
	file := filepath.Join(t.TempDir(), "contacts.csv")
	require.NoError(t, os.WriteFile(file, []byte("email,name,tier\nbea@example.com,Bea,low\nnot-an-address,Cy,low\ndee@example.com,Dee,high\n"), 0o644))
	tab.run(click(`nav a[href="/console/contacts"]`), heading("Contacts"), click(`a[href="/console/contacts/import"]`), heading("Import contacts"))
	tab.page("contact-import")
	tab.run(chromedp.SetUploadFiles("#f-file", []string{file}, chromedp.ByQuery), click(`#import-form button[type=submit]`),
		waitFor(`document.querySelector("#result-h")`))
	var result, errRow string
	tab.run(text("#result-h", &result), text("table.row-errors tbody tr", &errRow))
	require.Equal(t, "Imported: 3 rows read", strings.TrimSpace(result))
	require.Contains(t, errRow, "Line 3")
	require.Contains(t, errRow, "email")
	require.Contains(t, errRow, "must be a valid email address")
	tab.page("contact-import-result")
	for _, email := range []string{"bea@example.com", "dee@example.com"} {
		found, err := store.FindContacts(bg, email)
		require.NoError(t, err)
		require.Len(t, found, 1, email)
	}
}
