package systemtest

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// get fetches url and returns the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var depthLine = regexp.MustCompile(`(?m)^rapport_queue_depth\{kind="all",queue="send",state="(\w+)"\} (\d+)$`)

// TestEveryProcessIsObservable: every role — API, scheduler, workers —
// answers /healthz, /readyz and /metrics on its operations address; the
// public port serves no metrics; the cluster-wide queue depth is exported
// by exactly one process (River's leader), so summing it over processes is
// right; and the API's /readyz tells an anonymous caller nothing but ok.
func TestEveryProcessIsObservable(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOpts{workers: 2, sendWorkers: 2})
	procs := append([]*proc{c.api, c.sched}, c.workers...)
	for _, p := range procs {
		waitFor(t, 30*time.Second, p.name+" to be ready on its operations address", func() bool {
			code, _ := get(t, p.ops+"/readyz")
			return code == http.StatusOK
		})
		if code, body := get(t, p.ops+"/healthz"); code != http.StatusOK || !strings.Contains(body, `"ok"`) {
			t.Errorf("%s /healthz: %d %s", p.name, code, body)
		}
		code, body := get(t, p.ops+"/metrics")
		if code != http.StatusOK || !strings.Contains(body, "rapport_build_info{") || !strings.Contains(body, "go_goroutines") {
			t.Errorf("%s /metrics: %d, build info or Go metrics missing", p.name, code)
		}
	}
	if code, _ := get(t, c.base+"/metrics"); code != http.StatusNotFound {
		t.Errorf("the public port answers /metrics with %d; want 404", code)
	}
	if _, body := get(t, c.base+"/readyz"); body != `{"status":"ready"}`+"\n" {
		t.Errorf("/readyz tells an anonymous caller %q; want only the status", body)
	}
	// Park some send jobs so the queue is not empty, then count who reports.
	if _, err := c.db.Exec(context.Background(), `INSERT INTO river_job (args, kind, max_attempts, queue, state, scheduled_at)
		SELECT '{"delivery_ids":[]}', 'send_batch', 10, 'send', 'scheduled', now() + interval '1 hour' FROM generate_series(1, 7)`); err != nil {
		t.Fatal(err)
	}
	var reporters []string
	var total int
	waitFor(t, 60*time.Second, "one process to report the queue depth", func() bool {
		reporters, total = nil, 0
		for _, p := range procs {
			_, body := get(t, p.ops+"/metrics")
			for _, m := range depthLine.FindAllStringSubmatch(body, -1) {
				if m[1] == "scheduled" {
					n, _ := strconv.Atoi(m[2])
					total += n
					reporters = append(reporters, p.name)
				}
			}
		}
		return len(reporters) == 1 && total == 7
	})
	t.Logf("queue depth reported by %v: %d scheduled send jobs", reporters, total)
	if reporters[0] == c.api.name {
		t.Errorf("the API process (no workers) reported the queue depth")
	}
}
