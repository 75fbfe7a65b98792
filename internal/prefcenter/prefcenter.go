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
//   - A campaign preview's links (preview tokens, a purpose of their own)
//     show the pages read-only, marked as a preview, and every POST through
//     them is a 403: whoever previews a contact can never act as them.
//   - Form POSTs carry a stateless CSRF field (an HMAC of the page's token)
//     and are refused when the browser says they come from another site.
//     The one-click POST needs neither: providers send it server-side with
//     no cookies, and the signed token in the URL is its authority.
//   - Every page is served with a strict Content-Security-Policy, no
//     referrer (the token is in the URL), no caching, and a per-client rate
//     limit; one-click POSTs have a far higher limit of their own. Tokens are never logged: the request log names the route
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
	// OneClickRatePerSecond and OneClickBurst limit RFC 8058 one-click
	// POSTs per client IP, apart from the pages; zero picks defaults.
	OneClickRatePerSecond float64
	OneClickBurst         int
}

// Default rate limit per client IP: a person clicks a few times a minute;
// a burst allows a page and its follow-up posts, and several people behind
// one NAT address.
const (
	defaultRate  = 2
	defaultBurst = 40
)

// Default one-click limit per client IP. Mailbox providers post one-click
// unsubscribes for all their users from a few addresses, so many at once
// from one address are normal; each is cheap (a signed token, one row
// lock) and idempotent. Sharing the pages' limit would turn unsubscribes
// away, and an unsubscribe turned away is mail that must not be sent.
const (
	defaultOneClickRate  = 500
	defaultOneClickBurst = 2000
)

// Pages are the customer pages' handlers; the router that serves them
// (internal/api's routes.go) mounts each on its route with Middleware.
type Pages struct {
	Deps
	csrf     csrf
	pages    *template.Template
	limit    echo.MiddlewareFunc
	oneClick echo.MiddlewareFunc
}

type handler = Pages

// New returns the pages. It panics if the embedded templates do not
// parse, which is a build defect, not a runtime condition.
func New(d Deps) *Pages {
	if d.Clock == nil {
		d.Clock = outreach.SystemClock{}
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	h := &Pages{Deps: d, csrf: newCSRF(d.SecretKeys),
		pages: template.Must(template.ParseFS(templates.FS, "pages/*.tmpl"))}
	h.limit = h.rateLimit(d.RatePerSecond, defaultRate, d.Burst, defaultBurst)
	h.oneClick = h.rateLimit(d.OneClickRatePerSecond, defaultOneClickRate, d.OneClickBurst, defaultOneClickBurst)
	return h
}

// Middleware is what every customer page runs behind: strict security
// headers and a per-client-IP rate limit. It is applied per route rather
// than on a group, because an Echo group mounted at the root would also
// answer every unknown path.
func (h *Pages) Middleware() []echo.MiddlewareFunc {
	return []echo.MiddlewareFunc{h.secureHeaders, h.limit}
}

// UnsubscribeMiddleware is Middleware for POST /u/{token}: an RFC 8058
// one-click POST counts against its own, far higher limit; the page's
// button against the pages' limit.
func (h *Pages) UnsubscribeMiddleware() []echo.MiddlewareFunc {
	return []echo.MiddlewareFunc{h.secureHeaders, h.limitUnsubscribe}
}

// ShowPreferences is GET /p/{token}: the preference center (reads only).
func (h *Pages) ShowPreferences(c echo.Context) error { return h.showPreferences(c) }

// ChangePreferences is POST /p/{token}: one change, CSRF-checked.
func (h *Pages) ChangePreferences(c echo.Context) error { return h.changePreferences(c) }

// ShowUnsubscribe is GET /u/{token}: asks "Unsubscribe?" (reads only).
func (h *Pages) ShowUnsubscribe(c echo.Context) error { return h.showUnsubscribe(c) }

// Unsubscribe is POST /u/{token}: RFC 8058 one-click, or the page's button.
func (h *Pages) Unsubscribe(c echo.Context) error { return h.unsubscribe(c) }
