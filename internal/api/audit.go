package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

type auditJSON struct {
	ID       int64           `json:"id"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Entity   string          `json:"entity"`
	EntityID string          `json:"entity_id"`
	Before   json.RawMessage `json:"before"`
	After    json.RawMessage `json:"after"`
	At       time.Time       `json:"at"`
}

func toAuditJSON(e outreach.AuditEntry) auditJSON {
	out := auditJSON{ID: e.ID, Actor: e.Actor, Action: e.Action, Entity: e.Entity, EntityID: e.EntityID, Before: e.Before, After: e.After, At: e.CreatedAt}
	if len(out.Before) == 0 {
		out.Before = json.RawMessage("null")
	}
	if len(out.After) == 0 {
		out.After = json.RawMessage("null")
	}
	return out
}

func auditID(e outreach.AuditEntry) int64 { return e.ID }

func (s *Server) listAudit(c echo.Context) error {
	before, limit, err := paging(c)
	if err != nil {
		return err
	}
	entries, err := s.Store.Audit(c.Request().Context(), postgres.AuditFilter{Entity: c.QueryParam("entity"),
		EntityID: c.QueryParam("entity_id"), BeforeID: before, Limit: limit + 1})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(entries, limit, auditID, toAuditJSON))
}
