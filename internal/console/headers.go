package console

import "github.com/labstack/echo/v4"

// csp allows the console's own style sheet and scripts (htmx) and nothing
// inline, data: images (the empty favicon), requests back to the console
// only (htmx), forms that post only to it, frames of its own (the
// campaign preview's sandboxed iframe) and no framing of it (clickjacking).
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secureHeaders sets the headers every console page carries, before the
// handler runs so that error pages carry them too. Pages are never
// cached: they show what one user may see, and some show a secret once.
func (c *Console) secureHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		h := ec.Response().Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		return next(ec)
	}
}
