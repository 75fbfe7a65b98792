package console

import (
	"net/http"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/outreach"
)

// The least role each page needs; admin includes marketer includes viewer,
// exactly as for API keys.
const (
	viewer   = outreach.RoleViewer
	marketer = outreach.RoleMarketer
	admin    = outreach.RoleAdmin
)

// mount is the console's whole surface, below /console. r.page is a GET
// for signed-in users with at least the role, r.action a POST; .menu puts
// a page in the navigation, shown only to users with its role (admin
// pages under "Admin"), in the order of this list. A page not registered
// here is never linked.
func (c *Console) mount(r router) {
	r.public(http.MethodGet, "", redirectTo("/console/"))
	r.public(http.MethodGet, "/sign-in", c.signInForm)
	r.public(http.MethodPost, "/sign-in", c.signIn)
	r.public(http.MethodPost, "/sign-out", c.signOut)
	// Reachable while a one-time password still has to be replaced.
	r.account(http.MethodGet, "/password", c.passwordForm)
	r.account(http.MethodPost, "/password", c.changePassword)

	r.page("/", viewer, c.dashboard).menu("Dashboard")

	r.page("/campaigns", viewer, c.campaigns).menu("Campaigns")
	r.page("/campaigns/calendar", viewer, c.calendar)
	r.page("/campaigns/new", marketer, c.newCampaignForm)
	r.page("/campaigns/firings", marketer, c.firings)
	r.action("/campaigns", marketer, c.createCampaign)
	r.page("/campaigns/:id", viewer, c.campaignPage)
	r.page("/campaigns/:id/progress", viewer, c.progressPartial)
	r.page("/campaigns/:id/edit", marketer, c.editCampaignForm)
	r.action("/campaigns/:id/edit", marketer, c.updateCampaign)
	r.page("/campaigns/:id/preview", marketer, c.preview)
	r.page("/campaigns/:id/preview/html", marketer, c.previewHTML)
	r.page("/campaigns/:id/launch", viewer, c.launch)
	for _, a := range campaign.Actions { // send, schedule, pause, resume, cancel: confirm, then do
		r.page("/campaigns/:id/"+string(a), marketer, c.confirmAction(a))
		r.action("/campaigns/:id/"+string(a), marketer, c.doAction(a))
	}
	r.page("/deliveries", viewer, c.deliveries)
	r.page("/contacts", viewer, c.contacts).menu("Contacts")
	r.page("/contacts/import", marketer, c.importForm)
	r.action("/contacts/import", marketer, c.importContacts)
	r.page("/contacts/import/progress", marketer, c.importProgressPage)
	r.page("/contacts/:id", viewer, c.contact)
	r.action("/contacts/:id/tier", marketer, c.setContactTier)
	r.page("/contacts/:id/erase", marketer, c.confirmEraseContact)
	r.action("/contacts/:id/erase", marketer, c.eraseContact)

	r.page("/suppressions", viewer, c.suppressions).menu("Suppressions")
	r.action("/suppressions", marketer, c.addSuppression)
	r.page("/suppressions/remove", admin, c.confirmUnsuppress)
	r.action("/suppressions/remove", admin, c.unsuppress)

	r.page("/tiers", viewer, c.tiers).menu("Tiers")
	r.page("/tiers/new", admin, c.newTierForm)
	r.action("/tiers", admin, c.createTier)
	r.page("/tiers/:key", viewer, c.tier)
	r.action("/tiers/:key", admin, c.updateTier)
	r.action("/tiers/:key/what-if", admin, c.previewTier)
	r.action("/tiers/:key/thresholds", admin, c.putThresholds)
	r.page("/tiers/:key/drift/:id/accept", admin, c.confirmDrift(true))
	r.action("/tiers/:key/drift/:id/accept", admin, c.decideDrift(true))
	r.page("/tiers/:key/drift/:id/dismiss", admin, c.confirmDrift(false))
	r.action("/tiers/:key/drift/:id/dismiss", admin, c.decideDrift(false))

	r.page("/throttles", admin, c.throttles).menu("Throttles")
	r.action("/throttles", admin, c.putThrottles)

	r.page("/keys", admin, c.keys).menu("API keys")
	r.page("/keys/new", admin, c.newKeyForm)
	r.action("/keys", admin, c.createKey)
	r.page("/keys/:id/revoke", admin, c.confirmRevokeKey)
	r.action("/keys/:id/revoke", admin, c.revokeKey)

	r.page("/users", admin, c.users).menu("Users")
	r.page("/users/new", admin, c.newUserForm)
	r.action("/users", admin, c.createUser)
	r.page("/users/:id", admin, c.user)
	r.action("/users/:id/role", admin, c.setUserRole)
	r.page("/users/:id/disable", admin, c.confirmDisableUser)
	r.action("/users/:id/disable", admin, c.disableUser)
	r.action("/users/:id/enable", admin, c.enableUser)
	r.page("/users/:id/reset-password", admin, c.confirmResetPassword)
	r.action("/users/:id/reset-password", admin, c.resetPassword)

	r.page("/audit", admin, c.audit).menu("Audit log")
}
