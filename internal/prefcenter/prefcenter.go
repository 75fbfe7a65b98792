// Package prefcenter serves rapport's customer-facing pages, reached from the
// links in every email without a login: the preference center (/p/{token})
// and unsubscribe (/u/{token}), including the RFC 8058 one-click POST that
// mailbox providers send on the recipient's behalf.
//
// The rules it keeps:
//   - A GET never changes anything: mail scanners and link previews fetch
//     every URL in a message. Changes are POSTs.
//   - A bad, altered or truncated token gets the same plain 404 whatever was
//     wrong with it, and changes nothing.
//   - Form POSTs carry a stateless CSRF field (an HMAC of the page's token)
//     and are refused when the browser says they come from another site.
//     The one-click POST needs neither: providers send it server-side with
//     no cookies, and the signed token in the URL is its authority.
//   - Every page is served with a strict Content-Security-Policy, no
//     referrer (the token is in the URL), no caching, and a per-client rate
//     limit. Tokens are never logged: the request log names the route
//     pattern, not the path.
//
// It is an HTTP adapter over internal/postgres, like internal/api.
package prefcenter

import (
	"html/template"
	"log/slog"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/token"
	"github.com/rapport-dev/rapport/templates"
)

// Deps is what the pages need.
type Deps struct {
	Store  *postgres.Store
	Signer *token.Signer
	// SecretKeys are the SECRET_KEY values, newest first. The CSRF key is
	// derived from them (never used raw), so the field survives rotation
	// the way tokens do.
	SecretKeys []string
	// Company is shown on every page, with its postal address.
	Company render.Company
	// PublicURL, when set, is an accepted Origin for form POSTs besides the
	// request's own Host (for deployments behind a proxy that rewrites it).
	PublicURL *url.URL
	Log       *slog.Logger
	Clock     outreach.Clock
	// RatePerSecond and Burst limit requests per client IP; zero picks
	// defaults generous for people and tight for scripts.
	RatePerSecond float64
	Burst         int
}

// Default rate limit per client IP: a person clicks a few times a minute;
// a burst allows a page and its follow-up posts, and several people behind
// one NAT address.
const (
	defaultRate  = 2
	defaultBurst = 40
)

type handler struct {
	Deps
	csrf  csrf
	pages *template.Template
}

// Register mounts the pages on e. It panics if the embedded templates do
// not parse, which is a build defect, not a runtime condition.
func Register(e *echo.Echo, d Deps) {
	if d.Clock == nil {
		d.Clock = outreach.SystemClock{}
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	h := &handler{Deps: d, csrf: newCSRF(d.SecretKeys),
		pages: template.Must(template.ParseFS(templates.FS, "pages/*.tmpl"))}
	// Middleware per route rather than on a group: an Echo group mounted at
	// the root would also answer every unknown path.
	mw := []echo.MiddlewareFunc{h.secureHeaders, h.rateLimit()}
	e.GET("/p/:token", h.showPreferences, mw...)
	e.POST("/p/:token", h.changePreferences, mw...)
	e.GET("/u/:token", h.showUnsubscribe, mw...)
	e.POST("/u/:token", h.unsubscribe, mw...)
}
