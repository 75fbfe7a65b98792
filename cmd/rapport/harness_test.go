package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapport-dev/rapport/internal/api"
	"github.com/rapport-dev/rapport/internal/mailer/smtptest"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testApp is rapport started through run, as main starts it, against a
// database of its own and a real SMTP server.
type testApp struct {
	t    *testing.T
	Base string
	Ops  string // the operations listener: /healthz, /readyz, /metrics
	Key  string // the bootstrap admin key
	// AdminEmail and AdminPassword are the first console user's, as
	// serve printed them (a one-time password, to be replaced).
	AdminEmail, AdminPassword string
	SMTP                      *smtptest.Server
	DB                        *pgxpool.Pool
	Env                       map[string]string
	stdout                    *syncBuffer
	stderr                    *syncBuffer
}

const testSecret = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz"

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startApp runs `rapport serve` until the test ends. env overrides the
// defaults.
func startApp(t *testing.T, env map[string]string) *testApp {
	t.Helper()
	smtp := smtptest.Start(t)
	dbURL := pgtest.URL(t)
	a := &testApp{t: t, SMTP: smtp, stdout: &syncBuffer{}, stderr: &syncBuffer{}, Env: map[string]string{
		"DATABASE_URL": dbURL,
		"HTTP_ADDR":    freeAddr(t),
		"OPS_ADDR":     freeAddr(t),
		"PUBLIC_URL":   "https://mail.example.test",
		"SECRET_KEY":   testSecret,
		"SMTP_URL":     smtp.URL(),
		"FROM":         "Rapport Test <news@example.com>",
		"SEND_WORKERS": "4",
		"LOG_LEVEL":    "warn",
		"DEFER_JITTER": "1m",
	}}
	for k, v := range env {
		a.Env[k] = v
	}
	a.Base = "http://" + a.Env["HTTP_ADDR"]
	a.Ops = "http://" + a.Env["OPS_ADDR"]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, func(k string) string { return a.Env[k] }, a.stdout, a.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Error("serve did not stop within 40s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", a.stderr.String())
		}
	})
	a.waitReady(done)
	m := regexp.MustCompile(`rpk_[A-Za-z0-9_-]+`).FindString(a.stdout.String())
	if m == "" {
		t.Fatalf("no bootstrap key printed; stdout: %q", a.stdout.String())
	}
	a.Key = m
	if u := bootstrapUserLine.FindStringSubmatch(a.stdout.String()); u != nil {
		a.AdminEmail, a.AdminPassword = u[1], u[2]
	} else {
		t.Fatalf("no first console user printed; stdout: %q", a.stdout.String())
	}
	pool, err := postgres.Open(context.Background(), dbURL, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	a.DB = pool
	return a
}

// bootstrapUserLine finds the first console user's address and one-time
// password in serve's output.
var bootstrapUserLine = regexp.MustCompile(`sign in as (\S+) with this one-time password[^\n]*\n[^\n]*\n\n {4}([a-z0-9]{4}(?:-[a-z0-9]{4}){4})\n`)

func (a *testApp) waitReady(done chan error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			a.t.Fatalf("serve exited early: %v\n%s", err, a.stderr.String())
		default:
		}
		resp, err := http.Get(a.Base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.t.Fatalf("not ready after 30s\n%s", a.stderr.String())
}

// call sends a request with the key (none if empty) and decodes a JSON
// answer into out when out is not nil.
func (a *testApp) call(method, path, key string, body any, out any) (int, []byte) {
	a.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.Base+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a.checkResponse(req, resp, raw)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, raw
}

// The OpenAPI document (internal/api/openapi.json), loaded once per test
// binary, and a router finding each request's operation in it.
var (
	openapiOnce   sync.Once
	openapiRouter routers.Router
	openapiErr    error
)

func openAPIRouter() (routers.Router, error) {
	openapiOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPIDocument())
		if err != nil {
			openapiErr = fmt.Errorf("load openapi.json: %w", err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			openapiErr = fmt.Errorf("openapi.json is invalid: %w", err)
			return
		}
		// Match any host: the test servers listen on random ports.
		doc.Servers = nil
		openapiRouter, openapiErr = gorillamux.NewRouter(doc)
	})
	return openapiRouter, openapiErr
}

// checkResponse validates an answer against the OpenAPI document: the
// operation must be documented, the status listed for it, and the headers
// and body must match its schemas. Bodies of non-JSON answers (HTML pages,
// River's UI, metrics) are not checked; a documented answer without content
// must have no body. Failures are reported with t.Errorf, so it is safe from
// the goroutines require.Eventually runs.
func (a *testApp) checkResponse(req *http.Request, resp *http.Response, body []byte) {
	a.t.Helper()
	router, err := openAPIRouter()
	if err != nil {
		a.t.Errorf("OpenAPI document: %v", err)
		return
	}
	name := req.Method + " " + req.URL.RequestURI()
	if req.URL.Path == "/riverui" || strings.HasPrefix(req.URL.Path, "/riverui/") {
		// River's own UI, mounted at a wildcard that OpenAPI paths cannot
		// express beyond one segment; the document marks it as not JSON.
		return
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		a.t.Errorf("%s (%d): not in the OpenAPI document: %v", name, resp.StatusCode, err)
		return
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	if r := route.Operation.Responses.Status(resp.StatusCode); r != nil && r.Value != nil {
		content := r.Value.Content
		switch {
		case len(content) == 0 && len(body) > 0:
			a.t.Errorf("%s: %d is documented without a body, but the answer has one: %s", name, resp.StatusCode, body)
		case len(content) > 0 && content.Get("application/json") == nil && content.Get("application/problem+json") == nil:
			opts.ExcludeResponseBody = true // documented as not JSON
		}
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                opts,
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		a.t.Errorf("%s: the answer contradicts the OpenAPI document: %v\nbody: %s", name, err, body)
	}
}

// newKey creates a key with the role through the API.
func (a *testApp) newKey(role string) string {
	a.t.Helper()
	var out struct{ Key string }
	code, raw := a.call("POST", "/api/v1/keys", a.Key, map[string]string{"name": role + " key", "role": role}, &out)
	if code != http.StatusCreated {
		a.t.Fatalf("create %s key: %d %s", role, code, raw)
	}
	return out.Key
}

// count returns a row count, for asserting that rejected input wrote nothing.
func (a *testApp) count(table string) int {
	a.t.Helper()
	var n int
	if err := a.DB.QueryRow(context.Background(), fmt.Sprintf("SELECT count(*) FROM %s", pgxIdent(table))).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

func pgxIdent(s string) string {
	if !regexp.MustCompile(`^[a-z_]+$`).MatchString(s) {
		panic("bad table name")
	}
	return s
}

// zoneInWindow is a fixed-offset zone where it is now mid-day, so messages
// planned now fall inside the default 08:00–20:00 send window.
func zoneInWindow() string {
	h := time.Now().UTC().Hour()
	off := 13 - h // local hour 13 => offset +off
	if off > 12 {
		off -= 24
	}
	if off < -12 {
		off += 24
	}
	// Etc/GMT signs are inverted: Etc/GMT-3 is UTC+3.
	switch {
	case off == 0:
		return "UTC"
	case off > 0:
		if off > 14 {
			off = 14
		}
		return fmt.Sprintf("Etc/GMT-%d", off)
	default:
		return fmt.Sprintf("Etc/GMT+%d", -off)
	}
}
