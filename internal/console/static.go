package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
)

// staticFS holds the console's style sheet and the vendored htmx (with its
// licence and checksums, which are not served).
//
//go:embed static
var staticFS embed.FS

// assets are the static files by the name pages ask for ("console.css")
// and by the name they are served under, which carries a hash of their
// content ("console.3f9a1c2b7d.css"): a changed file gets a new address,
// so each can be cached for a year.
type assets struct {
	url   map[string]string // logical name → /console/static/hashed name
	files map[string]asset  // hashed name → content
}

type asset struct {
	body  []byte
	ctype string
}

func loadAssets() (*assets, error) {
	a := &assets{url: map[string]string{}, files: map[string]asset{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := path.Ext(p)
		if ext != ".css" && ext != ".js" {
			return nil
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(body)
		hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:5]) + ext
		a.url[name] = "/console/static/" + hashed
		a.files[hashed] = asset{body: body, ctype: mime.TypeByExtension(ext)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: static files: %w", err)
	}
	return a, nil
}

// URL is where a page links to the static file name; an unknown name is
// a defect in a template and fails its rendering.
func (a *assets) URL(name string) (string, error) {
	u, ok := a.url[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return u, nil
}

// serveStatic answers GET /console/static/{hashed name}.
func (c *Console) serveStatic(ec echo.Context) error {
	f, ok := c.assets.files[ec.Param("*")]
	h := ec.Response().Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if !ok {
		h.Set("Cache-Control", "no-store")
		return ec.String(http.StatusNotFound, "not found")
	}
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	return ec.Blob(http.StatusOK, f.ctype, f.body)
}
