package planner

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// A forecast is a campaign run planned without writing anything: every
// target goes through Plan, exactly as the plan job does, and Forecast
// counts the outcomes — the run's own per tier, and the reserved
// deliveries of lower-priority campaigns that Plan would displace (taken
// slot: re-planned later, or skipped as preempted), per campaign.

// Bucket is one bar of the deferral histogram: deferrals of at most UpTo
// after the firing (and more than the bar before).
type Bucket struct {
	Label string
	UpTo  time.Duration
	Count int
}

// Buckets are the deferral histogram's bars: 1h, 6h, 24h, 3d, 7d, 30d and
// later, with zero counts.
func Buckets() []Bucket {
	return []Bucket{{Label: "1h", UpTo: time.Hour}, {Label: "6h", UpTo: 6 * time.Hour}, {Label: "24h", UpTo: 24 * time.Hour},
		{Label: "3d", UpTo: 72 * time.Hour}, {Label: "7d", UpTo: 7 * 24 * time.Hour}, {Label: "30d", UpTo: 30 * 24 * time.Hour},
		{Label: "later", UpTo: 1<<63 - 1}}
}

// addTo counts a wait in its bar.
func addTo(bs []Bucket, wait time.Duration) {
	for i := range bs {
		if wait <= bs[i].UpTo {
			bs[i].Count++
			return
		}
	}
}

// RuleCount is how many messages one rule decided with one reason: the
// rule responsible ("cap 1/7d", "send_window mon-fri 09:00-18:00 UTC"; ""
// for the reasons that are no rule's, such as unsubscribed).
type RuleCount struct {
	Reason outreach.Reason
	Rule   string
	Count  int
}

// TierForecast counts what would happen to one tier's contacts.
type TierForecast struct {
	Contacts int
	// Now go at the firing; Deferred wait for a later slot (Deferrals
	// says how long); Expired would only fit past the campaign's
	// expiry; Skipped are not sent at all, by reason.
	Now, Deferred, Expired int
	Skipped                map[outreach.Reason]int
	Deferrals              []Bucket
	// Rules lists every reason but scheduled with the rule behind it,
	// most messages first.
	Rules []RuleCount
	rules map[RuleCount]int // keyed with Count 0
}

// Displacement is what the run would do to one lower-priority campaign's
// reserved deliveries: Count slots taken, of which Replanned move to a
// later moment and Preempted are skipped (reason preempted) because no
// slot is left before their expiry.
type Displacement struct {
	CampaignID           int64
	Priority             int
	Count                int
	Replanned, Preempted int
	// Reasons are the displaced deliveries' new reasons (preempted, or the
	// deferral that now binds them).
	Reasons map[outreach.Reason]int
	// Tiers counts them by the contact's effective tier.
	Tiers map[string]*DisplacedTier
}

// DisplacedTier counts one tier's displaced deliveries.
type DisplacedTier struct {
	Count, Replanned, Preempted int
}

// Forecast accumulates a dry run's outcomes.
type Forecast struct {
	FireAt   time.Time
	Contacts int
	Tiers    map[string]*TierForecast
	Reasons  map[outreach.Reason]int
	// Deferred is the histogram over all tiers.
	Deferred  []Bucket
	displaces map[int64]*Displacement
}

// NewForecast starts a forecast of a run firing at fire.
func NewForecast(fire time.Time) *Forecast {
	return &Forecast{FireAt: fire, Tiers: map[string]*TierForecast{}, Reasons: map[outreach.Reason]int{},
		Deferred: Buckets(), displaces: map[int64]*Displacement{}}
}

// Add counts the outcome o that Plan gave for target t.
func (f *Forecast) Add(t Target, o Outcome) {
	f.Contacts++
	tf := f.Tiers[o.Tier]
	if tf == nil {
		tf = &TierForecast{Skipped: map[outreach.Reason]int{}, Deferrals: Buckets(), rules: map[RuleCount]int{}}
		f.Tiers[o.Tier] = tf
	}
	tf.Contacts++
	f.Reasons[o.Reason]++
	switch {
	case o.Reason == outreach.ReasonExpired:
		tf.Expired++
	case o.State == outreach.DeliverySkipped:
		tf.Skipped[o.Reason]++
	case o.Reason == outreach.ReasonScheduled:
		tf.Now++
	default:
		tf.Deferred++
		wait := o.PlannedFor.Sub(f.FireAt)
		addTo(tf.Deferrals, wait)
		addTo(f.Deferred, wait)
	}
	if o.Reason != outreach.ReasonScheduled {
		tf.rules[RuleCount{Reason: o.Reason, Rule: o.Rule}]++
	}
	for _, dp := range o.Displaced {
		f.displaced(t, o.Tier, dp.ID, dp.Expired, dp.Reason)
	}
}

