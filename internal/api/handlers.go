package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/schedule"
)

func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func (s *Server) listTiers(c echo.Context) error {
	tiers, err := s.Store.Tiers(c.Request().Context())
	if err != nil {
		return err
	}
	out, err := pageByKey(c, tiers, func(t outreach.Tier) string { return t.Key }, toTierJSON)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

type topicJSON struct {
	Key  string `json:"key"`
	Name string `json:"name"`
}

func (s *Server) listTopics(c echo.Context) error {
	topics, err := s.Store.Topics(c.Request().Context())
	if err != nil {
		return err
	}
	out, err := pageByKey(c, topics, func(t outreach.Topic) string { return t.Key },
		func(t outreach.Topic) topicJSON { return topicJSON{t.Key, t.Name} })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

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
		return newBadRequest("status", "must be active, unsubscribed, bounced or complained")
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
	return c.JSON(http.StatusOK, pageOf(contacts, limit, func(ct outreach.Contact) int64 { return ct.ID },
		func(ct outreach.Contact) contactJSON { return toContactJSON(ct) }))
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

type campaignInput struct {
	Name         string                      `json:"name"`
	Topic        string                      `json:"topic"`
	Category     string                      `json:"category"`
	Priority     *int                        `json:"priority"`
	Subject      string                      `json:"subject"`
	Text         string                      `json:"text"`
	HTML         string                      `json:"html"`
	Variants     map[string]outreach.Content `json:"variants"`
	Audience     outreach.Audience           `json:"audience"`
	SendAt       *time.Time                  `json:"send_at"`
	Cron         string                      `json:"cron"`
	Timezone     string                      `json:"timezone"`
	ExpiresAfter *outreach.Duration          `json:"expires_after"`
}

// campaign validates the input against the tiers and topics that exist and
// renders every template once, so that nothing invalid is ever stored.
func (s *Server) campaign(c echo.Context, in campaignInput) (outreach.Campaign, error) {
	ctx := c.Request().Context()
	var errs []outreach.FieldError
	add := func(f, m string) { errs = append(errs, outreach.FieldError{Field: f, Message: m}) }
	out := outreach.Campaign{Name: strings.TrimSpace(in.Name), Topic: in.Topic, Category: outreach.Category(in.Category),
		Priority: 50, Content: outreach.Content{Subject: in.Subject, Text: in.Text, HTML: in.HTML},
		Variants: in.Variants, Audience: in.Audience, SendAt: in.SendAt, Cron: strings.TrimSpace(in.Cron), Timezone: in.Timezone}
	if out.Name == "" || len(out.Name) > 200 {
		add("name", "is required (at most 200 characters)")
	}
	if out.Category == "" {
		out.Category = outreach.Marketing
	}
	if out.Category != outreach.Marketing && out.Category != outreach.Transactional {
		add("category", "must be marketing or transactional")
	}
	if in.Priority != nil {
		out.Priority = *in.Priority
		if out.Priority < 0 || out.Priority > 100 {
			add("priority", "must be from 0 to 100")
		}
	}
	tiers, err := s.Store.Tiers(ctx)
	if err != nil {
		return out, err
	}
	topics, err := s.Store.Topics(ctx)
	if err != nil {
		return out, err
	}
	tierKeys, topicKeys := map[string]bool{}, map[string]bool{}
	for _, t := range tiers {
		tierKeys[t.Key] = true
	}
	for _, t := range topics {
		topicKeys[t.Key] = true
	}
	if out.Topic != "" && !topicKeys[out.Topic] {
		add("topic", "no such topic: "+out.Topic)
	}
	if out.Topic == "" && out.Category == outreach.Marketing {
		add("topic", "is required for marketing campaigns, so customers can opt out of it")
	}
	for i, t := range out.Audience.Tiers {
		if !tierKeys[t] {
			add("audience.tiers["+itoa(i)+"]", "no such tier: "+t)
		}
	}
	for i, t := range out.Audience.Topics {
		if !topicKeys[t] {
			add("audience.topics["+itoa(i)+"]", "no such topic: "+t)
		}
	}
	if len(out.Audience.ContactIDs) > 100000 {
		add("audience.contact_ids", "at most 100000 ids; use tiers, topics or attributes for larger audiences")
	}
	for _, te := range s.Renderer.Check(out.Content, "") {
		add(te.Field, te.Error()[len(te.Field)+2:])
	}
	for key, v := range out.Variants {
		if !tierKeys[key] {
			add("variants."+key, "no such tier: "+key)
			continue
		}
		for _, te := range s.Renderer.Check(v, "variants."+key+".") {
			add(te.Field, te.Error()[len(te.Field)+2:])
		}
	}
	if out.Cron != "" && out.SendAt != nil {
		add("cron", "give either send_at or cron, not both")
	}
	if out.Cron != "" {
		if _, err := schedule.Parse(out.Cron, out.Timezone); err != nil {
			add("cron", "invalid cron expression: "+err.Error())
		}
	} else if out.Timezone != "" {
		if _, ok := outreach.LoadZone(out.Timezone); !ok {
			add("timezone", "unknown time zone: "+out.Timezone)
		}
	}
	if in.ExpiresAfter != nil {
		out.ExpiresAfter = time.Duration(*in.ExpiresAfter)
		if out.ExpiresAfter <= 0 {
			add("expires_after", "must be a positive duration such as \"3d\"")
		}
	}
	if len(errs) > 0 {
		return out, outreach.Invalid(errs...)
	}
	return out, nil
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func (s *Server) createCampaign(c echo.Context) error {
	idem, err := idempotency(c, "create_campaign")
	if err != nil {
		return err
	}
	var in campaignInput
	if err := decode(c, &in); err != nil {
		return err
	}
	camp, err := s.campaign(c, in)
	if err != nil {
		return err
	}
	created, replayed, err := s.Store.CreateCampaignIdem(c.Request().Context(), actor(c), camp, idem)
	if err != nil {
		return err
	}
	if replayed {
		c.Response().Header().Set("Idempotent-Replayed", "true")
	}
	return c.JSON(http.StatusCreated, toCampaignJSON(created))
}

func (s *Server) getCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	camp, err := s.Store.Campaign(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toCampaignJSON(camp))
}

func (s *Server) sendCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	idem, err := idempotency(c, "send_campaign")
	if err != nil {
		return err
	}
	camp, runID, replayed, err := s.Launcher.SendNowIdem(c.Request().Context(), actor(c), id, idem)
	if err != nil {
		return err
	}
	if replayed {
		c.Response().Header().Set("Idempotent-Replayed", "true")
	}
	return c.JSON(http.StatusAccepted, struct {
		campaignJSON
		RunID int64 `json:"run_id"`
	}{toCampaignJSON(camp), runID})
}

func (s *Server) createKey(c echo.Context) error {
	var in struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	plain, key, err := s.Store.CreateKey(c.Request().Context(), actor(c), in.Name, outreach.Role(in.Role))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"id": key.ID, "name": key.Name, "role": key.Role, "key": plain, "created_at": key.CreatedAt})
}
