package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/throttle"
)

// Throttles reads and changes the send rates (throttle.Limiter).
type Throttles interface {
	Get(ctx context.Context) (throttle.Settings, error)
	Put(ctx context.Context, actor string, s throttle.Settings) (throttle.Settings, error)
}

// throttlesJSON is the send-rate settings as the API answers them.
type throttlesJSON struct {
	GlobalPerSecond float64            `json:"global_per_second"`
	Domains         map[string]float64 `json:"domains"`
	UpdatedAt       *time.Time         `json:"updated_at,omitempty"`
}

func (s *Server) getThrottles(c echo.Context) error {
	t, err := s.Throttles.Get(c.Request().Context())
	if err != nil {
		return err
	}
	out := throttlesJSON{GlobalPerSecond: t.GlobalPerSecond, Domains: t.Domains}
	if !t.UpdatedAt.IsZero() {
		out.UpdatedAt = &t.UpdatedAt
	}
	if out.Domains == nil {
		out.Domains = map[string]float64{}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) putThrottles(c echo.Context) error {
	var in struct {
		GlobalPerSecond *float64           `json:"global_per_second"`
		Domains         map[string]float64 `json:"domains"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.GlobalPerSecond == nil {
		return newBadRequest("global_per_second", "is required (0 means no global limit)")
	}
	ctx := c.Request().Context()
	if _, err := s.Throttles.Put(ctx, actor(c), throttle.Settings{GlobalPerSecond: *in.GlobalPerSecond, Domains: in.Domains}); err != nil {
		return err
	}
	return s.getThrottles(c)
}
