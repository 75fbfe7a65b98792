package console

import (
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/outreach"
)

// The launch page is the forecast — what the caps, windows, opt-outs and
// priority arbitration would do to every contact of the audience, and to
// the scheduled messages of lower-priority campaigns — drawn before
// anything is sent; the lifecycle actions (send, schedule, pause, resume,
// cancel) each confirm first, saying how many people they affect.

// reasonText says what a reason code means.
var reasonText = map[outreach.Reason]string{
	outreach.ReasonScheduled:           "sent at the firing",
	outreach.ReasonDeferredCap:         "a frequency cap is full until then",
	outreach.ReasonDeferredMinGap:      "too soon after their last message",
	outreach.ReasonDeferredSendWindow:  "outside their send window (their local time)",
	outreach.ReasonExpired:             "no slot before the campaign expires",
	outreach.ReasonPreempted:           "a higher-priority campaign took its slot",
	outreach.ReasonUnsubscribed:        "unsubscribed or suppressed",
	outreach.ReasonTopicOptOut:         "opted out of the campaign's topic",
	outreach.ReasonPaused:              "paused their mail",
	outreach.ReasonSuppressedBounce:    "their address bounced",
	outreach.ReasonSuppressedComplaint: "they complained (spam report)",
	outreach.ReasonInvalidAddress:      "the address is not valid",
	outreach.ReasonFailedPermanent:     "the server refused it for good",
	outreach.ReasonCanceled:            "the campaign was canceled",
	outreach.ReasonNoTier:              "their tier no longer exists: no rule, so nothing is sent",
	outreach.ReasonUnknown:             "handed to the server when a worker stopped; never sent twice",
}

// ruleRow is one reason, with the rule behind it, in one tier.
type ruleRow struct {
	Tier, Reason, Rule, Meaning string
	Count                       int
}

// tierOutcome is one tier's forecast as the page shows it.
type tierOutcome struct {
	Key, Name                                 string
	Contacts, Now, Deferred, Expired, Skipped int
	Deferrals                                 []campaign.Bucket
}

// displaceRow is one lower-priority campaign the launch would displace.
type displaceRow struct {
	ID                          int64
	Name                        string
	Priority                    int
	Count, Replanned, Preempted int
	Tiers                       []displaceTier
}

type displaceTier struct {
	Name                        string
	Count, Replanned, Preempted int
}

// launchData is the launch page's content.
type launchData struct {
	Campaign                                  campaignRow
	Zone                                      zoneChoice
	FireAt                                    string
	Contacts, Now, Deferred, Expired, Skipped int
	Tiers                                     []tierOutcome
	Buckets                                   []campaign.Bucket
	Rules                                     []ruleRow
	Displaces                                 []displaceRow
	Displaced                                 int
	OutcomeChart, DeferralChart               template.HTML
	CanSend, CanSchedule                      bool
	// Estimated forecasts planned Sampled contacts and scaled up; About
	// is "about " then, for sentences.
	Estimated bool
	Sampled   int
	About     string
	ExactURL  string
}

// forecastSample is how many contacts the launch page plans at most,
// spread over the audience, before it estimates (campaign.ForecastSample):
// a fraction of a second, where a million contacts take tens of seconds
// exactly. ?exact=1 plans them all.
const forecastSample = 5000

