package sendcheck_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/sendcheck"
)

var (
	nextPlanned = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	nextNow     = nextPlanned.Add(5*time.Minute + 3*time.Second)
)

// nextReplies are one reply of every class, sent and unsent.
func nextReplies() []sendcheck.Reply {
	var out []sendcheck.Reply
	for _, r := range []sendcheck.Reply{
		{Class: sendcheck.Accepted, Code: 250, Detail: "250 2.0.0 Ok: queued as 4F1"},
		{Class: sendcheck.TempFail, Code: 451, Detail: "451 4.7.1 greylisted, try later"},
		{Class: sendcheck.PermFail, Code: 550, Detail: "550 5.1.1 <ada@example.com>: user unknown"},
		{Class: sendcheck.Uncertain, Code: 0, Detail: "read tcp: connection reset by peer"},
		{Class: sendcheck.LocalFail, Code: 0, Detail: "build message: recipient: mail: no angle-addr"},
	} {
		out = append(out, r)
		r.Unsent = true
		out = append(out, r)
	}
	return out
}

var allStates = []outreach.DeliveryState{
	outreach.DeliveryScheduled, outreach.DeliverySending, outreach.DeliverySent,
	outreach.DeliverySkipped, outreach.DeliveryFailed, outreach.DeliveryUnknown,
}

func className(c sendcheck.Class) string {
	switch c {
	case sendcheck.Accepted:
		return "accepted"
	case sendcheck.TempFail:
		return "tempfail"
	case sendcheck.PermFail:
		return "permfail"
	case sendcheck.Uncertain:
		return "uncertain"
	case sendcheck.LocalFail:
		return "localfail"
	}
	return fmt.Sprintf("class%d", c)
}

