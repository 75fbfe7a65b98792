package console_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/console"
	"github.com/rapport-dev/rapport/internal/outreach"
)

// importForm is a CSV upload as the import page's form sends it: the
// form token and the tier first, then the file.
func (c *client) importForm(csv, tier string) (body *bytes.Buffer, contentType string) {
	c.b.t.Helper()
	body = &bytes.Buffer{}
	w := multipart.NewWriter(body)
	require.NoError(c.b.t, w.WriteField("csrf", c.token))
	require.NoError(c.b.t, w.WriteField("tier", tier))
	if csv != "" {
		f, err := w.CreateFormFile("file", "contacts.csv")
		require.NoError(c.b.t, err)
		_, err = io.WriteString(f, csv)
		require.NoError(c.b.t, err)
	}
	require.NoError(c.b.t, w.Close())
	return body, w.FormDataContentType()
}

func (c *client) postBody(path string, body io.Reader, contentType string) page {
	c.b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.b.srv.URL+path, body)
	require.NoError(c.b.t, err)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Origin", c.b.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.do(req)
}

var importAction = regexp.MustCompile(`action="(/console/contacts/import\?id=[A-Z2-7]{26})"`)

// importPage opens the import page and returns where its form posts.
func (c *client) importPage() string {
	c.b.t.Helper()
	p := c.get("/console/contacts/import")
	require.Equal(c.b.t, http.StatusOK, p.Status)
	m := importAction.FindStringSubmatch(p.Body)
	require.Len(c.b.t, m, 2, "the form posts to an import id")
	return m[1]
}

func (c *client) upload(csv, tier string) page {
	c.b.t.Helper()
	action := c.importPage()
	body, ct := c.importForm(csv, tier)
	return c.postBody(action, body, ct)
}

// TestContactImport: a marketer uploads a CSV with a bad row; the good
// rows are in, the bad one is listed with its line. A file the import
// cannot read at all comes back as an error next to the file field.
func TestContactImport(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c, marketer := b.as(outreach.RoleMarketer)

	p := c.upload("email,name,tier\nada@example.com,Ada,high\nnot-an-address,Bob,low\ncarol@example.com,Carol,\n", "medium")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.Body, "Imported: 3 rows read")
	require.Regexp(t, `<span class="stat-n">2</span> <span class="stat-label">created</span>`, p.Body)
	require.Regexp(t, `<span class="stat-n">1</span> <span class="stat-label">not imported</span>`, p.Body)
	require.Regexp(t, `<tr><th scope="row">Line 3</th><td>email</td><td>must be a valid email address`, p.Body)
	require.Contains(t, p.Body, `<option value="medium" selected>`, "the default tier is kept for the next file")
	for email, tier := range map[string]string{"ada@example.com": "high", "carol@example.com": "medium"} {
		found, err := b.store.FindContacts(ctx, email)
		require.NoError(t, err)
		require.Len(t, found, 1, email)
		require.Equal(t, tier, found[0].Tier)
	}
	require.Equal(t, []string{"import contact"}, b.audited("user:"+marketer), "the import's own audit entry, as the API's")

	p = c.upload("email,bogus\nada@example.com,x\n", "")
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	requireFieldError(t, p, "f-file", `unknown column &#34;bogus&#34;`)
	p = c.upload("email,name\nada@example.com,x\n", "")
	requireFieldError(t, p, "f-file", "the header row must have a tier column")
	p = c.upload("email,name\nada@example.com,x\n", "gold")
	requireFieldError(t, p, "f-tier", "no such tier: gold")
	require.Contains(t, p.Body, `<option value="">None`, "the form is there again")
	p = c.upload("", "low")
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	requireFieldError(t, p, "f-file", "choose a CSV file")
	require.Contains(t, p.Body, `<option value="low" selected>`)
	require.Len(t, b.audited("user:"+marketer), 1, "nothing more was imported")

	viewer, _ := b.as(outreach.RoleViewer)
	body, ct := viewer.importForm("email,tier\neve@example.com,low\n", "")
	require.Equal(t, http.StatusForbidden, viewer.postBody("/console/contacts/import", body, ct).Status)
	found, err := b.store.FindContacts(ctx, "eve@example.com")
	require.NoError(t, err)
	require.Empty(t, found)
}

// TestContactImportTooLarge: a file over ImportBodyLimit is a page that
// says so; nothing is imported.
func TestContactImportTooLarge(t *testing.T) {
	t.Parallel()
	b := setup(t, func(d *console.Deps) { d.ImportBodyLimit = 4096 })
	c, _ := b.as(outreach.RoleMarketer)
	var csv strings.Builder
	csv.WriteString("email,tier\n")
	for i := range 300 {
		fmt.Fprintf(&csv, "big%d@example.com,low\n", i)
	}
	p := c.upload(csv.String(), "")
	require.Equal(t, http.StatusRequestEntityTooLarge, p.Status)
	require.Contains(t, p.Body, "That file is too large")
	require.Contains(t, p.Body, "at most 4096 bytes")
	require.Equal(t, 0, b.count("contacts"))
}

