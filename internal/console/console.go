// Package console is rapport's web console for marketers and admins:
// server-rendered pages under /console, signed in with an email and a
// password, with exactly the API's roles.
//
// The rules it keeps:
//   - It is an HTTP adapter, like internal/api: every change goes through
//     the same store methods and services the API calls, audited with the
//     signed-in user as the actor ("user:<email>"). No rule has a second
//     copy here; domain errors come back onto the form's fields.
//   - Sessions live in PostgreSQL (scs), end after an idle time and an
//     absolute lifetime, and get a new token at sign-in. Every request
//     reads the user again, so a disabled user, or one whose role or
//     password changed, loses the old rights at their next request.
//   - Every route names the least role it needs (routes.go); every POST is
//     refused when the browser says it is cross-origin
//     (http.CrossOriginProtection) or its form lacks the session's
//     synchronizer token.
//   - Pages are html/template, embedded in the binary, served with a strict
//     Content-Security-Policy (no inline script or style), and work
//     without JavaScript: forms post, the answer redirects with a flash
//     message, and a form that fails comes back (422) with its values and
//     an error next to each field. htmx, vendored, only enhances.
//
// A page is a handler (a method on Console), a template in
// templates/console/pages/ and a line in routes.go; the tests walk every
// route in routes.go to check its role.
package console

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/throttle"
	"github.com/rapport-dev/rapport/internal/tuning"
)

// Throttles reads and changes the send rates (throttle.Limiter).
type Throttles interface {
	Get(ctx context.Context) (throttle.Settings, error)
	Put(ctx context.Context, actor string, s throttle.Settings) (before throttle.Settings, err error)
}

// Deps is what the console needs.
type Deps struct {
	Store     *postgres.Store
	Throttles Throttles
	// Campaigns is the campaign service the API uses, for the campaign
	// pages.
	Campaigns *campaign.Service
	// Insights is the relationship-insight service the API uses (fatigue,
	// pressure, what-if, drift); New makes one over Store and Campaigns
	// when it is nil.
	Insights *tuning.Service
	Log      *slog.Logger
	Clock    outreach.Clock
	// PublicURL is where people reach rapport. With https, session cookies
	// are Secure; its origin is trusted for form POSTs besides the
	// request's own host (for proxies that rewrite Host).
	PublicURL *url.URL
	// IdleTimeout ends a session unused this long (default 30m); Lifetime
	// ends it this long after sign-in however busy (default 12h).
	IdleTimeout, Lifetime time.Duration
	// LoginLimits bound failed sign-ins per account and per client address.
	LoginLimits postgres.LoginLimits
	// SessionCleanup is how often expired sessions are deleted (0: never,
	// as tests want; serve uses 5m).
	SessionCleanup time.Duration
	// Version is shown in the footer.
	Version string
	// ImportBodyLimit bounds a CSV upload in bytes (default 1 GiB, as
	// the API's import).
	ImportBodyLimit int64
	// The overdue list reads contacts in stretches of OverdueScan ids
	// (default 10,000) until its page is full or OverdueBudget (default
	// 80ms) is spent, so that it answers quickly however few are overdue;
	// the page then links on from where it stopped.
	OverdueScan   int64
	OverdueBudget time.Duration
}

// Console is the web console's handlers; internal/api's routes.go mounts
// them under /console with Mount.
type Console struct {
	Deps
	sessions *scs.SessionManager
	store    postgres.SessionStore
	pages    map[string]*template.Template
	assets   *assets
	origin   *http.CrossOriginProtection
	nav      []navItem
	routes   []Route
	dash     dashCache
	imports  importTracker
}

// New builds the console. The templates and static files are embedded,
// so an error here is a build defect.
func New(d Deps) (*Console, error) {
	if d.Clock == nil {
		d.Clock = outreach.SystemClock{}
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.IdleTimeout <= 0 {
		d.IdleTimeout = 30 * time.Minute
	}
	if d.Lifetime <= 0 {
		d.Lifetime = 12 * time.Hour
	}
	if d.ImportBodyLimit <= 0 {
		d.ImportBodyLimit = 1 << 30
	}
	if d.OverdueScan <= 0 {
		d.OverdueScan = 10_000
	}
	if d.OverdueBudget <= 0 {
		d.OverdueBudget = 80 * time.Millisecond
	}
	if d.Insights == nil {
		d.Insights = tuning.New(d.Store, d.Campaigns, tuning.Config{Clock: d.Clock, Log: d.Log})
	}
	c := &Console{Deps: d, origin: http.NewCrossOriginProtection()}
	if d.PublicURL != nil {
		if err := c.origin.AddTrustedOrigin(d.PublicURL.Scheme + "://" + d.PublicURL.Host); err != nil {
			return nil, fmt.Errorf("console: PUBLIC_URL as trusted origin: %w", err)
		}
	}
	var err error
	if c.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if c.pages, err = loadPages(c.funcs()); err != nil {
		return nil, err
	}
	c.store = d.Store.Sessions(d.SessionCleanup)
	c.sessions = newSessions(c.store, d)
	return c, nil
}

// Close stops the clean-up of expired sessions and waits for a refresh of
// the dashboard's figures that is under way.
func (c *Console) Close() {
	c.store.StopCleanup()
	c.dash.wg.Wait()
}

// Mount serves the console on g, which internal/api mounts at /console:
// the static files first, outside the session (they are public and
// cached for a year), then every page behind the console's middleware.
func (c *Console) Mount(g *echo.Group) {
	g.GET("/static/*", c.serveStatic)
	g.Use(c.secureHeaders, c.errorPages, c.loadSession, c.loadUser, c.checkOrigin, c.limitUpload, c.checkToken)
	c.routes = nil
	c.nav = nil
	c.mount(router{g: g, c: c})
}

// Routes lists the console's routes with the role each needs, as mounted.
func (c *Console) Routes() []Route { return append([]Route(nil), c.routes...) }
