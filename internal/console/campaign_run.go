package console

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// The run view: a campaign's facts, the actions its status allows, and
// its deliveries counted per tier, state and reason (campaign.Service
// Progress, the API's stats) — polled every two seconds by htmx while the
// campaign can still change, and the same on a plain reload. Every count
// links to the deliveries it counts.

// reasonN is a count under one reason, linking to its deliveries.
type reasonN struct {
	Reason, URL string
	N           int64
}

// tierProgress is one tier's (or all tiers') deliveries.
type tierProgress struct {
	Name                                                   string
	Total, Sent, Scheduled, Deferred, Sending, Unknown     int64
	SkippedN, FailedN                                      int64
	Skipped, Failed, DeferredBy                            []reasonN
	SentURL, ScheduledURL, DeferredURL, UnknownURL, AllURL string
}

// progressData is the live part of the run view.
type progressData struct {
	ID         int64
	Live       bool   // still changing: poll
	Every      string // how often: 2s, or 10s when counting took long (a million deliveries take most of a second)
	Status     outreach.CampaignStatus
	StatusText string
	Total      tierProgress
	Tiers      []tierProgress
	Rate       int64 // sent in the last minute
	Chart      template.HTML
}

// actionLink is a button on the run view.
type actionLink struct {
	Label, URL, Class string
}

// runData is the run view's content.
type runData struct {
	Campaign campaignRow
	Zone     zoneChoice
	Expires  string
	Audience []string
	Variants []string
	Actions  []actionLink
	Progress progressData
}

// campaignPage is GET /console/campaigns/:id: the campaign and its run.
func (c *Console) campaignPage(ec echo.Context) error {
	camp, err := c.loadCampaign(ec)
	if err != nil {
		return err
	}
	z := c.zone(ec)
	p, err := c.progress(ec, camp)
	if err != nil {
		return err
	}
	d := runData{Campaign: c.campaignRow(z, camp), Zone: z, Progress: p, Expires: "never (no expiry)", Audience: audienceLines(camp.Audience)}
	if camp.ExpiresAfter > 0 {
		d.Expires = outreach.FormatDuration(camp.ExpiresAfter) + " after each firing"
	}
	for k := range camp.Variants {
		d.Variants = append(d.Variants, k)
	}
	slices.Sort(d.Variants)
	if u := currentUser(ec); u != nil && u.Role.Includes(marketer) {
		if camp.Status == outreach.CampaignDraft {
			d.Actions = append(d.Actions, actionLink{"Edit", campaignPath(camp.ID, "edit"), "secondary"})
		}
		d.Actions = append(d.Actions, actionLink{"Preview", campaignPath(camp.ID, "preview"), "secondary"})
		for _, a := range campaign.Actions {
			if !campaign.Can(a, camp) {
				continue
			}
			switch a {
			case campaign.ActionSend, campaign.ActionSchedule:
				continue // from the launch page, after the forecast
			case campaign.ActionCancel:
				d.Actions = append(d.Actions, actionLink{"Cancel…", campaignPath(camp.ID, string(a)), "danger"})
			default:
				d.Actions = append(d.Actions, actionLink{actionVerbs[a].Button + "…", campaignPath(camp.ID, string(a)), "secondary"})
			}
		}
	}
	return c.render(ec, http.StatusOK, "campaign", &View{Title: camp.Name, Data: d})
}

// audienceLines says whom the audience selects.
func audienceLines(a outreach.Audience) []string {
	var out []string
	if len(a.Tiers) > 0 {
		out = append(out, "Tiers: "+strings.Join(a.Tiers, ", "))
	}
	if len(a.Topics) > 0 {
		out = append(out, "Not opted out of: "+strings.Join(a.Topics, ", "))
	}
	var attrs []string
	for k, v := range a.Attributes {
		attrs = append(attrs, k+" = "+v)
	}
	slices.Sort(attrs)
	if len(attrs) > 0 {
		out = append(out, "Attributes: "+strings.Join(attrs, ", "))
	}
	if n := len(a.ContactIDs); n > 0 {
		out = append(out, fmt.Sprintf("Only %d listed contacts", n))
	}
	if out == nil {
		out = []string{"Every contact"}
	}
	return out
}