// forecastView turns the service's forecast into the page's rows, tiers
// in rank order (highest first) with their names.
func (c *Console) forecastView(ec echo.Context, camp outreach.Campaign) (launchData, error) {
	ctx := ec.Request().Context()
	z := c.zone(ec)
	var fc campaign.Forecast
	var err error
	if ec.QueryParam("exact") == "1" {
		fc, err = c.Campaigns.Forecast(ctx, camp.ID)
	} else {
		fc, err = c.Campaigns.ForecastSample(ctx, camp.ID, forecastSample)
	}
	if err != nil {
		return launchData{}, err
	}
	tiers, err := c.Store.Tiers(ctx)
	if err != nil {
		return launchData{}, err
	}
	slices.SortStableFunc(tiers, func(a, b outreach.Tier) int { return b.Rank - a.Rank })
	names := map[string]string{}
	var keys []string
	for _, t := range tiers {
		names[t.Key] = t.Name
		keys = append(keys, t.Key)
	}
	for k := range fc.Tiers {
		if _, ok := names[k]; !ok {
			names[k] = k
			keys = append(keys, k)
		}
	}
	d := launchData{Campaign: c.campaignRow(z, camp), Zone: z, FireAt: z.At(fc.FireAt), Contacts: fc.Contacts, Buckets: fc.Deferred,
		CanSend:     campaign.Can(campaign.ActionSend, camp),
		CanSchedule: campaign.Can(campaign.ActionSchedule, camp) && (camp.Cron != "" || camp.SendAt != nil),
		Estimated:   fc.Estimated, Sampled: fc.Sampled, ExactURL: campaignPath(camp.ID, "launch") + "?exact=1"}
	if fc.Estimated {
		d.About = "about "
	}
	var rows []barRow
	for _, k := range keys {
		t := fc.Tiers[k]
		if t == nil {
			continue
		}
		skipped := 0
		for _, n := range t.Skipped {
			skipped += n
		}
		to := tierOutcome{Key: k, Name: names[k], Contacts: t.Contacts, Now: t.Now, Deferred: t.Deferred, Expired: t.Expired,
			Skipped: skipped, Deferrals: t.Deferrals}
		d.Tiers = append(d.Tiers, to)
		d.Now, d.Deferred, d.Expired, d.Skipped = d.Now+t.Now, d.Deferred+t.Deferred, d.Expired+t.Expired, d.Skipped+skipped
		rows = append(rows, barRow{Label: names[k], Segments: []segment{{"Sent now", t.Now, "c-now"}, {"Deferred", t.Deferred, "c-deferred"},
			{"Expired", t.Expired, "c-expired"}, {"Skipped", skipped, "c-skipped"}}})
		for _, r := range t.Rules {
			d.Rules = append(d.Rules, ruleRow{Tier: names[k], Reason: string(r.Reason), Rule: r.Rule, Meaning: reasonText[r.Reason], Count: r.Count})
		}
	}
	for _, dp := range fc.Displaces {
		row := displaceRow{ID: dp.CampaignID, Name: dp.Name, Priority: dp.Priority, Count: dp.Count, Replanned: dp.Replanned, Preempted: dp.Preempted}
		for _, k := range keys {
			if t := dp.Tiers[k]; t != nil {
				row.Tiers = append(row.Tiers, displaceTier{Name: names[k], Count: t.Count, Replanned: t.Replanned, Preempted: t.Preempted})
			}
		}
		d.Displaces = append(d.Displaces, row)
		d.Displaced += dp.Count
	}
	d.OutcomeChart = stackedBars("What would happen, per tier",
		fmt.Sprintf("Of %s%d contacts: %d sent now, %d deferred, %d expired, %d skipped. The table below has every number.", d.About, d.Contacts, d.Now, d.Deferred, d.Expired, d.Skipped), rows)
	var bars []segment
	for _, b := range fc.Deferred {
		bars = append(bars, segment{Label: "≤ " + b.Label, Value: b.Count})
	}
	if n := len(bars); n > 0 {
		bars[n-1].Label = "later"
	}
	if d.Deferred == 0 {
		return d, nil
	}
	d.DeferralChart = columns("How long deferred messages would wait", fmt.Sprintf("%d deferred messages by how long after the firing they would go: see the table below.", d.Deferred), "c-deferred", bars)
	return d, nil
}

// launch is GET /console/campaigns/:id/launch: the audience's size and
// the cap-aware forecast, with the launch buttons for marketers.
func (c *Console) launch(ec echo.Context) error {
	camp, err := c.loadCampaign(ec)
	if err != nil {
		return err
	}
	d, err := c.forecastView(ec, camp)
	if err != nil {
		return err
	}
	return c.render(ec, http.StatusOK, "campaign-launch", &View{Title: "Launch “" + camp.Name + "”", Data: d})
}

// actionVerbs are each action's button text and what happened.
var actionVerbs = map[campaign.Action]struct{ Button, Done string }{
	campaign.ActionSend:     {"Send now", "is sending"},
	campaign.ActionSchedule: {"Schedule", "is scheduled"},
	campaign.ActionPause:    {"Pause", "is paused: nothing more is sent until it is resumed"},
	campaign.ActionResume:   {"Resume", "is resumed: its held messages are planned again under today's rules"},
	campaign.ActionCancel:   {"Cancel the campaign", "is canceled"},
}

