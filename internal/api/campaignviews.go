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

func toTierStats(t *campaign.TierStats) *tierStats {
	return &tierStats{Total: t.Total, Scheduled: t.Scheduled, Deferred: t.Deferred, Sending: t.Sending, Sent: t.Sent,
		Unknown: t.Unknown, Skipped: reasonsJSON(t.Skipped), Failed: reasonsJSON(t.Failed)}
}

func (s *Server) campaignStats(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	st, err := s.Campaigns.Progress(c.Request().Context(), id)
	if err != nil {
		return err
	}
	out := struct {
		CampaignID int64                 `json:"campaign_id"`
		Total      *tierStats            `json:"total"`
		Tiers      map[string]*tierStats `json:"tiers"`
	}{CampaignID: id, Total: toTierStats(st.Total), Tiers: map[string]*tierStats{}}
	for k, t := range st.Tiers {
		out.Tiers[k] = toTierStats(t)
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
	// Headers are the message's headers, in order.
	Headers []headerJSON `json:"headers"`
}

type headerJSON struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func (s *Server) previewCampaign(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in struct {
		ContactID int64  `json:"contact_id"`
		Tier      string `json:"tier"`
	}
	if err := decodeOptional(c, &in); err != nil {
		return err
	}
	p, err := s.Campaigns.Preview(c.Request().Context(), actor(c), id, campaign.PreviewRequest{ContactID: in.ContactID, Tier: in.Tier})
	if err != nil {
		return err
	}
	out := previewJSON{ContactID: p.ContactID, Email: p.Email, Tier: p.Tier, Subject: p.Subject, Text: p.Text, HTML: p.HTML,
		PreferencesURL: p.PreferencesURL, UnsubscribeURL: p.UnsubscribeURL, Sample: p.Sample, Headers: []headerJSON{}}
	for _, h := range p.Headers {
		out.Headers = append(out.Headers, headerJSON{Name: h.Name, Value: h.Value})
	}
	return c.JSON(http.StatusOK, out)
}

type tierForecastJSON struct {
	Now      int            `json:"now"`
	Deferred int            `json:"deferred"`
	Expired  int            `json:"expired"`
	Skipped  map[string]int `json:"skipped"`
	// DeferredUntil is this tier's histogram; Rules the rule behind each
	// reason.
	DeferredUntil []bucketJSON `json:"deferred_until"`
	Rules         []ruleJSON   `json:"rules"`
}

type bucketJSON struct {
	Within string `json:"within"`
	Count  int    `json:"count"`
}

type ruleJSON struct {
	Reason string `json:"reason"`
	Rule   string `json:"rule"`
	Count  int    `json:"count"`
}

type displacedTierJSON struct {
	Count     int `json:"count"`
	Replanned int `json:"replanned"`
	Preempted int `json:"preempted"`
}

type displacementJSON struct {
	CampaignID int64                        `json:"campaign_id"`
	Name       string                       `json:"name"`
	Priority   int                          `json:"priority"`
	Count      int                          `json:"count"`
	Replanned  int                          `json:"replanned"`
	Preempted  int                          `json:"preempted"`
	Reasons    map[string]int               `json:"reasons"`
	Tiers      map[string]displacedTierJSON `json:"tiers"`
}

type forecastJSON struct {
	CampaignID int64                       `json:"campaign_id"`
	FireAt     time.Time                   `json:"fire_at"`
	Contacts   int                         `json:"contacts"`
	Tiers      map[string]tierForecastJSON `json:"tiers"`
	Reasons    map[string]int              `json:"reasons"`
	Deferred   []bucketJSON                `json:"deferred_until"`
	Displaces  []displacementJSON          `json:"displaces"`
}

func bucketsJSON(bs []campaign.Bucket) []bucketJSON {
	out := make([]bucketJSON, 0, len(bs))
	for _, b := range bs {
		out = append(out, bucketJSON{Within: b.Label, Count: b.Count})
	}
	return out
}

func reasonsJSON[N int | int64](m map[outreach.Reason]N) map[string]N {
	out := make(map[string]N, len(m))
	for r, n := range m {
		out[string(r)] = n
	}
	return out
}

func toForecastJSON(f campaign.Forecast) forecastJSON {
	out := forecastJSON{CampaignID: f.CampaignID, FireAt: f.FireAt, Contacts: f.Contacts,
		Tiers: map[string]tierForecastJSON{}, Reasons: reasonsJSON(f.Reasons), Deferred: bucketsJSON(f.Deferred),
		Displaces: []displacementJSON{}}
	for k, t := range f.Tiers {
		tf := tierForecastJSON{Now: t.Now, Deferred: t.Deferred, Expired: t.Expired, Skipped: reasonsJSON(t.Skipped),
			DeferredUntil: bucketsJSON(t.Deferrals), Rules: []ruleJSON{}}
		for _, r := range t.Rules {
			tf.Rules = append(tf.Rules, ruleJSON{Reason: string(r.Reason), Rule: r.Rule, Count: r.Count})
		}
		out.Tiers[k] = tf
	}
	for _, d := range f.Displaces {
		dj := displacementJSON{CampaignID: d.CampaignID, Name: d.Name, Priority: d.Priority, Count: d.Count,
			Replanned: d.Replanned, Preempted: d.Preempted, Reasons: reasonsJSON(d.Reasons), Tiers: map[string]displacedTierJSON{}}
		for k, t := range d.Tiers {
			dj.Tiers[k] = displacedTierJSON{Count: t.Count, Replanned: t.Replanned, Preempted: t.Preempted}
		}
		out.Displaces = append(out.Displaces, dj)
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
