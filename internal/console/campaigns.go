package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/outreach"
)

// The campaign pages: the list and calendar (here), the form
// (campaign_form.go), the preview (campaign_preview.go), the launch page
// with the forecast and the lifecycle confirmations (campaign_launch.go),
// and the run view with the deliveries (campaign_run.go). They all go
// through campaign.Service, as the API does.

// keyZone is the session key of the time zone the viewer chose last.
const keyZone = "tz"

// zoneChoice is the time zone campaign pages show times in: the tz query
// parameter (remembered in the session), else the one chosen before, else
// UTC. Err is set when tz named no zone.
type zoneChoice struct {
	Loc  *time.Location
	Name string
	Err  string
}

// zone reads the viewer's time zone.
func (c *Console) zone(ec echo.Context) zoneChoice {
	ctx := ec.Request().Context()
	z := zoneChoice{Loc: time.UTC, Name: "UTC"}
	if name := strings.TrimSpace(ec.QueryParam("tz")); name != "" {
		if loc, ok := outreach.LoadZone(name); ok {
			c.sessions.Put(ctx, keyZone, name)
			return zoneChoice{Loc: loc, Name: name}
		}
		z.Err = "unknown time zone: use an IANA name such as Europe/Berlin or America/New_York"
	}
	if name := c.sessions.GetString(ctx, keyZone); name != "" {
		if loc, ok := outreach.LoadZone(name); ok {
			z.Loc, z.Name = loc, name
		}
	}
	return z
}

// At shows a moment in the zone, with the zone's abbreviation.
func (z zoneChoice) At(t any) string {
	var v time.Time
	switch x := t.(type) {
	case time.Time:
		v = x
	case *time.Time:
		if x != nil {
			v = *x
		}
	}
	if v.IsZero() {
		return "—"
	}
	return v.In(z.Loc).Format("Mon 2 Jan 2006 15:04 MST")
}

// zoneOptions are offered to pick from (any IANA name may be typed).
var zoneOptions = []string{"UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "America/New_York", "America/Chicago",
	"America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata", "Asia/Tokyo", "Asia/Singapore", "Australia/Sydney"}

// statusLabel says what a campaign status means, for its badge's title
// and for people who do not know the lifecycle.
var statusLabel = map[outreach.CampaignStatus]string{
	outreach.CampaignDraft:     "Draft — can be changed, nothing planned",
	outreach.CampaignScheduled: "Scheduled — will send at its time",
	outreach.CampaignRunning:   "Running — sending now",
	outreach.CampaignPaused:    "Paused — nothing is sent until resumed",
	outreach.CampaignCompleted: "Completed — every message has its outcome",
	outreach.CampaignCanceled:  "Canceled — what was not sent never will be",
}

// campaignRow is a campaign as the lists show it.
type campaignRow struct {
	outreach.Campaign
	StatusText string
	When       string // when it sends, in words
}

func (c *Console) campaignRow(z zoneChoice, camp outreach.Campaign) campaignRow {
	return campaignRow{Campaign: camp, StatusText: statusLabel[camp.Status], When: whenSent(z, camp)}
}

// whenSent says when a campaign sends: its cron and zone (and next
// firing), its send_at, or on launch.
func whenSent(z zoneChoice, camp outreach.Campaign) string {
	switch {
	case camp.Cron != "":
		zone := camp.Timezone
		if zone == "" {
			zone = "UTC"
		}
		s := "Recurring: " + camp.Cron + " (" + zone + ")"
		if camp.NextFireAt != nil && camp.Status == outreach.CampaignScheduled {
			s += ", next " + z.At(camp.NextFireAt)
		}
		return s
	case camp.SendAt != nil:
		return "At " + z.At(camp.SendAt)
	}
	return "When launched"
}

// campaignsData is the campaign list's content.
type campaignsData struct {
	Zone          zoneChoice
	Status        string
	Statuses      []Option
	Campaigns     []campaignRow
	Pager         Pager
	Drafts        []campaignRow
	DraftsPager   Pager
	DraftsShowing bool
}