// TestNext covers every class × unsent × attempts (1, 7, 8, 9) × state.
// Jitter is pinned to its maximum (a tenth of the wait), so a retry's At is
// exact: 1m6s after the first attempt, 1h6m after the seventh.
func TestNext(t *testing.T) {
	const (
		tempDetail  = "451 4.7.1 greylisted, try later"
		permDetail  = "550 5.1.1 <ada@example.com>: user unknown"
		brokeDetail = "read tcp: connection reset by peer"
		localDetail = "build message: recipient: mail: no angle-addr"
	)
	type want struct {
		state    outreach.DeliveryState
		reason   outreach.Reason
		rule     string
		at       time.Time
		refund   bool
		suppress bool
	}
	sent := want{state: outreach.DeliverySent, reason: outreach.ReasonSent, at: nextPlanned}
	unknown := want{state: outreach.DeliveryUnknown, reason: outreach.ReasonUnknown, rule: brokeDetail, at: nextPlanned}
	bounced := want{state: outreach.DeliveryFailed, reason: outreach.ReasonFailedPermanent, rule: permDetail, at: nextPlanned, suppress: true}
	// A message that could not be built here fails, but is no bounce.
	local := want{state: outreach.DeliveryFailed, reason: outreach.ReasonFailedLocal, rule: localDetail, at: nextPlanned}
	unsent := want{state: outreach.DeliveryScheduled, at: nextNow.Add(30 * time.Second), refund: true}
	retry := func(wait time.Duration) want { return want{state: outreach.DeliveryScheduled, at: nextNow.Add(wait)} }
	exhausted := want{state: outreach.DeliveryFailed, reason: outreach.ReasonFailedPermanent, rule: "retries exhausted: " + tempDetail, at: nextPlanned}

	// The 'sending' rows, spelled out.
	sending := []struct {
		class    sendcheck.Class
		unsent   bool
		attempts int
		want     want
	}{
		{sendcheck.Accepted, false, 1, sent},
		{sendcheck.Accepted, false, 7, sent},
		{sendcheck.Accepted, false, 8, sent},
		{sendcheck.Accepted, false, 9, sent},
		{sendcheck.Accepted, true, 1, sent},
		{sendcheck.Accepted, true, 7, sent},
		{sendcheck.Accepted, true, 8, sent},
		{sendcheck.Accepted, true, 9, sent},

		{sendcheck.TempFail, false, 1, retry(time.Minute + 6*time.Second)},
		{sendcheck.TempFail, false, 7, retry(time.Hour + 6*time.Minute)},
		{sendcheck.TempFail, false, 8, exhausted},
		{sendcheck.TempFail, false, 9, exhausted},
		{sendcheck.TempFail, true, 1, unsent},
		{sendcheck.TempFail, true, 7, unsent},
		{sendcheck.TempFail, true, 8, unsent},
		{sendcheck.TempFail, true, 9, unsent},

		{sendcheck.PermFail, false, 1, bounced},
		{sendcheck.PermFail, false, 7, bounced},
		{sendcheck.PermFail, false, 8, bounced},
		{sendcheck.PermFail, false, 9, bounced},
		{sendcheck.PermFail, true, 1, bounced},
		{sendcheck.PermFail, true, 7, bounced},
		{sendcheck.PermFail, true, 8, bounced},
		{sendcheck.PermFail, true, 9, bounced},

		{sendcheck.Uncertain, false, 1, unknown},
		{sendcheck.Uncertain, false, 7, unknown},
		{sendcheck.Uncertain, false, 8, unknown},
		{sendcheck.Uncertain, false, 9, unknown},
		{sendcheck.Uncertain, true, 1, unknown},
		{sendcheck.Uncertain, true, 7, unknown},
		{sendcheck.Uncertain, true, 8, unknown},
		{sendcheck.Uncertain, true, 9, unknown},

		{sendcheck.LocalFail, false, 1, local},
		{sendcheck.LocalFail, false, 8, local},
		{sendcheck.LocalFail, true, 1, local},
		{sendcheck.LocalFail, true, 9, local},
	}
	replies := map[sendcheck.Class]sendcheck.Reply{}
	for _, r := range nextReplies() {
		if !r.Unsent {
			replies[r.Class] = r
		}
	}
	for _, state := range allStates {
		for _, tc := range sending {
			r := replies[tc.class]
			r.Unsent = tc.unsent
			name := fmt.Sprintf("%s/%s/unsent=%v/attempts=%d", state, className(tc.class), tc.unsent, tc.attempts)
			t.Run(name, func(t *testing.T) {
				got, ok := sendcheck.Next(state, r, tc.attempts, nextPlanned, nextNow, maxJitter())
				if state != outreach.DeliverySending {
					if ok || got != (sendcheck.Step{}) {
						t.Fatalf("Next from %s = %+v, %v; want nothing, false", state, got, ok)
					}
					return
				}
				if !ok {
					t.Fatal("Next from sending: ok false")
				}
				w := sendcheck.Step{
					State: tc.want.state, Reason: tc.want.reason, Rule: tc.want.rule, At: tc.want.at,
					Refund: tc.want.refund, Suppress: tc.want.suppress, Code: r.Code,
				}
				if got != w {
					t.Errorf("Next = %+v\nwant   %+v", got, w)
				}
				if got.State.Terminal() != (got.State != outreach.DeliveryScheduled) {
					t.Errorf("a reply left the delivery in %s", got.State)
				}
			})
		}
	}
}

// TestNextBackoffPerAttempt: the retry after attempt n waits Backoff(n),
// 1m doubling to the 1h cap, from now (not from the planned moment), with
// no jitter and with the most.
func TestNextBackoffPerAttempt(t *testing.T) {
	r := sendcheck.Reply{Class: sendcheck.TempFail, Code: 421, Detail: "421 try again"}
	waits := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour}
	for i, w := range waits {
		n := i + 1
		lo, ok := sendcheck.Next(outreach.DeliverySending, r, n, nextPlanned, nextNow, noJitter())
		if !ok || lo.State != outreach.DeliveryScheduled || !lo.At.Equal(nextNow.Add(w)) || lo.Refund || lo.Suppress || lo.Reason != "" || lo.Rule != "" {
			t.Errorf("attempt %d, no jitter: %+v, want scheduled at now+%v", n, lo, w)
		}
		hi, _ := sendcheck.Next(outreach.DeliverySending, r, n, nextPlanned, nextNow, maxJitter())
		if !hi.At.Equal(nextNow.Add(w + w/10)) {
			t.Errorf("attempt %d, most jitter: at now+%v, want now+%v", n, hi.At.Sub(nextNow), w+w/10)
		}
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		n      int
		lo, hi time.Duration
	}{
		{math.MinInt, time.Minute, 66 * time.Second}, // below 1 counts as the first retry
		{-1, time.Minute, 66 * time.Second},
		{0, time.Minute, 66 * time.Second},
		{1, time.Minute, 66 * time.Second},
		{2, 2 * time.Minute, 132 * time.Second},
		{3, 4 * time.Minute, 264 * time.Second},
		{4, 8 * time.Minute, 528 * time.Second},
		{5, 16 * time.Minute, 1056 * time.Second},
		{6, 32 * time.Minute, 2112 * time.Second},
		{7, time.Hour, 66 * time.Minute}, // 64m capped
		{8, time.Hour, 66 * time.Minute},
		{20, time.Hour, 66 * time.Minute},
		{64, time.Hour, 66 * time.Minute}, // no shift overflow
		{math.MaxInt, time.Hour, 66 * time.Minute},
	}
	for _, tc := range tests {
		if got := sendcheck.Backoff(tc.n, noJitter()); got != tc.lo {
			t.Errorf("Backoff(%d) without jitter = %v, want %v", tc.n, got, tc.lo)
		}
		if got := sendcheck.Backoff(tc.n, maxJitter()); got != tc.hi {
			t.Errorf("Backoff(%d) with most jitter = %v, want %v", tc.n, got, tc.hi)
		}
	}
}

