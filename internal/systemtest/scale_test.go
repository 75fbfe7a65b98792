package systemtest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cpuTicks is a process's user + system CPU time from /proc, in clock
// ticks (USER_HZ, 100 a second on Linux).
func cpuTicks(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 (state) on
	ut, _ := strconv.ParseInt(f[11], 10, 64)                 // field 14
	st, _ := strconv.ParseInt(f[12], 10, 64)                 // field 15
	return ut + st, true
}

// backendTicks is the CPU each PostgreSQL backend connected to the test's
// database has used so far, by pid.
func (c *cluster) backendTicks() map[int]int64 {
	c.t.Helper()
	rows, err := c.db.Query(context.Background(), "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	out := map[int]int64{}
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			c.t.Fatal(err)
		}
		if n, ok := cpuTicks(pid); ok {
			out[pid] = n
		}
	}
	return out
}

// spent is the CPU (in seconds) the backends of after used since before;
// a backend new in after counts whole. Backends that ended in between are
// lost (rapport's pools keep theirs for the whole run).
func spent(before, after map[int]int64) float64 {
	var t int64
	for pid, n := range after {
		t += n - before[pid]
	}
	return float64(t) / 100
}

func (c *cluster) rapportTicks() int64 {
	var t int64
	for _, p := range append([]*proc{c.api, c.sched}, c.workers...) {
		if n, ok := cpuTicks(p.cmd.Process.Pid); ok {
			t += n
		}
	}
	return t
}

// TestScaleWorkers measures one campaign of SCALE_CONTACTS (20,000)
// messages with one and with two worker processes against one database
// (docs/scaling.md): the rate, and the CPU PostgreSQL's backends and
// rapport's processes spent per message. Then it checks that the caps
// hold across processes (a second campaign to the same contacts, whose
// tier allows one message a day, sends nothing) and that a global
// throttle holds for both processes together. Those it asserts; the
// rates and CPU figures it logs and never asserts (a measurement:
// `make scale` runs it with 20,000 messages and prints them; `make test`
// with 4,000, for the assertions).
func TestScaleWorkers(t *testing.T) {
	n := 4000
	if v, err := strconv.Atoi(os.Getenv("SCALE_CONTACTS")); err == nil && v > 0 {
		n = v
	}
	order := []int{1, 2}
	if os.Getenv("SCALE_ORDER") == "21" {
		order = []int{2, 1}
	}
	for _, workers := range order {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			c := newCluster(t, clusterOpts{workers: workers, sendWorkers: 16})
			c.call("POST", "/api/v1/tiers", map[string]any{
				"key": "daily", "name": "Once a day", "rank": 50, "selectable": false,
				"caps": []map[string]any{{"max": 1, "window": "1d"}}, "min_gap": "0s",
				"send_window": map[string]any{"days": []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, "start": "00:00", "end": "24:00"},
			}, 201, nil)
			c.insertContacts("daily", n, func(i int) string { return fmt.Sprintf("s%05d@example.org", i) })
			// Workers running before the clock starts.
			for _, w := range c.workers {
				c.riverClientID(w)
			}
			time.Sleep(2 * time.Second)

			pg0, r0, start := c.backendTicks(), c.rapportTicks(), time.Now()
			camp := c.sendCampaign("daily")
			st := c.waitTerminal(camp, n, 10*time.Minute)
			elapsed := time.Since(start)
			pg, rap := spent(pg0, c.backendTicks()), float64(c.rapportTicks()-r0)/100
			recs := c.sink.records()
			got := checkAtMostOnce(t, c.deliveries(camp), recs)
			ts := arrivals(recs, "")
			sinkRate := float64(len(ts)-1) / ts[len(ts)-1].Sub(ts[0]).Seconds()
			t.Logf("scale workers=%d: %d messages (%v) in %.1f s end to end = %.0f msg/s (at the sink, first to last: %.0f msg/s); "+
				"PostgreSQL backends %.1f s CPU = %.0f µs/message; rapport processes %.1f s CPU = %.0f µs/message",
				workers, got, st, elapsed.Seconds(), float64(n)/elapsed.Seconds(), sinkRate,
				pg, pg/float64(n)*1e6, rap, rap/float64(n)*1e6)
			if st["sent"] != n {
				t.Errorf("deliveries %v, want all %d sent", st, n)
			}

			// The caps, across processes: a second campaign sends nothing today.
			camp2 := c.sendCampaign("daily")
			waitFor(t, 2*time.Minute, "the second campaign to be planned", func() bool {
				total := 0
				for _, k := range c.states(camp2) {
					total += k
				}
				return total == n
			})
			time.Sleep(3 * time.Second)
			var early int
			if err := c.db.QueryRow(context.Background(), `SELECT count(*) FROM deliveries WHERE campaign_id = $1
				AND (state NOT IN ('scheduled', 'skipped') OR planned_for < now() + interval '20 hours')`, camp2).Scan(&early); err != nil {
				t.Fatal(err)
			}
			if early != 0 || c.sink.count() != n {
				t.Errorf("cap 1/1d: %d deliveries of the second campaign not deferred a day, sink %d (want %d)", early, c.sink.count(), n)
			}
			t.Logf("scale workers=%d: cap 1/1d held: second campaign %v, sink still %d", workers, c.states(camp2), c.sink.count())

			// A global throttle, both processes together.
			const rate, m = 300.0, 6000
			c.createOpenTier("open")
			c.insertContacts("open", m, func(i int) string { return fmt.Sprintf("t%05d@example.net", i) })
			c.setThrottles(rate, nil)
			camp3 := c.sendCampaign("open")
			c.waitTerminal(camp3, m, 3*time.Minute)
			ts = arrivals(c.sink.records(), "example.net")
			span := ts[len(ts)-1].Sub(ts[0])
			window := 12 * time.Second
			k, r := rateIn(ts, ts[0].Add((span-window)/2), window)
			t.Logf("scale workers=%d: throttle %.0f/s: %d messages over %v, middle %v: %d = %.1f/s, peak in any 1 s: %d",
				workers, rate, len(ts), span.Round(time.Millisecond), window, k, r, peakIn(ts, time.Second))
			if !within(r, rate, 0.10) {
				t.Errorf("throttle: %.1f/s, want %.0f/s ± 10%%", r, rate)
			}
		})
	}
}
