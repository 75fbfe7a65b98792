package systemtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// privatePostgres is a PostgreSQL cluster of the test's own, started with
// the project's .ci/postgres.sh, so the test can stop and start it without
// disturbing other tests.
type privatePostgres struct {
	t    *testing.T
	env  []string
	url  string
	root string
}

func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// /var/tmp, not t.TempDir(): as root the cluster runs as the postgres
	// user, which must be able to enter the folder.
	dir, err := os.MkdirTemp("/var/tmp", "rapport-systest-pg-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := &privatePostgres{t: t, root: root, env: append(os.Environ(), "DATABASE_URL=",
		"RAPPORT_PG_DATA="+filepath.Join(dir, "pg"), "RAPPORT_PG_PORT="+strconv.Itoa(port))}
	t.Cleanup(func() {
		p.stop()
		os.RemoveAll(dir)
	})
	p.url = strings.TrimSpace(p.run())
	return p
}

func (p *privatePostgres) run(args ...string) string {
	p.t.Helper()
	cmd := exec.Command(filepath.Join(p.root, ".ci", "postgres.sh"), args...)
	cmd.Env = p.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		p.t.Fatalf("postgres.sh %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

func (p *privatePostgres) stop()  { p.run("stop") }
func (p *privatePostgres) start() { p.run() }

// TestDatabaseOutage stops PostgreSQL for 20 s in the middle of a
// campaign and starts it again. Meanwhile the processes stay up, /readyz
// answers 503, and nobody spins; afterwards sending resumes by itself,
// every delivery is sent — a message handed to SMTP while its outcome
// could not be written is recorded once the database is back, so none is
// unknown — and the sink saw no Message-ID twice.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	const (
		contacts = 4000
		rate     = 200 // per second: about 20 s of sending without the outage
		outage   = 20 * time.Second
	)
	pg := startPrivatePostgres(t)
	c := newCluster(t, clusterOpts{workers: 2, sendWorkers: 4, dbURL: pg.url})
	c.createOpenTier("open")
	c.insertContacts("open", contacts, func(i int) string { return fmt.Sprintf("dbdown%04d@example.org", i) })
	c.setThrottles(rate, nil)
	camp := c.sendCampaign("open")
	launched := time.Now()
	waitFor(t, 2*time.Minute, "a third of the campaign at the sink", func() bool { return c.sink.count() >= contacts/3 })
	c.db.Reset() // the test's own connections reconnect after the outage
	before := c.sink.count()
	pg.stop()
	down := time.Now()
	t.Logf("PostgreSQL stopped at +%v with %d at the sink", down.Sub(launched).Round(time.Millisecond), before)
	time.Sleep(outage / 2)
	resp, err := http.Get(c.base + "/readyz")
	if err != nil {
		t.Fatalf("the API does not answer during the outage: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz answered %d during the outage; want 503", resp.StatusCode)
	}
	for _, p := range append([]*proc{c.api, c.sched}, c.workers...) {
		if p.exited() {
			t.Errorf("%s exited during the outage: %v", p.name, p.err)
		}
	}
	time.Sleep(outage - time.Since(down))
	during := c.sink.count() - before
	pg.start()
	up := time.Now()
	t.Logf("PostgreSQL started again after %v; %d messages reached the sink meanwhile", up.Sub(down).Round(time.Millisecond), during)
	waitFor(t, time.Minute, "the API to be ready again", func() bool {
		resp, err := http.Get(c.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	st := c.waitTerminal(camp, contacts, 3*time.Minute)
	settled := time.Since(up)
	c.sink.stop()
	received := checkAtMostOnce(t, c.deliveries(camp), c.sink.records())
	if st["sent"] != contacts {
		t.Errorf("deliveries %v; want all %d sent (none unknown, none failed)", st, contacts)
	}
	var rescued int
	_ = c.db.QueryRow(context.Background(), "SELECT count(*) FROM river_job WHERE errors::text LIKE '%orphaned%'").Scan(&rescued)
	if rescued > 0 {
		t.Errorf("%d jobs of live workers were rescued as orphans after the outage", rescued)
	}
	t.Logf("database outage: deliveries %v, sink received %d (%d during the outage); all terminal %v after the database came back",
		st, received, during, settled.Round(time.Second))
}
