package console

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// users is GET /console/users: everyone who can sign in, or could.
func (c *Console) users(ec echo.Context) error {
	rows, err := c.Store.Users(ec.Request().Context(), cursor(ec, "after"), pageSize+1)
	if err != nil {
		return err
	}
	rows, pager := paginate(ec, rows, pageSize, "after", "Next page →", func(u postgres.User) int64 { return u.ID })
	return c.render(ec, http.StatusOK, "users", &View{Title: "Users", Data: struct {
		Users []postgres.User
		Pager Pager
	}{rows, pager}})
}

func userFields(values url.Values) *Form {
	return newForm(values, "email", "Email address", "name", "Name", "role", "Role")
}

// userFormData is the new-user form's choices.
type userFormData struct{ Roles []Option }

// newUserForm is GET /console/users/new.
func (c *Console) newUserForm(ec echo.Context) error {
	f := userFields(nil)
	f.Set("role", string(outreach.RoleViewer))
	return c.render(ec, http.StatusOK, "user-new", &View{Title: "New user", Form: f, Data: userFormData{roleOptions}})
}

// createUser is POST /console/users. The answer shows the one-time
// password, once: it is not kept anywhere but as a hash, so it is not
// put through a redirect and the session.
func (c *Console) createUser(ec echo.Context) error {
	form, err := postForm(ec)
	if err != nil {
		return badRequest("The form could not be read.")
	}
	f := userFields(form)
	pw, u, err := c.Store.CreateUser(ec.Request().Context(), actor(ec),
		postgres.NewUser{Email: f.Get("email"), Name: f.Get("name"), Role: outreach.Role(f.Get("role"))})
	if err != nil {
		status, ok := f.absorb(err, nil)
		if !ok {
			return err
		}
		return c.render(ec, status, "user-new", &View{Title: "New user", Form: f, Data: userFormData{roleOptions}})
	}
	return c.render(ec, http.StatusOK, "one-time-password", &View{Title: "User created", Data: oneTimeData{User: u, Password: pw, Created: true}})
}

// oneTimeData is the page that shows a one-time password once.
type oneTimeData struct {
	User     postgres.User
	Password string
	Created  bool // a new user, not a reset
}

// pathUser loads the user named by the :id in the path.
func (c *Console) pathUser(ec echo.Context) (postgres.User, error) {
	id, err := strconv.ParseInt(ec.Param("id"), 10, 64)
	if err != nil || id < 1 {
		return postgres.User{}, notFound("There is no such user.")
	}
	return c.Store.UserByID(ec.Request().Context(), id)
}

// userData is the user page's content.
type userData struct {
	User  postgres.User
	Roles []Option
	Self  bool
}

func (c *Console) userView(ec echo.Context, u postgres.User, f *Form) *View {
	if f == nil {
		f = newForm(nil, "role", "Role")
		f.Set("role", string(u.Role))
	}
	return &View{Title: u.Name, Form: f, Data: userData{User: u, Roles: roleOptions, Self: u.ID == currentUser(ec).ID}}
}

// user is GET /console/users/{id}: a user and what an admin can do to them.
func (c *Console) user(ec echo.Context) error {
	u, err := c.pathUser(ec)
	if err != nil {
		return err
	}
	return c.render(ec, http.StatusOK, "user", c.userView(ec, u, nil))
}

// setUserRole is POST /console/users/{id}/role. The store refuses to demote
// the last active admin; the page says so.
func (c *Console) setUserRole(ec echo.Context) error {
	u, err := c.pathUser(ec)
	if err != nil {
		return err
	}
	form, err := postForm(ec)
	if err != nil {
		return badRequest("The form could not be read.")
	}
	f := newForm(form, "role", "Role")
	changed, err := c.Store.SetUserRole(ec.Request().Context(), actor(ec), u.ID, outreach.Role(f.Get("role")))
	if err != nil {
		status, ok := f.absorb(err, nil)
		if !ok {
			return err
		}
		return c.render(ec, status, "user", c.userView(ec, u, f))
	}
	done := changed.Name + " is now " + string(changed.Role) + "."
	if changed.ID == currentUser(ec).ID && changed.Role != outreach.RoleAdmin {
		return c.seeOther(ec, "You are now "+string(changed.Role)+".", "/console/")
	}
	return c.seeOther(ec, done, userPath(changed))
}

func userPath(u postgres.User) string { return "/console/users/" + strconv.FormatInt(u.ID, 10) }
