package console

import (
	"crypto/subtle"

	"github.com/labstack/echo/v4"
)

// Two independent defences against cross-site request forgery guard every
// POST:
//   - checkOrigin: Go's http.CrossOriginProtection refuses a request the
//     browser marks as cross-site (Sec-Fetch-Site), or whose Origin names
//     another host than the request's (or PUBLIC_URL's). Every browser
//     since 2023 sends one or the other.
//   - checkToken: the form must carry the session's synchronizer token in
//     its "csrf" field, which another site cannot read, for browsers that
//     send neither header.
// Either failing is a 403 and nothing is done.

// errForgery is the answer to a refused POST.
var errForgery = forbidden("This form cannot be accepted",
	"It was not sent from a page of this console, or the page was too old. Go back, reload the page and try again.")

func (c *Console) checkOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		if err := c.origin.Check(ec.Request()); err != nil {
			return errForgery
		}
		return next(ec)
	}
}

func (c *Console) checkToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		if isRead(ec.Request()) {
			return next(ec)
		}
		form, err := postForm(ec)
		if err != nil {
			return badRequest("The form could not be read.")
		}
		want := c.sessions.GetString(ec.Request().Context(), keyToken)
		got := form.Get("csrf")
		if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
			return errForgery
		}
		return next(ec)
	}
}
