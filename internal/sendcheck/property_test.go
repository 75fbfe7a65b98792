package sendcheck_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/sendcheck"
)

// Every property draws its cases from PCG seeded with the case number and a
// stream of its own, so a failure names the seed that replays it; -short
// runs a tenth of the cases.

func cases(n int) uint64 {
	if testing.Short() {
		return uint64(n / 10)
	}
	return uint64(n)
}

var classes = []sendcheck.Class{sendcheck.Accepted, sendcheck.TempFail, sendcheck.PermFail, sendcheck.Uncertain, sendcheck.LocalFail}

// detailCorpus is server text, ASCII or not, with line breaks.
var detailCorpus = func() string {
	pieces := []string{"550", " 5.1.1", " user unknown", "ä", "日本", "\r\n", "421-", "x", "😀", " "}
	var b strings.Builder
	for i := 0; b.Len() < 1500; i++ {
		b.WriteString(pieces[(i*7+i/3)%len(pieces)])
	}
	return b.String()
}()

// randDetail is 0 to 700 bytes of detailCorpus, cut anywhere (also inside
// a character, as a server's or a library's own truncation might).
func randDetail(r *rand.Rand) string {
	n := r.IntN(700)
	off := r.IntN(len(detailCorpus) - n)
	return detailCorpus[off : off+n]
}

func randCode(r *rand.Rand) int {
	switch r.IntN(5) {
	case 0:
		return 0
	case 1:
		return 400 + r.IntN(100)
	case 2:
		return 500 + r.IntN(100)
	case 3:
		return 200 + r.IntN(100)
	}
	return r.IntN(1000) - 100
}

func randReply(r *rand.Rand) sendcheck.Reply {
	return sendcheck.Reply{Class: classes[r.IntN(len(classes))], Unsent: r.IntN(2) == 0, Code: randCode(r), Detail: randDetail(r)}
}

func randAttempts(r *rand.Rand) int {
	switch r.IntN(4) {
	case 0:
		return r.IntN(20) - 5
	case 1:
		return sendcheck.MaxAttempts - 1 + r.IntN(3)
	}
	return 1 + r.IntN(sendcheck.MaxAttempts)
}

