package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapport-dev/rapport/internal/api"
	"github.com/rapport-dev/rapport/internal/console"
	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/throttle"
	"github.com/rapport-dev/rapport/internal/token"
)

// pageTarget is the bound on a console page's server time.
const pageTarget = 200 * time.Millisecond

// consoleSamples is how many times each page is timed (after two
// warm-up requests).
const consoleSamples = 20

// BenchmarkConsolePages seeds a million contacts and 100 campaigns with
// their deliveries (consoleSeedSQL), signs in as an admin, and requests
// every page of routes.go — the contact list with each filter, a contact
// with a long timeline, the admin pages — through the whole HTTP stack,
// printing each page's server time (median and p95) against the 200 ms
// target. It asserts no time: figures only.
func BenchmarkConsolePages(b *testing.B) {
	n := contactsFromEnv()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.URL(b), 10)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	clock := outreach.SystemClock{}
	store := postgres.NewStore(pool, clock)
	if err := store.Seed(ctx); err != nil {
		b.Fatal(err)
	}
	seedConsole(b, pool, n)
	_, admin, err := store.CreateUser(ctx, "bench", postgres.NewUser{Email: "bench-admin@example.com", Name: "Bench Admin", Role: outreach.RoleAdmin})
	if err != nil {
		b.Fatal(err)
	}
	const password = "a long bench passphrase"
	if _, err := store.SetPassword(ctx, "bench", admin.ID, password); err != nil {
		b.Fatal(err)
	}
	_, key, err := store.CreateKey(ctx, "bench", "bench key", outreach.RoleMarketer)
	if err != nil {
		b.Fatal(err)
	}

	signer, _ := token.New([]string{"bench-secret-0123456789abcdefghijklmnopqrstuv"})
	renderer, _ := render.New(render.Company{Name: "Bench", Address: "1 Bench Way"})
	outbox, _ := mailer.NewOutbox(b.TempDir(), nil)
	pub, _ := url.Parse("https://mail.example.test")
	svc, _ := benchWorkers(b, pool, store, clock, renderer, signer, pub, outbox, 100, nil, 0, 0)
	limiter := throttle.New(store, clock, throttle.Config{})
	con, err := console.New(console.Deps{Store: store, Throttles: limiter, Campaigns: svc, Log: slog.New(slog.DiscardHandler), Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	defer con.Close()
	srv := api.New(api.Deps{Store: store, Campaigns: svc, Log: slog.New(slog.DiscardHandler), Clock: clock,
		Ready: func(context.Context) error { return nil }, Console: con})
	timing := &timedHandler{h: srv}
	hs := httptest.NewServer(timing)
	defer hs.Close()
	cl := signIn(b, hs.URL, "bench-admin@example.com", password)

	mid := n / 2 / 10 * 10 // a contact with an external id
	ids := map[string]string{"/users/:id": fmt.Sprint(admin.ID), "/keys/:id": fmt.Sprint(key.ID), "/contacts/:id": fmt.Sprint(mid)}
	var pages []string
	for _, r := range con.Routes() {
		if r.Method != http.MethodGet || r.Public() {
			continue
		}
		pages = append(pages, consolePaths(r.Path, ids, mid)...)
	}
	b.ResetTimer()
	fmt.Printf("# console pages, server time over %d requests each (target %v), %d contacts\n", consoleSamples, pageTarget, n)
	fmt.Printf("# %-62s %6s %9s %9s\n", "page", "status", "median", "p95")
	over := 0
	for _, path := range pages {
		var times []time.Duration
		status := 0
		for i := range consoleSamples + 2 {
			resp, err := cl.Get(hs.URL + path)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
			if i >= 2 {
				times = append(times, timing.last())
			}
		}
		slices.Sort(times)
		median, p95 := times[len(times)/2], times[(len(times)*95+99)/100-1]
		if status >= 500 {
			b.Errorf("%s: status %d", path, status)
		}
		mark := ""
		if p95 > pageTarget {
			mark, over = " over the target", over+1
		}
		fmt.Printf("# %-62s %6d %7.1fms %7.1fms%s\n", path, status, ms(median), ms(p95), mark)
		slug := pageSlug(path)
		fmt.Printf("console_%s_median_ms: %.1f ms\n", slug, ms(median))
		fmt.Printf("console_%s_p95_ms: %.1f ms\n", slug, ms(p95))
	}
	fmt.Printf("console_pages: %d pages\n", len(pages))
	fmt.Printf("console_pages_over_target: %d pages\n", over)
	baselines(b, store, pool)
}

// baselines time what the pages avoid, for comparison: an exact count of
// the contacts (the list shows an estimate), and the overdue contacts of
// the high tier, where they are rare (one in 3,000), read without the
// page's bound on the ids it reads, as the API's ?overdue=true does,
// against one stretch of the page's (10,000 ids).
func baselines(b *testing.B, store *postgres.Store, pool *pgxpool.Pool) {
	b.Helper()
	ctx := context.Background()
	best := func(f func() error) time.Duration {
		var out time.Duration
		for i := range 5 {
			start := time.Now()
			if err := f(); err != nil {
				b.Fatal(err)
			}
			if d := time.Since(start); i == 0 || d < out {
				out = d
			}
		}
		return out
	}
	var n int64
	exact := best(func() error { return pool.QueryRow(ctx, "SELECT count(*) FROM contacts").Scan(&n) })
	estimate := best(func() error { _, _, err := store.ContactCount(ctx); return err })
	fmt.Printf("# baselines, best of 5: what the pages avoid\n")
	fmt.Printf("console_count_exact_ms: %.1f ms\n", ms(exact))
	fmt.Printf("console_count_estimate_ms: %.1f ms\n", ms(estimate))
	unbounded := best(func() error {
		_, err := store.OverdueContacts(ctx, postgres.OverdueFilter{Tier: "high", Limit: 51})
		return err
	})
	bounded := best(func() error {
		_, err := store.OverdueContacts(ctx, postgres.OverdueFilter{Tier: "high", ThroughID: 10_000, Limit: 51})
		return err
	})
	fmt.Printf("console_overdue_rare_unbounded_ms: %.1f ms\n", ms(unbounded))
	fmt.Printf("console_overdue_one_stretch_ms: %.1f ms\n", ms(bounded))
}

// consolePaths turns a route into the addresses timed: its parameters
// filled in (ids holds known ones by route prefix; other :id are 1, :key
// a tier), and, for the contact list and a few others, each way of
// narrowing them; mid is a contact half-way down the list.
func consolePaths(route string, ids map[string]string, mid int) []string {
	path := route
	for prefix, id := range ids {
		if strings.HasPrefix(path, prefix) {
			path = prefix[:strings.LastIndex(prefix, ":")] + id + path[len(prefix):]
		}
	}
	path = regexp.MustCompile(`:key\b`).ReplaceAllString(path, "medium")
	path = regexp.MustCompile(`:[a-z_]+`).ReplaceAllString(path, "1")
	p := "/console" + path
	switch route {
	case "/contacts":
		return []string{p, p + fmt.Sprintf("?after=%d", mid), p + "?tier=high", p + "?status=complained", p + "?tier=low&status=bounced",
			p + "?status=active&tier=medium", p + "?overdue=yes", p + "?overdue=yes&tier=high", p + fmt.Sprintf("?overdue=yes&tier=high&after=%d", mid),
			p + fmt.Sprintf("?q=c%d%%40example.com", mid), p + fmt.Sprintf("?q=crm-%d", mid), p + "?q=nobody%40example.com"}
	case "/contacts/:id":
		// Contact 1 has a delivery in every campaign and 60 changes.
		return []string{p, "/console/contacts/1", "/console/contacts/1?before=" + fmt.Sprint(time.Now().Add(-30*24*time.Hour).UnixMicro()) + ".delivery.9223372036854775807"}
	case "/contacts/import/progress":
		return []string{p + "?id=ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
	case "/suppressions":
		return []string{p, p + "?q=c7%40example.com", p + "?before=20000"}
	case "/suppressions/remove":
		return []string{p + "?email=c7%40example.com"}
	case "/audit":
		return []string{p, p + "?actor=user%3Abench-3%40example.com", p + "?action=suppress", p + "?entity=campaign&from=2020-01-01"}
	}
	return []string{p}
}

var slugChars = regexp.MustCompile(`[^a-z0-9]+`)

// pageSlug names a page in the figures: "/console/contacts?tier=high" is
// "contacts_tier_high".
func pageSlug(path string) string {
	s := strings.Trim(slugChars.ReplaceAllString(strings.TrimPrefix(path, "/console"), "_"), "_")
	if len(s) > 60 {
		s = s[:60]
	}
	if s == "" {
		return "dashboard"
	}
	return s
}

// timedHandler records how long the server took for the last request:
// from the request's arrival to the end of its answer.
type timedHandler struct {
	h    http.Handler
	took atomic.Int64
}

func (t *timedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	t.h.ServeHTTP(w, r)
	t.took.Store(int64(time.Since(start)))
}

func (t *timedHandler) last() time.Duration { return time.Duration(t.took.Load()) }

// signIn is a browser without JavaScript signed in to the console: a
// cookie jar, the sign-in form's token.
func signIn(b *testing.B, base, email, password string) *http.Client {
	b.Helper()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Get(base + "/console/sign-in")
	if err != nil {
		b.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		b.Fatal("no form token on the sign-in page")
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/console/sign-in",
		strings.NewReader(url.Values{"email": {email}, "password": {password}, "csrf": {string(m[1])}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err = cl.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		b.Fatalf("sign-in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return cl
}
