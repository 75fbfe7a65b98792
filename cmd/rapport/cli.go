package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rapport-dev/rapport/internal/api"
	"github.com/rapport-dev/rapport/internal/contactcsv"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// openStore migrates and opens the store for commands that need only the
// database.
func openStore(ctx context.Context, getenv func(string) string, stderr io.Writer) (*postgres.Store, func(), error) {
	pool, err := openDB(ctx, getenv, 4)
	if err != nil {
		return nil, nil, err
	}
	if err := postgres.Migrate(ctx, pool, newLogger("warn", "", stderr)); err != nil {
		pool.Close()
		return nil, nil, err
	}
	store := postgres.NewStore(pool, outreach.SystemClock{})
	if err := store.Seed(ctx); err != nil {
		pool.Close()
		return nil, nil, err
	}
	return store, pool.Close, nil
}

// contacts runs `rapport contacts import [--tier T] FILE` (- for stdin):
// the same streamed import as POST /api/v1/contacts/import.
func contacts(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "import" {
		return fmt.Errorf("usage: rapport contacts import [--tier TIER] FILE|-")
	}
	fs := flag.NewFlagSet("contacts import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tier := fs.String("tier", "", "tier for rows without one")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: rapport contacts import [--tier TIER] FILE|-")
	}
	in := io.Reader(os.Stdin)
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	store, closeDB, err := openStore(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	res, err := contactcsv.Import(ctx, store, "cli", in, *tier)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(api.ImportJSON(res))
}

// demoContacts are people in several tiers and time zones, so a forecast
// shows every kind of decision.
var demoContacts = []outreach.Contact{
	{Email: "ada@example.com", Name: "Ada Lovelace", Tier: "high", Timezone: "Europe/London"},
	{Email: "grace@example.com", Name: "Grace Hopper", Tier: "high", Timezone: "America/New_York"},
	{Email: "alan@example.com", Name: "Alan Turing", Tier: "medium", Timezone: "Europe/London", PreferredTier: "low"},
	{Email: "katherine@example.com", Name: "Katherine Johnson", Tier: "medium", Timezone: "America/Chicago"},
	{Email: "linus@example.com", Name: "Linus Torvalds", Tier: "low", Timezone: "Europe/Helsinki"},
	{Email: "radia@example.com", Name: "Radia Perlman", Tier: "medium", Timezone: "America/Los_Angeles", TopicsOptedOut: []string{"offers"}},
	{Email: "margaret@example.com", Name: "Margaret Hamilton", Tier: "high", Timezone: "Asia/Kolkata"},
	{Email: "tim@example.com", Name: "Tim Berners-Lee", Tier: "low", Timezone: "Europe/Zurich"},
}

// demo fills an empty installation with contacts and a draft campaign so
// the API has something to show.
func demo(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	store, closeDB, err := openStore(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	for _, c := range demoContacts {
		c.Attributes = map[string]any{"plan": "pro"}
		if _, _, err := store.UpsertContact(ctx, "demo", c); err != nil {
			return fmt.Errorf("demo contact %s: %w", c.Email, err)
		}
	}
	camp, err := store.CreateCampaign(ctx, "demo", outreach.Campaign{
		Name: "Demo: autumn product news", Topic: "product-news", Category: outreach.Marketing, Priority: 50,
		ExpiresAfter: 72 * time.Hour,
		Content: outreach.Content{
			Subject: "What's new this autumn, {{.Contact.Name}}",
			Text:    "Hello {{.Contact.Name}},\n\nHere is what we shipped this autumn.",
			HTML:    "<p>Hello {{.Contact.Name}},</p><p>Here is what we shipped this autumn.</p>",
		},
		Variants: map[string]outreach.Content{"high": {
			Subject: "A first look for you, {{.Contact.Name}}",
			Text:    "Hello {{.Contact.Name}},\n\nAs one of our closest customers, you see it first.",
			HTML:    "<p>Hello {{.Contact.Name}},</p><p>As one of our closest customers, you see it first.</p>",
		}},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `Demo data: %d contacts and draft campaign %d.
Next (with the server running and $KEY set):
  curl -s localhost:8080/api/v1/campaigns/%d/forecast -H "Authorization: Bearer $KEY"
  curl -s -X POST localhost:8080/api/v1/campaigns/%d/preview -H "Authorization: Bearer $KEY" -d '{"contact_id":1}'
  curl -s -X POST localhost:8080/api/v1/campaigns/%d/send -H "Authorization: Bearer $KEY"
`, len(demoContacts), camp.ID, camp.ID, camp.ID, camp.ID)
	return nil
}
