package console

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// confirmDisableUser is GET /console/users/{id}/disable.
func (c *Console) confirmDisableUser(ec echo.Context) error {
	u, err := c.pathUser(ec)
	if err != nil {
		return err
	}
	return c.confirm(ec, http.StatusOK, "Disable "+u.Name+"?", disableData(u.Email, userPath(u)), nil)
}

func disableData(email, back string) confirmData {
	return confirmData{
		Lines: []string{email + " will be signed out at their next click and cannot sign in again until an admin enables them.",
			"What they did stays in the audit log under their name."},
		Action: back + "/disable", Button: "Disable user", Cancel: back}
}

// disableUser is POST /console/users/{id}/disable (confirmed). The store
// refuses to disable the last active admin; the page says so.
func (c *Console) disableUser(ec echo.Context) error {
	u, err := c.pathUser(ec)
	if err != nil {
		return err
	}
	if _, ok, err := confirmed(ec, userPath(u)+"/disable"); !ok {
		return err
	}
	changed, err := c.Store.SetUserDisabled(ec.Request().Context(), actor(ec), u.ID, true)
	if err != nil {
		f := newForm(nil)
		status, ok := f.absorb(err, nil)
		if !ok {
			return err
		}
		return c.confirm(ec, status, "Disable "+u.Name+"?", disableData(u.Email, userPath(u)), f)
	}
	return c.seeOther(ec, changed.Name+" is disabled.", userPath(changed))
}

// enableUser is POST /console/users/{id}/enable: undoing a disable needs
// no confirmation.
func (c *Console) enableUser(ec echo.Context) error {
	u, err := c.pathUser(ec)
	if err != nil {
		return err
	}
	changed, err := c.Store.SetUserDisabled(ec.Request().Context(), actor(ec), u.ID, false)
	if err != nil {
		return err
	}
	return c.seeOther(ec, changed.Name+" can sign in again.", userPath(changed))
}

// confirmResetPassword is GET /console/users/{id}/reset-password.
func (c *Console) confirmResetPassword(ec echo.Context) error {
	u, err := c.pathUser(ec)
	if err != nil {
		return err
	}
	return c.confirm(ec, http.StatusOK, "Reset "+u.Name+"’s password?", confirmData{
		Lines: []string{"Their password stops working at once and they are signed out everywhere.",
			"You get a one-time password to give them; at their next sign-in they choose their own."},
		Action: userPath(u) + "/reset-password", Button: "Reset password", Cancel: userPath(u)}, nil)
}

// resetPassword is POST /console/users/{id}/reset-password (confirmed):
// the answer shows the new one-time password once.
func (c *Console) resetPassword(ec echo.Context) error {
	u, err := c.pathUser(ec)
	if err != nil {
		return err
	}
	if _, ok, err := confirmed(ec, userPath(u)+"/reset-password"); !ok {
		return err
	}
	pw, changed, err := c.Store.ResetPassword(ec.Request().Context(), actor(ec), u.ID)
	if err != nil {
		return err
	}
	return c.render(ec, http.StatusOK, "one-time-password", &View{Title: "Password reset", Data: oneTimeData{User: changed, Password: pw}})
}
