package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

const keyContext = "rapport.key"

// require authenticates the bearer key and checks it has at least role.
// 401 for a missing or wrong key, 403 for a key without the role.
func (s *Server) require(role outreach.Role) echo.MiddlewareFunc { return s.auth(role, false) }

// requireBrowser is require for pages an admin opens in a browser.
func (s *Server) requireBrowser(role outreach.Role) echo.MiddlewareFunc { return s.auth(role, true) }

func (s *Server) auth(role outreach.Role, basic bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Request().Header.Get(echo.HeaderAuthorization)
			tok, ok := strings.CutPrefix(h, "Bearer ")
			if !ok && basic {
				// Browsers cannot send a bearer header: the River UI takes
				// the key as the Basic auth password (any user name).
				if _, pw, okBasic := c.Request().BasicAuth(); okBasic {
					tok, ok = pw, true
				}
			}
			if !ok || strings.TrimSpace(tok) == "" {
				if basic {
					c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Basic realm="rapport admin (password: an admin API key)"`)
					return outreach.Errorf(outreach.EUNAUTHORIZED, "an admin API key is required as the Basic auth password")
				}
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="rapport"`)
				return outreach.Errorf(outreach.EUNAUTHORIZED, "send an API key as Authorization: Bearer <key>")
			}
			if err := s.authAllowed(c); err != nil {
				return err
			}
			key, err := s.Store.Authenticate(c.Request().Context(), strings.TrimSpace(tok))
			if err != nil {
				if outreach.ErrorCode(err) == outreach.EUNAUTHORIZED {
					s.authFailed(c)
					c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="rapport", error="invalid_token"`)
				}
				return err
			}
			if !key.Role.Includes(role) {
				return outreach.Errorf(outreach.EFORBIDDEN, "this key's role (%s) may not do this; it needs %s", key.Role, role)
			}
			c.Set(keyContext, key)
			return next(c)
		}
	}
}

// actor names the key behind a request in audit entries and timelines.
func actor(c echo.Context) string {
	if k, ok := c.Get(keyContext).(postgres.APIKey); ok {
		return "key:" + k.Name + "#" + k.Prefix[:8]
	}
	return "anonymous"
}

// authAllowed refuses a credential check from a client address that has
// failed too often lately (see authFailures): 429 with Retry-After, and a
// log line naming the address and the route, never the credential.
func (s *Server) authAllowed(c echo.Context) error {
	wait, blocked := s.failures.blocked(c.RealIP())
	if !blocked {
		return nil
	}
	secs := int(math.Ceil(wait.Seconds()))
	s.log.Warn("too many failed authentication attempts; refused", "client", c.RealIP(), "route", c.Path(), "retry_after_seconds", secs)
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return echo.NewHTTPError(http.StatusTooManyRequests,
		fmt.Sprintf("too many failed authentication attempts from this address: try again in %d seconds", secs))
}

// authFailed counts a wrong credential against the client's address.
func (s *Server) authFailed(c echo.Context) { s.failures.fail(c.RealIP()) }
