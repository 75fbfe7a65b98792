package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// contactInput is a contact as clients write it.
type contactInput struct {
	Email          string         `json:"email"`
	Name           string         `json:"name"`
	ExternalID     string         `json:"external_id"`
	Tier           string         `json:"tier"`
	PreferredTier  string         `json:"preferred_tier"`
	Timezone       string         `json:"timezone"`
	Locale         string         `json:"locale"`
	TopicsOptedOut []string       `json:"topics_opted_out"`
	PausedUntil    *time.Time     `json:"paused_until"`
	Attributes     map[string]any `json:"attributes"`
}

// contactJSON is a contact as the API answers it.
type contactJSON struct {
	ID             int64          `json:"id"`
	Email          string         `json:"email"`
	ExternalID     *string        `json:"external_id"`
	Name           string         `json:"name"`
	Tier           string         `json:"tier"`
	PreferredTier  *string        `json:"preferred_tier"`
	Timezone       string         `json:"timezone"`
	Locale         string         `json:"locale"`
	TopicsOptedOut []string       `json:"topics_opted_out"`
	PausedUntil    *time.Time     `json:"paused_until"`
	Attributes     map[string]any `json:"attributes"`
	Status         string         `json:"status"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
}

func toContactJSON(c outreach.Contact) contactJSON {
	return contactJSON{ID: c.ID, Email: c.Email, ExternalID: strPtr(c.ExternalID), Name: c.Name, Tier: c.Tier,
		PreferredTier: strPtr(c.PreferredTier), Timezone: c.Timezone, Locale: c.Locale, TopicsOptedOut: c.TopicsOptedOut,
		PausedUntil: c.PausedUntil, Attributes: c.Attributes, Status: string(c.Status), CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

func (s *Server) upsertContact(c echo.Context) error {
	var in contactInput
	if err := decode(c, &in); err != nil {
		return err
	}
	contact, inserted, err := s.Store.UpsertContact(c.Request().Context(), actor(c), outreach.Contact{
		Email: in.Email, Name: in.Name, ExternalID: in.ExternalID, Tier: in.Tier, PreferredTier: in.PreferredTier,
		Timezone: in.Timezone, Locale: in.Locale, TopicsOptedOut: in.TopicsOptedOut, PausedUntil: in.PausedUntil,
		Attributes: in.Attributes,
	})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if inserted {
		status = http.StatusCreated
	}
	return c.JSON(status, toContactJSON(contact))
}

func (s *Server) listContacts(c echo.Context) error {
	after, limit, err := paging(c)
	if err != nil {
		return err
	}
	f := postgres.ContactFilter{AfterID: after, Limit: limit + 1, Tier: c.QueryParam("tier"), Status: c.QueryParam("status")}
	if f.Status != "" && !outreach.ContactStatus(f.Status).Valid() {
		return newBadRequest("status", "must be active, unsubscribed, bounced, complained or erased")
	}
	if fault := outreach.LineFault(f.Tier); fault != "" {
		return newBadRequest("tier", fault)
	}
	var contacts []outreach.Contact
	switch c.QueryParam("overdue") {
	case "true":
		if f.Tier != "" || f.Status != "" {
			return newBadRequest("overdue", "cannot be combined with tier or status (overdue lists active contacts)")
		}
		contacts, err = s.Store.Overdue(c.Request().Context(), after, limit+1)
	case "", "false":
		contacts, err = s.Store.Contacts(c.Request().Context(), f)
	default:
		return newBadRequest("overdue", "must be true or false")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(contacts, limit, func(ct outreach.Contact) int64 { return ct.ID }, toContactJSON))
}

func (s *Server) getContact(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ct, err := s.Store.Contact(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toContactJSON(ct))
}

// contactPatchFields are the fields a PATCH may name: present keys replace
// the contact's values; null clears the nullable ones.
var contactPatchFields = map[string]bool{"email": true, "name": true, "external_id": true, "tier": true, "preferred_tier": true,
	"timezone": true, "locale": true, "topics_opted_out": true, "paused_until": true, "attributes": true}

// contactReadOnly are the fields a contact answers but a PATCH does not
// write, with why. Sent back (a read-modify-write round trip), they are
// ignored when they match the contact: created_at and updated_at always,
// id when it is the path's, status when it is the contact's; a different id
// or status is refused (422) and nothing is written.
var contactReadOnly = map[string]string{
	"id":         "a contact's id cannot be changed",
	"status":     contactStatusRule,
	"created_at": "set by the server",
	"updated_at": "set by the server",
}

const contactStatusRule = "a contact's status follows unsubscribes and suppressions (the unsubscribe link, " +
	"POST /api/v1/suppressions, DELETE /api/v1/suppressions/{email}, bounce and complaint events), not PATCH"

func (s *Server) patchContact(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := decode(c, &raw); err != nil {
		return err
	}
	for k := range raw {
		if _, ro := contactReadOnly[k]; !contactPatchFields[k] && !ro {
			return newBadRequest(k, "unknown field (or not changeable: status follows unsubscribes and suppressions)")
		}
	}
	if err := readOnlyOnly(raw, contactReadOnly); err != nil {
		return err
	}
	var ro struct {
		ID        *int64     `json:"id"`
		Status    *string    `json:"status"`
		CreatedAt *time.Time `json:"created_at"`
		UpdatedAt *time.Time `json:"updated_at"`
	}
	for _, f := range []struct {
		name string
		dst  any
	}{{"id", &ro.ID}, {"status", &ro.Status}, {"created_at", &ro.CreatedAt}, {"updated_at", &ro.UpdatedAt}} {
		if v, ok := raw[f.name]; ok && json.Unmarshal(v, f.dst) != nil {
			return newBadRequest(f.name, "has the wrong type")
		}
	}
	if _, ok := raw["id"]; ok && (ro.ID == nil || *ro.ID != id) {
		return outreach.Invalid(outreach.FieldError{Field: "id", Message: "must match the id in the path (ids cannot be changed)"})
	}
	ct, err := s.Store.UpdateContact(c.Request().Context(), actor(c), id, func(ct *outreach.Contact) error {
		if _, ok := raw["status"]; ok && (ro.Status == nil || *ro.Status != string(ct.Status)) {
			return outreach.Invalid(outreach.FieldError{Field: "status",
				Message: "cannot be changed (the contact is " + string(ct.Status) + "): " + contactStatusRule})
		}
		return applyContactPatch(ct, raw)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toContactJSON(ct))
}

func applyContactPatch(ct *outreach.Contact, raw map[string]json.RawMessage) error {
	set := func(field string, dst any) error {
		v, ok := raw[field]
		if !ok {
			return nil
		}
		if string(v) == "null" {
			switch d := dst.(type) {
			case *string:
				*d = ""
			case **time.Time:
				*d = nil
			case *map[string]any:
				*d = map[string]any{}
			case *[]string:
				*d = []string{}
			}
			return nil
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return newBadRequest(field, "has the wrong type")
		}
		return nil
	}
	for _, f := range []struct {
		name string
		dst  any
	}{{"email", &ct.Email}, {"name", &ct.Name}, {"external_id", &ct.ExternalID}, {"tier", &ct.Tier},
		{"preferred_tier", &ct.PreferredTier}, {"timezone", &ct.Timezone}, {"locale", &ct.Locale},
		{"topics_opted_out", &ct.TopicsOptedOut}, {"paused_until", &ct.PausedUntil}, {"attributes", &ct.Attributes}} {
		if err := set(f.name, f.dst); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) eraseContact(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.Store.EraseContact(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type timelineJSON struct {
	Type       string          `json:"type"` // delivery | event
	DeliveryID *int64          `json:"delivery_id,omitempty"`
	CampaignID *int64          `json:"campaign_id,omitempty"`
	State      string          `json:"state,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	Rule       string          `json:"rule,omitempty"`
	PlannedFor *time.Time      `json:"planned_for,omitempty"`
	SentAt     *time.Time      `json:"sent_at,omitempty"`
	Event      string          `json:"event,omitempty"`
	Detail     json.RawMessage `json:"detail,omitempty"`
	Actor      string          `json:"actor,omitempty"`
	At         time.Time       `json:"at"`
}

