package systemtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
)

// Binaries built once by TestMain.
var (
	rapportBin string
	sinkBin    string
	buildErr   error
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "rapport-systemtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if !testing.Short() {
		buildErr = build(dir)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles the two binaries without the race detector (the processes
// under test are many and busy; the test binary itself may still use it).
func build(dir string) error {
	for pkg, out := range map[string]*string{
		"github.com/rapport-dev/rapport/cmd/rapport":  &rapportBin,
		"github.com/rapport-dev/rapport/cmd/smtpsink": &sinkBin,
	} {
		*out = filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", *out, pkg)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return nil
}

// needBinaries skips in -short mode and fails when the build failed.
func needBinaries(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("system test: starts several processes; skipped with -short")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

const testSecret = "systemtest-secret-0123456789abcdefghijklmnopqrstuvwxyz"

// proc is one child process, in a process group of its own, with stdout and
// stderr going to a log file.
type proc struct {
	t       *testing.T
	name    string
	ops     string // base URL of a rapport process's operations listener
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

func startProc(t *testing.T, dir, name, bin string, args []string, env map[string]string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// Its own process group, so killing it reaches anything it started, and
	// killed with the test binary should that die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{t: t, name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(5 * time.Second)
		if t.Failed() {
			t.Logf("--- %s log (tail) ---\n%s", p.name, p.tail(8<<10))
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL to the process group and waits for the exit.
func (p *proc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// signal sends sig to the process group.
func (p *proc) signal(sig syscall.Signal) { _ = syscall.Kill(-p.cmd.Process.Pid, sig) }

// stop sends SIGTERM, waits up to grace, then kills.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.t.Logf("%s did not stop within %v of SIGTERM; killing it", p.name, grace)
		p.kill()
	}
}

func (p *proc) output() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *proc) tail(n int) string {
	s := p.output()
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// sink is the smtpsink process; each life writes its own journal.
type sink struct {
	t        *testing.T
	dir      string
	addr     string
	args     []string
	lives    int
	proc     *proc
	journals []string
	counted  []journalCount
}

// freeSinkPort picks a free port below the ephemeral range, so that while
// the sink is down for the outage test no outgoing connection takes it.
func freeSinkPort(t *testing.T) string {
	t.Helper()
	for range 200 {
		addr := "127.0.0.1:" + strconv.Itoa(20000+rand.IntN(10000))
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatal("no free port for the sink")
	return ""
}

func startSink(t *testing.T, dir string, args ...string) *sink {
	t.Helper()
	s := &sink{t: t, dir: dir, addr: freeSinkPort(t), args: args}
	s.start()
	return s
}

// start starts a new life of the sink on its address.
func (s *sink) start() {
	s.t.Helper()
	s.lives++
	journal := filepath.Join(s.dir, fmt.Sprintf("sink-%d.journal", s.lives))
	s.journals = append(s.journals, journal)
	args := append([]string{"-addr", s.addr, "-out", journal}, s.args...)
	s.proc = startProc(s.t, s.dir, fmt.Sprintf("smtpsink-%d", s.lives), sinkBin, args, nil)
	waitFor(s.t, 10*time.Second, "the sink to listen", func() bool {
		if s.proc.exited() {
			s.t.Fatalf("smtpsink exited: %v\n%s", s.proc.err, s.proc.output())
		}
		return strings.Contains(s.proc.output(), "listening on")
	})
}

// stop stops the sink with SIGTERM.
func (s *sink) stop() { s.proc.stop(10 * time.Second) }

func (s *sink) url() string { return "smtp://" + s.addr + "?tls=none&timeout=10s" }

// sinkRecord is one journal line.
type sinkRecord struct {
	At        time.Time
	MessageID string
	Rcpt      string
}

// records reads every journal of every life. A last line without its
// newline (being written right now) is left out.
func (s *sink) records() []sinkRecord {
	s.t.Helper()
	var out []sinkRecord
	for _, path := range s.journals {
		b, err := os.ReadFile(path)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			s.t.Fatal(err)
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			b = b[:i+1]
		} else {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Split(sc.Text(), "\t")
			if len(f) != 3 {
				s.t.Fatalf("bad journal line %q", sc.Text())
			}
			ns, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				s.t.Fatalf("bad journal line %q", sc.Text())
			}
			out = append(out, sinkRecord{At: time.Unix(0, ns), MessageID: f[1], Rcpt: strings.ToLower(f[2])})
		}
	}
	return out
}

// count is the number of messages the sink has journalled so far. It reads
// only what was appended since the last call.
func (s *sink) count() int {
	for len(s.counted) < len(s.journals) {
		s.counted = append(s.counted, journalCount{})
	}
	n := 0
	for i, path := range s.journals {
		jc := &s.counted[i]
		if f, err := os.Open(path); err == nil {
			if _, err := f.Seek(jc.offset, io.SeekStart); err == nil {
				b, _ := io.ReadAll(f)
				jc.offset += int64(len(b))
				jc.lines += bytes.Count(b, []byte{'\n'})
			}
			f.Close()
		}
		n += jc.lines
	}
	return n
}

// journalCount is how far count has read a journal.
type journalCount struct {
	offset int64
	lines  int
}

// cluster is a rapport installation: one database, one API process, one
// scheduler, worker processes and a sink.
type cluster struct {
	t       *testing.T
	dir     string
	dbURL   string
	db      *pgxpool.Pool
	env     map[string]string
	base    string
	key     string
	sink    *sink
	api     *proc
	sched   *proc
	workers []*proc
	starts  int
}

type clusterOpts struct {
	workers     int      // worker processes
	sendWorkers int      // SEND_WORKERS per process
	sinkArgs    []string // extra smtpsink flags
	// single runs one `serve --role=all` process (the default deployment)
	// instead of an API process, a scheduler and workers; c.api is it.
	single bool
	// dbURL is the database to use; empty: a fresh one on the test server.
	dbURL string
	// env adds or overrides environment variables of every process.
	env map[string]string
}

func newCluster(t *testing.T, o clusterOpts) *cluster {
	t.Helper()
	needBinaries(t)
	dir := t.TempDir()
	c := &cluster{t: t, dir: dir, dbURL: o.dbURL}
	if c.dbURL == "" {
		c.dbURL = pgtest.URL(t)
	}
	pool, err := postgres.Open(context.Background(), c.dbURL, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	c.db = pool
	c.sink = startSink(t, dir, o.sinkArgs...)
	httpAddr := freeAddr(t)
	c.base = "http://" + httpAddr
	c.env = map[string]string{
		"DATABASE_URL":   c.dbURL,
		"HTTP_ADDR":      httpAddr,
		"PUBLIC_URL":     "https://mail.example.test",
		"SECRET_KEY":     testSecret,
		"SMTP_URL":       c.sink.url(),
		"FROM":           "Rapport Test <news@example.com>",
		"SEND_WORKERS":   strconv.Itoa(o.sendWorkers),
		"SMTP_POOL_SIZE": strconv.Itoa(o.sendWorkers),
		"LOG_LEVEL":      "warn",
		"RESCUE_AFTER":   "1m",
		"DEFER_JITTER":   "1m",
	}
	maps.Copy(c.env, o.env)
	if o.single {
		c.api = c.startRole("all")
		c.waitReady()
		c.key = bootstrapKey(t, c.api)
		return c
	}
	c.api = c.startRole("api")
	c.waitReady()
	c.key = bootstrapKey(t, c.api)
	c.sched = c.startRole("scheduler")
	for range o.workers {
		c.workers = append(c.workers, c.startRole("worker"))
	}
	return c
}

// bootstrapKey is the first admin key the API process printed.
func bootstrapKey(t *testing.T, api *proc) string {
	t.Helper()
	m := regexp.MustCompile(`rpk_[A-Za-z0-9_-]+`).FindString(api.output())
	if m == "" {
		t.Fatalf("no bootstrap key printed:\n%s", api.output())
	}
	return m
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startRole starts `rapport serve --role=role`, with an operations
// listener of its own (p.ops). Workers log at info, so their River client
// id ("workers started") is in their log.
func (c *cluster) startRole(role string) *proc {
	c.t.Helper()
	c.starts++
	env := maps.Clone(c.env)
	if role == "worker" || role == "all" {
		env["LOG_LEVEL"] = "info"
	}
	env["OPS_ADDR"] = freeAddr(c.t)
	p := startProc(c.t, c.dir, fmt.Sprintf("rapport-%s-%d", role, c.starts), rapportBin,
		[]string{"serve", "--role=" + role}, env)
	p.ops = "http://" + env["OPS_ADDR"]
	return p
}

// restartWorker kills worker i with SIGKILL and starts a new one in its
// place. It returns how many deliveries were in flight at the kill: those
// the dead worker's jobs had claimed ('sending') and not yet recorded.
// Nothing else touches them until River rescues the jobs (RESCUE_AFTER),
// so they are counted exactly, after the kill.
func (c *cluster) restartWorker(i int) int {
	c.t.Helper()
	id := c.riverClientID(c.workers[i])
	c.workers[i].kill()
	var inFlight int
	err := c.db.QueryRow(context.Background(), `
		SELECT count(*) FROM deliveries d JOIN river_job j ON j.id = d.send_job_id
		WHERE d.state = 'sending' AND j.state = 'running' AND j.attempted_by[array_upper(j.attempted_by, 1)] = $1`, id).Scan(&inFlight)
	if err != nil {
		c.t.Fatal(err)
	}
	c.workers[i] = c.startRole("worker")
	return inFlight
}

// riverClientID reads a worker's River client id from its log.
func (c *cluster) riverClientID(p *proc) string {
	c.t.Helper()
	var id string
	waitFor(c.t, 30*time.Second, p.name+" to log its River client id", func() bool {
		m := regexp.MustCompile(`"msg":"workers started".*?"river_client_id":"([^"]+)"`).FindStringSubmatch(p.output())
		if m != nil {
			id = m[1]
		}
		return m != nil
	})
	return id
}

func (c *cluster) waitReady() {
	c.t.Helper()
	waitFor(c.t, 60*time.Second, "the API to be ready", func() bool {
		if c.api.exited() {
			c.t.Fatalf("rapport api exited: %v\n%s", c.api.err, c.api.output())
		}
		resp, err := http.Get(c.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// call sends an API request with the admin key and decodes the answer into
// out; it fails the test unless the status is want.
func (c *cluster) call(method, path string, body any, want int, out any) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d %s (want %d)", method, path, resp.StatusCode, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
}

// createOpenTier creates a tier whose rules let every contact have a
// message now, at any hour of any day.
func (c *cluster) createOpenTier(key string) {
	c.t.Helper()
	c.call("POST", "/api/v1/tiers", map[string]any{
		"key": key, "name": "Open " + key, "rank": 50, "selectable": false,
		"caps": []map[string]any{{"max": 100, "window": "1h"}}, "min_gap": "0s",
		"send_window": map[string]any{"days": []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, "start": "00:00", "end": "24:00"},
	}, http.StatusCreated, nil)
}

// setThrottles sets the send rates (global 0: no global limit).
func (c *cluster) setThrottles(global float64, domains map[string]float64) {
	c.t.Helper()
	if domains == nil {
		domains = map[string]float64{}
	}
	c.call("PUT", "/api/v1/throttles", map[string]any{"global_per_second": global, "domains": domains}, http.StatusOK, nil)
}

// insertContacts COPYs contacts of the tier; email(i) names the i-th.
func (c *cluster) insertContacts(tier string, n int, email func(i int) string) {
	c.t.Helper()
	now := time.Now()
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{email(i), fmt.Sprintf("Contact %d", i), tier, "UTC", now, now}
	}
	_, err := c.db.CopyFrom(context.Background(), pgx.Identifier{"contacts"},
		[]string{"email", "name", "tier", "timezone", "created_at", "updated_at"}, pgx.CopyFromRows(rows))
	if err != nil {
		c.t.Fatalf("copy contacts: %v", err)
	}
}

// sendCampaign creates a marketing campaign to the tier's contacts and
// sends it now; it returns the campaign id.
func (c *cluster) sendCampaign(tier string) int64 {
	c.t.Helper()
	var camp struct{ ID int64 }
	c.call("POST", "/api/v1/campaigns", map[string]any{
		"name": "System test " + tier, "topic": "product-news",
		"subject":  "Hello {{.Contact.Name}}",
		"text":     "Hello {{.Contact.Name}}, this is a system test.",
		"html":     "<p>Hello {{.Contact.Name}}, this is a system test.</p>",
		"audience": map[string]any{"tiers": []string{tier}},
	}, http.StatusCreated, &camp)
	c.call("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", camp.ID), nil, http.StatusAccepted, nil)
	return camp.ID
}

// states counts a campaign's deliveries by state.
func (c *cluster) states(campaign int64) map[string]int {
	c.t.Helper()
	rows, err := c.db.Query(context.Background(), "SELECT state, count(*) FROM deliveries WHERE campaign_id = $1 GROUP BY state", campaign)
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			c.t.Fatal(err)
		}
		out[s] = n
	}
	if err := rows.Err(); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// waitTerminal waits until the campaign has want deliveries, none of them
// scheduled or sending, and returns the counts by state.
func (c *cluster) waitTerminal(campaign int64, want int, timeout time.Duration) map[string]int {
	c.t.Helper()
	var st map[string]int
	deadline := time.Now().Add(timeout)
	for {
		st = c.states(campaign)
		total := 0
		for _, n := range st {
			total += n
		}
		if total == want && st["scheduled"] == 0 && st["sending"] == 0 {
			return st
		}
		if time.Now().After(deadline) {
			c.t.Errorf("deliveries not all terminal after %v: %v (want %d in all); sink has %d", timeout, st, want, c.sink.count())
			c.explainStuck(campaign)
			c.t.FailNow()
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// explainStuck logs the deliveries still scheduled or sending and the River
// jobs that carry them.
func (c *cluster) explainStuck(campaign int64) {
	c.t.Helper()
	rows, err := c.db.Query(context.Background(), `
		SELECT d.id, d.state, d.reason, d.rule, d.planned_for, d.attempts, coalesce(d.send_job_id, 0),
		       coalesce((SELECT string_agg(format('job %s %s attempt %s/%s scheduled %s errors %s', j.id, j.state, j.attempt,
		                   j.max_attempts, j.scheduled_at, j.errors::text), '; ' ORDER BY j.id)
		                 FROM river_job j WHERE j.kind = 'send_batch' AND j.args->'delivery_ids' @> to_jsonb(d.id)), 'no job')
		FROM deliveries d WHERE d.campaign_id = $1 AND d.state IN ('scheduled', 'sending')
		ORDER BY d.id LIMIT 5`, campaign)
	if err != nil {
		c.t.Logf("explain stuck deliveries: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var id, sendJob int64
		var state, reason, rule, jobs string
		var planned time.Time
		var attempts int
		if err := rows.Scan(&id, &state, &reason, &rule, &planned, &attempts, &sendJob, &jobs); err != nil {
			c.t.Logf("explain stuck deliveries: %v", err)
			return
		}
		c.t.Logf("stuck delivery %d: %s (%s %q) planned %v attempts %d send_job %d; %s", id, state, reason, rule,
			planned.Format(time.RFC3339Nano), attempts, sendJob, jobs)
	}
	var counts string
	_ = c.db.QueryRow(context.Background(), `SELECT coalesce(string_agg(format('%s %s: %s', kind, state, n), ', '), '') FROM
		(SELECT kind, state, count(*) n FROM river_job GROUP BY 1, 2 ORDER BY 1, 2) x`).Scan(&counts)
	c.t.Logf("river jobs: %s", counts)
}

// delivery is what the checks need of one delivery row.
type delivery struct {
	ID        int64
	ContactID int64
	Email     string
	State     string
	Reason    string
	MessageID string
	SentAt    *time.Time
	Attempts  int
}

func (c *cluster) deliveries(campaign int64) []delivery {
	c.t.Helper()
	rows, err := c.db.Query(context.Background(), `
		SELECT d.id, d.contact_id, c.email, d.state, d.reason, coalesce(d.message_id, ''), d.sent_at, d.attempts
		FROM deliveries d JOIN contacts c ON c.id = d.contact_id
		WHERE d.campaign_id = $1 ORDER BY d.id`, campaign)
	if err != nil {
		c.t.Fatal(err)
	}
	var out []delivery
	for rows.Next() {
		var d delivery
		if err := rows.Scan(&d.ID, &d.ContactID, &d.Email, &d.State, &d.Reason, &d.MessageID, &d.SentAt, &d.Attempts); err != nil {
			c.t.Fatal(err)
		}
		d.MessageID = strings.Trim(d.MessageID, "<>")
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// checkAtMostOnce asserts SPEC 6 between the database and the sink: no
// Message-ID twice at the sink, every sent delivery at the sink, every
// message at the sink a delivery recorded sent or unknown — so
// sent <= received <= sent + unknown. It returns the sink's count.
func checkAtMostOnce(t *testing.T, ds []delivery, recs []sinkRecord) int {
	t.Helper()
	seen := make(map[string]int, len(recs))
	dups := 0
	for _, r := range recs {
		seen[r.MessageID]++
		if seen[r.MessageID] == 2 {
			dups++
			if dups <= 10 {
				t.Errorf("the sink received Message-ID %s more than once", r.MessageID)
			}
		}
	}
	if dups > 0 {
		t.Errorf("%d Message-IDs received more than once", dups)
	}
	byID := make(map[string]delivery, len(ds))
	sent, unknown := 0, 0
	missing := 0
	for _, d := range ds {
		if d.MessageID != "" {
			byID[d.MessageID] = d
		}
		switch d.State {
		case "sent":
			sent++
			if seen[d.MessageID] == 0 {
				missing++
				if missing <= 10 {
					t.Errorf("delivery %d is recorded sent as %q but the sink never received it", d.ID, d.MessageID)
				}
			}
		case "unknown":
			unknown++
		}
	}
	if missing > 0 {
		t.Errorf("%d sent deliveries missing at the sink", missing)
	}
	stray := 0
	for id := range seen {
		d, ok := byID[id]
		if !ok || (d.State != "sent" && d.State != "unknown") {
			stray++
			if stray <= 10 {
				t.Errorf("the sink received %q, which the database has as %+v (known: %v)", id, d, ok)
			}
		}
	}
	if stray > 0 {
		t.Errorf("%d messages at the sink are neither sent nor unknown in the database", stray)
	}
	received := len(seen)
	if !(sent <= received && received <= sent+unknown) {
		t.Errorf("want sent (%d) <= received (%d) <= sent + unknown (%d)", sent, received, sent+unknown)
	}
	return len(recs)
}

// waitFor polls cond every 50 ms until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rateIn counts the records at times in [from, from+d) and returns the rate.
func rateIn(ts []time.Time, from time.Time, d time.Duration) (int, float64) {
	n := 0
	to := from.Add(d)
	for _, at := range ts {
		if !at.Before(from) && at.Before(to) {
			n++
		}
	}
	return n, float64(n) / d.Seconds()
}

// peakIn is the most of the sorted times in any window of length w.
func peakIn(ts []time.Time, w time.Duration) int {
	best, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// syncList is a slice safe for concurrent appends.
type syncList[T any] struct {
	mu    sync.Mutex
	items []T
}

func (l *syncList[T]) add(v T) {
	l.mu.Lock()
	l.items = append(l.items, v)
	l.mu.Unlock()
}

func (l *syncList[T]) all() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]T(nil), l.items...)
}
