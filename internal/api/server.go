// Package api is rapport's HTTP surface, served by Echo: the admin API
// (auth by API key and role, strict JSON decoding, one file per resource
// with its own request and response types, and the one place domain
// errors become RFC 9457 problem documents), with the customer pages,
// River's UI and the probes mounted on the same router, all listed in
// routes.go. Nothing below this package imports Echo.
package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/rapport-dev/rapport/internal/ops"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/prefcenter"
)

// Deps is what the API needs.
type Deps struct {
	Store     *postgres.Store
	Campaigns Campaigns
	// Insights is relationship insight: fatigue, pressure, what-if, drift.
	Insights  Insights
	Log       *slog.Logger
	Clock     outreach.Clock
	Ready     func(context.Context) error
	BodyLimit string
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []*net.IPNet
	Throttles      Throttles
	// HTTPMetrics records every request by route template (nil: none).
	HTTPMetrics HTTPMetrics
	// RiverUI is River's web UI, mounted under /riverui for admins.
	RiverUI http.Handler
	// Pages are the customer pages (preference center, unsubscribe),
	// mounted on the same router; nil leaves them out.
	Pages *prefcenter.Pages
	// EventsSecret authenticates POST /api/v1/events; empty disables it.
	EventsSecret string
	// SoftBounceLimit soft bounces within 30 days suppress an address.
	SoftBounceLimit int
	// ImportBodyLimit bounds a CSV import's body in bytes (default 1 GiB);
	// BodyLimit does not apply to the import, which streams.
	ImportBodyLimit int64
}

// HTTPMetrics records requests (metrics.Registry).
type HTTPMetrics interface {
	HTTPRequest(route, method string, status int, d time.Duration)
}

// Server is the HTTP API.
type Server struct {
	Deps
	log *slog.Logger
	e   *echo.Echo
}

// New builds the server and its routes.
func New(d Deps) *Server {
	if d.BodyLimit == "" {
		d.BodyLimit = "1M"
	}
	if d.ImportBodyLimit <= 0 {
		d.ImportBodyLimit = 1 << 30
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.JSONSerializer = jsonSerializer{}
	// The client address is the direct peer unless a trusted proxy
	// forwards it, so X-Forwarded-For cannot be forged to dodge limits.
	if len(d.TrustedProxies) > 0 {
		opts := []echo.TrustOption{echo.TrustLoopback(false)}
		for _, n := range d.TrustedProxies {
			opts = append(opts, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(opts...)
	} else {
		e.IPExtractor = echo.ExtractIPDirect()
	}
	s := &Server{Deps: d, log: d.Log, e: e}
	e.HTTPErrorHandler = s.errorHandler
	e.Use(middleware.RequestID())
	e.Use(s.requestLog())
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: d.BodyLimit, Skipper: isImport}))
	s.routes()
	return s
}

// ServeHTTP makes the server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.e.ServeHTTP(w, r) }

// requestLog logs one JSON line per request: never bodies, query strings or
// headers, which may carry tokens or personal data.
func (s *Server) requestLog() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogMethod: true, LogRoutePath: true, LogLatency: true, LogRequestID: true, LogError: true,
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			}
			s.log.LogAttrs(c.Request().Context(), level, "request",
				slog.String("request_id", v.RequestID), slog.String("method", v.Method),
				slog.String("route", v.RoutePath), slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency))
			if s.HTTPMetrics != nil {
				s.HTTPMetrics.HTTPRequest(v.RoutePath, v.Method, v.Status, v.Latency)
			}
			return nil
		},
	})
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz tells anonymous callers only ok or not ok; why goes to the log.
func (s *Server) readyz(c echo.Context) error {
	if err := ops.Ready(c.Request().Context(), s.Ready); err != nil {
		s.log.Warn("not ready", "error", err.Error())
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// Routes lists every route the server serves.
func (s *Server) Routes() []*echo.Route { return s.e.Routes() }
