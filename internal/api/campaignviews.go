package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/outreach"
)

// Read-only views of a campaign: its delivery counts, a preview of its
// message and a forecast of its run.

type tierStats struct {
	Total     int64            `json:"total"`
	Scheduled int64            `json:"scheduled"`
	Deferred  int64            `json:"deferred"`
	Sending   int64            `json:"sending"`
	Sent      int64            `json:"sent"`
	Skipped   map[string]int64 `json:"skipped"`
	Failed    map[string]int64 `json:"failed"`
	Unknown   int64            `json:"unknown"`
}

func newTierStats() *tierStats {
	return &tierStats{Skipped: map[string]int64{}, Failed: map[string]int64{}}
}

func (s *Server) campaignStats(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	rows, err := s.Campaigns.Stats(c.Request().Context(), id)
	if err != nil {
		return err
	}
	out := struct {
		CampaignID int64                 `json:"campaign_id"`
		Total      *tierStats            `json:"total"`
		Tiers      map[string]*tierStats `json:"tiers"`
	}{CampaignID: id, Total: newTierStats(), Tiers: map[string]*tierStats{}}
	for _, r := range rows {
		ts := out.Tiers[r.Tier]
		if ts == nil {
			ts = newTierStats()
			out.Tiers[r.Tier] = ts
		}
		for _, t := range []*tierStats{ts, out.Total} {
			t.Total += r.N
			switch outreach.DeliveryState(r.State) {
			case outreach.DeliveryScheduled:
				if outreach.Reason(r.Reason) == outreach.ReasonScheduled {
					t.Scheduled += r.N
				} else {
					t.Deferred += r.N
				}
			case outreach.DeliverySending:
				t.Sending += r.N
			case outreach.DeliverySent:
				t.Sent += r.N
			case outreach.DeliverySkipped:
				t.Skipped[r.Reason] += r.N
			case outreach.DeliveryFailed:
				t.Failed[r.Reason] += r.N
			case outreach.DeliveryUnknown:
				t.Unknown += r.N
			}
		}
	}
	return c.JSON(http.StatusOK, out)
}

type previewJSON struct {
	ContactID      int64  `json:"contact_id"`
	Email          string `json:"email"`
	Tier           string `json:"tier"`
	Subject        string `json:"subject"`
	Text           string `json:"text"`
	HTML           string `json:"html"`
	PreferencesURL string `json:"preferences_url"`
	UnsubscribeURL string `json:"unsubscribe_url"`
	Sample         bool   `json:"sample"`
}

func (s *Server) previewCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in struct {
		ContactID int64 `json:"contact_id"`
	}
	if err := decodeOptional(c, &in); err != nil {
		return err
	}
	p, err := s.Campaigns.Preview(c.Request().Context(), actor(c), id, in.ContactID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, previewJSON{ContactID: p.ContactID, Email: p.Email, Tier: p.Tier, Subject: p.Subject,
		Text: p.Text, HTML: p.HTML, PreferencesURL: p.PreferencesURL, UnsubscribeURL: p.UnsubscribeURL, Sample: p.Sample})
}

type tierForecastJSON struct {
	Now      int            `json:"now"`
	Deferred int            `json:"deferred"`
	Expired  int            `json:"expired"`
	Skipped  map[string]int `json:"skipped"`
}

type bucketJSON struct {
	Within string `json:"within"`
	Count  int    `json:"count"`
}

type forecastJSON struct {
	CampaignID int64                       `json:"campaign_id"`
	FireAt     time.Time                   `json:"fire_at"`
	Contacts   int                         `json:"contacts"`
	Tiers      map[string]tierForecastJSON `json:"tiers"`
	Reasons    map[string]int              `json:"reasons"`
	Deferred   []bucketJSON                `json:"deferred_until"`
}

func toForecastJSON(f campaign.Forecast) forecastJSON {
	out := forecastJSON{CampaignID: f.CampaignID, FireAt: f.FireAt, Contacts: f.Contacts,
		Tiers: map[string]tierForecastJSON{}, Reasons: map[string]int{}, Deferred: []bucketJSON{}}
	for k, t := range f.Tiers {
		tf := tierForecastJSON{Now: t.Now, Deferred: t.Deferred, Expired: t.Expired, Skipped: map[string]int{}}
		for r, n := range t.Skipped {
			tf.Skipped[string(r)] = n
		}
		out.Tiers[k] = tf
	}
	for r, n := range f.Reasons {
		out.Reasons[string(r)] = n
	}
	for _, b := range f.Deferred {
		out.Deferred = append(out.Deferred, bucketJSON{Within: b.Label, Count: b.Count})
	}
	return out
}

func (s *Server) forecastCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	f, err := s.Campaigns.Forecast(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toForecastJSON(f))
}
