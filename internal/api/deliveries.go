package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

type deliveryJSON struct {
	ID         int64      `json:"id"`
	RunID      int64      `json:"run_id"`
	CampaignID int64      `json:"campaign_id"`
	ContactID  int64      `json:"contact_id"`
	Tier       string     `json:"tier"`
	State      string     `json:"state"`
	Reason     string     `json:"reason"`
	Rule       string     `json:"rule"`
	PlannedFor time.Time  `json:"planned_for"`
	Attempts   int        `json:"attempts"`
	MessageID  *string    `json:"message_id"`
	SentAt     *time.Time `json:"sent_at"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

func toDeliveryJSON(d outreach.Delivery) deliveryJSON {
	return deliveryJSON{ID: d.ID, RunID: d.RunID, CampaignID: d.CampaignID, ContactID: d.ContactID, Tier: d.Tier,
		State: string(d.State), Reason: string(d.Reason), Rule: d.Rule, PlannedFor: d.PlannedFor, Attempts: d.Attempts,
		MessageID: strPtr(d.MessageID), SentAt: d.SentAt, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

func (s *Server) listDeliveries(c echo.Context) error {
	after, limit, err := paging(c)
	if err != nil {
		return err
	}
	f := postgres.DeliveryFilter{AfterID: after, Limit: limit + 1, State: c.QueryParam("state"), Reason: c.QueryParam("reason")}
	for _, p := range []struct {
		name string
		dst  **int64
	}{{"campaign_id", &f.CampaignID}, {"contact_id", &f.ContactID}} {
		if v := c.QueryParam(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return newBadRequest(p.name, "must be a positive id")
			}
			*p.dst = &n
		}
	}
	if f.State != "" && !validState(f.State) {
		return newBadRequest("state", "must be scheduled, sending, sent, skipped, failed or unknown")
	}
	rows, err := s.Store.Deliveries(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(rows, limit, func(d outreach.Delivery) int64 { return d.ID }, toDeliveryJSON))
}

func validState(s string) bool {
	switch outreach.DeliveryState(s) {
	case outreach.DeliveryScheduled, outreach.DeliverySending, outreach.DeliverySent, outreach.DeliverySkipped,
		outreach.DeliveryFailed, outreach.DeliveryUnknown:
		return true
	}
	return false
}