// sentStatuses are every status but draft, for the list of campaigns that
// left the drafting table.
var sentStatuses = []outreach.CampaignStatus{outreach.CampaignScheduled, outreach.CampaignRunning, outreach.CampaignPaused,
	outreach.CampaignCompleted, outreach.CampaignCanceled}

// campaigns is GET /console/campaigns: the campaigns, newest first, with
// the drafts apart; each list pages on its own (before, drafts_before).
func (c *Console) campaigns(ec echo.Context) error {
	ctx := ec.Request().Context()
	d := campaignsData{Zone: c.zone(ec), Status: ec.QueryParam("status")}
	d.Statuses = []Option{{Value: "", Label: "All but drafts"}}
	statuses := sentStatuses
	for _, s := range sentStatuses {
		d.Statuses = append(d.Statuses, Option{Value: string(s), Label: strings.ToUpper(string(s[:1])) + string(s[1:]), Selected: d.Status == string(s)})
		if d.Status == string(s) {
			statuses = []outreach.CampaignStatus{s}
		}
	}
	rows, err := c.Campaigns.Browse(ctx, statuses, cursor(ec, "before"), pageSize+1)
	if err != nil {
		return err
	}
	rows, d.Pager = paginate(ec, rows, pageSize, "before", "Older →", func(x outreach.Campaign) int64 { return x.ID })
	for _, r := range rows {
		d.Campaigns = append(d.Campaigns, c.campaignRow(d.Zone, r))
	}
	drafts, err := c.Campaigns.Browse(ctx, []outreach.CampaignStatus{outreach.CampaignDraft}, cursor(ec, "drafts_before"), pageSize+1)
	if err != nil {
		return err
	}
	drafts, d.DraftsPager = paginate(ec, drafts, pageSize, "drafts_before", "Older drafts →", func(x outreach.Campaign) int64 { return x.ID })
	for _, r := range drafts {
		d.Drafts = append(d.Drafts, c.campaignRow(d.Zone, r))
	}
	return c.render(ec, http.StatusOK, "campaigns", &View{Title: "Campaigns", Form: newForm(url.Values{"status": {d.Status}}), Data: d})
}

// loadCampaign reads the :id campaign.
func (c *Console) loadCampaign(ec echo.Context) (outreach.Campaign, error) {
	id, err := strconv.ParseInt(ec.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return outreach.Campaign{}, notFound("There is no campaign at this address.")
	}
	return c.Campaigns.Get(ec.Request().Context(), id)
}

// campaignPath is a campaign's page, or one below it.
func campaignPath(id int64, sub string) string {
	p := "/console/campaigns/" + strconv.FormatInt(id, 10)
	if sub != "" {
		p += "/" + sub
	}
	return p
}

// calendarItem is one campaign's sends on one day.
type calendarItem struct {
	ID        int64
	Name      string
	Status    outreach.CampaignStatus
	Recurring bool
	Times     []string // local times, the first few
	More      int      // further sends that day
}

// calendarDay is one day of the calendar.
type calendarDay struct {
	Date     time.Time
	Label    string // "Mon 2 Mar"
	Number   int
	InMonth  bool
	Today    bool
	Items    []calendarItem
	ItemsLen int
}

// calendarData is the calendar's content.
type calendarData struct {
	Zone       zoneChoice
	Zones      []string
	View       string // week or month
	Title      string
	Weeks      [][]calendarDay // the month's rows; one row for a week
	Prev, Next string
	Other      string // the same date in the other view
	Today      string
	Truncated  bool
	Empty      bool
}

// perCampaignFirings bounds a calendar's firings of one recurring
// campaign (a month of every 15 minutes is under 3,000).
const perCampaignFirings = 3000

