package systemtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// TestUnsubscribeRace unsubscribes 500 random contacts of a 2,000-message
// campaign, one at a time, while their messages are queued and going out at
// 200/s (SPEC 5). A message not handed to the SMTP server when the
// unsubscribe commits must not be sent: every message the sink received for
// an unsubscribed contact was accepted before the unsubscribe returned, and
// each of their deliveries is either sent (before) or skipped as
// unsubscribed.
func TestUnsubscribeRace(t *testing.T) {
	t.Parallel()
	const (
		contacts = 2000
		unsubs   = 500
		rate     = 200
		parallel = 4 // unsubscribing goroutines
	)
	start := time.Now()
	c := newCluster(t, clusterOpts{workers: 2, sendWorkers: 4})
	c.createOpenTier("open")
	c.insertContacts("open", contacts, func(i int) string { return fmt.Sprintf("unsub%04d@example.org", i) })
	c.setThrottles(rate, nil)

	type contact struct {
		id    int64
		email string
	}
	rows, err := c.db.Query(context.Background(), "SELECT id, email FROM contacts ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var all []contact
	for rows.Next() {
		var k contact
		if err := rows.Scan(&k.id, &k.email); err != nil {
			t.Fatal(err)
		}
		all = append(all, k)
	}
	if rows.Err() != nil || len(all) != contacts {
		t.Fatalf("read %d contacts: %v", len(all), rows.Err())
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	chosen := all[:unsubs]

	store := postgres.NewStore(c.db, outreach.SystemClock{})
	camp := c.sendCampaign("open")
	waitFor(t, time.Minute, "sending to start", func() bool { return c.sink.count() >= 50 })
	began := time.Now()

	type unsub struct {
		contact
		began, committed time.Time
		changed          bool
		err              error
	}
	todo := make(chan contact)
	var done syncList[unsub]
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for k := range todo {
				u := unsub{contact: k, began: time.Now()}
				ch, err := store.Unsubscribe(context.Background(), k.id, postgres.PrefOrigin{Actor: "customer"})
				u.committed, u.changed, u.err = time.Now(), ch.Changed, err
				done.add(u)
				time.Sleep(time.Duration(40+rand.IntN(40)) * time.Millisecond)
			}
		})
	}
	for _, k := range chosen {
		todo <- k
	}
	close(todo)
	wg.Wait()
	unsubscribed := time.Now()

	c.waitTerminal(camp, contacts, 3*time.Minute)
	c.sink.stop()
	byEmail := map[string][]sinkRecord{}
	for _, r := range c.sink.records() {
		byEmail[r.Rcpt] = append(byEmail[r.Rcpt], r)
	}
	ds := map[int64]delivery{}
	for _, d := range c.deliveries(camp) {
		ds[d.ContactID] = d
	}

	var sentBefore, skipped, waited int
	closest := time.Hour
	for _, u := range done.all() {
		if u.err != nil || !u.changed {
			t.Errorf("unsubscribe contact %d: changed %v, error %v", u.id, u.changed, u.err)
			continue
		}
		if u.committed.Sub(u.began) > 50*time.Millisecond {
			waited++ // it waited for a batch holding the contact's lock
		}
		for _, r := range byEmail[u.email] {
			if !r.At.Before(u.committed) {
				t.Errorf("contact %d (%s) unsubscribed at %s but the sink accepted %s for them %v later",
					u.id, u.email, u.committed.Format(time.RFC3339Nano), r.MessageID, r.At.Sub(u.committed))
			} else {
				closest = min(closest, u.committed.Sub(r.At))
			}
		}
		d := ds[u.id]
		switch {
		case d.State == "sent":
			sentBefore++
			if len(byEmail[u.email]) == 0 {
				t.Errorf("contact %d: delivery sent but nothing at the sink", u.id)
			}
		case d.State == "skipped" && d.Reason == "unsubscribed":
			skipped++
			if n := len(byEmail[u.email]); n > 0 {
				t.Errorf("contact %d: delivery skipped as unsubscribed, but the sink received %d messages for them", u.id, n)
			}
		default:
			t.Errorf("contact %d unsubscribed during the campaign: delivery %s/%s, want sent (before) or skipped/unsubscribed", u.id, d.State, d.Reason)
		}
	}
	if skipped == 0 || sentBefore == 0 {
		t.Errorf("no race: %d sent before the unsubscribe, %d skipped; the unsubscribes should fall during the sending", sentBefore, skipped)
	}
	t.Logf("unsubscribe race: %d contacts unsubscribed over %v while sending at %d/s: %d had been sent before, %d skipped as unsubscribed; %d unsubscribes waited >50 ms for a batch's lock; closest sink acceptance before an unsubscribe: %v; total %v",
		unsubs, unsubscribed.Sub(began).Round(100*time.Millisecond), rate, sentBefore, skipped, waited, closest, time.Since(start).Round(time.Second))
}
