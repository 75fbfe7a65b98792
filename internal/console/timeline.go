package console

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// timelineRow is one line of a contact's timeline as the page shows it:
// a delivery with its decision in plain words ("why not sent, and until
// when"), or a change with who made it and what it changed.
type timelineRow struct {
	postgres.TimelineItem
	Delivery bool
	// ReasonText says the reason code in plain words; RuleText the rule.
	ReasonText, RuleText string
	// Waiting: a delivery still to go, at PlannedFor.
	Waiting bool
	// Deferred: it waits because of a rule (cap, min gap, send window).
	Deferred bool
	Event    string // an event's kind in plain words
	Changes  []change
	Notes    []string // the rest of an event's detail: "reason: unsubscribe"
}

// timelineReason says each decision reason, as it happened, as a sentence's start
// (the launch page's reasonText says them as a forecast).
var timelineReason = map[outreach.Reason]string{
	outreach.ReasonScheduled:           "Planned: no rule holds it back",
	outreach.ReasonDeferredCap:         "Deferred: a frequency cap was full",
	outreach.ReasonDeferredMinGap:      "Deferred: too soon after the last email",
	outreach.ReasonDeferredSendWindow:  "Deferred: outside the send window",
	outreach.ReasonExpired:             "Not sent: no slot before the message expired",
	outreach.ReasonPreempted:           "Not sent: a higher-priority campaign took its slot",
	outreach.ReasonUnsubscribed:        "Not sent: unsubscribed",
	outreach.ReasonTopicOptOut:         "Not sent: they opted out of the campaign’s topic",
	outreach.ReasonPaused:              "Not sent: they paused their email",
	outreach.ReasonSuppressedBounce:    "Not sent: the address bounced",
	outreach.ReasonSuppressedComplaint: "Not sent: they complained",
	outreach.ReasonInvalidAddress:      "Not sent: the address is not valid",
	outreach.ReasonFailedPermanent:     "Failed: the mail server refused it",
	outreach.ReasonCanceled:            "Not sent: the campaign was canceled",
	outreach.ReasonNoTier:              "Not sent: their tier does not exist, so no rule could be kept",
	outreach.ReasonUnknown:             "Unknown: it reached the mail server but was not confirmed; it is never sent again",
	outreach.ReasonSent:                "Sent",
}

// eventText names each kind of timeline event.
var eventText = map[string]string{
	"contact_create":                 "Contact created",
	"contact_update":                 "Contact changed",
	postgres.EventPreferencesChanged: "Preferences changed",
	postgres.EventPaused:             "Paused their email",
	postgres.EventResumed:            "Resumed their email",
	postgres.EventUnsubscribed:       "Unsubscribed",
	postgres.EventResubscribed:       "Resubscribed",
	"suppressed":                     "Address suppressed",
	"unsuppressed":                   "Suppression removed",
	"soft_bounce":                    "Soft bounce",
}

func timelineRowOf(it postgres.TimelineItem, now time.Time) timelineRow {
	r := timelineRow{TimelineItem: it, Delivery: it.Kind == "delivery"}
	if r.Delivery {
		reason := outreach.Reason(it.Reason)
		r.ReasonText = timelineReason[reason]
		if r.ReasonText == "" {
			r.ReasonText = it.Reason
		}
		r.RuleText = outreach.DescribeRuleName(it.Rule)
		state := outreach.DeliveryState(it.State)
		r.Waiting = state == outreach.DeliveryScheduled && it.PlannedFor != nil && it.PlannedFor.After(now)
		r.Deferred = r.Waiting && (reason == outreach.ReasonDeferredCap || reason == outreach.ReasonDeferredMinGap ||
			reason == outreach.ReasonDeferredSendWindow)
		return r
	}
	r.Event = eventText[it.Event]
	if r.Event == "" {
		r.Event = strings.ReplaceAll(it.Event, "_", " ")
	}
	var detail map[string]json.RawMessage
	if json.Unmarshal(it.Detail, &detail) == nil {
		r.Changes = changes(detail["before"], detail["after"])
		var keys []string
		for k := range detail {
			if k != "before" && k != "after" {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			r.Notes = append(r.Notes, strings.ReplaceAll(k, "_", " ")+": "+compact(detail[k]))
		}
	}
	return r
}

// A timeline page goes on before its last line: its time (µs), kind and
// id, as "1733000000000000.delivery.42".
func timelineCursorText(it postgres.TimelineItem) string {
	return strconv.FormatInt(it.At.UnixMicro(), 10) + "." + it.Kind + "." + strconv.FormatInt(it.ID, 10)
}

// timelineCursor reads a timeline cursor: nil for the first page; ok is
// false for one this console did not write.
func timelineCursor(s string) (*postgres.TimelineCursor, bool) {
	if s == "" {
		return nil, true
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 || (parts[1] != "delivery" && parts[1] != "event") {
		return nil, false
	}
	at, err1 := strconv.ParseInt(parts[0], 10, 64)
	id, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		return nil, false
	}
	return &postgres.TimelineCursor{At: time.UnixMicro(at).UTC(), Kind: parts[1], ID: id}, true
}
