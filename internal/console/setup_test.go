package console_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/console"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/throttle"
	"github.com/rapport-dev/rapport/internal/token"
)

// The console against a real PostgreSQL, served by a real HTTP server:
// the handlers, the middleware and the store together. The end-to-end
// run through `rapport serve`, and the browser, are in cmd/rapport.

// bundle is one test's console.
type bundle struct {
	t       *testing.T
	store   *postgres.Store
	db      *pgxpool.Pool
	console *console.Console
	srv     *httptest.Server
}

// password is every test user's password.
const password = "correct horse battery staple"

// setup starts a console on a database of its own; tune changes its Deps.
func setup(t *testing.T, tune ...func(*console.Deps)) *bundle {
	t.Helper()
	pool := pgtest.Pool(t)
	store := postgres.NewStore(pool, nil)
	require.NoError(t, store.Seed(context.Background()))
	d := console.Deps{Store: store, Throttles: throttle.New(store, nil, throttle.Config{}), Log: slog.New(slog.DiscardHandler),
		Campaigns: campaigns(t, store)}
	for _, f := range tune {
		f(&d)
	}
	c, err := console.New(d)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	e := echo.New()
	// As internal/api does, with the test's "client addresses" taken from
	// X-Real-IP sent over loopback.
	e.IPExtractor = echo.ExtractIPFromRealIPHeader()
	c.Mount(e.Group("/console"))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &bundle{t: t, store: store, db: pool, console: c, srv: srv}
}

// campaigns is the campaign service the API uses, with a queue that
// enqueues nothing: runs are started and audited, and the tests write the
// deliveries a plan would (see deliver).
func campaigns(t *testing.T, store *postgres.Store) *campaign.Service {
	t.Helper()
	signer, err := token.New([]string{"console-test-secret-0123456789abcdefghijkl"})
	require.NoError(t, err)
	renderer, err := render.New(render.Company{Name: "Rapport Test", Address: "1 Test Street"})
	require.NoError(t, err)
	base, _ := url.Parse("https://mail.example.test")
	return campaign.New(store, noQueue{}, campaign.Config{Renderer: renderer, Links: token.Links{Signer: signer, Base: base},
		Mail: campaign.Mail{From: "Rapport Test <news@example.com>", ListIDDomain: "lists.example.com"}})
}

// noQueue is a campaign.Queue that enqueues nothing.
type noQueue struct{}

func (noQueue) PlanRun(context.Context, *postgres.Tx, int64, int64, int64) error { return nil }
func (noQueue) ReplanCampaign(context.Context, *postgres.Tx, int64) error        { return nil }

// user creates a user with the role and the test password, already chosen
// (no one-time password to replace), and returns their address.
func (b *bundle) user(role outreach.Role) string {
	b.t.Helper()
	ctx := context.Background()
	email := string(role) + "-" + strings.ToLower(randomWord()) + "@example.com"
	_, u, err := b.store.CreateUser(ctx, "test", postgres.NewUser{Email: email, Name: strings.ToUpper(string(role[:1])) + string(role[1:]) + " User", Role: role})
	require.NoError(b.t, err)
	_, err = b.store.SetPassword(ctx, "test", u.ID, password)
	require.NoError(b.t, err)
	return email
}

func randomWord() string { return rand.Text()[:8] }

// client is a browser without JavaScript: a cookie jar, no redirects
// followed (the tests look at them), and the form token of the last page
// it read.
type client struct {
	b     *bundle
	http  *http.Client
	token string
	ip    string
}

func (b *bundle) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{b: b, ip: "192.0.2.10", http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// page is an answer.
type page struct {
	Status   int
	Body     string
	Header   http.Header
	Location string
}

var tokenField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) do(req *http.Request) page {
	c.b.t.Helper()
	req.Header.Set("X-Real-IP", c.ip)
	resp, err := c.http.Do(req)
	require.NoError(c.b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(c.b.t, err)
	if m := tokenField.FindStringSubmatch(string(body)); m != nil {
		c.token = m[1]
	}
	return page{Status: resp.StatusCode, Body: string(body), Header: resp.Header, Location: resp.Header.Get("Location")}
}

func (c *client) get(path string) page {
	c.b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.b.srv.URL+path, nil)
	require.NoError(c.b.t, err)
	return c.do(req)
}

// post sends a form as the console's own page would: with the last form
// token seen (unless the form has one) and the browser's same-origin
// headers. headers override them; "" deletes one.
func (c *client) post(path string, form url.Values, headers ...string) page {
	c.b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok && c.token != "" {
		form.Set("csrf", c.token)
	}
	req, err := http.NewRequest(http.MethodPost, c.b.srv.URL+path, strings.NewReader(form.Encode()))
	require.NoError(c.b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.b.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	return c.do(req)
}

// signIn signs in and checks it worked.
func (c *client) signIn(email, pw string) {
	c.b.t.Helper()
	c.get("/console/sign-in")
	p := c.post("/console/sign-in", url.Values{"email": {email}, "password": {pw}})
	require.Equal(c.b.t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(c.b.t, "/console/", p.Location)
	p = c.get("/console/")
	require.Equal(c.b.t, http.StatusOK, p.Status)
}

// as is a client signed in as a new user with the role.
func (b *bundle) as(role outreach.Role) (*client, string) {
	b.t.Helper()
	email := b.user(role)
	c := b.client()
	c.signIn(email, password)
	return c, email
}

// count is a table's row count, to show that a refused request wrote
// nothing.
func (b *bundle) count(table string) int {
	b.t.Helper()
	if !regexp.MustCompile(`^[a-z_]+$`).MatchString(table) {
		b.t.Fatalf("bad table %q", table)
	}
	var n int
	require.NoError(b.t, b.db.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
	return n
}

// audited is the actions in the audit log by actor, newest first.
func (b *bundle) audited(actor string) []string {
	b.t.Helper()
	entries, err := b.store.Audit(context.Background(), postgres.AuditFilter{Actor: actor, Limit: 100})
	require.NoError(b.t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Action+" "+e.Entity)
	}
	return out
}

// concrete fills a route's parameters.
func concrete(path string) string { return regexp.MustCompile(`:[a-z]+`).ReplaceAllString(path, "1") }
