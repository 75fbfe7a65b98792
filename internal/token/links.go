package token

import (
	"encoding/base64"
	"net/url"
	"strings"
)

// Links makes the links to the customer pages placed in every message:
// the preference center (/p/{token}) and one-click unsubscribe
// (/u/{token}), each signed for one contact and the campaign that carried
// it.
type Links struct {
	Signer *Signer
	Base   *url.URL // the public URL the pages are served under
}

// Preferences is the contact's preference-center link for a campaign.
func (l Links) Preferences(contactID, campaignID int64) string {
	return l.link("p", Claims{Purpose: Preferences, ContactID: contactID, CampaignID: campaignID})
}

// Unsubscribe is the contact's one-click unsubscribe link for a campaign.
func (l Links) Unsubscribe(contactID, campaignID int64) string {
	return l.link("u", Claims{Purpose: Unsubscribe, ContactID: contactID, CampaignID: campaignID})
}

// PreviewPreferences is the preference-center link a campaign preview
// shows: the contact's page, read-only, changing nothing.
func (l Links) PreviewPreferences(contactID, campaignID int64) string {
	return l.link("p", Claims{Purpose: PreviewPreferences, ContactID: contactID, CampaignID: campaignID})
}

// PreviewUnsubscribe is the unsubscribe link a campaign preview shows:
// the page, read-only; its POST (one-click or not) changes nothing.
func (l Links) PreviewUnsubscribe(contactID, campaignID int64) string {
	return l.link("u", Claims{Purpose: PreviewUnsubscribe, ContactID: contactID, CampaignID: campaignID})
}

// link is Base/page/token, the string built in one allocation (not three
// concatenations and an encoding): two or three links go into every
// message.
func (l Links) link(page string, c Claims) string {
	base := l.Base.String()
	raw := l.Signer.signRaw(c)
	var b strings.Builder
	b.Grow(len(base) + len(page) + 2 + base64.RawURLEncoding.EncodedLen(len(raw)))
	b.WriteString(base)
	b.WriteByte('/')
	b.WriteString(page)
	b.WriteByte('/')
	var enc [96]byte // AppendEncode grows it for a long topic
	b.Write(base64.RawURLEncoding.AppendEncode(enc[:0], raw))
	return b.String()
}
