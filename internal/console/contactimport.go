package console

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/contactcsv"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// importPath is the CSV import's address; its POST alone may be large.
const importPath = "/console/contacts/import"

// smallBody bounds every other form here, as the API's BODY_LIMIT does
// in front of the console; it is also what a user who may not import can
// send to the import.
const smallBody = 1 << 20

// isImport reports whether r is the console's CSV upload, which the API's
// global body limit leaves to the console (ImportBodyLimit).
func isImport(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Path == importPath }

// limitUpload lets a marketer's CSV upload be as large as ImportBodyLimit,
// counted into the import's progress (its id is in the query string) as
// it arrives; anyone else's, and every other POST, gets a small limit. It
// reads the form here, before the form token is checked, so that a file
// too large is a page that says so.
func (c *Console) limitUpload(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		req := ec.Request()
		if !isImport(req) {
			return next(ec)
		}
		limit := int64(smallBody)
		u := currentUser(ec)
		var run *importRun
		if u != nil && u.Role.Includes(marketer) {
			limit = c.ImportBodyLimit
			if run = c.imports.start(req.URL.Query().Get("id"), u.ID, c.Clock.Now()); run != nil {
				run.total.Store(max(req.ContentLength, 0))
				// However the request ends (a refused form, no file), the
				// run ends with it, so the tracker lets it go.
				defer func() { run.finish(c.Clock.Now()) }()
			}
		}
		body := &counting{r: req.Body, run: run, rc: http.NewResponseController(ec.Response())}
		req.Body = http.MaxBytesReader(ec.Response(), readCloser{body, req.Body}, limit)
		if strings.HasPrefix(req.Header.Get(echo.HeaderContentType), echo.MIMEMultipartForm) {
			var mbe *http.MaxBytesError
			if err := req.ParseMultipartForm(32 << 20); errors.As(err, &mbe) {
				return &pageError{Status: http.StatusRequestEntityTooLarge, Title: "That file is too large",
					Text: fmt.Sprintf("An import may be at most %s. Split the file and import the parts one after the other.", bytesText(limit))}
			}
		}
		return next(ec)
	}
}

type readCloser struct {
	*counting
	closer interface{ Close() error }
}

func (r readCloser) Close() error { return r.closer.Close() }

// importData is the import page's content.
type importData struct {
	ID       string // the next import's id
	Tiers    []Option
	Result   *importResult
	Progress *importProgress // shown by a GET of the progress address
	Columns  string
}

// importResult is an import's outcome as the page shows it.
type importResult struct {
	Rows, Created, Updated, Unchanged, Invalid string
	Errors                                     []postgres.ImportRowError
	Truncated                                  bool
}

func importResultOf(r postgres.ImportResult) *importResult {
	n := func(i int) string { return thousands(int64(i)) }
	return &importResult{Rows: n(r.Rows), Created: n(r.Created), Updated: n(r.Updated), Unchanged: n(r.Unchanged),
		Invalid: n(r.Invalid), Errors: r.Errors, Truncated: r.ErrorsTruncated}
}

// thousands writes n with thousands separators: "1,000,000".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

const importColumns = "email, name, external_id, tier, preferred_tier, timezone, locale, topics_opted_out (separated by ;), paused_until (RFC 3339) and attr.<key>"

func importFields(values url.Values) *Form {
	return newForm(values, "file", "CSV file", "tier", "Tier for rows without one")
}

func (c *Console) importPage(ec echo.Context, status int, f *Form, d importData) error {
	tiers, err := c.Store.Tiers(ec.Request().Context())
	if err != nil {
		return err
	}
	d.ID, d.Columns = newImportID(), importColumns
	d.Tiers = append([]Option{{Value: "", Label: "None: every row names its tier"}}, tierOptions(tiers)...)
	return c.render(ec, status, "contact-import", &View{Title: "Import contacts", Form: f, Data: d})
}

// importForm is GET /console/contacts/import (marketer).
func (c *Console) importForm(ec echo.Context) error {
	return c.importPage(ec, http.StatusOK, importFields(nil), importData{})
}

// importContacts is POST /console/contacts/import (marketer): the same
// streamed import as POST /api/v1/contacts/import (contactcsv and the
// store's Importer), from the uploaded file. Good rows are imported, bad
// ones listed with their line; a file that cannot be read at all (its
// header) comes back as an error next to the file field.
func (c *Console) importContacts(ec echo.Context) error {
	form, err := postForm(ec)
	if err != nil {
		return badRequest("The form could not be read.")
	}
	f := importFields(form)
	fh, err := ec.FormFile("file")
	if err != nil || fh.Size == 0 {
		f.Fail("file", "choose a CSV file with a header row, such as email,name,tier")
		return c.importPage(ec, http.StatusUnprocessableEntity, f, importData{})
	}
	file, err := fh.Open()
	if err != nil {
		return err
	}
	defer file.Close()
	run := c.imports.start(ec.QueryParam("id"), currentUser(ec).ID, c.Clock.Now())
	run.importing(fh.Size)
	in := &counting{r: file, run: run, rc: http.NewResponseController(ec.Response())}
	res, err := contactcsv.ImportWithProgress(ec.Request().Context(), c.Store, actor(ec), in, f.Get("tier"), run.setRows)
	run.finish(c.Clock.Now())
	var he *contactcsv.HeaderError
	var re *contactcsv.ReadError
	switch {
	case errors.As(err, &he):
		field := "file"
		if he.Field == "tier" && f.Get("tier") != "" {
			field = "tier"
		}
		f.Fail(field, he.Message)
		return c.importPage(ec, http.StatusUnprocessableEntity, f, importData{})
	case errors.As(err, &re):
		f.Fail("file", fmt.Sprintf("the file could not be read to the end (%v); the %d rows before were imported", re.Err, re.Rows))
		return c.importPage(ec, http.StatusUnprocessableEntity, f, importData{Result: importResultOf(res)})
	case err != nil:
		return err
	}
	kept := importFields(nil)
	kept.Set("tier", f.Get("tier"))
	return c.importPage(ec, http.StatusOK, kept, importData{Result: importResultOf(res)})
}

// importProgressPage is GET /console/contacts/import/progress?id=…
// (marketer): the import's progress, as a fragment for the import page's
// poll (htmx), or the import page showing it.
func (c *Console) importProgressPage(ec echo.Context) error {
	id := ec.QueryParam("id")
	p := c.imports.get(id, currentUser(ec).ID).view(id)
	if ec.Request().Header.Get("HX-Request") == "true" {
		return c.renderBlock(ec, "contact-import", "import-progress", p)
	}
	return c.importPage(ec, http.StatusOK, importFields(nil), importData{Progress: p})
}

// renderBlock answers with one template of a page alone (an htmx
// fragment), in the page's template set.
func (c *Console) renderBlock(ec echo.Context, page, block string, data any) error {
	t, ok := c.pages[page]
	if !ok {
		return fmt.Errorf("console: no page template %q", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, data); err != nil {
		c.Log.Error("console render", "page", page, "block", block, "error", err.Error())
		return ec.String(http.StatusInternalServerError, "internal error")
	}
	return ec.HTMLBlob(http.StatusOK, buf.Bytes())
}

// tierOptions are the tiers as choices, by rank, with their keys.
func tierOptions(tiers []outreach.Tier) []Option {
	out := make([]Option, len(tiers))
	for i, t := range tiers {
		out[i] = Option{Value: t.Key, Label: t.Name + " (" + t.Key + ")"}
	}
	return out
}

// bytesText is a size for people: "1 GiB", "50 MiB".
func bytesText(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