// TestNextTrimsDetail: the server's text is kept to 300 bytes, as the rule
// of a failed or unknown delivery; "retries exhausted: " is put in front of
// the trimmed text.
func TestNextTrimsDetail(t *testing.T) {
	long := "550 5.1.1 " + strings.Repeat("x", 400)
	exact := strings.Repeat("y", 300)
	for _, tc := range []struct {
		class    sendcheck.Class
		attempts int
		detail   string
		rule     string
	}{
		{sendcheck.PermFail, 1, long, long[:300]},
		{sendcheck.PermFail, 1, exact, exact},
		{sendcheck.PermFail, 1, exact + "z", exact},
		{sendcheck.PermFail, 1, "", ""},
		{sendcheck.Uncertain, 1, long, long[:300]},
		{sendcheck.Uncertain, 1, exact, exact},
		{sendcheck.TempFail, sendcheck.MaxAttempts, long, "retries exhausted: " + long[:300]},
		{sendcheck.TempFail, sendcheck.MaxAttempts, exact + "z", "retries exhausted: " + exact},
		{sendcheck.TempFail, sendcheck.MaxAttempts, "", "retries exhausted: "},
	} {
		got, ok := sendcheck.Next(outreach.DeliverySending, sendcheck.Reply{Class: tc.class, Detail: tc.detail}, tc.attempts, nextPlanned, nextNow, noJitter())
		if !ok || got.Rule != tc.rule {
			t.Errorf("%s with a %d-byte detail: rule %q (%d bytes), want %q", className(tc.class), len(tc.detail), got.Rule, len(got.Rule), tc.rule)
		}
	}
}

// TestNextDetailStaysValidUTF8: the detail is cut at a character boundary
// and control characters become spaces, so the rule is valid UTF-8 on one
// line, which a Postgres text column (deliveries.rule, written by
// RecordOutcomes for the whole chunk in one statement) requires.
func TestNextDetailStaysValidUTF8(t *testing.T) {
	detail := "550 5.1.1 x" + strings.Repeat("ä", 200) // 11 bytes, then 2-byte runes: byte 300 is inside one
	for _, tc := range []struct {
		class    sendcheck.Class
		attempts int
	}{{sendcheck.PermFail, 1}, {sendcheck.Uncertain, 1}, {sendcheck.TempFail, sendcheck.MaxAttempts}} {
		got, _ := sendcheck.Next(outreach.DeliverySending, sendcheck.Reply{Class: tc.class, Detail: detail}, tc.attempts, nextPlanned, nextNow, noJitter())
		if !utf8.ValidString(got.Rule) {
			t.Errorf("%s reply's rule is not valid UTF-8 (ends % x)", className(tc.class), got.Rule[len(got.Rule)-3:])
		}
		if len(got.Rule) > len("retries exhausted: ")+300 {
			t.Errorf("%s: rule of %d bytes", className(tc.class), len(got.Rule))
		}
	}
	got, _ := sendcheck.Next(outreach.DeliverySending, sendcheck.Reply{Class: sendcheck.PermFail, Detail: "550 no\r\nX-Injected: 1\x00\xff"},
		1, nextPlanned, nextNow, noJitter())
	if want := "550 no  X-Injected: 1 \uFFFD"; got.Rule != want {
		t.Errorf("rule %q, want %q", got.Rule, want)
	}
}
