package api

import (
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"
)

// River's UI is an admin's browser page with the power to delete and
// cancel jobs, behind Basic credentials the browser caches and sends with
// any request to it, whichever site made it. So, around it:
//   - Go's CrossOriginProtection refuses every unsafe request (POST, PUT,
//     PATCH, DELETE) that the browser says came from another site
//     (Sec-Fetch-Site, else an Origin that is not the request's host or
//     PUBLIC_URL's): a page elsewhere cannot make the browser delete a
//     send job;
//   - an unsafe request must carry JSON, the only thing River's API reads;
//     a form or text/plain body (what another site can send without a
//     CORS preflight) is a 415 — unless the browser itself vouches that
//     the request came from our own page (Sec-Fetch-Site: same-origin):
//     River's frontend posts its JSON without a Content-Type, so browsers
//     label it text/plain;
//   - no framing (X-Frame-Options, CSP frame-ancestors), a CSP allowing
//     only our own scripts, styles and API, no sniffing, no caching but of
//     its hashed assets (noSniffNoStore).

// riverUICSP allows what River's UI is made of (its own scripts, styles,
// images and API) and nothing else; it injects inline style attributes,
// hence 'unsafe-inline' for styles only.
const riverUICSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// riverUI wraps River's UI handler with the checks above; auth is the
// admin check, run after the cross-site check so that a refused request
// never gets as far as the credentials.
func (s *Server) riverUI(auth echo.MiddlewareFunc) []echo.MiddlewareFunc {
	cop := http.NewCrossOriginProtection()
	if s.PublicURL != nil {
		// Behind a proxy that rewrites Host, the page's origin is the
		// public one. (Only fails for a malformed origin, which a parsed
		// PUBLIC_URL is not.)
		_ = cop.AddTrustedOrigin(s.PublicURL.Scheme + "://" + s.PublicURL.Host)
	}
	headers := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("Content-Security-Policy", riverUICSP)
			h.Set("X-Frame-Options", "DENY")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "same-origin")
			return next(c)
		}
	}
	crossOrigin := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if err := cop.Check(r); err != nil {
				s.log.Warn("river ui: cross-origin request refused", "method", r.Method, "route", c.Path())
				return echo.NewHTTPError(http.StatusForbidden, "cross-origin requests to River's UI are refused")
			}
			if unsafeMethod(r.Method) && !jsonBody(r) && r.Header.Get("Sec-Fetch-Site") != "same-origin" {
				return echo.NewHTTPError(http.StatusUnsupportedMediaType, "River's UI takes JSON: send Content-Type: application/json")
			}
			return next(c)
		}
	}
	return []echo.MiddlewareFunc{headers, crossOrigin, auth}
}

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// jsonBody reports whether a request says its body is JSON (or has none).
func jsonBody(r *http.Request) bool {
	ct := r.Header.Get(echo.HeaderContentType)
	if ct == "" {
		return r.ContentLength == 0
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}
