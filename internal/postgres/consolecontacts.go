package postgres

import (
	"context"
	"reflect"
	"slices"
	"strings"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// FindContacts returns the contacts whose email address (in any case) or
// external id is exactly q: at most two, each found through its unique
// index.
func (s *Store) FindContacts(ctx context.Context, q string) ([]outreach.Contact, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, nil
	}
	email, ok := outreach.NormalizeEmail(q)
	if !ok {
		email = strings.ToLower(q)
	}
	rows, err := s.q.ContactFind(ctx, dbsqlc.ContactFindParams{Email: email, ExternalID: &q})
	if err != nil {
		return nil, mapError("find contacts", err)
	}
	return contactsFromRows(rows), nil
}

// exactCountBelow is the size under which ContactCount counts exactly:
// small tables count in no time, and a new table has no statistics.
const exactCountBelow = 10_000

// ContactCount is how many contacts there are: estimated from the
// planner's statistics (exact is false) without reading the table, or
// counted when there are fewer than ten thousand.
func (s *Store) ContactCount(ctx context.Context) (n int64, exact bool, err error) {
	n, err = s.q.ContactsEstimate(ctx)
	if err != nil {
		return 0, false, mapError("estimate contacts", err)
	}
	if n >= exactCountBelow {
		return n, false, nil
	}
	n, err = s.q.ContactsCount(ctx)
	return n, true, mapError("count contacts", err)
}

// LastContactID is the highest contact id (0 when there is none).
func (s *Store) LastContactID(ctx context.Context) (int64, error) {
	r, err := s.q.ContactIDRange(ctx)
	return r.Hi, mapError("last contact id", err)
}

// contactChanges are the fields a contact update changed, as they were and
// as they are, in the API's names: what its timeline event and audit
// entry record.
func contactChanges(before, after outreach.Contact) (was, is map[string]any) {
	was, is = map[string]any{}, map[string]any{}
	diff := func(field string, b, a any, same bool) {
		if !same {
			was[field], is[field] = b, a
		}
	}
	diff("email", before.Email, after.Email, before.Email == after.Email)
	diff("external_id", before.ExternalID, after.ExternalID, before.ExternalID == after.ExternalID)
	diff("name", before.Name, after.Name, before.Name == after.Name)
	diff("locale", before.Locale, after.Locale, before.Locale == after.Locale)
	diff("timezone", before.Timezone, after.Timezone, before.Timezone == after.Timezone)
	diff("tier", before.Tier, after.Tier, before.Tier == after.Tier)
	diff("preferred_tier", before.PreferredTier, after.PreferredTier, before.PreferredTier == after.PreferredTier)
	diff("topics_opted_out", before.TopicsOptedOut, after.TopicsOptedOut, slices.Equal(before.TopicsOptedOut, after.TopicsOptedOut))
	diff("paused_until", before.PausedUntil, after.PausedUntil, equalTime(before.PausedUntil, after.PausedUntil))
	diff("attributes", before.Attributes, after.Attributes, reflect.DeepEqual(before.Attributes, after.Attributes))
	return was, is
}
