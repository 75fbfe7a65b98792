package insight

import (
	"sort"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// Tally counts deliveries by what became (or would become) of them.
type Tally struct {
	Sent     int `json:"sent"`     // sent, including those deferred first
	Deferred int `json:"deferred"` // of Sent and Pending: later than asked
	Expired  int `json:"expired"`  // dropped: past expires_after, or preempted
	Pending  int `json:"pending"`  // planned after the replay's horizon (still scheduled)
	Skipped  int `json:"skipped"`  // non-cadence reasons (unsubscribed, paused, …): the same before and after
}

// CampaignTally is one campaign's before and after.
type CampaignTally struct {
	CampaignID int64
	Before     Tally
	After      Tally
}

// Change counts contacts whose number of messages in the period would
// rise, fall or stay, with a few ids of each for a console to open.
type Change struct {
	More, Fewer, Same int
	MoreIDs, FewerIDs []int64
}

// sampleIDs is how many contact ids Change keeps of each kind.
const sampleIDs = 20

// ReplayResult sums a replay over many contacts.
type ReplayResult struct {
	Contacts   int
	Deliveries int
	Before     Tally
	After      Tally
	Campaigns  []CampaignTally // by campaign id
	// HistogramBefore and HistogramAfter count contacts by the most
	// messages they receive in any 30 days of the period, in Buckets.
	HistogramBefore, HistogramAfter []int
	Change                          Change
}

// Replayer replays contact after contact and sums the results, so the
// store can stream a large period without holding it.
type Replayer struct {
	Rule    outreach.Rule
	Horizon time.Time // the replay's now: later moments are pending
	res     ReplayResult
	camps   map[int64]*CampaignTally
}

// NewReplayer returns a replayer of rule with now as its horizon.
func NewReplayer(rule outreach.Rule, now time.Time) *Replayer {
	return &Replayer{Rule: rule, Horizon: now, camps: map[int64]*CampaignTally{},
		res: ReplayResult{HistogramBefore: make([]int, len(Buckets)), HistogramAfter: make([]int, len(Buckets))}}
}

// Add replays one contact's history and counts it.
func (r *Replayer) Add(h History) {
	r.res.Contacts++
	outs := Replay(r.Rule, h, r.Horizon)
	var before, after []time.Time
	for _, o := range outs {
		d := o.Delivery
		r.res.Deliveries++
		ct := r.camps[d.CampaignID]
		if ct == nil {
			ct = &CampaignTally{CampaignID: d.CampaignID}
			r.camps[d.CampaignID] = ct
		}
		b := recordedTally(d)
		ct.Before.add(b)
		r.res.Before.add(b)
		if b.Sent == 1 {
			before = append(before, d.recordedAt())
		}
		var a Tally
		switch o.Fate {
		case FateSent:
			a.Sent = 1
			after = append(after, o.At)
		case FatePending:
			a.Pending = 1
		case FateExpired, FatePreempted:
			a.Expired = 1
		case FateSkipped:
			a.Skipped = 1
		}
		if o.Deferred {
			a.Deferred = 1
		}
		ct.After.add(a)
		r.res.After.add(a)
	}
	month := 30 * 24 * time.Hour
	r.res.HistogramBefore[Bucket(PeakIn(before, month))]++
	r.res.HistogramAfter[Bucket(PeakIn(after, month))]++
	c := &r.res.Change
	switch {
	case len(after) > len(before):
		c.More++
		if len(c.MoreIDs) < sampleIDs {
			c.MoreIDs = append(c.MoreIDs, h.ContactID)
		}
	case len(after) < len(before):
		c.Fewer++
		if len(c.FewerIDs) < sampleIDs {
			c.FewerIDs = append(c.FewerIDs, h.ContactID)
		}
	default:
		c.Same++
	}
}

// recordedTally is what really became of a delivery, in Tally's terms.
func recordedTally(d *Delivery) Tally {
	var t Tally
	switch {
	case NonCadence(d.Reason):
		t.Skipped = 1
	case d.RecordedSent():
		t.Sent = 1
	case d.State == outreach.DeliveryScheduled:
		t.Pending = 1
	default: // expired, preempted, or skipped/failed for a cadence reason
		t.Expired = 1
	}
	// Deferral is judged on the planned moment, not the send time a busy
	// queue adds; a second of slack absorbs storage rounding.
	if (t.Sent == 1 || t.Pending == 1) && d.PlannedFor.After(d.start().Add(time.Second)) {
		t.Deferred = 1
	}
	return t
}

func (t *Tally) add(o Tally) {
	t.Sent += o.Sent
	t.Deferred += o.Deferred
	t.Expired += o.Expired
	t.Pending += o.Pending
	t.Skipped += o.Skipped
}

// Result returns the sums so far, campaigns in id order.
func (r *Replayer) Result() ReplayResult {
	out := r.res
	out.Campaigns = make([]CampaignTally, 0, len(r.camps))
	for _, c := range r.camps {
		out.Campaigns = append(out.Campaigns, *c)
	}
	sort.Slice(out.Campaigns, func(i, j int) bool { return out.Campaigns[i].CampaignID < out.Campaigns[j].CampaignID })
	return out
}
