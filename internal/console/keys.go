package console

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// keys is GET /console/keys: the API keys, live and revoked, never their
// secrets.
func (c *Console) keys(ec echo.Context) error {
	rows, err := c.Store.Keys(ec.Request().Context(), cursor(ec, "after"), pageSize+1)
	if err != nil {
		return err
	}
	rows, pager := paginate(ec, rows, pageSize, "after", "Next page →", func(k postgres.APIKey) int64 { return k.ID })
	return c.render(ec, http.StatusOK, "keys", &View{Title: "API keys", Data: struct {
		Keys  []postgres.APIKey
		Pager Pager
	}{rows, pager}})
}

func keyFields(values url.Values) *Form { return newForm(values, "name", "Name", "role", "Role") }

// newKeyForm is GET /console/keys/new.
func (c *Console) newKeyForm(ec echo.Context) error {
	f := keyFields(nil)
	f.Set("role", string(outreach.RoleViewer))
	return c.render(ec, http.StatusOK, "key-new", &View{Title: "New API key", Form: f, Data: userFormData{roleOptions}})
}

// createKey is POST /console/keys. The answer shows the key once: only its
// hash is kept, so it never goes through a redirect or the session.
func (c *Console) createKey(ec echo.Context) error {
	form, err := postForm(ec)
	if err != nil {
		return badRequest("The form could not be read.")
	}
	f := keyFields(form)
	plain, k, err := c.Store.CreateKey(ec.Request().Context(), actor(ec), f.Get("name"), outreach.Role(f.Get("role")))
	if err != nil {
		status, ok := f.absorb(err, nil)
		if !ok {
			return err
		}
		return c.render(ec, status, "key-new", &View{Title: "New API key", Form: f, Data: userFormData{roleOptions}})
	}
	return c.render(ec, http.StatusOK, "key-created", &View{Title: "API key created", Data: struct {
		Key   postgres.APIKey
		Plain string
	}{k, plain}})
}

func (c *Console) pathKey(ec echo.Context) (postgres.APIKey, error) {
	id, err := strconv.ParseInt(ec.Param("id"), 10, 64)
	if err != nil || id < 1 {
		return postgres.APIKey{}, notFound("There is no such API key.")
	}
	return c.Store.Key(ec.Request().Context(), id)
}

func keyPath(k postgres.APIKey) string { return "/console/keys/" + strconv.FormatInt(k.ID, 10) }

func revokeData(k postgres.APIKey) confirmData {
	return confirmData{
		Lines: []string{"Every program using the key “" + k.Name + "” (" + string(k.Role) + ", rpk_" + k.Prefix + "…) is refused from its next request on.",
			"This cannot be undone: create a new key to give access again."},
		Action: keyPath(k) + "/revoke", Button: "Revoke key", Cancel: "/console/keys"}
}

// confirmRevokeKey is GET /console/keys/{id}/revoke.
func (c *Console) confirmRevokeKey(ec echo.Context) error {
	k, err := c.pathKey(ec)
	if err != nil {
		return err
	}
	if k.RevokedAt != nil {
		return c.seeOther(ec, "", "/console/keys")
	}
	return c.confirm(ec, http.StatusOK, "Revoke the API key “"+k.Name+"”?", revokeData(k), nil)
}

// revokeKey is POST /console/keys/{id}/revoke (confirmed). The store
// refuses to revoke the last admin key; the page says so.
func (c *Console) revokeKey(ec echo.Context) error {
	k, err := c.pathKey(ec)
	if err != nil {
		return err
	}
	if _, ok, err := confirmed(ec, keyPath(k)+"/revoke"); !ok {
		return err
	}
	if err := c.Store.RevokeKey(ec.Request().Context(), actor(ec), k.ID); err != nil {
		f := newForm(nil)
		status, ok := f.absorb(err, nil)
		if !ok {
			return err
		}
		return c.confirm(ec, status, "Revoke the API key “"+k.Name+"”?", revokeData(k), f)
	}
	return c.seeOther(ec, "The API key “"+k.Name+"” is revoked.", "/console/keys")
}
