package api

import (
	"sync"
	"time"
)

// Failed credential checks (a wrong API key, a wrong events secret) are
// counted per client address. Past maxAuthFailures within authWindow, every
// credential check from that address is refused before it is made (429
// with Retry-After) until the oldest failure leaves the window: keys and
// secrets cannot be guessed at the speed of the server, and a refused
// guess is not even tried. Only wrong credentials count, never a missing
// one or a key without the role.
const (
	maxAuthFailures = 20
	authWindow      = time.Minute
	// authClients bounds the addresses remembered; past it, addresses
	// with no failure left in the window are forgotten.
	authClients = 10000
)

type authFailures struct {
	mu   sync.Mutex
	now  func() time.Time
	seen map[string][]time.Time // recent failures per address, oldest first
}

func newAuthFailures(now func() time.Time) *authFailures {
	return &authFailures{now: now, seen: map[string][]time.Time{}}
}

// blocked reports whether ip has used up its failures, and for how long.
func (f *authFailures) blocked(ip string) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	ts := f.recent(ip, now)
	if len(ts) < maxAuthFailures {
		return 0, false
	}
	return ts[0].Add(authWindow).Sub(now), true
}

// fail records a failed check from ip.
func (f *authFailures) fail(ip string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	ts := append(f.recent(ip, now), now)
	if len(ts) > maxAuthFailures {
		ts = ts[len(ts)-maxAuthFailures:]
	}
	f.seen[ip] = ts
	if len(f.seen) > authClients {
		for k := range f.seen {
			if len(f.recent(k, now)) == 0 {
				delete(f.seen, k)
			}
		}
	}
}

// recent drops ip's failures older than the window; f.mu is held.
func (f *authFailures) recent(ip string, now time.Time) []time.Time {
	ts := f.seen[ip]
	i := 0
	for i < len(ts) && !ts[i].After(now.Add(-authWindow)) {
		i++
	}
	if i == len(ts) {
		delete(f.seen, ip)
		return nil
	}
	ts = ts[i:]
	f.seen[ip] = ts
	return ts
}
