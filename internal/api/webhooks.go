package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/endpoints"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// Endpoints registers webhook endpoints (endpoints.Service).
type Endpoints interface {
	Create(ctx context.Context, actor string, d endpoints.Draft) (postgres.WebhookEndpoint, string, error)
	Update(ctx context.Context, actor string, id int64, c endpoints.Change) (postgres.WebhookEndpoint, error)
}

type webhookJSON struct {
	ID             int64      `json:"id"`
	URL            string     `json:"url"`
	Events         []string   `json:"events"`
	Description    string     `json:"description"`
	Status         string     `json:"status"`
	Secret         string     `json:"secret,omitempty"`
	CreatedBy      string     `json:"created_by"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	FailingSince   *time.Time `json:"failing_since"`
	DisabledAt     *time.Time `json:"disabled_at"`
	DisabledReason string     `json:"disabled_reason"`
}

func (s *Server) toWebhookJSON(e postgres.WebhookEndpoint) webhookJSON {
	return webhookJSON{ID: e.ID, URL: e.URL, Events: e.Events, Description: e.Description,
		Status: endpoints.Status(e, s.Clock.Now()), CreatedBy: e.CreatedBy, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
		FailingSince: e.FailingSince, DisabledAt: e.DisabledAt, DisabledReason: e.DisabledReason}
}

func (s *Server) createWebhook(c echo.Context) error {
	var in struct {
		URL         string   `json:"url"`
		Events      []string `json:"events"`
		Description string   `json:"description"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	e, secret, err := s.Endpoints.Create(c.Request().Context(), actor(c), endpoints.Draft{URL: in.URL, Events: in.Events,
		Description: in.Description})
	if err != nil {
		return err
	}
	out := s.toWebhookJSON(e)
	out.Secret = secret
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) listWebhooks(c echo.Context) error {
	after, limit, err := paging(c)
	if err != nil {
		return err
	}
	es, err := s.Store.WebhookEndpoints(c.Request().Context(), after, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(es, limit, func(e postgres.WebhookEndpoint) int64 { return e.ID }, s.toWebhookJSON))
}

func (s *Server) getWebhook(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	e, err := s.Store.WebhookEndpoint(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.toWebhookJSON(e))
}

// webhookReadOnly are the fields of a webhook that GET answers but PATCH
// cannot write.
var webhookReadOnly = map[string]string{"id": "is assigned by the server", "status": "follows from enabled and deliveries",
	"created_by": "is recorded by the server", "created_at": "is recorded by the server", "updated_at": "is recorded by the server",
	"failing_since": "follows from deliveries", "disabled_at": "is set through enabled", "disabled_reason": "is set through enabled",
}

func (s *Server) patchWebhook(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	body, raw, err := patchBody(c, webhookReadOnly)
	if err != nil {
		return err
	}
	var in struct {
		URL         *string  `json:"url"`
		Events      []string `json:"events"`
		Description *string  `json:"description"`
		Enabled     *bool    `json:"enabled"`
		// Sent back from a GET, read-only fields are ignored.
		ID             json.RawMessage `json:"id"`
		Status         json.RawMessage `json:"status"`
		CreatedBy      json.RawMessage `json:"created_by"`
		CreatedAt      json.RawMessage `json:"created_at"`
		UpdatedAt      json.RawMessage `json:"updated_at"`
		FailingSince   json.RawMessage `json:"failing_since"`
		DisabledAt     json.RawMessage `json:"disabled_at"`
		DisabledReason json.RawMessage `json:"disabled_reason"`
	}
	if err := decodeFrom(bytes.NewReader(body), &in); err != nil {
		return err
	}
	if _, ok := raw["events"]; ok && in.Events == nil {
		in.Events = []string{} // an explicit null or [] is an error, not "unchanged"
	}
	e, err := s.Endpoints.Update(c.Request().Context(), actor(c), id, endpoints.Change{URL: in.URL, Events: in.Events,
		Description: in.Description, Enabled: in.Enabled})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.toWebhookJSON(e))
}

func (s *Server) deleteWebhook(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.Store.DeleteWebhookEndpoint(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type webhookAttemptJSON struct {
	ID         int64     `json:"id"`
	EventID    string    `json:"event_id"`
	Type       string    `json:"type"`
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code"`
	LatencyMS  int64     `json:"latency_ms"`
	Error      string    `json:"error"`
}

func toWebhookAttemptJSON(a postgres.WebhookLogEntry) webhookAttemptJSON {
	return webhookAttemptJSON{ID: a.ID, EventID: a.EventID, Type: a.Type, Attempt: a.Attempt, At: a.At,
		StatusCode: a.StatusCode, LatencyMS: a.Latency.Milliseconds(), Error: a.Error}
}

// webhookDeliveries is an endpoint's delivery log, newest first.
func (s *Server) webhookDeliveries(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	before, limit, err := paging(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.Store.WebhookEndpoint(ctx, id); err != nil {
		return err
	}
	log, err := s.Store.WebhookLog(ctx, id, before, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(log, limit, func(a postgres.WebhookLogEntry) int64 { return a.ID }, toWebhookAttemptJSON))
}
