package sendcheck

import (
	"math/rand/v2"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// Class is what the mail server's answer means for one message.
type Class uint8

// Classes of answers.
const (
	// Accepted: the server took responsibility for the message.
	Accepted Class = iota + 1
	// TempFail: a 4xx, or a failure before the server had the message.
	TempFail
	// PermFail: a 5xx: the address is refused for good.
	PermFail
	// Uncertain: the connection broke after the data was sent and before
	// the answer came: the server may have the message.
	Uncertain
	// LocalFail: the message could not be made or handed over for a
	// reason of our own (a header that cannot be built); no server saw
	// it, so it says nothing about the address.
	LocalFail
)

// Reply is the server's answer to one claimed message.
type Reply struct {
	Class Class
	// Unsent: the message never reached the server (no connection, or it
	// failed before DATA): a fault of the connection, not of the message.
	Unsent bool
	Code   int    // SMTP reply code, 0 when there was none
	Detail string // the server's text, kept with the delivery
}

// MaxAttempts is how often a delivery is tried before temporary failures
// become permanent.
const MaxAttempts = 8

// UnsentWait is how soon a message that never reached the server is tried
// again. It is not an attempt: an outage of any length uses up none.
const UnsentWait = 30 * time.Second

// maxDetail bounds the server text kept with a delivery.
const maxDetail = 300

// Step is a claimed delivery's next state.
type Step struct {
	State  outreach.DeliveryState
	Reason outreach.Reason // for a terminal state
	Rule   string          // for a terminal state: what the server said
	// At is the delivery's planned moment: the retry's when it goes back
	// to scheduled.
	At time.Time
	// Refund gives the claim's attempt back: the message never reached
	// the server.
	Refund bool
	// Suppress: the address was refused for good and must be suppressed
	// (hard bounce), so nothing is ever sent to it again.
	Suppress bool
	Code     int
}

// Next decides what becomes of a delivery in state after the server's
// reply, attempts counting this one. Only a 'sending' delivery moves: any
// other state is final as far as a reply goes (ok false), so a delivery
// that was sent can never become anything else. planned is the delivery's
// planned moment, kept when it does not move.
func Next(state outreach.DeliveryState, r Reply, attempts int, planned, now time.Time, rng *rand.Rand) (Step, bool) {
	if state != outreach.DeliverySending {
		return Step{}, false
	}
	detail := trim(r.Detail)
	s := Step{At: planned, Code: r.Code}
	switch {
	case r.Class == Accepted:
		s.State, s.Reason = outreach.DeliverySent, outreach.ReasonSent
	case r.Class == Uncertain:
		s.State, s.Reason, s.Rule = outreach.DeliveryUnknown, outreach.ReasonUnknown, detail
	case r.Class == LocalFail:
		// Ours to fix, not the address's: failed, never suppressed, and
		// not retried (it would fail the same way).
		s.State, s.Reason, s.Rule = outreach.DeliveryFailed, outreach.ReasonFailedLocal, detail
	case r.Class == PermFail:
		s.State, s.Reason, s.Rule, s.Suppress = outreach.DeliveryFailed, outreach.ReasonFailedPermanent, detail, true
	case r.Unsent:
		s.State, s.At, s.Refund = outreach.DeliveryScheduled, now.Add(UnsentWait), true
	case attempts >= MaxAttempts:
		s.State, s.Reason, s.Rule = outreach.DeliveryFailed, outreach.ReasonFailedPermanent, "retries exhausted: "+detail
	default:
		s.State, s.At = outreach.DeliveryScheduled, now.Add(Backoff(attempts, rng))
	}
	return s, true
}

// Backoff is the wait before retry n (1-based): 1m, 2m, 4m … capped at 1h,
// plus up to a tenth more at random, so retries of one batch spread out as
// River's own retries would.
func Backoff(n int, rng *rand.Rand) time.Duration {
	d := time.Minute << min(max(n, 1)-1, 6)
	if d > time.Hour {
		d = time.Hour
	}
	return d + time.Duration(rng.Int64N(int64(d/10)+1))
}

// trim keeps the server's text fit for a text column and a timeline.
func trim(s string) string { return outreach.OneLine(s, maxDetail) }
