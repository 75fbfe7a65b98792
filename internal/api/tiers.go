package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// tierInput is a tier as clients write it: its fields and its rule, flat.
type tierInput struct {
	Key         string `json:"key"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Rank        *int   `json:"rank"`
	Selectable  bool   `json:"selectable"`
	outreach.RuleSpec
}

func (in tierInput) tier() (outreach.Tier, error) {
	rule, errs := in.RuleSpec.Rule()
	if in.Rank == nil {
		errs = append(errs, outreach.FieldError{Field: "rank", Message: "is required (higher means a closer relationship)"})
	}
	if in.Caps == nil {
		errs = append(errs, outreach.FieldError{Field: "caps", Message: "at least one cap is required"})
	}
	if len(errs) > 0 {
		return outreach.Tier{}, outreach.Invalid(errs...)
	}
	return outreach.Tier{Key: in.Key, Name: in.Name, Description: in.Description, Rank: *in.Rank, Selectable: in.Selectable, Rule: rule}, nil
}

func (s *Server) getTier(c echo.Context) error {
	t, err := s.Store.Tier(c.Request().Context(), c.Param("key"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toTierJSON(t))
}

func (s *Server) createTier(c echo.Context) error {
	var in tierInput
	if err := decode(c, &in); err != nil {
		return err
	}
	t, err := in.tier()
	if err != nil {
		return err
	}
	created, err := s.Store.CreateTier(c.Request().Context(), actor(c), t)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toTierJSON(created))
}

func (s *Server) putTier(c echo.Context) error {
	var in tierInput
	if err := decode(c, &in); err != nil {
		return err
	}
	key := c.Param("key")
	if in.Key != "" && in.Key != key {
		return outreach.Invalid(outreach.FieldError{Field: "key", Message: "must match the key in the path (keys cannot be renamed)"})
	}
	in.Key = key
	t, err := in.tier()
	if err != nil {
		return err
	}
	updated, err := s.Store.UpdateTier(c.Request().Context(), actor(c), t)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toTierJSON(updated))
}

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

func (s *Server) tierHistory(c echo.Context) error {
	key := c.Param("key")
	if _, err := s.Store.Tier(c.Request().Context(), key); err != nil {
		return err
	}
	before, limit, err := paging(c)
	if err != nil {
		return err
	}
	entries, err := s.Store.AuditEntries(c.Request().Context(), "tier", key, before, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(entries, limit, func(e outreach.AuditEntry) int64 { return e.ID },
		func(e outreach.AuditEntry) auditJSON { return toAuditJSON(e) }))
}

var _ = strconv.Itoa
