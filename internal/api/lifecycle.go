package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

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
		return s.Launcher.Schedule(c.Request().Context(), actor(c), id, in.SendAt)
	})
}

func (s *Server) pauseCampaign(c echo.Context) error {
	return s.campaignAction(c, func(id int64) (outreach.Campaign, error) {
		return s.Launcher.Pause(c.Request().Context(), actor(c), id)
	})
}

func (s *Server) resumeCampaign(c echo.Context) error {
	return s.campaignAction(c, func(id int64) (outreach.Campaign, error) {
		return s.Launcher.Resume(c.Request().Context(), actor(c), id)
	})
}

func (s *Server) cancelCampaign(c echo.Context) error {
	return s.campaignAction(c, func(id int64) (outreach.Campaign, error) {
		return s.Launcher.Cancel(c.Request().Context(), actor(c), id)
	})
}

func (s *Server) forecastCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	f, err := s.Launcher.Forecast(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, f)
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

// withoutCursor lets paging read only the limit for lists whose cursors are
// not plain ids.
func withoutCursor(c echo.Context) echo.Context {
	q := c.QueryParams()
	if _, ok := q["cursor"]; !ok {
		return c
	}
	r := c.Request().Clone(c.Request().Context())
	v := r.URL.Query()
	v.Del("cursor")
	r.URL.RawQuery = v.Encode()
	cc := c.Echo().NewContext(r, c.Response())
	return cc
}

var _ = strings.TrimSpace
