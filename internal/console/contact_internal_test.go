package console

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
)

// TestContactUnknownTier: a contact page rendered from a tier list that
// lacks the contact's assigned tier (a list read before the tier was
// created: the foreign key keeps such a contact out of the database, so
// the page is built here from a list without it) says that no tier is in
// force, as the planner sees it, not even the customer's own choice, and
// shows no cadence; the tier can still be changed.
func TestContactUnknownTier(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := postgres.NewStore(pgtest.Pool(t), nil)
	require.NoError(t, store.Seed(ctx))
	c, err := New(Deps{Store: store, Log: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	ct, _, err := store.UpsertContact(ctx, "test", outreach.Contact{Email: "ada@example.com", Tier: "medium"})
	require.NoError(t, err)
	pc, err := store.SetPreferences(ctx, ct.ID, postgres.PrefOrigin{Actor: "customer"}, "low", nil)
	require.NoError(t, err)
	ct = pc.Contact
	all, err := store.Tiers(ctx)
	require.NoError(t, err)
	var without []outreach.Tier
	for _, tr := range all {
		if tr.Key != "medium" {
			without = append(without, tr)
		}
	}

	page := func(tiers []outreach.Tier) string {
		rec := httptest.NewRecorder()
		ec := echo.New().NewContext(httptest.NewRequest(http.MethodGet, contactPath(ct.ID), nil), rec)
		ec.Set(ctxUser, &postgres.User{Email: "m@example.com", Role: outreach.RoleMarketer})
		require.NoError(t, c.contactPageOf(ec, http.StatusOK, ct, nil, tiers))
		require.Equal(t, http.StatusOK, rec.Code)
		return rec.Body.String()
	}
	body := page(without)
	require.Contains(t, body, `<strong>No tier in force</strong> <span class="badge wait">assigned tier unknown</span>`)
	require.Contains(t, body, "The assigned tier “medium” is not in the tier list, so no tier is in force for this contact")
	require.Contains(t, body, "not even their own choice, “Only important updates”")
	require.Contains(t, body, "No marketing message is planned or sent to them meanwhile (reason no_tier)")
	require.Contains(t, body, "Assign a tier that exists to fix it.")
	require.NotContains(t, body, "customer’s choice</span>")
	require.NotContains(t, body, "<dt>How often</dt>")
	require.Contains(t, body, `action="`+contactPath(ct.ID)+`/tier"`, "the way to fix it")

	// With the whole list the same contact has the customer's tier in force.
	body = page(all)
	require.NotContains(t, body, "No tier in force")
	require.Contains(t, body, "<strong>Only important updates</strong> <span class=\"muted\">(low)</span>")
}
