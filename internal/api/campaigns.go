package api

import (
	"bytes"
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// Campaigns is the campaign service (campaign.Service).
type Campaigns interface {
	Create(ctx context.Context, actor string, d campaign.Draft, idem *postgres.Idem) (outreach.Campaign, bool, error)
	Update(ctx context.Context, actor string, id int64, change func(*campaign.Draft) error) (outreach.Campaign, error)
	Get(ctx context.Context, id int64) (outreach.Campaign, error)
	List(ctx context.Context, status outreach.CampaignStatus, afterID int64, limit int) ([]outreach.Campaign, error)
	Progress(ctx context.Context, id int64) (campaign.Stats, error)
	Send(ctx context.Context, actor string, id int64, idem *postgres.Idem) (outreach.Campaign, int64, bool, error)
	Schedule(ctx context.Context, actor string, id int64, sendAt *time.Time) (outreach.Campaign, error)
	Pause(ctx context.Context, actor string, id int64) (outreach.Campaign, error)
	Resume(ctx context.Context, actor string, id int64) (outreach.Campaign, error)
	Cancel(ctx context.Context, actor string, id int64) (outreach.Campaign, error)
	Preview(ctx context.Context, actor string, campaignID int64, req campaign.PreviewRequest) (campaign.Preview, error)
	Forecast(ctx context.Context, id int64) (campaign.Forecast, error)
}

// campaignInput is a campaign as clients write it.
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

func (in campaignInput) draft() campaign.Draft {
	d := campaign.Draft{Name: in.Name, Topic: in.Topic, Category: outreach.Category(in.Category), Priority: in.Priority,
		Content: outreach.Content{Subject: in.Subject, Text: in.Text, HTML: in.HTML}, Variants: in.Variants,
		Audience: in.Audience, SendAt: in.SendAt, Cron: in.Cron, Timezone: in.Timezone}
	if in.ExpiresAfter != nil {
		e := time.Duration(*in.ExpiresAfter)
		d.ExpiresAfter = &e
	}
	return d
}

func inputOf(d campaign.Draft) campaignInput {
	in := campaignInput{Name: d.Name, Topic: d.Topic, Category: string(d.Category), Priority: d.Priority,
		Subject: d.Content.Subject, Text: d.Content.Text, HTML: d.Content.HTML, Variants: d.Variants,
		Audience: d.Audience, SendAt: d.SendAt, Cron: d.Cron, Timezone: d.Timezone}
	if d.ExpiresAfter != nil {
		e := outreach.Duration(*d.ExpiresAfter)
		in.ExpiresAfter = &e
	}
	return in
}

// campaignJSON is a campaign as the API answers it.
type campaignJSON struct {
	ID           int64                       `json:"id"`
	Name         string                      `json:"name"`
	Topic        *string                     `json:"topic"`
	Category     string                      `json:"category"`
	Priority     int                         `json:"priority"`
	Subject      string                      `json:"subject"`
	Text         string                      `json:"text"`
	HTML         string                      `json:"html"`
	Variants     map[string]outreach.Content `json:"variants"`
	Audience     outreach.Audience           `json:"audience"`
	SendAt       *time.Time                  `json:"send_at"`
	Cron         *string                     `json:"cron"`
	Timezone     *string                     `json:"timezone"`
	ExpiresAfter *outreach.Duration          `json:"expires_after"`
	Status       string                      `json:"status"`
	NextRunAt    *time.Time                  `json:"next_run_at"`
	CreatedAt    time.Time                   `json:"created_at"`
	UpdatedAt    time.Time                   `json:"updated_at"`
}

func toCampaignJSON(c outreach.Campaign) campaignJSON {
	out := campaignJSON{ID: c.ID, Name: c.Name, Topic: strPtr(c.Topic), Category: string(c.Category), Priority: c.Priority,
		Subject: c.Content.Subject, Text: c.Content.Text, HTML: c.Content.HTML, Variants: c.Variants, Audience: c.Audience,
		SendAt: c.SendAt, Cron: strPtr(c.Cron), Timezone: strPtr(c.Timezone), Status: string(c.Status),
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if c.Status == outreach.CampaignScheduled && c.Cron != "" {
		out.NextRunAt = c.NextFireAt
	}
	if out.Variants == nil {
		out.Variants = map[string]outreach.Content{}
	}
	if out.Audience.Tiers == nil {
		out.Audience.Tiers = []string{}
	}
	if out.Audience.Topics == nil {
		out.Audience.Topics = []string{}
	}
	if out.Audience.Attributes == nil {
		out.Audience.Attributes = map[string]string{}
	}
	if out.Audience.ContactIDs == nil {
		out.Audience.ContactIDs = []int64{}
	}
	if c.ExpiresAfter > 0 {
		d := outreach.Duration(c.ExpiresAfter)
		out.ExpiresAfter = &d
	}
	return out
}

func (s *Server) createCampaign(c echo.Context) error {
	idem, err := idempotency(c, "create_campaign")
	if err != nil {
		return err
	}
	var in campaignInput
	if err := decode(c, &in); err != nil {
		return err
	}
	created, replayed, err := s.Campaigns.Create(c.Request().Context(), actor(c), in.draft(), idem)
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
	camp, err := s.Campaigns.Get(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toCampaignJSON(camp))
}

func (s *Server) listCampaigns(c echo.Context) error {
	after, limit, err := paging(c)
	if err != nil {
		return err
	}
	status := outreach.CampaignStatus(c.QueryParam("status"))
	switch status {
	case "", outreach.CampaignDraft, outreach.CampaignScheduled, outreach.CampaignRunning, outreach.CampaignPaused,
		outreach.CampaignCompleted, outreach.CampaignCanceled:
	default:
		return newBadRequest("status", "must be draft, scheduled, running, paused, completed or canceled")
	}
	rows, err := s.Campaigns.List(c.Request().Context(), status, after, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(rows, limit, func(r outreach.Campaign) int64 { return r.ID }, toCampaignJSON))
}

// campaignPatch is a PATCH body: the fields to change, or the whole
// campaign as GET answers it. The read-only fields GET adds are read so that
// a read-modify-write round trip is accepted: created_at, updated_at and
// next_run_at are ignored; id and status are ignored when they match the
// campaign and refused (422) otherwise. Unknown fields are still refused.
type campaignPatch struct {
	campaignInput
	ID        *int64     `json:"id"`
	Status    *string    `json:"status"`
	CreatedAt *time.Time `json:"created_at"`
	UpdatedAt *time.Time `json:"updated_at"`
	NextRunAt *time.Time `json:"next_run_at"`
}

// campaignReadOnly are the read-only fields of a campaign, with why.
var campaignReadOnly = map[string]string{
	"id":          "a campaign's id cannot be changed",
	"status":      campaignStatusRule,
	"created_at":  "set by the server",
	"updated_at":  "set by the server",
	"next_run_at": "set by the server",
}

const campaignStatusRule = "a campaign's status changes through POST /api/v1/campaigns/{id}/schedule, " +
	"/send, /pause, /resume and /cancel, not PATCH"

// patchCampaign starts from the campaign as it is and lets the body's fields
// replace it; unknown fields are rejected as on create.
func (s *Server) patchCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	body, raw, err := patchBody(c, campaignReadOnly)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	updated, err := s.Campaigns.Update(ctx, actor(c), id, func(d *campaign.Draft) error {
		p := campaignPatch{campaignInput: inputOf(*d)}
		if err := decodeFrom(bytes.NewReader(body), &p); err != nil {
			return err
		}
		if _, ok := raw["id"]; ok && (p.ID == nil || *p.ID != id) {
			return outreach.Invalid(outreach.FieldError{Field: "id", Message: "must match the id in the path (ids cannot be changed)"})
		}
		if _, ok := raw["status"]; ok {
			// Only drafts are written and no campaign returns to draft, so a
			// status that differs now cannot match when the write happens.
			cur, err := s.Campaigns.Get(ctx, id)
			if err != nil {
				return err
			}
			if p.Status == nil || *p.Status != string(cur.Status) {
				return outreach.Invalid(outreach.FieldError{Field: "status",
					Message: "cannot be changed (the campaign is " + string(cur.Status) + "): " + campaignStatusRule})
			}
		}
		// GET answers an empty topic, cron or timezone as null: null sent
		// back means empty (decoding null into a string would keep the
		// current value).
		for k, dst := range map[string]*string{"topic": &p.Topic, "cron": &p.Cron, "timezone": &p.Timezone} {
			if string(raw[k]) == "null" {
				*dst = ""
			}
		}
		*d = p.draft()
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toCampaignJSON(updated))
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
	camp, runID, replayed, err := s.Campaigns.Send(c.Request().Context(), actor(c), id, idem)
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

// campaignAction answers a lifecycle change with the campaign as it is
// after it.
func (s *Server) campaignAction(c echo.Context, act func(id int64) (outreach.Campaign, error)) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	camp, err := act(id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toCampaignJSON(camp))
}

func (s *Server) scheduleCampaign(c echo.Context) error {
	var in struct {
		SendAt *time.Time `json:"send_at"`
	}
	if err := decodeOptional(c, &in); err != nil {
		return err
	}
	return s.campaignAction(c, func(id int64) (outreach.Campaign, error) {
		return s.Campaigns.Schedule(c.Request().Context(), actor(c), id, in.SendAt)
	})
}

func (s *Server) pauseCampaign(c echo.Context) error {
	return s.campaignAction(c, func(id int64) (outreach.Campaign, error) {
		return s.Campaigns.Pause(c.Request().Context(), actor(c), id)
	})
}

func (s *Server) resumeCampaign(c echo.Context) error {
	return s.campaignAction(c, func(id int64) (outreach.Campaign, error) {
		return s.Campaigns.Resume(c.Request().Context(), actor(c), id)
	})
}

func (s *Server) cancelCampaign(c echo.Context) error {
	return s.campaignAction(c, func(id int64) (outreach.Campaign, error) {
		return s.Campaigns.Cancel(c.Request().Context(), actor(c), id)
	})
}