// TestContactImportProgress: while the file arrives, the import's
// progress address tells its owner how much has come (in bytes), then
// that it finished; nobody else learns anything from it.
func TestContactImportProgress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, _ := b.as(outreach.RoleMarketer)
	action := c.importPage()
	id := strings.TrimPrefix(action, "/console/contacts/import?id=")
	progress := "/console/contacts/import/progress?id=" + id
	htmx := func(cl *client) page {
		req, err := http.NewRequest(http.MethodGet, b.srv.URL+progress, nil)
		require.NoError(t, err)
		req.Header.Set("HX-Request", "true")
		return cl.do(req)
	}
	require.Contains(t, htmx(c).Body, "Sending the file…", "nothing has arrived yet")

	var csv strings.Builder
	csv.WriteString("email,tier\n")
	for i := range 3000 {
		fmt.Fprintf(&csv, "row%d@example.com,low\n", i)
	}
	body, ct := c.importForm(csv.String(), "")
	all := body.Bytes()
	pr, pw := io.Pipe()
	done := make(chan page, 1)
	go func() { done <- c.postBody(action, pr, ct) }()
	_, err := pw.Write(all[:len(all)/2])
	require.NoError(t, err)
	// The server holds half the file: the poll says how much.
	require.Eventually(t, func() bool { return strings.Contains(htmx(c).Body, "Uploading the file: 0.0") }, 5*time.Second, 10*time.Millisecond)
	p := htmx(c)
	require.Contains(t, p.Body, `hx-trigger="load delay:500ms"`, "the fragment polls again")
	require.NotContains(t, p.Body, "<html", "a fragment, not a page")

	other, _ := b.as(outreach.RoleMarketer)
	require.Contains(t, htmx(other).Body, "Sending the file…", "another user's import is not theirs to see")

	_, err = pw.Write(all[len(all)/2:])
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	res := <-done
	require.Equal(t, http.StatusOK, res.Status, res.Body)
	require.Contains(t, res.Body, "Imported: 3,000 rows read")
	p = htmx(c)
	require.Contains(t, p.Body, "Import finished:</strong> 3,000 rows read")
	require.NotContains(t, p.Body, "hx-trigger", "polling stops")

	// Without JavaScript the address is the import page showing it.
	p = c.get(progress)
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "<h1>Import contacts</h1>")
	require.Contains(t, p.Body, "Import finished:</strong> 3,000 rows read")
}

// TestImportRunEndsWithItsRequest: an upload refused before it is
// imported still ends its run, so the page's poll stops and the tracker
// can let it go.
func TestImportRunEndsWithItsRequest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, _ := b.as(outreach.RoleMarketer)
	action := c.importPage()
	body, ct := c.importForm("", "low") // no file: refused next to the field
	require.Equal(t, http.StatusUnprocessableEntity, c.postBody(action, body, ct).Status)
	req, err := http.NewRequest(http.MethodGet, b.srv.URL+"/console/contacts/import/progress?id="+strings.TrimPrefix(action, "/console/contacts/import?id="), nil)
	require.NoError(t, err)
	req.Header.Set("HX-Request", "true")
	require.Contains(t, c.do(req).Body, "Import finished", "the run ended with its request; polling stops")
}

// TestImportProgressIsKeptAWhile: a finished import's progress stays
// readable for a quarter of an hour, then goes at the next import.
func TestImportProgressIsKeptAWhile(t *testing.T) {
	t.Parallel()
	clock := &movingClock{t: time.Now().UTC()}
	b := setup(t, func(d *console.Deps) { d.Clock = clock })
	c, _ := b.as(outreach.RoleMarketer)
	action := c.importPage()
	body, ct := c.importForm("email,tier\nkept@example.com,low\n", "")
	require.Equal(t, http.StatusOK, c.postBody(action, body, ct).Status)
	poll := func() string {
		req, err := http.NewRequest(http.MethodGet, b.srv.URL+"/console/contacts/import/progress?id="+strings.TrimPrefix(action, "/console/contacts/import?id="), nil)
		require.NoError(t, err)
		req.Header.Set("HX-Request", "true")
		return c.do(req).Body
	}
	clock.add(14 * time.Minute)
	c.upload("email,tier\nother@example.com,low\n", "")
	require.Contains(t, poll(), "Import finished", "kept after 14 minutes")
	clock.add(2 * time.Minute)
	c.upload("email,tier\nthird@example.com,low\n", "")
	require.Contains(t, poll(), "Sending the file…", "gone after 16")
}
