package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/templates"
)

// View is what every console template sees. A handler fills Title, and
// Form and Data as its page needs; render adds the rest.
type View struct {
	// Title heads the page and names it in the browser: "Users · rapport".
	Title string
	// Form is the page's form, with its values and errors; nil for none.
	Form *Form
	// Data is the page's own content.
	Data any

	User    *postgres.User
	Nav     Nav
	CSRF    string
	Flash   *Flash
	Version string
}

// Can reports whether the signed-in user has at least role: pages show
// only the buttons their user may press.
func (v *View) Can(role string) bool {
	return v.User != nil && v.User.Role.Includes(outreach.Role(role))
}

// loadPages parses templates/console: layout.tmpl and partials/*.tmpl are
// shared, and each pages/NAME.tmpl, which defines "content", becomes the
// page NAME. A new page needs no registration here.
func loadPages(funcs template.FuncMap) (map[string]*template.Template, error) {
	base, err := template.New("console").Funcs(funcs).ParseFS(templates.Console, "console/layout.tmpl", "console/partials/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	files, err := fs.Glob(templates.Console, "console/pages/*.tmpl")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		t, err := template.Must(base.Clone()).ParseFS(templates.Console, f)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", f, err)
		}
		pages[strings.TrimSuffix(path.Base(f), ".tmpl")] = t
	}
	return pages, nil
}

// funcs are the helpers templates call.
func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"asset":   func(name string) (string, error) { return c.assets.URL(name) },
		"field":   field,
		"choices": choices,
		"when":    when,
		"day":     func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
	}
}

// when shows a moment in UTC, the zone the whole console speaks: nil and
// zero times are shown as a dash.
func when(t any) string {
	switch v := t.(type) {
	case time.Time:
		if !v.IsZero() {
			return v.UTC().Format("2 Jan 2006 15:04 UTC")
		}
	case *time.Time:
		if v != nil && !v.IsZero() {
			return v.UTC().Format("2 Jan 2006 15:04 UTC")
		}
	}
	return "—"
}

// render writes the page name with v. A template error is a defect: it is
// logged and the answer is a bare 500, since the error page itself may be
// what failed.
func (c *Console) render(ec echo.Context, status int, name string, v *View) error {
	t, ok := c.pages[name]
	if !ok {
		return fmt.Errorf("console: no page template %q", name)
	}
	v.User = currentUser(ec)
	v.Version = c.Version
	if v.User != nil {
		v.Nav = c.navFor(v.User.Role, ec.Request().URL.Path)
	}
	if hasSession(ec) {
		v.CSRF = c.sessions.GetString(ec.Request().Context(), keyToken)
		v.Flash = c.popFlash(ec)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.Log.Error("console render", "page", name, "error", err.Error())
		return ec.String(http.StatusInternalServerError, "internal error")
	}
	return ec.HTMLBlob(status, buf.Bytes())
}

// seeOther ends a successful POST: the browser loads the next page with a
// GET, so reloading it sends nothing twice.
func (c *Console) seeOther(ec echo.Context, flashText, to string) error {
	if flashText != "" {
		c.flash(ec, flashDone, flashText)
	}
	return ec.Redirect(http.StatusSeeOther, to)
}
