package console

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/postgres"
)

// cookieName is the session cookie's name; it is scoped to /console.
const cookieName = "rapport_console"

// Session keys.
const (
	keyUserID     = "user_id"
	keyPasswordAt = "password_at" // the user's PasswordChangedAt at sign-in, in µs
	keyToken      = "csrf"        // the synchronizer token every form carries
	keyFlash      = "flash"
	keyFlashKind  = "flash_kind"
	ctxSession    = "console.session" // set once the session is loaded
)

// newSessions configures scs: sessions in PostgreSQL, an idle timeout and
// an absolute lifetime, tokens stored hashed, and a cookie that scripts
// cannot read, that is sent only to /console, not on cross-site
// subrequests, only over TLS when rapport is served over https, and that
// ends with the browser.
func newSessions(store postgres.SessionStore, d Deps) *scs.SessionManager {
	sm := scs.New()
	sm.Store = store
	sm.IdleTimeout = d.IdleTimeout
	sm.Lifetime = d.Lifetime
	sm.HashTokenInStore = true
	sm.Cookie.Name = cookieName
	sm.Cookie.Path = "/console"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = d.PublicURL != nil && d.PublicURL.Scheme == "https"
	sm.Cookie.Persist = false
	return sm
}

// loadSession loads the request's session and saves it just before the
// answer's headers go out, whatever wrote them (a page, a redirect, an
// error page). With an idle timeout every request saves it, which is what
// moves its expiry on.
func (c *Console) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		r := ec.Request()
		var token string
		if ck, err := r.Cookie(cookieName); err == nil {
			token = ck.Value
		}
		ctx, err := c.sessions.Load(r.Context(), token)
		if err != nil {
			return err
		}
		ec.SetRequest(r.WithContext(ctx))
		ec.Set(ctxSession, true)
		res := ec.Response()
		res.Header().Add("Vary", "Cookie")
		res.Before(func() {
			ctx := ec.Request().Context()
			switch c.sessions.Status(ctx) {
			case scs.Modified:
				token, expiry, err := c.sessions.Commit(ctx)
				if err != nil {
					// The headers are not out yet: the answer becomes a 500
					// rather than claim a change the session did not keep.
					c.Log.Error("console session", "op", "commit", "error", err.Error())
					res.Status = http.StatusInternalServerError
					return
				}
				c.sessions.WriteSessionCookie(ctx, res, token, expiry)
			case scs.Destroyed:
				c.sessions.WriteSessionCookie(ctx, res, "", time.Time{}) // deletes the cookie
			}
		})
		return next(ec)
	}
}

// hasSession reports whether the request's session is loaded: error pages
// may be rendered before it is.
func hasSession(ec echo.Context) bool { ok, _ := ec.Get(ctxSession).(bool); return ok }

// formToken returns the session's synchronizer token, making one if the
// session has none (a first visit to the sign-in page).
func (c *Console) formToken(ec echo.Context) string {
	ctx := ec.Request().Context()
	if t := c.sessions.GetString(ctx, keyToken); t != "" {
		return t
	}
	t := newToken()
	c.sessions.Put(ctx, keyToken, t)
	return t
}

func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// startSession signs u in: a new session token (an attacker who planted or
// read the old one gets nothing), a new form token, and the user.
func (c *Console) startSession(ec echo.Context, u postgres.User) error {
	ctx := ec.Request().Context()
	if err := c.sessions.RenewToken(ctx); err != nil {
		return err
	}
	c.sessions.Put(ctx, keyUserID, u.ID)
	c.sessions.Put(ctx, keyPasswordAt, u.PasswordChangedAt.UnixMicro())
	c.sessions.Put(ctx, keyToken, newToken())
	return nil
}

// Flash kinds.
const (
	flashDone  = "done"
	flashError = "error"
)

// flash keeps a message for the next page the user sees (after a
// redirect).
func (c *Console) flash(ec echo.Context, kind, text string) {
	ctx := ec.Request().Context()
	c.sessions.Put(ctx, keyFlash, text)
	c.sessions.Put(ctx, keyFlashKind, kind)
}

// Flash is a message from the previous request.
type Flash struct {
	Kind, Text string
}

func (c *Console) popFlash(ec echo.Context) *Flash {
	ctx := ec.Request().Context()
	if !c.sessions.Exists(ctx, keyFlash) {
		return nil
	}
	return &Flash{Text: c.sessions.PopString(ctx, keyFlash), Kind: c.sessions.PopString(ctx, keyFlashKind)}
}
