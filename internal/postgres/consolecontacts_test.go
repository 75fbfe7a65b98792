package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// TestContactsFilters walks every combination of tier and status filter
// a page of two at a time: each query (primary key, tier index, partial
// status index) lists exactly the matching contacts, in id order.
func TestContactsFilters(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	tiers := []string{"low", "medium", "high"}
	statuses := map[int]outreach.SuppressionReason{1: outreach.SuppressUnsubscribe, 2: outreach.SuppressBounce, 3: outreach.SuppressComplaint}
	var all []outreach.Contact
	for i := range 17 {
		c, _, err := s.UpsertContact(ctx, "test", outreach.Contact{Email: fmt.Sprintf("c%d@example.com", i), Tier: tiers[i%3]})
		require.NoError(t, err)
		if r, ok := statuses[i%5]; ok {
			_, err := s.Suppress(ctx, "test", c.Email, r)
			require.NoError(t, err)
		}
		c, err = s.Contact(ctx, c.ID)
		require.NoError(t, err)
		all = append(all, c)
	}
	for _, tier := range append([]string{""}, tiers...) {
		for _, status := range []string{"", "active", "unsubscribed", "bounced", "complained"} {
			var want, got []int64
			for _, c := range all {
				if (tier == "" || c.Tier == tier) && (status == "" || string(c.Status) == status) {
					want = append(want, c.ID)
				}
			}
			after := int64(0)
			for {
				page, err := s.Contacts(ctx, postgres.ContactFilter{Tier: tier, Status: status, AfterID: after, Limit: 2})
				require.NoError(t, err)
				for _, c := range page {
					got = append(got, c.ID)
				}
				if len(page) < 2 {
					break
				}
				after = page[len(page)-1].ID
			}
			require.Equal(t, want, got, "tier %q status %q", tier, status)
		}
	}
}