// trimmed is what the rule keeps of a server's text: invalid bytes become
// U+FFFD and control characters spaces, then whole characters up to 300
// bytes.
func trimmed(s string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsControl(r) {
			r = ' '
		}
		if b.Len()+utf8.RuneLen(r) > 300 {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestPropertySentNeverMoves: a reply moves only a 'sending' delivery. For
// every terminal state, for scheduled, and for states that are not states
// at all, Next says nothing (ok false, zero Step) whatever the reply.
func TestPropertySentNeverMoves(t *testing.T) {
	states := []outreach.DeliveryState{
		outreach.DeliverySent, outreach.DeliverySkipped, outreach.DeliveryFailed, outreach.DeliveryUnknown,
		outreach.DeliveryScheduled, "", "SENDING", "sending ", "bogus",
	}
	n := cases(20000)
	for seed := range n {
		r := newRand(seed, 0x5e27)
		state := states[r.IntN(len(states))]
		reply := randReply(r)
		if r.IntN(8) == 0 {
			reply.Class = sendcheck.Class(r.IntN(256)) // not a class either
		}
		attempts := randAttempts(r)
		planned := randNow(r)
		now := planned.Add(randDuration(r, -day, day))
		step, ok := sendcheck.Next(state, reply, attempts, planned, now, r)
		if ok || step != (sendcheck.Step{}) {
			t.Fatalf("seed %d: Next(%q, %+v, %d) = %+v, %v; want a zero Step and false", seed, state, reply, attempts, step, ok)
		}
	}
	t.Logf("%d random cases", n)
}

// TestPropertyPermFailAlwaysSuppresses: every 5xx (PermFail) reply to a
// 'sending' delivery, whatever its attempts, Unsent, Code and Detail, fails
// it for good and suppresses the address; no other class ever suppresses.
func TestPropertyPermFailAlwaysSuppresses(t *testing.T) {
	n := cases(20000)
	perm := 0
	for seed := range n {
		r := newRand(seed, 0x5555)
		reply := randReply(r)
		if r.IntN(2) == 0 {
			reply.Class = sendcheck.PermFail
		}
		attempts := randAttempts(r)
		planned := randNow(r)
		now := planned.Add(randDuration(r, 0, day))
		step, ok := sendcheck.Next(outreach.DeliverySending, reply, attempts, planned, now, r)
		describe := func() string {
			return fmt.Sprintf("seed %d: Next(sending, %+v, %d, %v, %v) = %+v, %v", seed, reply, attempts, planned, now, step, ok)
		}
		if !ok {
			t.Fatalf("not ok: %s", describe())
		}
		if reply.Class != sendcheck.PermFail {
			if step.Suppress {
				t.Fatalf("suppressed without a 5xx: %s", describe())
			}
			continue
		}
		perm++
		want := sendcheck.Step{
			State: outreach.DeliveryFailed, Reason: outreach.ReasonFailedPermanent, Rule: trimmed(reply.Detail),
			At: planned, Suppress: true, Code: reply.Code,
		}
		if step != want || !step.State.Terminal() {
			t.Fatalf("5xx: want %+v\n%s", want, describe())
		}
	}
	t.Logf("%d random cases, %d of them 5xx", n, perm)
}

// TestPropertyAttemptsNeverExceedLimit simulates deliveries' lives: claim
// (attempts+1, state sending), a random reply, apply the Step (Refund gives
// the attempt back), again while scheduled. The counted attempts never
// exceed MaxAttempts, only unsent replies refund, every retry is later than
// now by its documented wait, and with at most u unsent replies a life ends
// in a terminal state within MaxAttempts+u claims.
func TestPropertyAttemptsNeverExceedLimit(t *testing.T) {
	n := cases(5000)
	ends := map[string]int{}
	for seed := range n {
		r := newRand(seed, 0xa77e)
		maxUnsent := r.IntN(30)
		// Each life has its own mix of replies, so that some only ever
		// fail temporarily and use up every attempt.
		weights := make([]int, len(classes))
		for i := range weights {
			weights[i] = r.IntN(4)
		}
		weights[1] += 1 + r.IntN(6) // TempFail
		total := 0
		for _, w := range weights {
			total += w
		}
		pick := func() sendcheck.Class {
			x := r.IntN(total)
			for i, w := range weights {
				if x < w {
					return classes[i]
				}
				x -= w
			}
			panic("unreachable")
		}
		unsentRate := r.IntN(4)

		state := outreach.DeliveryScheduled
		attempts, unsent, claims := 0, 0, 0
		planned := randNow(r)
		now := planned
		type claim struct {
			attempts int
			reply    sendcheck.Reply
			step     sendcheck.Step
			now      time.Time
		}
		var history []claim
		log := lifeLog(func() []string {
			out := make([]string, len(history))
			for i, c := range history {
				out[i] = fmt.Sprintf("claim %d: attempt %d %s unsent=%v code=%d -> %s refund=%v at now+%v", i+1, c.attempts, className(c.reply.Class), c.reply.Unsent, c.reply.Code, c.step.State, c.step.Refund, c.step.At.Sub(c.now))
			}
			return out
		})
		for state == outreach.DeliveryScheduled {
			if claims == sendcheck.MaxAttempts+maxUnsent {
				t.Fatalf("seed %d: still scheduled after %d claims (%d unsent): %v", seed, claims, unsent, log)
			}
			// The worker picks the delivery up when due, or somewhat later.
			now = maxTime(now, planned).Add(randDuration(r, 0, 10*time.Minute))
			claims++
			attempts++
			state = outreach.DeliverySending
			if attempts > sendcheck.MaxAttempts {
				t.Fatalf("seed %d: claim %d counts attempt %d: %v", seed, claims, attempts, log)
			}
			reply := sendcheck.Reply{Class: pick(), Code: randCode(r), Detail: randDetail(r)}
			if unsent < maxUnsent && r.IntN(4) < unsentRate {
				reply.Unsent = true
				unsent++
			}
			step, ok := sendcheck.Next(state, reply, attempts, planned, now, r)
			history = append(history, claim{attempts, reply, step, now})
			if !ok {
				t.Fatalf("seed %d: a claimed delivery did not move: %v", seed, log)
			}
			wantRefund := reply.Unsent && reply.Class == sendcheck.TempFail
			if step.Refund != wantRefund {
				t.Fatalf("seed %d: refund %v for %+v: %v", seed, step.Refund, reply, log)
			}
			if step.Refund {
				attempts--
			}
			switch {
			case step.State == outreach.DeliveryScheduled && step.Refund:
				if !step.At.Equal(now.Add(sendcheck.UnsentWait)) {
					t.Fatalf("seed %d: unsent retry not after UnsentWait: %v", seed, log)
				}
			case step.State == outreach.DeliveryScheduled:
				base := min(time.Minute<<(attempts-1), time.Hour)
				if w := step.At.Sub(now); w < base || w > base+base/10 {
					t.Fatalf("seed %d: retry after attempt %d waits %v, want [%v, %v]: %v", seed, attempts, w, base, base+base/10, log)
				}
			case !step.State.Terminal():
				t.Fatalf("seed %d: reply left the delivery %s: %v", seed, step.State, log)
			case !step.At.Equal(planned):
				t.Fatalf("seed %d: a terminal step moved the planned moment: %v", seed, log)
			}
			if step.State == outreach.DeliveryFailed && reply.Class == sendcheck.TempFail {
				if attempts != sendcheck.MaxAttempts || !strings.HasPrefix(step.Rule, "retries exhausted: ") {
					t.Fatalf("seed %d: temporary failure ended the delivery after %d attempts: %v", seed, attempts, log)
				}
			}
			state, planned = step.State, step.At
			if state.Terminal() {
				key := string(state)
				if step.Rule != "" && strings.HasPrefix(step.Rule, "retries exhausted") {
					key = "failed (retries exhausted)"
				}
				ends[key]++
			}
		}
	}
	t.Logf("%d random lives, ended: %v", n, ends)
	for _, k := range []string{"sent", "failed", "unknown", "failed (retries exhausted)"} {
		if ends[k] == 0 {
			t.Errorf("no life ended %s: the generator does not cover it", k)
		}
	}
}

// lifeLog formats a simulated life only when a failure prints it.
type lifeLog func() []string

func (l lifeLog) String() string { return "\n" + strings.Join(l(), "\n") }

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// TestPropertyBackoffBounds: Backoff(n) for n in 1..20 lies in
// [base, base*1.1], base = min(1m<<(n-1), 1h); it grows with base, and its
// jitter really spreads over the range.
func TestPropertyBackoffBounds(t *testing.T) {
	const rngs = 500
	for n := 1; n <= 20; n++ {
		base := min(time.Minute<<(n-1), time.Hour)
		prevBase := min(time.Minute<<max(n-2, 0), time.Hour)
		lo, hi := time.Duration(1<<62), time.Duration(0)
		for seed := range uint64(rngs) {
			r := newRand(seed, uint64(n))
			d := sendcheck.Backoff(n, r)
			if d <= 0 || d < base || d > base+base/10 {
				t.Fatalf("n %d seed %d: Backoff = %v, want [%v, %v]", n, seed, d, base, base+base/10)
			}
			if n > 1 && base > prevBase && d < prevBase+prevBase/10 {
				t.Fatalf("n %d seed %d: Backoff = %v, below the largest wait of retry %d", n, seed, d, n-1)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if spread := hi - lo; spread < base/10*8/10 {
			t.Errorf("n %d: %d draws spread over only %v of %v", n, rngs, spread, base/10)
		}
		if n > 1 {
			for _, src := range []func() *rand.Rand{noJitter, maxJitter} {
				if a, b := sendcheck.Backoff(n-1, src()), sendcheck.Backoff(n, src()); b < a {
					t.Errorf("Backoff(%d) = %v < Backoff(%d) = %v with the same dice", n, b, n-1, a)
				}
			}
		}
	}
	t.Logf("%d random cases", 20*rngs)
}

// blockedBySpec is the spec's list of what stops a category of mail to a
// contact, in its order, written out independently of planner.Blocked.
func blockedBySpec(c outreach.Contact, sup outreach.SuppressionReason, cat outreach.Category, topic string, now time.Time) outreach.Reason {
	if c.Status == outreach.StatusErased {
		return outreach.ReasonUnsubscribed // erased: nothing, in any category
	}
	if c.Status == outreach.StatusBounced || sup == outreach.SuppressBounce {
		return outreach.ReasonSuppressedBounce
	}
	if c.Status == outreach.StatusComplained || sup == outreach.SuppressComplaint {
		return outreach.ReasonSuppressedComplaint
	}
	if sup == outreach.SuppressManual || sup == outreach.SuppressErased {
		return outreach.ReasonUnsubscribed
	}
	if cat == outreach.Transactional {
		return ""
	}
	if c.Status == outreach.StatusUnsubscribed || sup == outreach.SuppressUnsubscribe {
		return outreach.ReasonUnsubscribed
	}
	if topic != "" {
		for _, t := range c.TopicsOptedOut {
			if t == topic {
				return outreach.ReasonTopicOptOut
			}
		}
	}
	if c.PausedUntil != nil && now.Before(*c.PausedUntil) {
		return outreach.ReasonPaused
	}
	return ""
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// randCheckInput draws a due delivery: mostly clean contacts of running
// marketing campaigns (so that many reach the cadence check), and every
// status, suppression, opt-out, pause, category and expiry now and then.
func randCheckInput(r *rand.Rand, zones []*time.Location) sendcheck.Input {
	now := randNow(r)
	in := sendcheck.Input{
		Contact:  outreach.Contact{ID: 1, Status: outreach.StatusActive},
		Campaign: outreach.Campaign{ID: 2, Category: outreach.Marketing, Status: outreach.CampaignRunning, Topic: pick(r, "news", "news", "deals", "")},
		Tier:     outreach.Tier{Key: "t", Rule: randRule(r)},
		Now:      now,
	}
	if r.IntN(8) != 0 {
		in.Zone = zones[r.IntN(len(zones))]
	}
	if r.IntN(4) == 0 {
		in.Contact.Status = pick(r, outreach.StatusUnsubscribed, outreach.StatusBounced, outreach.StatusComplained, outreach.StatusErased, outreach.StatusActive)
	}
	if r.IntN(4) == 0 {
		in.Suppression = pick(r, outreach.SuppressUnsubscribe, outreach.SuppressBounce, outreach.SuppressComplaint, outreach.SuppressManual, outreach.SuppressErased, "")
	}
	for _, topic := range []string{"news", "deals", "events"} {
		if r.IntN(6) == 0 {
			in.Contact.TopicsOptedOut = append(in.Contact.TopicsOptedOut, topic)
		}
	}
	if r.IntN(6) == 0 {
		until := now.Add(randDuration(r, -2*day, 2*day))
		if r.IntN(4) == 0 {
			until = now
		}
		in.Contact.PausedUntil = &until
	}
	if r.IntN(4) == 0 {
		in.Campaign.Status = pick(r, outreach.CampaignDraft, outreach.CampaignScheduled, outreach.CampaignPaused, outreach.CampaignCompleted, outreach.CampaignCanceled)
	}
	if r.IntN(4) == 0 {
		in.Campaign.Category = outreach.Transactional
	}
	in.Delivery = outreach.Delivery{ID: 3, Marketing: in.Campaign.Category == outreach.Marketing}
	if r.IntN(4) == 0 {
		exp := now.Add(randDuration(r, -day, day))
		switch r.IntN(4) {
		case 0:
			exp = now
		case 1:
			exp = now.Add(-time.Nanosecond)
		}
		in.Delivery.ExpiresAt = &exp
	}
	in.Sent = randEvents(r, in.Tier.Rule, now, 8, false)
	return in
}

// TestPropertyCheck compares Check's verdict with the spec on random
// deliveries. In particular a Send means: the campaign is neither paused
// nor canceled, the contact is not blocked for the category, the delivery
// has not expired, and for marketing a message at now keeps every cap and
// the min gap together with Sent (counted by brute force) and lies inside
// the window on the contact's wall clock. A Later names a rule that is
// really broken.
func TestPropertyCheck(t *testing.T) {
	zones := loadZones(t)
	n := cases(20000)
	seen := map[string]int{}
	for seed := range n {
		r := newRand(seed, 0xc8ec)
		in := randCheckInput(r, zones)
		v := sendcheck.Check(in)
		describe := func() string {
			return fmt.Sprintf("seed %d: Check(%+v) in %v = %+v", seed, in, in.Zone, v)
		}
		key := actionName(v.Action)
		if v.Action == sendcheck.End || v.Action == sendcheck.Later {
			key += " " + string(v.Reason)
		}
		seen[key]++

		blocked := blockedBySpec(in.Contact, in.Suppression, in.Campaign.Category, in.Campaign.Topic, in.Now)
		expired := in.Delivery.ExpiresAt != nil && in.Now.After(*in.Delivery.ExpiresAt)
		var broken []violation
		if in.Delivery.Marketing {
			broken = violations(in.Tier.Rule, in.Zone, eventTimes(in.Sent), in.Now)
		}
		if v.Action == sendcheck.Send {
			switch {
			case in.Campaign.Status == outreach.CampaignPaused || in.Campaign.Status == outreach.CampaignCanceled:
				t.Fatalf("sent for a %s campaign: %s", in.Campaign.Status, describe())
			case blocked != "":
				t.Fatalf("sent to a contact blocked (%s): %s", blocked, describe())
			case expired:
				t.Fatalf("sent after expiry: %s", describe())
			case len(broken) > 0:
				t.Fatalf("sent against the rules: %v\n%s", broken, describe())
			}
		}
		var want sendcheck.Verdict
		switch {
		case in.Campaign.Status == outreach.CampaignPaused:
			want = sendcheck.Verdict{Action: sendcheck.Hold}
		case in.Campaign.Status == outreach.CampaignCanceled:
			want = sendcheck.Verdict{Action: sendcheck.End, State: outreach.DeliverySkipped, Reason: outreach.ReasonCanceled}
		case blocked != "":
			want = sendcheck.Verdict{Action: sendcheck.End, State: outreach.DeliverySkipped, Reason: blocked}
		case expired:
			want = sendcheck.Verdict{Action: sendcheck.End, State: outreach.DeliverySkipped, Reason: outreach.ReasonExpired, Rule: "expires_after"}
		case len(broken) > 0:
			if v.Action != sendcheck.Later || v.State != "" || !hasReason(broken, v.Reason) || !ruleMatches(v.Reason, v.Rule) {
				t.Fatalf("want Later for one of %v\n%s", broken, describe())
			}
			continue
		default:
			want = sendcheck.Verdict{Action: sendcheck.Send}
		}
		if v != want {
			t.Fatalf("want %+v (cadence: %v)\n%s", want, broken, describe())
		}
	}
	t.Logf("%d random cases: %v", n, seen)
	for _, k := range []string{"send", "hold", "end canceled", "end expired", "end paused", "end topic_opt_out", "end unsubscribed", "end suppressed_bounce", "end suppressed_complaint", "later deferred_cap", "later deferred_min_gap", "later deferred_send_window"} {
		if seen[k] == 0 {
			t.Errorf("no case had verdict %s: the generator does not cover it", k)
		}
	}
}

// randReplanInput draws a delivery to re-plan: a history of sent and
// reserved deliveries around now, an expiry often, jitter often.
func randReplanInput(r *rand.Rand, zones []*time.Location) sendcheck.ReplanInput {
	now := randNow(r)
	in := sendcheck.ReplanInput{
		Tier:     outreach.Tier{Key: "t", Rule: randRule(r)},
		Now:      now,
		Priority: r.IntN(101),
	}
	if r.IntN(8) != 0 {
		in.Zone = zones[r.IntN(len(zones))]
	}
	in.History = randEvents(r, in.Tier.Rule, now, 9, true)
	if r.IntN(2) == 0 {
		exp := now.Add(randDuration(r, -time.Hour, 20*day))
		if r.IntN(8) == 0 {
			exp = now
		}
		in.ExpiresAt = &exp
	}
	if r.IntN(3) != 0 {
		in.Spread = randDuration(r, time.Second, 12*time.Hour)
	}
	return in
}

// TestPropertyReplan: a re-planned delivery's moment keeps every cap, the
// min gap and the window against History (brute force), is not before Now
// nor after ExpiresAt; without jitter no earlier moment would do; a moment
// that is valid now is kept; Expired means there really is no valid moment
// up to the expiry; and the send-time check passes at the moment chosen.
func TestPropertyReplan(t *testing.T) {
	zones := loadZones(t)
	n := cases(5000)
	const scan = day // ranges up to this long are scanned minute by minute
	seen := map[outreach.Reason]int{}
	expiredScanned, earliestScanned := 0, 0
	for seed := range n {
		r := newRand(seed, 0x7e91)
		in := randReplanInput(r, zones)
		m := sendcheck.Replan(in, r)
		describe := func() string {
			return fmt.Sprintf("seed %d: Replan(%+v) in %v = %+v", seed, in, in.Zone, m)
		}
		seen[m.Reason]++
		hist := eventTimes(in.History)
		rule := in.Tier.Rule
		validNow := validAt(rule, in.Zone, hist, in.Now)

		if m.Skip {
			if m.Reason != outreach.ReasonExpired || !m.At.IsZero() {
				t.Fatalf("expired move: %s", describe())
			}
			if in.ExpiresAt == nil {
				t.Fatalf("expired without an expiry (a valid rule always opens again): %s", describe())
			}
			if in.Now.After(*in.ExpiresAt) {
				continue
			}
			expiredScanned++
			for _, c := range candidates(rule, in.Zone, hist, in.Now, *in.ExpiresAt, scan) {
				if validAt(rule, in.Zone, hist, c) {
					t.Fatalf("expired, but %v is valid: %s", c, describe())
				}
			}
			continue
		}
		if in.ExpiresAt != nil && in.Now.After(*in.ExpiresAt) {
			t.Fatalf("past its expiry and not expired: %s", describe())
		}
		if m.At.Before(in.Now) {
			t.Fatalf("moved before now: %s", describe())
		}
		if in.ExpiresAt != nil && m.At.After(*in.ExpiresAt) {
			t.Fatalf("moved past its expiry: %s", describe())
		}
		if vs := violations(rule, in.Zone, hist, m.At); len(vs) > 0 {
			t.Fatalf("moved to a moment that breaks %v: %s", vs, describe())
		}
		switch m.Reason {
		case outreach.ReasonScheduled:
			if !m.At.Equal(in.Now) || m.Rule != "" {
				t.Fatalf("scheduled, but not now: %s", describe())
			}
		case outreach.ReasonDeferredCap, outreach.ReasonDeferredMinGap, outreach.ReasonDeferredSendWindow:
			if !m.At.After(in.Now) || !ruleMatches(m.Reason, m.Rule) {
				t.Fatalf("deferral without a later moment or its rule: %s", describe())
			}
		default:
			t.Fatalf("unexpected reason: %s", describe())
		}
		if validNow && (m.Reason != outreach.ReasonScheduled || !m.At.Equal(in.Now)) {
			t.Fatalf("now is valid, but moved: %s", describe())
		}
		// Jitter only moves a deferral later; Reason and Rule describe the
		// unjittered moment, before which nothing is valid.
		p := m
		if in.Spread > 0 {
			plain := in
			plain.Spread = 0
			p = sendcheck.Replan(plain, nil)
			if p.Skip || p.Reason != m.Reason || p.Rule != m.Rule || p.At.After(m.At) {
				t.Fatalf("jitter changed the answer: without it %+v\n%s", p, describe())
			}
			if m.Reason == outreach.ReasonScheduled && !m.At.Equal(p.At) {
				t.Fatalf("a message that may go now was jittered: %s", describe())
			}
			if vs := violations(rule, in.Zone, hist, p.At); len(vs) > 0 {
				t.Fatalf("unjittered moment %v breaks %v: %s", p.At, vs, describe())
			}
		}
		if p.At.Sub(in.Now) <= 3*scan {
			earliestScanned++
			for _, c := range candidates(rule, in.Zone, hist, in.Now, p.At, scan) {
				if c.Before(p.At) && validAt(rule, in.Zone, hist, c) {
					t.Fatalf("%v is valid and earlier than %v: %s", c, p.At, describe())
				}
			}
		}
		// The send-time check, against all of History, lets it go then.
		v := sendcheck.Check(sendcheck.Input{
			Contact:  outreach.Contact{Status: outreach.StatusActive},
			Campaign: outreach.Campaign{Category: outreach.Marketing, Topic: "news", Status: outreach.CampaignRunning},
			Delivery: outreach.Delivery{Marketing: true, ExpiresAt: in.ExpiresAt},
			Tier:     in.Tier, Zone: in.Zone, Sent: in.History, Now: m.At,
		})
		if v.Action != sendcheck.Send {
			t.Fatalf("Check refuses the re-planned moment: %+v\n%s", v, describe())
		}
	}
	t.Logf("%d random cases: %v; %d expiries and %d earliest moments searched for an earlier valid one", n, seen, expiredScanned, earliestScanned)
	for _, k := range []outreach.Reason{outreach.ReasonScheduled, outreach.ReasonDeferredCap, outreach.ReasonDeferredMinGap, outreach.ReasonDeferredSendWindow, outreach.ReasonExpired} {
		if seen[k] == 0 {
			t.Errorf("no case was %s: the generator does not cover it", k)
		}
	}
}

func actionName(a sendcheck.Action) string {
	switch a {
	case sendcheck.Send:
		return "send"
	case sendcheck.Hold:
		return "hold"
	case sendcheck.End:
		return "end"
	case sendcheck.Later:
		return "later"
	}
	return fmt.Sprintf("action%d", a)
}