// progressPartial is GET /console/campaigns/:id/progress: the live part
// alone, for htmx; it stops asking once the campaign can change no more.
func (c *Console) progressPartial(ec echo.Context) error {
	camp, err := c.loadCampaign(ec)
	if err != nil {
		return err
	}
	p, err := c.progress(ec, camp)
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := c.pages["campaign"].ExecuteTemplate(&b, "campaign-progress", p); err != nil {
		return err
	}
	return ec.HTML(http.StatusOK, b.String())
}

// progress counts the campaign's deliveries, tiers in rank order.
func (c *Console) progress(ec echo.Context, camp outreach.Campaign) (progressData, error) {
	ctx := ec.Request().Context()
	started := time.Now()
	st, err := c.Campaigns.Progress(ctx, camp.ID)
	if err != nil {
		return progressData{}, err
	}
	every := "2s"
	if time.Since(started) > 250*time.Millisecond {
		every = "10s"
	}
	tiers, err := c.Store.Tiers(ctx)
	if err != nil {
		return progressData{}, err
	}
	slices.SortStableFunc(tiers, func(a, b outreach.Tier) int { return b.Rank - a.Rank })
	p := progressData{ID: camp.ID, Every: every, Status: camp.Status, StatusText: statusLabel[camp.Status], Rate: st.Total.Recent,
		Total: tierRow(camp.ID, "All tiers", st.Total)}
	switch camp.Status {
	case outreach.CampaignScheduled, outreach.CampaignRunning:
		p.Live = true
	}
	seen := map[string]bool{}
	var rows []barRow
	add := func(key, name string) {
		t := st.Tiers[key]
		if t == nil || seen[key] {
			return
		}
		seen[key] = true
		tp := tierRow(camp.ID, name, t)
		p.Tiers = append(p.Tiers, tp)
		rows = append(rows, barRow{Label: name, Segments: []segment{{"Sent", int(t.Sent), "c-now"},
			{"To go", int(t.Pending()), "c-deferred"}, {"Skipped", int(t.SkippedTotal()), "c-skipped"},
			{"Failed or unknown", int(t.FailedTotal() + t.Unknown), "c-expired"}}})
	}
	for _, t := range tiers {
		add(t.Key, t.Name)
	}
	var rest []string
	for k := range st.Tiers {
		rest = append(rest, k)
	}
	slices.Sort(rest)
	for _, k := range rest {
		add(k, k)
	}
	if len(rows) > 0 {
		p.Chart = stackedBars("Progress per tier", fmt.Sprintf("%d of %d messages sent, %d to go. The table below has every number.",
			st.Total.Sent, st.Total.Total, st.Total.Pending()), rows)
	}
	return p, nil
}

// tierRow is a tier's counts with the links to their deliveries.
func tierRow(id int64, name string, t *campaign.TierStats) tierProgress {
	link := func(state, reason string) string {
		q := url.Values{"campaign_id": {strconv.FormatInt(id, 10)}}
		if state != "" {
			q.Set("state", state)
		}
		if reason != "" {
			q.Set("reason", reason)
		}
		return "/console/deliveries?" + q.Encode()
	}
	by := func(state string, m map[outreach.Reason]int64) []reasonN {
		var out []reasonN
		for r, n := range m {
			out = append(out, reasonN{Reason: string(r), N: n, URL: link(state, string(r))})
		}
		slices.SortFunc(out, func(a, b reasonN) int {
			if a.N != b.N {
				return int(b.N - a.N)
			}
			return strings.Compare(a.Reason, b.Reason)
		})
		return out
	}
	return tierProgress{Name: name, Total: t.Total, Sent: t.Sent, Scheduled: t.Scheduled, Deferred: t.Deferred, Sending: t.Sending,
		Unknown: t.Unknown, SkippedN: t.SkippedTotal(), FailedN: t.FailedTotal(),
		Skipped: by("skipped", t.Skipped), Failed: by("failed", t.Failed), DeferredBy: by("scheduled", t.DeferredBy),
		SentURL: link("sent", ""), ScheduledURL: link("scheduled", "scheduled"), DeferredURL: link("scheduled", ""),
		UnknownURL: link("unknown", ""), AllURL: link("", "")}
}

