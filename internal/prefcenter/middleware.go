package prefcenter

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"
)

const nonceKey = "prefcenter.nonce"

// secureHeaders sets the headers every customer page carries, before the
// handler runs so that error and rate-limit pages carry them too:
//   - a Content-Security-Policy allowing nothing but our nonce-bound style
//     sheet and forms posting to ourselves, and no framing (clickjacking
//     an unsubscribe button);
//   - Referrer-Policy: no-referrer, because the token is in the URL and
//     must not leak to any other site;
//   - no sniffing, and no caching of pages naming a person's choices.
func (h *handler) secureHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var b [18]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		nonce := base64.RawStdEncoding.EncodeToString(b[:])
		c.Set(nonceKey, nonce)
		hd := c.Response().Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		return next(c)
	}
}

// rateLimit limits requests per client IP, as Echo's RealIP gives it (the
// server trusts X-Forwarded-For only from configured proxies), and answers
// over-limit clients with a plain 429 page. Zero rate or burst picks the
// default.
func (h *handler) rateLimit(r, defRate float64, burst, defBurst int) echo.MiddlewareFunc {
	if r <= 0 {
		r = defRate
	}
	if burst <= 0 {
		burst = defBurst
	}
	store := middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: rate.Limit(r), Burst: burst, ExpiresIn: 5 * time.Minute,
	})
	deny := func(c echo.Context, _ string, _ error) error {
		c.Response().Header().Set("Retry-After", "60")
		return h.message(c, http.StatusTooManyRequests, lookup(""), "error.429")
	}
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store:               store,
		IdentifierExtractor: func(c echo.Context) (string, error) { return c.RealIP(), nil },
		DenyHandler:         deny,
		ErrorHandler:        func(c echo.Context, err error) error { return deny(c, "", err) },
	})
}

// limitUnsubscribe counts an RFC 8058 one-click POST against the one-click
// limit and anything else against the pages' limit.
func (h *handler) limitUnsubscribe(next echo.HandlerFunc) echo.HandlerFunc {
	page, oneClick := h.limit(next), h.oneClick(next)
	return func(c echo.Context) error {
		if form, err := postForm(c); err == nil && form.Get("List-Unsubscribe") == "One-Click" {
			return oneClick(c)
		}
		return page(c)
	}
}
