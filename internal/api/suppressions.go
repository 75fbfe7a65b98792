package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

type suppressionJSON struct {
	Email     *string   `json:"email"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
}

func (s *Server) listSuppressions(c echo.Context) error {
	after, limit, err := paging(c)
	if err != nil {
		return err
	}
	rows, err := s.Store.Suppressions(c.Request().Context(), after, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(rows, limit, func(r postgres.Suppression) int64 { return r.ID },
		func(r postgres.Suppression) suppressionJSON {
			return suppressionJSON{Email: strPtr(r.Email), Reason: string(r.Reason), CreatedAt: r.CreatedAt}
		}))
}

func (s *Server) addSuppression(c echo.Context) error {
	var in struct {
		Email  string `json:"email"`
		Reason string `json:"reason"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	reason := outreach.SuppressionReason(in.Reason)
	switch reason {
	case "":
		reason = outreach.SuppressManual
	case outreach.SuppressManual, outreach.SuppressBounce, outreach.SuppressComplaint, outreach.SuppressUnsubscribe:
	default:
		return outreach.Invalid(outreach.FieldError{Field: "reason", Message: "must be manual, hard_bounce, complaint or unsubscribe"})
	}
	inserted, err := s.Store.Suppress(c.Request().Context(), actor(c), in.Email, reason)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if inserted {
		status = http.StatusCreated
	}
	email, _ := outreach.NormalizeEmail(in.Email)
	return c.JSON(status, suppressionJSON{Email: &email, Reason: string(reason), CreatedAt: s.Clock.Now()})
}

func (s *Server) deleteSuppression(c echo.Context) error {
	email, err := url.PathUnescape(c.Param("email"))
	if err != nil {
		return outreach.Errorf(outreach.ENOTFOUND, "no suppression for that address")
	}
	if err := s.Store.Unsuppress(c.Request().Context(), actor(c), email); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// requireEventsSecret authenticates the bounce webhook with its own shared
// secret (EVENTS_SECRET), never an API key: providers get only this power.
func (s *Server) requireEventsSecret(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tok, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		if s.EventsSecret == "" || !ok {
			return outreach.Errorf(outreach.EUNAUTHORIZED, "send the events secret as Authorization: Bearer <EVENTS_SECRET>")
		}
		a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(s.EventsSecret))
		if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
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
