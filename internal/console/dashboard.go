package console

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// dashboardData is the dashboard's content: a few numbers that cost one
// small query each, until the dashboard proper (sends per tier, deferrals,
// overdue, fatigue) is built.
type dashboardData struct {
	Campaigns []statusCount
	Total     int64
	Tiers     []outreach.Tier
}

type statusCount struct {
	Status outreach.CampaignStatus
	N      int64
}

// campaignStatuses in lifecycle order.
var campaignStatuses = []outreach.CampaignStatus{outreach.CampaignDraft, outreach.CampaignScheduled, outreach.CampaignRunning,
	outreach.CampaignPaused, outreach.CampaignCompleted, outreach.CampaignCanceled}

// dashboard is GET /console/: where signing in lands.
func (c *Console) dashboard(ec echo.Context) error {
	ctx := ec.Request().Context()
	counts, err := c.Store.CampaignCounts(ctx)
	if err != nil {
		return err
	}
	tiers, err := c.Store.Tiers(ctx)
	if err != nil {
		return err
	}
	d := dashboardData{Tiers: tiers}
	for _, s := range campaignStatuses {
		d.Campaigns = append(d.Campaigns, statusCount{Status: s, N: counts[s]})
		d.Total += counts[s]
	}
	return c.render(ec, http.StatusOK, "dashboard", &View{Title: "Dashboard", Data: d})
}