func (s *Server) contactTimeline(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	_, limit, err := paging(withoutCursor(c))
	if err != nil {
		return err
	}
	var after *postgres.TimelineCursor
	if raw := c.QueryParam("cursor"); raw != "" {
		after = &postgres.TimelineCursor{}
		b, err := base64.RawURLEncoding.DecodeString(raw)
		if err != nil || json.Unmarshal(b, after) != nil || (after.Kind != "delivery" && after.Kind != "event") {
			return newBadRequest("cursor", "is not a cursor this API returned")
		}
	}
	items, err := s.Store.Timeline(c.Request().Context(), id, after, limit+1)
	if err != nil {
		return err
	}
	out := page[timelineJSON]{Items: []timelineJSON{}}
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		b, _ := json.Marshal(postgres.TimelineCursor{At: last.At, Kind: last.Kind, ID: last.ID})
		out.NextCursor = base64.RawURLEncoding.EncodeToString(b)
	}
	for _, it := range items {
		j := timelineJSON{Type: it.Kind, At: it.At}
		if it.Kind == "delivery" {
			id := it.ID
			j.DeliveryID, j.CampaignID, j.State, j.Reason, j.Rule, j.PlannedFor, j.SentAt = &id, it.CampaignID, it.State, it.Reason, it.Rule, it.PlannedFor, it.SentAt
		} else {
			j.Event, j.Detail, j.Actor = it.Event, it.Detail, it.Actor
		}
		out.Items = append(out.Items, j)
	}
	return c.JSON(http.StatusOK, out)
}
