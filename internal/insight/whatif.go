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

// Moves counts what a proposed rule would do to the deliveries scheduled
// now, re-planned at once: keep their moment, go earlier, go later, or
// expire.
type Moves struct {
	Scheduled int `json:"scheduled"`
	Same      int `json:"same"`
	Earlier   int `json:"earlier"`
	Later     int `json:"later"`
	Expired   int `json:"expired"`
}

// CampaignMoves is one campaign's Moves.
type CampaignMoves struct {
	CampaignID int64
	Moves
}

// Rescheduler re-plans what is scheduled now under a rule, contact after
// contact: each contact's scheduled deliveries (oldest plan first) are
// decided at now, against the messages already sent (the History's Prior)
// and the ones re-planned before them, not earlier than their firing.
type Rescheduler struct {
	Rule  outreach.Rule
	Now   time.Time
	total Moves
	camps map[int64]*CampaignMoves
}

// NewRescheduler returns a rescheduler of rule at now.
func NewRescheduler(rule outreach.Rule, now time.Time) *Rescheduler {
	return &Rescheduler{Rule: rule, Now: now, camps: map[int64]*CampaignMoves{}}
}

// Add re-plans one contact's scheduled deliveries (h.Deliveries, all in
// state scheduled) and counts them.
func (r *Rescheduler) Add(h History) {
	if len(h.Deliveries) == 0 {
		return
	}
	re := h
	re.Deliveries = make([]Delivery, len(h.Deliveries))
	for i, d := range h.Deliveries {
		d.PlannedAt = r.Now
		re.Deliveries[i] = d
	}
	for _, o := range Replay(r.Rule, re, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)) {
		d := o.Delivery
		c := r.camps[d.CampaignID]
		if c == nil {
			c = &CampaignMoves{CampaignID: d.CampaignID}
			r.camps[d.CampaignID] = c
		}
		var m Moves
		m.Scheduled = 1
		switch {
		case o.Fate == FateExpired || o.Fate == FatePreempted:
			m.Expired = 1
		case o.Fate == FateSkipped:
			m.Same = 1
		case o.At.Before(d.PlannedFor.Add(-time.Second)):
			m.Earlier = 1
		case o.At.After(d.PlannedFor.Add(time.Second)):
			m.Later = 1
		default:
			m.Same = 1
		}
		c.Moves.add(m)
		r.total.add(m)
	}
}

func (m *Moves) add(o Moves) {
	m.Scheduled += o.Scheduled
	m.Same += o.Same
	m.Earlier += o.Earlier
	m.Later += o.Later
	m.Expired += o.Expired
}

// Result returns the totals and the campaigns in id order.
func (r *Rescheduler) Result() (Moves, []CampaignMoves) {
	out := make([]CampaignMoves, 0, len(r.camps))
	for _, c := range r.camps {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CampaignID < out[j].CampaignID })
	return r.total, out
}