func (f *Forecast) displaced(t Target, tier string, id int64, expired bool, reason outreach.Reason) {
	owner := t.ReservedBy[id]
	d := f.displaces[owner]
	if d == nil {
		d = &Displacement{CampaignID: owner, Reasons: map[outreach.Reason]int{}, Tiers: map[string]*DisplacedTier{}}
		for _, h := range t.History {
			if h.ID == id {
				d.Priority = h.Priority
			}
		}
		f.displaces[owner] = d
	}
	dt := d.Tiers[tier]
	if dt == nil {
		dt = &DisplacedTier{}
		d.Tiers[tier] = dt
	}
	d.Count++
	dt.Count++
	d.Reasons[reason]++
	if expired {
		d.Preempted++
		dt.Preempted++
	} else {
		d.Replanned++
		dt.Replanned++
	}
}

// Done finishes the forecast: each tier's rules in order, most first.
func (f *Forecast) Done() {
	for _, tf := range f.Tiers {
		tf.Rules = tf.Rules[:0]
		for k, n := range tf.rules {
			k.Count = n
			tf.Rules = append(tf.Rules, k)
		}
		slices.SortFunc(tf.Rules, func(a, b RuleCount) int {
			return cmp.Or(b.Count-a.Count, cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.Rule, b.Rule))
		})
	}
}

// Displaces lists the lower-priority campaigns the run would displace
// deliveries of, most displaced first (then by campaign id).
func (f *Forecast) Displaces() []Displacement {
	out := make([]Displacement, 0, len(f.displaces))
	for _, d := range f.displaces {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b Displacement) int {
		return cmp.Or(b.Count-a.Count, cmp.Compare(a.CampaignID, b.CampaignID))
	})
	return out
}

// Scale multiplies every count by k, rounded, and sets Contacts to
// contacts: a forecast of a sample made into an estimate of the whole
// audience. Counts that were not zero stay at least one, so no reason or
// displaced campaign the sample found disappears. It scales what Done
// made (each tier's Rules), so it comes after Done.
func (f *Forecast) Scale(k float64, contacts int) {
	sc := func(n int) int {
		if n == 0 {
			return 0
		}
		return max(1, int(math.Round(float64(n)*k)))
	}
	f.Contacts = contacts
	for r, n := range f.Reasons {
		f.Reasons[r] = sc(n)
	}
	for i := range f.Deferred {
		f.Deferred[i].Count = sc(f.Deferred[i].Count)
	}
	for _, tf := range f.Tiers {
		tf.Contacts, tf.Now, tf.Deferred, tf.Expired = sc(tf.Contacts), sc(tf.Now), sc(tf.Deferred), sc(tf.Expired)
		for r, n := range tf.Skipped {
			tf.Skipped[r] = sc(n)
		}
		for i := range tf.Deferrals {
			tf.Deferrals[i].Count = sc(tf.Deferrals[i].Count)
		}
		for i := range tf.Rules {
			tf.Rules[i].Count = sc(tf.Rules[i].Count)
		}
	}
	for _, d := range f.displaces {
		d.Count, d.Replanned, d.Preempted = sc(d.Count), sc(d.Replanned), sc(d.Preempted)
		for r, n := range d.Reasons {
			d.Reasons[r] = sc(n)
		}
		for _, t := range d.Tiers {
			t.Count, t.Replanned, t.Preempted = sc(t.Count), sc(t.Replanned), sc(t.Preempted)
		}
	}
}

// Window is one stretch of the contact-id range a sampled forecast read:
// Span ids, in which it found Found contacts of the audience.
type Window struct {
	Span  int64
	Found int
}

// EstimateAudience estimates how many contacts of the audience the id
// range of span ids holds, from the windows read: their density of
// audience members per id, over the whole span.
func EstimateAudience(span int64, windows []Window) int {
	var ids int64
	found := 0
	for _, w := range windows {
		ids += w.Span
		found += w.Found
	}
	if ids <= 0 {
		return found
	}
	return int(math.Round(float64(found) * float64(span) / float64(ids)))
}
