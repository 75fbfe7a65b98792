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
	"net/url"
	"strings"
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
	// PublicURL is the origin River's UI is served under when a proxy
	// rewrites the Host header (nil: the request's host alone).
	PublicURL *url.URL
	// Pages are the customer pages (preference center, unsubscribe),
	// mounted on the same router; nil leaves them out.
	Pages *prefcenter.Pages
	// Endpoints registers the outbound webhook endpoints.
	Endpoints Endpoints
	// Providers are the email providers' bounce and complaint webhooks.
	Providers Providers
	// Console is the web console, mounted under /console, where / sends
	// browsers; nil leaves it out.
	Console Console
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

// Console is the web console (internal/console) as the router mounts it:
// its own routes file lists its pages below the group it is given.
type Console interface {
	Mount(g *echo.Group)
}

// Server is the HTTP API.
type Server struct {
	Deps
	log      *slog.Logger
	e        *echo.Echo
	failures *authFailures
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
	clock := d.Clock
	if clock == nil {
		clock = outreach.SystemClock{}
	}
	s := &Server{Deps: d, log: d.Log, e: e, failures: newAuthFailures(clock.Now)}
	e.HTTPErrorHandler = s.errorHandler
	e.Use(middleware.RequestID())
	e.Use(noSniffNoStore)
	e.Use(s.requestLog())
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: d.BodyLimit, Skipper: isImport}))
	s.routes()
	return s
}

// noSniffNoStore sets, before anything can answer (errors included), what
// every answer carries: no content sniffing, and no caching of API
// answers, which hold contacts' data (River's hashed assets may be cached).
func noSniffNoStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if !strings.HasPrefix(c.Request().URL.Path, "/riverui/assets/") {
			h.Set("Cache-Control", "no-store")
		}
		return next(c)
	}
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