// deliveryStates and deliveryReasons are the filters' choices.
var deliveryStates = []outreach.DeliveryState{outreach.DeliveryScheduled, outreach.DeliverySending, outreach.DeliverySent,
	outreach.DeliverySkipped, outreach.DeliveryFailed, outreach.DeliveryUnknown}

var deliveryReasons = []outreach.Reason{outreach.ReasonScheduled, outreach.ReasonDeferredCap, outreach.ReasonDeferredMinGap,
	outreach.ReasonDeferredSendWindow, outreach.ReasonExpired, outreach.ReasonPreempted, outreach.ReasonUnsubscribed,
	outreach.ReasonTopicOptOut, outreach.ReasonPaused, outreach.ReasonSuppressedBounce, outreach.ReasonSuppressedComplaint,
	outreach.ReasonInvalidAddress, outreach.ReasonFailedPermanent, outreach.ReasonCanceled, outreach.ReasonNoTier, outreach.ReasonUnknown, outreach.ReasonSent}

// deliveriesData is the deliveries list's content.
type deliveriesData struct {
	Campaign *outreach.Campaign
	Zone     zoneChoice
	States   []Option
	Reasons  []Option
	Rows     []outreach.Delivery
	Pager    Pager
	Any      bool
}

// deliveries is GET /console/deliveries?campaign_id=&state=&reason=: the
// deliveries in id order, read only, as the API lists them.
func (c *Console) deliveries(ec echo.Context) error {
	ctx := ec.Request().Context()
	f := newForm(ec.QueryParams(), "campaign_id", "Campaign id", "state", "State", "reason", "Reason")
	d := deliveriesData{Zone: c.zone(ec)}
	d.States = []Option{{Value: "", Label: "Any state"}}
	for _, s := range deliveryStates {
		d.States = append(d.States, Option{Value: string(s), Label: string(s)})
	}
	d.Reasons = []Option{{Value: "", Label: "Any reason"}}
	for _, r := range deliveryReasons {
		d.Reasons = append(d.Reasons, Option{Value: string(r), Label: string(r)})
	}
	filter := postgres.DeliveryFilter{State: f.Get("state"), Reason: f.Get("reason"), AfterID: cursor(ec, "after"), Limit: pageSize + 1}
	if s := f.Get("campaign_id"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			f.Fail("campaign_id", "must be a campaign's id, a whole number")
		} else {
			filter.CampaignID = &id
			camp, err := c.Campaigns.Get(ctx, id)
			switch {
			case err == nil:
				d.Campaign = &camp
			case outreach.ErrorCode(err) == outreach.ENOTFOUND:
				f.Fail("campaign_id", "there is no campaign with this id")
			default:
				return err
			}
		}
	}
	if filter.State != "" && !slices.Contains(deliveryStates, outreach.DeliveryState(filter.State)) {
		f.Fail("state", "choose one of the states listed")
	}
	if filter.Reason != "" && !slices.Contains(deliveryReasons, outreach.Reason(filter.Reason)) {
		f.Fail("reason", "choose one of the reasons listed")
	}
	d.Any = filter.CampaignID != nil || filter.State != "" || filter.Reason != ""
	if f.Failed() {
		return c.render(ec, http.StatusUnprocessableEntity, "deliveries", &View{Title: "Deliveries", Form: f, Data: d})
	}
	rows, err := c.Store.Deliveries(ctx, filter)
	if err != nil {
		return err
	}
	d.Rows, d.Pager = paginate(ec, rows, pageSize, "after", "Next →", func(x outreach.Delivery) int64 { return x.ID })
	return c.render(ec, http.StatusOK, "deliveries", &View{Title: "Deliveries", Form: f, Data: d})
}
