package mailer

import (
	"strconv"
	"strings"
)

// MessageID is a delivery's Message-ID (without brackets):
// rapport.<delivery>.<campaign>.<installation>@<domain>. It is derived from
// the delivery, so a message sent twice would carry the same id (the crash
// tests count on that to prove nothing is), and it carries the
// installation's random id, so two installations (a staging copy, a reset
// database) never produce the same one: mailbox providers silently drop a
// message whose Message-ID they have seen. The claim writes the same id to
// the delivery (postgres.Tx.Claim).
func MessageID(deliveryID, campaignID int64, installation, domain string) string {
	return "rapport." + strconv.FormatInt(deliveryID, 10) + "." + strconv.FormatInt(campaignID, 10) + "." +
		installation + "@" + domain
}

// ParseMessageID returns the delivery a Message-ID of this installation
// names (with or without brackets), so a bounce or a reply that quotes it
// can be mapped back; ok is false for any other id.
func ParseMessageID(id, installation string) (deliveryID int64, ok bool) {
	id = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">")
	local, _, found := strings.Cut(id, "@")
	if !found {
		return 0, false
	}
	parts := strings.Split(local, ".")
	if len(parts) != 4 || parts[0] != "rapport" || !strings.EqualFold(parts[3], installation) || installation == "" {
		return 0, false
	}
	d, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || d <= 0 {
		return 0, false
	}
	if _, err := strconv.ParseInt(parts[2], 10, 64); err != nil {
		return 0, false
	}
	return d, true
}