// confirmAction is GET /console/campaigns/:id/{send,schedule,pause,resume,cancel}
// (marketer): what the action would do and to how many people, from the
// forecast (send, schedule) or the campaign's deliveries (the others).
func (c *Console) confirmAction(a campaign.Action) echo.HandlerFunc {
	return func(ec echo.Context) error {
		camp, err := c.loadCampaign(ec)
		if err != nil {
			return err
		}
		if !campaign.Can(a, camp) {
			return &pageError{Status: http.StatusConflict, Title: "That cannot be done now",
				Text: "“" + camp.Name + "” is " + string(camp.Status) + "; it cannot be " + pastTense(a) + "."}
		}
		lines, err := c.affects(ec, a, camp)
		if err != nil {
			return err
		}
		d := confirmData{Lines: lines, Action: campaignPath(camp.ID, string(a)), Button: actionVerbs[a].Button, Cancel: campaignPath(camp.ID, "")}
		return c.confirm(ec, http.StatusOK, strings.ToUpper(string(a[:1]))+string(a[1:])+" “"+camp.Name+"”?", d, nil)
	}
}

// affects says what the action does, in numbers.
func (c *Console) affects(ec echo.Context, a campaign.Action, camp outreach.Campaign) ([]string, error) {
	switch a {
	case campaign.ActionSend, campaign.ActionSchedule:
		d, err := c.forecastView(ec, camp)
		if err != nil {
			return nil, err
		}
		when := "now"
		if a == campaign.ActionSchedule {
			when = "at " + d.FireAt
			if camp.Cron != "" {
				when = "at every firing of " + camp.Cron + ", the first " + d.FireAt
			}
		}
		lines := []string{fmt.Sprintf("It goes to an audience of %s%d contacts, %s: %d would be sent at the firing, %d deferred to a later slot, %d expired and %d skipped (unsubscribed, opted out, paused or suppressed).",
			d.About, d.Contacts, when, d.Now, d.Deferred, d.Expired, d.Skipped)}
		if d.Estimated {
			lines = append(lines, fmt.Sprintf("These are estimates from %d contacts planned across the audience.", d.Sampled))
		}
		for _, dp := range d.Displaces {
			lines = append(lines, fmt.Sprintf("It would take the slots of %s%d scheduled messages of “%s” (priority %d): %d moved later, %d skipped as preempted.",
				d.About, dp.Count, dp.Name, dp.Priority, dp.Replanned, dp.Preempted))
		}
		return lines, nil
	}
	st, err := c.Campaigns.Progress(ec.Request().Context(), camp.ID)
	if err != nil {
		return nil, err
	}
	t := st.Total
	switch a {
	case campaign.ActionPause:
		return []string{fmt.Sprintf("%d messages still to go (%d scheduled, %d deferred) are held; nothing more is sent until you resume. %d already sent stay sent.",
			t.Scheduled+t.Deferred, t.Scheduled, t.Deferred, t.Sent)}, nil
	case campaign.ActionResume:
		return []string{fmt.Sprintf("%d held messages are planned again under the rules as they are now (some may wait for a later slot, or expire).", t.Scheduled+t.Deferred)}, nil
	}
	return []string{fmt.Sprintf("%d messages still to go (%d scheduled, %d deferred) are skipped with reason canceled and never sent. %d already sent stay sent. This cannot be undone.",
		t.Scheduled+t.Deferred, t.Scheduled, t.Deferred, t.Sent)}, nil
}

func pastTense(a campaign.Action) string {
	switch a {
	case campaign.ActionSend:
		return "sent"
	case campaign.ActionSchedule:
		return "scheduled"
	case campaign.ActionPause:
		return "paused"
	case campaign.ActionResume:
		return "resumed"
	}
	return "canceled"
}

// doAction is POST /console/campaigns/:id/{send,…} (marketer, confirmed):
// the service's Send, Schedule, Pause, Resume or Cancel, audited under
// the user.
func (c *Console) doAction(a campaign.Action) echo.HandlerFunc {
	return func(ec echo.Context) error {
		camp, err := c.loadCampaign(ec)
		if err != nil {
			return err
		}
		if _, ok, err := confirmed(ec, campaignPath(camp.ID, string(a))); !ok {
			return err
		}
		ctx, who := ec.Request().Context(), actor(ec)
		switch a {
		case campaign.ActionSend:
			_, _, _, err = c.Campaigns.Send(ctx, who, camp.ID, nil)
		case campaign.ActionSchedule:
			_, err = c.Campaigns.Schedule(ctx, who, camp.ID, nil)
		case campaign.ActionPause:
			_, err = c.Campaigns.Pause(ctx, who, camp.ID)
		case campaign.ActionResume:
			_, err = c.Campaigns.Resume(ctx, who, camp.ID)
		case campaign.ActionCancel:
			_, err = c.Campaigns.Cancel(ctx, who, camp.ID)
		}
		if err != nil {
			return err
		}
		return c.seeOther(ec, "“"+camp.Name+"” "+actionVerbs[a].Done+".", campaignPath(camp.ID, ""))
	}
}
