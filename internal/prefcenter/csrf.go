package prefcenter

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/rapport-dev/rapport/internal/token"
)

// csrfLabel separates the CSRF key from every other use of SECRET_KEY
// (tokens derive theirs under another label), so a CSRF field can never be
// replayed as, or reveal anything about, a token signature.
const csrfLabel = "rapport/prefcenter/csrf/v1"

// csrf makes and checks the hidden form field that proves a POST came from
// a page we served. It is stateless, an HMAC of the page's token and
// purpose, so no cookie or session is needed: another site cannot read our
// page and so cannot learn the field for a token.
type csrf struct{ keys [][]byte }

func newCSRF(secrets []string) csrf {
	c := csrf{}
	for _, s := range secrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte(csrfLabel))
		c.keys = append(c.keys, m.Sum(nil))
	}
	return c
}

func csrfMAC(key []byte, p token.Purpose, tok string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(p.String()))
	m.Write([]byte{0})
	m.Write([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// field returns the value to embed in the page for tok.
func (c csrf) field(p token.Purpose, tok string) string {
	if len(c.keys) == 0 {
		return ""
	}
	return csrfMAC(c.keys[0], p, tok)
}

// valid reports whether got is the field for tok under any current key, so
// a page served just before a key rotation still submits.
func (c csrf) valid(p token.Purpose, tok, got string) bool {
	if got == "" {
		return false
	}
	for _, k := range c.keys {
		if hmac.Equal([]byte(csrfMAC(k, p, tok)), []byte(got)) {
			return true
		}
	}
	return false
}

// sameSite reports whether a form POST may have come from our own page. It
// refuses what browsers flag as cross-site: Sec-Fetch-Site: cross-site, or
// an Origin naming another host. An absent Origin (old browsers) and
// "Origin: null" pass: our pages send no referrer, and browsers then send
// "null" even for a same-origin form POST, so the CSRF field carries the
// proof in those cases.
func sameSite(r *http.Request, public *url.URL) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return public != nil && strings.EqualFold(u.Host, public.Host)
}
