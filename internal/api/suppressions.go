package api

import (
	"net/http"
	"net/url"
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
	if reason == "" {
		reason = outreach.SuppressManual
	}
	if !reason.Settable() {
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
