package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
)

// contactPatch fields: present keys replace the contact's values; null
// clears the nullable ones.
var contactPatchFields = map[string]bool{"email": true, "name": true, "external_id": true, "tier": true, "preferred_tier": true,
	"timezone": true, "locale": true, "topics_opted_out": true, "paused_until": true, "attributes": true}

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
		if !contactPatchFields[k] {
			return newBadRequest(k, "unknown field (or not changeable: status follows unsubscribes and suppressions)")
		}
	}
	ct, err := s.Store.UpdateContact(c.Request().Context(), actor(c), id, func(ct *outreach.Contact) error {
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

func (s *Server) createTopic(c echo.Context) error {
	var in struct {
		Key  string `json:"key"`
		Name string `json:"name"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	t, err := s.Store.CreateTopic(c.Request().Context(), actor(c), outreach.Topic{Key: in.Key, Name: in.Name})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]string{"key": t.Key, "name": t.Name})
}

func (s *Server) listCampaigns(c echo.Context) error {
	after, limit, err := paging(c)
	if err != nil {
		return err
	}
	status := c.QueryParam("status")
	switch outreach.CampaignStatus(status) {
	case "", outreach.CampaignDraft, outreach.CampaignScheduled, outreach.CampaignRunning, outreach.CampaignPaused,
		outreach.CampaignCompleted, outreach.CampaignCanceled:
	default:
		return newBadRequest("status", "must be draft, scheduled, running, paused, completed or canceled")
	}
	rows, err := s.Store.CampaignList(c.Request().Context(), status, after, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(rows, limit, func(r outreach.Campaign) int64 { return r.ID },
		func(r outreach.Campaign) campaignJSON { return toCampaignJSON(r) }))
}

func (s *Server) patchCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	cur, err := s.Store.Campaign(c.Request().Context(), id)
	if err != nil {
		return err
	}
	// Start from the campaign as it is, then let the body's fields replace
	// it; unknown fields are rejected as on create.
	in := campaignInput{Name: cur.Name, Topic: cur.Topic, Category: string(cur.Category), Priority: &cur.Priority,
		Subject: cur.Content.Subject, Text: cur.Content.Text, HTML: cur.Content.HTML, Variants: cur.Variants,
		Audience: cur.Audience, SendAt: cur.SendAt, Cron: cur.Cron, Timezone: cur.Timezone}
	if cur.ExpiresAfter > 0 {
		d := outreach.Duration(cur.ExpiresAfter)
		in.ExpiresAfter = &d
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	camp, err := s.campaign(c, in)
	if err != nil {
		return err
	}
	camp.ID = id
	updated, err := s.Store.UpdateCampaign(c.Request().Context(), actor(c), camp)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toCampaignJSON(updated))
}

type tierStats struct {
	Total     int64            `json:"total"`
	Scheduled int64            `json:"scheduled"`
	Deferred  int64            `json:"deferred"`
	Sending   int64            `json:"sending"`
	Sent      int64            `json:"sent"`
	Skipped   map[string]int64 `json:"skipped"`
	Failed    map[string]int64 `json:"failed"`
	Unknown   int64            `json:"unknown"`
}

func (s *Server) campaignStats(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	rows, err := s.Store.CampaignStats(c.Request().Context(), id)
	if err != nil {
		return err
	}
	out := struct {
		CampaignID int64                 `json:"campaign_id"`
		Total      tierStats             `json:"total"`
		Tiers      map[string]*tierStats `json:"tiers"`
	}{CampaignID: id, Total: tierStats{Skipped: map[string]int64{}, Failed: map[string]int64{}}, Tiers: map[string]*tierStats{}}
	for _, r := range rows {
		ts := out.Tiers[r.Tier]
		if ts == nil {
			ts = &tierStats{Skipped: map[string]int64{}, Failed: map[string]int64{}}
			out.Tiers[r.Tier] = ts
		}
		for _, t := range []*tierStats{ts, &out.Total} {
			t.Total += r.N
			switch outreach.DeliveryState(r.State) {
			case outreach.DeliveryScheduled:
				if outreach.Reason(r.Reason) == outreach.ReasonScheduled {
					t.Scheduled += r.N
				} else {
					t.Deferred += r.N
				}
			case outreach.DeliverySending:
				t.Sending += r.N
			case outreach.DeliverySent:
				t.Sent += r.N
			case outreach.DeliverySkipped:
				t.Skipped[r.Reason] += r.N
			case outreach.DeliveryFailed:
				t.Failed[r.Reason] += r.N
			case outreach.DeliveryUnknown:
				t.Unknown += r.N
			}
		}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) previewCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in struct {
		ContactID int64 `json:"contact_id"`
	}
	if err := decodeOptional(c, &in); err != nil {
		return err
	}
	p, err := s.Launcher.Preview(c.Request().Context(), id, in.ContactID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

type deliveryJSON struct {
	ID         int64      `json:"id"`
	RunID      int64      `json:"run_id"`
	CampaignID int64      `json:"campaign_id"`
	ContactID  int64      `json:"contact_id"`
	Tier       string     `json:"tier"`
	State      string     `json:"state"`
	Reason     string     `json:"reason"`
	Rule       string     `json:"rule"`
	PlannedFor time.Time  `json:"planned_for"`
	Attempts   int32      `json:"attempts"`
	MessageID  *string    `json:"message_id"`
	SentAt     *time.Time `json:"sent_at"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

func (s *Server) listDeliveries(c echo.Context) error {
	after, limit, err := paging(c)
	if err != nil {
		return err
	}
	f := postgres.DeliveryFilter{AfterID: after, Limit: limit + 1, State: c.QueryParam("state"), Reason: c.QueryParam("reason")}
	for _, p := range []struct {
		name string
		dst  **int64
	}{{"campaign_id", &f.CampaignID}, {"contact_id", &f.ContactID}} {
		if v := c.QueryParam(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return newBadRequest(p.name, "must be a positive id")
			}
			*p.dst = &n
		}
	}
	if f.State != "" && !validState(f.State) {
		return newBadRequest("state", "must be scheduled, sending, sent, skipped, failed or unknown")
	}
	rows, err := s.Store.Deliveries(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(rows, limit, func(r dbsqlc.DeliveryListRow) int64 { return r.ID },
		func(r dbsqlc.DeliveryListRow) deliveryJSON {
			return deliveryJSON{ID: r.ID, RunID: r.RunID, CampaignID: r.CampaignID, ContactID: r.ContactID, Tier: r.Tier,
				State: r.State, Reason: r.Reason, Rule: r.Rule, PlannedFor: r.PlannedFor, Attempts: r.Attempts, MessageID: r.MessageID,
				SentAt: r.SentAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
		}))
}

func validState(s string) bool {
	switch outreach.DeliveryState(s) {
	case outreach.DeliveryScheduled, outreach.DeliverySending, outreach.DeliverySent, outreach.DeliverySkipped,
		outreach.DeliveryFailed, outreach.DeliveryUnknown:
		return true
	}
	return false
}

type keyJSON struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func (s *Server) listKeys(c echo.Context) error {
	after, limit, err := paging(c)
	if err != nil {
		return err
	}
	keys, err := s.Store.Keys(c.Request().Context(), after, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(keys, limit, func(k postgres.APIKey) int64 { return k.ID },
		func(k postgres.APIKey) keyJSON {
			return keyJSON{ID: k.ID, Name: k.Name, Role: string(k.Role), Prefix: k.Prefix,
				CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt}
		}))
}

func (s *Server) revokeKey(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.Store.RevokeKey(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listAudit(c echo.Context) error {
	before, limit, err := paging(c)
	if err != nil {
		return err
	}
	entries, err := s.Store.Audit(c.Request().Context(), c.QueryParam("entity"), c.QueryParam("entity_id"), before, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(entries, limit, func(e outreach.AuditEntry) int64 { return e.ID },
		func(e outreach.AuditEntry) auditJSON { return toAuditJSON(e) }))
}

// idempotency reads an Idempotency-Key header. The request is identified by
// route and body, so the same key with another request is refused rather
// than answered with the wrong result. It buffers the body so the handler
// can still decode it.
func idempotency(c echo.Context, route string) (*postgres.Idem, error) {
	key := c.Request().Header.Get("Idempotency-Key")
	if key == "" {
		return nil, nil
	}
	if len(key) > 255 {
		return nil, newBadRequest("Idempotency-Key", "must be at most 255 characters")
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return nil, decodeError(err)
	}
	c.Request().Body = io.NopCloser(bytes.NewReader(body))
	h := sha256.New()
	h.Write([]byte(c.Request().Method + " " + c.Request().URL.Path + "\n"))
	h.Write(body)
	k, _ := c.Get(keyContext).(postgres.APIKey)
	return &postgres.Idem{APIKeyID: k.ID, Key: key, Route: route, Hash: h.Sum(nil)}, nil
}
