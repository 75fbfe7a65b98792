package console

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

func signInFields(values url.Values) *Form {
	return newForm(values, "email", "Email address", "password", "Password")
}

// signInForm is GET /console/sign-in. A signed-in user goes on at once.
func (c *Console) signInForm(ec echo.Context) error {
	next := safeNext(ec.QueryParam("next"))
	if currentUser(ec) != nil {
		return ec.Redirect(http.StatusSeeOther, next)
	}
	c.formToken(ec) // the form needs one before anyone is signed in
	return c.render(ec, http.StatusOK, "sign-in", &View{Title: "Sign in", Form: signInFields(nil), Data: next})
}

// signIn is POST /console/sign-in. The store checks the password and the
// limits (per account and per client address, counted in PostgreSQL);
// every refusal reads the same, whether the account exists or not.
func (c *Console) signIn(ec echo.Context) error {
	form, err := postForm(ec)
	if err != nil {
		return badRequest("The form could not be read.")
	}
	f := signInFields(form)
	next := safeNext(f.Get("next"))
	u, err := c.Store.SignIn(ec.Request().Context(), f.Get("email"), f.Raw("password"), ec.RealIP(), c.LoginLimits)
	var tooMany *postgres.TooManyAttempts
	switch {
	case errors.As(err, &tooMany):
		minutes := int(math.Ceil(tooMany.RetryAfter.Minutes()))
		minutes = max(minutes, 1)
		who := "this account"
		if !tooMany.Account {
			who = "your network address"
		}
		f.Fail("", fmt.Sprintf("Too many sign-in attempts for %s; try again in %d %s.", who, minutes, plural(minutes, "minute")))
		ec.Response().Header().Set("Retry-After", strconv.Itoa(minutes*60))
		return c.render(ec, http.StatusTooManyRequests, "sign-in", &View{Title: "Sign in", Form: f, Data: next})
	case outreach.ErrorCode(err) == outreach.EUNAUTHORIZED:
		f.Fail("", "The email address or password is not right. Check them and try again.")
		return c.render(ec, http.StatusUnauthorized, "sign-in", &View{Title: "Sign in", Form: f, Data: next})
	case err != nil:
		return err
	}
	if err := c.startSession(ec, u); err != nil {
		return err
	}
	if u.MustChangePassword {
		return ec.Redirect(http.StatusSeeOther, "/console/password?next="+url.QueryEscape(next))
	}
	return ec.Redirect(http.StatusSeeOther, next)
}

// signOut is POST /console/sign-out: the session is deleted from the
// database and its cookie from the browser.
func (c *Console) signOut(ec echo.Context) error {
	if err := c.sessions.Destroy(ec.Request().Context()); err != nil {
		return err
	}
	c.flash(ec, flashDone, "You are signed out.")
	return ec.Redirect(http.StatusSeeOther, "/console/sign-in")
}

func passwordFields(values url.Values) *Form {
	return newForm(values, "current_password", "Current password", "new_password", "New password", "confirm_password", "New password again")
}

// passwordData is what the password page shows besides its form.
type passwordData struct {
	Next     string
	Forced   bool // a one-time password must be replaced
	Min, Max int
}

func (c *Console) passwordView(ec echo.Context, f *Form, next string) *View {
	return &View{Title: "Change your password", Form: f, Data: passwordData{Next: next, Forced: currentUser(ec).MustChangePassword,
		Min: postgres.MinPasswordLength, Max: postgres.MaxPasswordLength}}
}

// passwordForm is GET /console/password.
func (c *Console) passwordForm(ec echo.Context) error {
	return c.render(ec, http.StatusOK, "password", c.passwordView(ec, passwordFields(nil), safeNext(ec.QueryParam("next"))))
}

// changePassword is POST /console/password. The store applies the password
// rule; on success this session stays signed in under a new token and the
// user's other sessions end.
func (c *Console) changePassword(ec echo.Context) error {
	form, err := postForm(ec)
	if err != nil {
		return badRequest("The form could not be read.")
	}
	f := passwordFields(form)
	next := safeNext(f.Get("next"))
	u := currentUser(ec)
	if f.Raw("new_password") != f.Raw("confirm_password") {
		f.Fail("confirm_password", "does not match the new password")
	}
	if !f.Failed() {
		changed, err := c.Store.ChangePassword(ec.Request().Context(), actor(ec), u.ID, f.Raw("current_password"), f.Raw("new_password"))
		if err == nil {
			if err := c.startSession(ec, changed); err != nil {
				return err
			}
			return c.seeOther(ec, "Your password is changed. Sessions elsewhere have been signed out.", next)
		}
		status, ok := f.absorb(err, nil)
		if !ok {
			return err
		}
		return c.render(ec, status, "password", c.passwordView(ec, f, next))
	}
	return c.render(ec, http.StatusUnprocessableEntity, "password", c.passwordView(ec, f, next))
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
