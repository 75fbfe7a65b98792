package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

const ctxUser = "console.user"

// loadUser reads the session's user from the database on every request,
// so a change to them counts at once: a user deleted or disabled, or whose
// password changed since this session signed in, is signed out; a changed
// role applies to this very request.
func (c *Console) loadUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		ctx := ec.Request().Context()
		id := c.sessions.GetInt64(ctx, keyUserID)
		if id == 0 {
			return next(ec)
		}
		u, err := c.Store.UserByID(ctx, id)
		if err != nil && outreach.ErrorCode(err) != outreach.ENOTFOUND {
			return err
		}
		if err != nil || !u.Active() || u.PasswordChangedAt.UnixMicro() != c.sessions.GetInt64(ctx, keyPasswordAt) {
			if err := c.sessions.Destroy(ctx); err != nil {
				return err
			}
			c.flash(ec, flashError, "You were signed out. Sign in again to go on.")
			return next(ec)
		}
		ec.Set(ctxUser, &u)
		return next(ec)
	}
}

// currentUser is the signed-in user, or nil.
func currentUser(ec echo.Context) *postgres.User {
	u, _ := ec.Get(ctxUser).(*postgres.User)
	return u
}

// actor names the signed-in user in the audit log and timelines.
func actor(ec echo.Context) string {
	if u := currentUser(ec); u != nil {
		return "user:" + u.Email
	}
	return "anonymous"
}

// require lets through users with at least role. Anyone else is sent to
// sign in (a GET, which can come back after) or refused (a POST, 403); a
// user who must replace a one-time password is sent to do that first; a
// user without the role is refused (403).
func (c *Console) require(role outreach.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(ec echo.Context) error {
			u := currentUser(ec)
			switch {
			case u == nil:
				return c.signInFirst(ec)
			case u.MustChangePassword:
				if isRead(ec.Request()) {
					return ec.Redirect(http.StatusSeeOther, "/console/password?next="+url.QueryEscape(ec.Request().URL.RequestURI()))
				}
				return forbidden("Choose your own password first", "Your password is a one-time one: choose your own on the password page, then try again.")
			case !u.Role.Includes(role):
				return forbidden("You do not have access to this page",
					"Your role, "+string(u.Role)+", cannot use it; it needs "+string(role)+". An admin can change your role.")
			}
			return next(ec)
		}
	}
}

// signedIn lets through any signed-in user, even one who must still
// replace a one-time password.
func (c *Console) signedIn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		if currentUser(ec) == nil {
			return c.signInFirst(ec)
		}
		return next(ec)
	}
}

func (c *Console) signInFirst(ec echo.Context) error {
	if isRead(ec.Request()) {
		return ec.Redirect(http.StatusSeeOther, "/console/sign-in?next="+url.QueryEscape(ec.Request().URL.RequestURI()))
	}
	return forbidden("Sign in first", "You are not signed in, or your session has ended. Sign in and try again.")
}

func isRead(r *http.Request) bool { return r.Method == http.MethodGet || r.Method == http.MethodHead }

// safeNext is where to go after signing in: a console path only, so the
// sign-in link cannot send anyone to another site.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.Scheme != "" || u.Host != "" || u.User != nil ||
		!strings.HasPrefix(next, "/console/") || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "//") {
		return "/console/"
	}
	if u.Path == "/console/sign-in" || u.Path == "/console/sign-out" {
		return "/console/"
	}
	return next
}
