package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// requireEventsSecret authenticates the bounce webhook with its own shared
// secret (EVENTS_SECRET), never an API key: providers get only this power.
func (s *Server) requireEventsSecret(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tok, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		if s.EventsSecret == "" || !ok {
			return outreach.Errorf(outreach.EUNAUTHORIZED, "send the events secret as Authorization: Bearer <EVENTS_SECRET>")
		}
		if err := s.authAllowed(c); err != nil {
			return err
		}
		a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(s.EventsSecret))
		if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
			s.authFailed(c)
			return outreach.Errorf(outreach.EUNAUTHORIZED, "wrong events secret")
		}
		return next(c)
	}
}

func (s *Server) postEvent(c echo.Context) error {
	var in struct {
		Type  string `json:"type"`
		Email string `json:"email"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	limit := s.SoftBounceLimit
	if limit <= 0 {
		limit = 3
	}
	reason, err := s.Store.BounceEvent(c.Request().Context(), in.Type, in.Email, limit, 30*24*time.Hour)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"type": in.Type, "suppressed": reason != "", "reason": reason})
}
