package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// routes is the whole HTTP surface in one place.
func (s *Server) routes() {
	e := s.e
	if p := s.Pages; p != nil {
		// The customer pages share the router, so they get its client-IP
		// rules and its request log (route patterns only: tokens are never
		// logged).
		mw := p.Middleware()
		e.GET("/p/:token", p.ShowPreferences, mw...)
		e.POST("/p/:token", p.ChangePreferences, mw...)
		e.GET("/u/:token", p.ShowUnsubscribe, mw...)
		e.POST("/u/:token", p.Unsubscribe, p.UnsubscribeMiddleware()...)
	}
	if s.Console != nil {
		// The web console for marketers and admins; its pages, each with
		// the role it needs, are listed in internal/console/routes.go.
		s.Console.Mount(e.Group("/console"))
		e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/console/") })
	}
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/api/v1/openapi.json", s.openapi)

	admin := s.require(outreach.RoleAdmin)
	if s.RiverUI != nil {
		ui := echo.WrapHandler(s.RiverUI)
		mw := s.riverUI(s.requireBrowser(outreach.RoleAdmin))
		e.Any("/riverui", ui, mw...)
		e.Any("/riverui/*", ui, mw...)
	}
	marketer := s.require(outreach.RoleMarketer)
	viewer := s.require(outreach.RoleViewer)

	v1 := e.Group("/api/v1")
	v1.GET("/tiers", s.listTiers, viewer)
	v1.POST("/tiers", s.createTier, admin)
	v1.GET("/tiers/:key", s.getTier, viewer)
	v1.PUT("/tiers/:key", s.putTier, admin)
	v1.GET("/tiers/:key/history", s.tierHistory, viewer)
	v1.POST("/tiers/:key/what-if", s.whatIf, admin)
	v1.GET("/topics", s.listTopics, viewer)
	v1.POST("/topics", s.createTopic, marketer)

	v1.POST("/contacts", s.upsertContact, marketer)
	v1.GET("/contacts", s.listContacts, viewer)
	v1.POST("/contacts/import", s.importContacts, marketer)
	v1.GET("/contacts/:id", s.getContact, viewer)
	v1.PATCH("/contacts/:id", s.patchContact, marketer)
	v1.DELETE("/contacts/:id", s.eraseContact, marketer)
	v1.GET("/contacts/:id/timeline", s.contactTimeline, viewer)
	v1.POST("/contacts/:id/signals", s.addSignal, marketer)

	v1.POST("/campaigns", s.createCampaign, marketer)
	v1.GET("/campaigns", s.listCampaigns, viewer)
	v1.GET("/campaigns/:id", s.getCampaign, viewer)
	v1.PATCH("/campaigns/:id", s.patchCampaign, marketer)
	v1.GET("/campaigns/:id/stats", s.campaignStats, viewer)
	v1.POST("/campaigns/:id/preview", s.previewCampaign, marketer)
	v1.POST("/campaigns/:id/send", s.sendCampaign, marketer)
	v1.POST("/campaigns/:id/schedule", s.scheduleCampaign, marketer)
	v1.POST("/campaigns/:id/pause", s.pauseCampaign, marketer)
	v1.POST("/campaigns/:id/resume", s.resumeCampaign, marketer)
	v1.POST("/campaigns/:id/cancel", s.cancelCampaign, marketer)
	v1.GET("/campaigns/:id/forecast", s.forecastCampaign, viewer)

	v1.GET("/deliveries", s.listDeliveries, viewer)

	v1.GET("/insights/fatigue", s.fatigue, viewer)
	v1.GET("/insights/pressure", s.pressure, viewer)
	v1.GET("/insights/drift", s.listDrift, viewer)
	v1.POST("/insights/drift/:contact_id/accept", s.decideDrift(true), admin)
	v1.POST("/insights/drift/:contact_id/dismiss", s.decideDrift(false), admin)
	v1.GET("/insights/drift/thresholds", s.listThresholds, admin)
	v1.PUT("/insights/drift/thresholds/:tier", s.putThresholds, admin)

	v1.POST("/keys", s.createKey, admin)
	v1.GET("/keys", s.listKeys, admin)
	v1.DELETE("/keys/:id", s.revokeKey, admin)
	v1.GET("/audit", s.listAudit, admin)

	v1.GET("/suppressions", s.listSuppressions, viewer)
	v1.POST("/suppressions", s.addSuppression, marketer)
	v1.DELETE("/suppressions/:email", s.deleteSuppression, admin)

	v1.POST("/events", s.postEvent, s.requireEventsSecret)
	// Providers' webhooks: each authenticates its provider's signature.
	v1.POST("/inbound/ses", s.inboundSES)
	v1.POST("/inbound/sendgrid", s.inboundSendGrid)
	v1.POST("/inbound/postmark", s.inboundPostmark)
	v1.POST("/inbound/mailgun", s.inboundMailgun)

	v1.POST("/webhooks", s.createWebhook, admin)
	v1.GET("/webhooks", s.listWebhooks, admin)
	v1.GET("/webhooks/:id", s.getWebhook, admin)
	v1.PATCH("/webhooks/:id", s.patchWebhook, admin)
	v1.DELETE("/webhooks/:id", s.deleteWebhook, admin)
	v1.GET("/webhooks/:id/deliveries", s.webhookDeliveries, admin)

	v1.GET("/throttles", s.getThrottles, admin)
	v1.PUT("/throttles", s.putThrottles, admin)
}
