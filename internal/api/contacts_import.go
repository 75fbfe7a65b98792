package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/contactcsv"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// importPath is the import route; the global body limit skips it, and
// the console's CSV upload too.
const (
	importPath        = "/api/v1/contacts/import"
	consoleImportPath = "/console/contacts/import"
)

// isImport tells the global body limit to leave the imports alone: they
// stream, under limits of their own (Deps.ImportBodyLimit here, the
// console's ImportBodyLimit there).
func isImport(c echo.Context) bool {
	return c.Request().Method == http.MethodPost && (c.Path() == importPath || c.Path() == consoleImportPath)
}

// deadlineGuard keeps the connection's deadlines ahead of a long upload
// that is still moving (the server's ReadTimeout is meant for ordinary
// requests).
type deadlineGuard struct {
	r     io.Reader
	rc    *http.ResponseController
	moved time.Time
}

func (g *deadlineGuard) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(g.moved) > time.Second {
		g.moved = now
		_ = g.rc.SetReadDeadline(now.Add(time.Minute))
		_ = g.rc.SetWriteDeadline(now.Add(2 * time.Minute))
	}
	return g.r.Read(p)
}

// importContacts streams a CSV file into contacts: POST /contacts/import
// (see internal/contactcsv). ?tier= is the tier of rows without one.
func (s *Server) importContacts(c echo.Context) error {
	req := c.Request()
	mt, params, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mt != "text/csv" {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "send the file as text/csv")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "the file must be UTF-8 (charset=utf-8)")
	}
	body := &deadlineGuard{r: http.MaxBytesReader(c.Response(), req.Body, s.ImportBodyLimit), rc: http.NewResponseController(c.Response())}
	res, err := contactcsv.Import(req.Context(), s.Store, actor(c), body, c.QueryParam("tier"))
	var he *contactcsv.HeaderError
	var re *contactcsv.ReadError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return newBadRequest(he.Field, he.Message)
	case errors.As(err, &mbe):
		// Rows read before stay imported; the audit log has their counts.
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("the file is larger than the import limit of %d bytes (%d rows were read)", s.ImportBodyLimit, res.Rows))
	case errors.As(err, &re):
		return newBadRequest("", fmt.Sprintf("the upload broke off (%d rows were read): %v", re.Rows, re.Err))
	case err != nil:
		return err
	}
	return c.JSON(http.StatusOK, ImportJSON(res))
}

type importRowErrorJSON struct {
	Line    int    `json:"line"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

type importJSON struct {
	Rows            int                  `json:"rows"`
	Created         int                  `json:"created"`
	Updated         int                  `json:"updated"`
	Unchanged       int                  `json:"unchanged"`
	Invalid         int                  `json:"invalid"`
	Errors          []importRowErrorJSON `json:"errors"`
	ErrorsTruncated bool                 `json:"errors_truncated"`
}

// ImportJSON is an import's result as the API answers it; `rapport
// contacts import` prints the same.
func ImportJSON(r postgres.ImportResult) any {
	out := importJSON{Rows: r.Rows, Created: r.Created, Updated: r.Updated, Unchanged: r.Unchanged, Invalid: r.Invalid,
		Errors: make([]importRowErrorJSON, len(r.Errors)), ErrorsTruncated: r.ErrorsTruncated}
	for i, e := range r.Errors {
		out.Errors[i] = importRowErrorJSON{Line: e.Line, Field: e.Field, Message: e.Message}
	}
	return out
}
