package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// consoleClient is a browser without JavaScript on a test app's console:
// cookies kept, redirects not followed, the last form token remembered.
type consoleClient struct {
	t     *testing.T
	a     *testApp
	http  *http.Client
	token string
}

func (a *testApp) consoleClient() *consoleClient {
	jar, _ := cookiejar.New(nil)
	return &consoleClient{t: a.t, a: a, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var formToken = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// do sends a request and returns the status, the Location and the body.
func (c *consoleClient) do(req *http.Request) (int, string, string) {
	c.t.Helper()
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := formToken.FindSubmatch(body); m != nil {
		c.token = string(m[1])
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

func (c *consoleClient) get(path string) (int, string, string) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.a.Base+path, nil)
	require.NoError(c.t, err)
	return c.do(req)
}

// post sends a form with the last token seen, from the console's origin.
func (c *consoleClient) post(path string, form url.Values) (int, string, string) {
	c.t.Helper()
	if form.Get("csrf") == "" {
		form.Set("csrf", c.token)
	}
	req, err := http.NewRequest(http.MethodPost, c.a.Base+path, strings.NewReader(form.Encode()))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.a.Base)
	return c.do(req)
}

// TestConsoleBootstrap: a fresh `rapport serve` prints the first admin
// user's address and one-time password once, next to the first API key;
// `/` leads to the console; the first sign-in must choose a new password
// before anything else; a second start prints neither again.
func TestConsoleBootstrap(t *testing.T) {
	t.Parallel()
	a := startApp(t, map[string]string{"CONSOLE_ADMIN_EMAIL": "ops@example.com"})
	out := a.stdout.String()
	require.Equal(t, "ops@example.com", a.AdminEmail)
	require.Equal(t, 1, strings.Count(out, a.AdminPassword), "printed once")
	require.Less(t, strings.Index(out, a.Key), strings.Index(out, a.AdminPassword), "next to the first API key")
	require.NotContains(t, a.stderr.String(), a.AdminPassword, "never logged")

	c := a.consoleClient()
	code, loc, _ := c.get("/")
	require.Equal(t, http.StatusFound, code)
	require.Equal(t, "/console/", loc)
	code, loc, _ = c.get("/console/")
	require.Equal(t, http.StatusSeeOther, code)
	require.Equal(t, "/console/sign-in?next=%2Fconsole%2F", loc)

	c.get("/console/sign-in")
	code, loc, _ = c.post("/console/sign-in", url.Values{"email": {"OPS@example.com"}, "password": {a.AdminPassword}})
	require.Equal(t, http.StatusSeeOther, code)
	require.Equal(t, "/console/password?next=%2Fconsole%2F", loc, "the one-time password must be replaced first")
	code, loc, _ = c.get("/console/users")
	require.Equal(t, http.StatusSeeOther, code)
	require.True(t, strings.HasPrefix(loc, "/console/password"))
	c.get("/console/password")
	const mine = "a long passphrase of my own"
	code, loc, body := c.post("/console/password", url.Values{"current_password": {a.AdminPassword}, "new_password": {mine},
		"confirm_password": {mine}, "next": {"/console/"}})
	require.Equal(t, http.StatusSeeOther, code, body)
	require.Equal(t, "/console/", loc)
	code, _, body = c.get("/console/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "<title>Dashboard · rapport</title>")
	require.Contains(t, body, ">Users</a>", "an admin")

	var action, actor string
	require.NoError(t, a.DB.QueryRow(context.Background(),
		"SELECT action, actor FROM audit_log WHERE entity = 'user' ORDER BY id DESC LIMIT 1").Scan(&action, &actor))
	require.Equal(t, []string{"change_password", "user:ops@example.com"}, []string{action, actor})

	// A second start on the same database: nothing new to print.
	var second syncBuffer
	env := map[string]string{}
	for k, v := range a.Env {
		env[k] = v
	}
	env["HTTP_ADDR"] = freeAddr(t)
	env["OPS_ADDR"] = freeAddr(t) // the first process holds its own
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--role=api"}, func(k string) string { return env[k] }, &second, io.Discard)
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + env["HTTP_ADDR"] + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.NotContains(t, second.String(), "one-time password")
	require.NotContains(t, second.String(), "rpk_")
}
