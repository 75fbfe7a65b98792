package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

type keyJSON struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func toKeyJSON(k postgres.APIKey) keyJSON {
	return keyJSON{ID: k.ID, Name: k.Name, Role: string(k.Role), Prefix: k.Prefix,
		CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt}
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

func (s *Server) listKeys(c echo.Context) error {
	after, limit, err := paging(c)
	if err != nil {
		return err
	}
	keys, err := s.Store.Keys(c.Request().Context(), after, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(keys, limit, func(k postgres.APIKey) int64 { return k.ID }, toKeyJSON))
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