// TestFindContacts: by the whole address in any case, or the whole
// external id; two contacts when each matches one.
func TestFindContacts(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	ada, _, err := s.UpsertContact(ctx, "test", outreach.Contact{Email: "ada@example.com", Tier: "high", ExternalID: "crm-7"})
	require.NoError(t, err)
	odd, _, err := s.UpsertContact(ctx, "test", outreach.Contact{Email: "odd@example.com", Tier: "low", ExternalID: "ada@example.com"})
	require.NoError(t, err)
	ids := func(q string) []int64 {
		cs, err := s.FindContacts(ctx, q)
		require.NoError(t, err)
		var out []int64
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	require.Equal(t, []int64{ada.ID}, ids(" ADA@example.COM "), "any case, trimmed")
	require.Equal(t, []int64{ada.ID}, ids("crm-7"))
	require.Empty(t, ids("CRM-7"), "external ids are exact")
	require.Empty(t, ids("crm"))
	require.Empty(t, ids(""))
	require.Equal(t, []int64{ada.ID, odd.ID}, ids("ada@example.com"), "one by address, one by external id")
}

// TestOverdueContacts: active contacts past the target interval of their
// effective tier (the preferred one when stricter), by assigned tier and
// within an id range.
func TestOverdueContacts(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t) // now: 2026-12-01 10:00 UTC; targets low 90d, medium 30d, high 14d
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	days := func(n int) *time.Time { t := now.Add(-time.Duration(n) * 24 * time.Hour); return &t }
	mk := func(email, tier, preferred string, created int, sent *time.Time) outreach.Contact {
		c, _, err := s.UpsertContact(ctx, "test", outreach.Contact{Email: email, Tier: tier, PreferredTier: preferred})
		require.NoError(t, err)
		_, err = pool.Exec(ctx, "UPDATE contacts SET created_at = $2 WHERE id = $1", c.ID, *days(created))
		require.NoError(t, err)
		if sent != nil {
			_, err = pool.Exec(ctx, "INSERT INTO contact_last_sent (contact_id, last_sent_at) VALUES ($1, $2)", c.ID, *sent)
			require.NoError(t, err)
		}
		return c
	}
	c1 := mk("c1@example.com", "high", "", 20, nil)            // never written to in 20 days: overdue
	mk("c2@example.com", "high", "", 100, days(10))            // written to 10 days ago
	mk("c3@example.com", "high", "low", 100, days(20))         // chose low (90d): not yet
	mk("c4@example.com", "medium", "high", 100, days(20))      // chose more: medium (30d) applies
	c5 := mk("c5@example.com", "medium", "", 40, nil)          // overdue
	c6 := mk("c6@example.com", "low", "", 200, nil)            // overdue, until they unsubscribe
	c7 := mk("c7@example.com", "medium", "low", 200, days(95)) // chose low, and 95 days is past that too
	_, err := s.Suppress(ctx, "test", c6.Email, outreach.SuppressUnsubscribe)
	require.NoError(t, err)
	ids := func(f postgres.OverdueFilter) []int64 {
		f.Limit = 10
		cs, err := s.OverdueContacts(ctx, f)
		require.NoError(t, err)
		var out []int64
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	require.Equal(t, []int64{c1.ID, c5.ID, c7.ID}, ids(postgres.OverdueFilter{}))
	require.Equal(t, []int64{c5.ID, c7.ID}, ids(postgres.OverdueFilter{Tier: "medium"}))
	require.Equal(t, []int64{c1.ID}, ids(postgres.OverdueFilter{ThroughID: c1.ID}))
	require.Empty(t, ids(postgres.OverdueFilter{AfterID: c1.ID, ThroughID: c5.ID - 1}))
	require.Equal(t, []int64{c7.ID}, ids(postgres.OverdueFilter{AfterID: c5.ID}))
	api, err := s.Overdue(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, api, 3, "the API's overdue list is the same")
}

// TestContactCount counts a small table exactly.
func TestContactCount(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	for i := range 3 {
		contact(t, s, fmt.Sprintf("n%d@example.com", i))
	}
	n, exact, err := s.ContactCount(ctx)
	require.NoError(t, err)
	require.True(t, exact)
	require.Equal(t, int64(3), n)
	last, err := s.LastContactID(ctx)
	require.NoError(t, err)
	require.Positive(t, last)
}

// TestUpdateContactRecordsChanges: an update puts what it changed on the
// timeline and in the audit log, under its actor; one that changes
// nothing records nothing.
func TestUpdateContactRecordsChanges(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	c := contact(t, s, "ada@example.com")
	_, err := s.UpdateContact(ctx, "user:grace@example.com", c.ID, func(x *outreach.Contact) error {
		x.Tier, x.Name = "low", "Ada Lovelace"
		return nil
	})
	require.NoError(t, err)
	_, err = s.UpdateContact(ctx, "user:grace@example.com", c.ID, func(x *outreach.Contact) error { return nil })
	require.NoError(t, err)

	items, err := s.Timeline(ctx, c.ID, nil, 10)
	require.NoError(t, err)
	var updates []postgres.TimelineItem
	for _, it := range items {
		if it.Event == "contact_update" {
			updates = append(updates, it)
		}
	}
	require.Len(t, updates, 1, "the second update changed nothing")
	require.Equal(t, "user:grace@example.com", updates[0].Actor)
	var detail struct{ Before, After map[string]any }
	require.NoError(t, json.Unmarshal(updates[0].Detail, &detail))
	require.Equal(t, map[string]any{"tier": "high", "name": "Ada"}, detail.Before)
	require.Equal(t, map[string]any{"tier": "low", "name": "Ada Lovelace"}, detail.After)

	entries, err := s.Audit(ctx, postgres.AuditFilter{Entity: "contact", EntityID: fmt.Sprint(c.ID), Limit: 10})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "update", entries[0].Action)
	require.Equal(t, "user:grace@example.com", entries[0].Actor)
	require.JSONEq(t, `{"tier":"low","name":"Ada Lovelace"}`, string(entries[0].After))

	require.NoError(t, s.EraseContact(ctx, "test", c.ID))
	var kept int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE entity = 'contact' AND after::text LIKE '%Lovelace%'").Scan(&kept))
	require.Zero(t, kept, "erasure scrubs the name from the audit log")
	require.True(t, slices.ContainsFunc(mustAudit(t, s, c.ID), func(e outreach.AuditEntry) bool { return e.Action == "update" && e.After == nil }),
		"who changed the contact stays")
}

func mustAudit(t *testing.T, s *postgres.Store, id int64) []outreach.AuditEntry {
	t.Helper()
	entries, err := s.Audit(context.Background(), postgres.AuditFilter{Entity: "contact", EntityID: fmt.Sprint(id), Limit: 10})
	require.NoError(t, err)
	return entries
}
