package console

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// Route is one console route: its method, its path below /console, and
// who may use it.
type Route struct {
	Method, Path string
	// Role is the least role the route needs; "" for the public routes
	// (sign-in, sign-out) and Account ones.
	Role outreach.Role
	// Account routes need a signed-in user of any role, and stay open to
	// one who must still replace a one-time password.
	Account bool
}

// Public reports whether anyone may use the route.
func (r Route) Public() bool { return r.Role == "" && !r.Account }

// router registers routes on the console's group and records them, with
// their roles, for Routes, the navigation and the tests.
type router struct {
	g *echo.Group
	c *Console
}

func (r router) add(rt Route, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
	r.g.Add(rt.Method, rt.Path, h, mw...)
	r.c.routes = append(r.c.routes, rt)
}

// public registers a route anyone may use (it still has the session, the
// origin check and, for a POST, the form token).
func (r router) public(method, path string, h echo.HandlerFunc) {
	r.add(Route{Method: method, Path: path}, h)
}

// account registers a route for any signed-in user.
func (r router) account(method, path string, h echo.HandlerFunc) {
	r.add(Route{Method: method, Path: path, Account: true}, h, r.c.signedIn)
}

// page registers a GET for users with at least role.
func (r router) page(path string, role outreach.Role, h echo.HandlerFunc) menuEntry {
	r.add(Route{Method: http.MethodGet, Path: path, Role: role}, h, r.c.require(role))
	return menuEntry{c: r.c, path: path, role: role}
}

// action registers a POST for users with at least role.
func (r router) action(path string, role outreach.Role, h echo.HandlerFunc) {
	r.add(Route{Method: http.MethodPost, Path: path, Role: role}, h, r.c.require(role))
}

// menuEntry is a page that may be put in the navigation.
type menuEntry struct {
	c    *Console
	path string
	role outreach.Role
}

// menu lists the page in the navigation under label, for users with its
// role.
func (m menuEntry) menu(label string) {
	m.c.nav = append(m.c.nav, navItem{Label: label, Path: "/console" + m.path, Role: m.role})
}

// navItem is one entry in the navigation.
type navItem struct {
	Label, Path string
	Role        outreach.Role
}

// NavLink is a navigation entry as a page shows it.
type NavLink struct {
	Label, Path string
	// Current marks the section the page belongs to (aria-current).
	Current bool
}

// Nav is the navigation a user sees: the pages their role may open,
// everyone's first and the admin pages apart.
type Nav struct {
	Main, Admin []NavLink
}

// navFor builds the navigation for role on the page at path.
func (c *Console) navFor(role outreach.Role, path string) Nav {
	var n Nav
	best := ""
	for _, it := range c.nav {
		if role.Includes(it.Role) && section(path, it.Path) && len(it.Path) > len(best) {
			best = it.Path
		}
	}
	for _, it := range c.nav {
		if !role.Includes(it.Role) {
			continue
		}
		l := NavLink{Label: it.Label, Path: it.Path, Current: it.Path == best}
		if it.Role == outreach.RoleAdmin {
			n.Admin = append(n.Admin, l)
		} else {
			n.Main = append(n.Main, l)
		}
	}
	return n
}

// section reports whether the page at path belongs under the navigation
// entry at entry: /console/users/3 is under /console/users.
func section(path, entry string) bool {
	if entry == "/console/" {
		return path == entry
	}
	return path == entry || strings.HasPrefix(path, entry+"/")
}

func redirectTo(path string) echo.HandlerFunc {
	return func(ec echo.Context) error { return ec.Redirect(http.StatusMovedPermanently, path) }
}