// calendar is GET /console/campaigns/calendar?view=week|month&date=&tz=:
// upcoming one-off sends and the firings of recurring campaigns, as
// campaign.Service computes them, on a week or a month, in the viewer's
// time zone.
func (c *Console) calendar(ec echo.Context) error {
	z := c.zone(ec)
	now := c.Clock.Now().In(z.Loc)
	d := calendarData{Zone: z, Zones: zoneOptions, View: "month"}
	if ec.QueryParam("view") == "week" {
		d.View = "week"
	}
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, z.Loc)
	if s := ec.QueryParam("date"); s != "" {
		if t, err := time.ParseInLocation(time.DateOnly, s, z.Loc); err == nil {
			day = t
		}
	}
	var start, end, prev, next time.Time
	if d.View == "week" {
		start = monday(day)
		end = start.AddDate(0, 0, 7)
		d.Title = "Week of " + start.Format("2 January 2006")
		prev, next = start.AddDate(0, 0, -7), start.AddDate(0, 0, 7)
	} else {
		first := time.Date(day.Year(), day.Month(), 1, 0, 0, 0, 0, z.Loc)
		start = monday(first)
		end = monday(first.AddDate(0, 1, 0).Add(-time.Hour)).AddDate(0, 0, 7)
		d.Title = first.Format("January 2006")
		prev, next = first.AddDate(0, -1, 0), first.AddDate(0, 1, 0)
		day = first
	}
	link := func(view string, t time.Time) string {
		return "/console/campaigns/calendar?view=" + view + "&date=" + t.Format(time.DateOnly) + "&tz=" + url.QueryEscape(z.Name)
	}
	other := "week"
	if d.View == "week" {
		other = "month"
	}
	d.Prev, d.Next, d.Other = link(d.View, prev), link(d.View, next), link(other, day)
	d.Today = link(d.View, now)

	occ, truncated, err := c.Campaigns.Upcoming(ec.Request().Context(), start, end, perCampaignFirings)
	if err != nil {
		return err
	}
	d.Truncated, d.Empty = truncated, len(occ) == 0
	byDay := map[string][]campaign.Occurrence{}
	for _, o := range occ {
		k := o.At.In(z.Loc).Format(time.DateOnly)
		byDay[k] = append(byDay[k], o)
	}
	var week []calendarDay
	for t := start; t.Before(end); t = t.AddDate(0, 0, 1) {
		cd := calendarDay{Date: t, Label: t.Format("Mon 2 Jan"), Number: t.Day(), InMonth: d.View == "week" || t.Month() == day.Month(),
			Today: t.Format(time.DateOnly) == now.Format(time.DateOnly)}
		cd.Items = dayItems(z, byDay[t.Format(time.DateOnly)])
		cd.ItemsLen = len(cd.Items)
		week = append(week, cd)
		if len(week) == 7 {
			d.Weeks = append(d.Weeks, week)
			week = nil
		}
	}
	return c.render(ec, http.StatusOK, "campaign-calendar", &View{Title: "Campaign calendar", Data: d})
}

// dayItems groups a day's sends by campaign: a campaign firing every hour
// is one line with its first times and how many more.
func dayItems(z zoneChoice, occ []campaign.Occurrence) []calendarItem {
	var out []calendarItem
	at := map[int64]int{}
	for _, o := range occ {
		i, ok := at[o.Campaign.ID]
		if !ok {
			i = len(out)
			at[o.Campaign.ID] = i
			out = append(out, calendarItem{ID: o.Campaign.ID, Name: o.Campaign.Name, Status: o.Campaign.Status, Recurring: o.Recurring})
		}
		if len(out[i].Times) < 3 {
			out[i].Times = append(out[i].Times, o.At.In(z.Loc).Format("15:04"))
		} else {
			out[i].More++
		}
	}
	return out
}

// monday is the start of t's week (weeks start on Monday, ISO 8601).
func monday(t time.Time) time.Time {
	t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	return t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7))
}
