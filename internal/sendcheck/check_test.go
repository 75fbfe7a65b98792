package sendcheck_test

import (
	"testing"
	"time"

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/sendcheck"
)

// checkNow is a Tuesday afternoon in UTC (14:00), after New York's and
// before Berlin's 2026 spring change: 10:00 in New York, 15:00 in Berlin,
// 19:30 in Kolkata and 23:00 in Tokyo.
var checkNow = time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)

// checkRule: at most 3 a week, a day apart, weekdays 09:00-20:00.
var checkRule = outreach.Rule{
	Caps:       []outreach.Cap{capOf(3, 7*day)},
	MinGap:     day,
	SendWindow: outreach.SendWindow{Days: weekdays, Start: 9 * 60, End: 20 * 60},
}

const (
	ruleCap    = "cap 3/7d"
	ruleGap    = "min_gap 1d"
	ruleWindow = "send_window mon,tue,wed,thu,fri 09:00-20:00 "
)

func sentAt(ts ...time.Time) []cadence.Event {
	out := make([]cadence.Event, len(ts))
	for i, t := range ts {
		out[i] = cadence.Event{ID: int64(i + 1), At: t}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func TestCheck(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	tokyo := mustZone(t, "Asia/Tokyo")
	berlin := mustZone(t, "Europe/Berlin")
	kolkata := mustZone(t, "Asia/Kolkata")

	// base is a marketing delivery of a running campaign to an active
	// New York contact with nothing sent lately: it goes.
	base := func() sendcheck.Input {
		return sendcheck.Input{
			Contact:  outreach.Contact{ID: 1, Email: "ada@example.com", Timezone: "America/New_York", Tier: "regular", Status: outreach.StatusActive},
			Campaign: outreach.Campaign{ID: 7, Name: "spring", Topic: "news", Category: outreach.Marketing, Status: outreach.CampaignRunning},
			Delivery: outreach.Delivery{ID: 70, Marketing: true},
			Tier:     outreach.Tier{Key: "regular", Rule: checkRule},
			Zone:     ny,
			Now:      checkNow,
		}
	}
	// Modifiers, combined per case.
	paused := func(in *sendcheck.Input) { in.Campaign.Status = outreach.CampaignPaused }
	canceled := func(in *sendcheck.Input) { in.Campaign.Status = outreach.CampaignCanceled }
	transactional := func(in *sendcheck.Input) {
		in.Campaign.Category, in.Campaign.Topic, in.Delivery.Marketing = outreach.Transactional, "", false
	}
	status := func(s outreach.ContactStatus) func(*sendcheck.Input) {
		return func(in *sendcheck.Input) { in.Contact.Status = s }
	}
	suppressed := func(r outreach.SuppressionReason) func(*sendcheck.Input) {
		return func(in *sendcheck.Input) { in.Suppression = r }
	}
	optedOut := func(topics ...string) func(*sendcheck.Input) {
		return func(in *sendcheck.Input) { in.Contact.TopicsOptedOut = topics }
	}
	pausedUntil := func(at time.Time) func(*sendcheck.Input) {
		return func(in *sendcheck.Input) { in.Contact.PausedUntil = &at }
	}
	expiresAt := func(at time.Time) func(*sendcheck.Input) {
		return func(in *sendcheck.Input) { in.Delivery.ExpiresAt = &at }
	}
	expired := expiresAt(checkNow.Add(-time.Nanosecond))
	// capFull: three sent in the last week, each a day or more apart from
	// now, so only the cap is broken.
	capFull := func(in *sendcheck.Input) {
		in.Sent = sentAt(checkNow.Add(-6*day), checkNow.Add(-4*day), checkNow.Add(-2*day))
	}
	gapShort := func(in *sendcheck.Input) { in.Sent = sentAt(checkNow.Add(-12 * time.Hour)) }
	zone := func(loc *time.Location) func(*sendcheck.Input) {
		return func(in *sendcheck.Input) { in.Zone, in.Contact.Timezone = loc, "" }
	}
	at := func(ts time.Time) func(*sendcheck.Input) {
		return func(in *sendcheck.Input) { in.Now = ts }
	}
	sent := func(ts ...time.Time) func(*sendcheck.Input) {
		return func(in *sendcheck.Input) { in.Sent = sentAt(ts...) }
	}
	noTier := func(in *sendcheck.Input) { in.Tier, in.NoTier = outreach.Tier{}, true }
	rule := func(r outreach.Rule) func(*sendcheck.Input) {
		return func(in *sendcheck.Input) { in.Tier.Rule = r }
	}

	send := sendcheck.Verdict{Action: sendcheck.Send}
	hold := sendcheck.Verdict{Action: sendcheck.Hold}
	end := func(r outreach.Reason, rule string) sendcheck.Verdict {
		return sendcheck.Verdict{Action: sendcheck.End, State: outreach.DeliverySkipped, Reason: r, Rule: rule}
	}
	later := func(r outreach.Reason, rule string) sendcheck.Verdict {
		return sendcheck.Verdict{Action: sendcheck.Later, Reason: r, Rule: rule}
	}
	endExpired := end(outreach.ReasonExpired, "expires_after")

	// Saturday 02:00 UTC is still Friday 21:00 in New York; Sunday 16:00 UTC
	// is already Monday 01:00 in Tokyo.
	satUTC := time.Date(2026, 3, 14, 2, 0, 0, 0, time.UTC)
	sunUTC := time.Date(2026, 3, 15, 16, 0, 0, 0, time.UTC)
	weekdaysAllDay := outreach.Rule{Caps: checkRule.Caps, SendWindow: outreach.SendWindow{Days: weekdays, Start: 0, End: 24 * 60}}

	tests := []struct {
		name string
		mods []func(*sendcheck.Input)
		want sendcheck.Verdict
	}{
		// The campaign's status comes first.
		{"running campaign, clean contact: send", nil, send},
		{"draft campaign: send", []func(*sendcheck.Input){func(in *sendcheck.Input) { in.Campaign.Status = outreach.CampaignDraft }}, send},
		{"scheduled campaign: send", []func(*sendcheck.Input){func(in *sendcheck.Input) { in.Campaign.Status = outreach.CampaignScheduled }}, send},
		{"completed campaign: send", []func(*sendcheck.Input){func(in *sendcheck.Input) { in.Campaign.Status = outreach.CampaignCompleted }}, send},
		{"paused campaign holds", mods(paused), hold},
		{"paused campaign holds an unsubscribed contact", mods(paused, status(outreach.StatusUnsubscribed)), hold},
		{"paused campaign holds a bounced contact", mods(paused, status(outreach.StatusBounced)), hold},
		{"paused campaign holds an erased address", mods(paused, suppressed(outreach.SuppressErased)), hold},
		{"paused campaign holds an expired delivery", mods(paused, expired), hold},
		{"paused campaign holds a full cap", mods(paused, capFull), hold},
		{"paused transactional campaign holds", mods(paused, transactional, status(outreach.StatusBounced)), hold},
		{"canceled campaign ends canceled", mods(canceled), end(outreach.ReasonCanceled, "")},
		{"canceled campaign to a bounced contact ends canceled", mods(canceled, status(outreach.StatusBounced)), end(outreach.ReasonCanceled, "")},
		{"canceled campaign to a complaint suppression ends canceled", mods(canceled, suppressed(outreach.SuppressComplaint)), end(outreach.ReasonCanceled, "")},
		{"canceled campaign, expired delivery, ends canceled", mods(canceled, expired), end(outreach.ReasonCanceled, "")},
		{"canceled campaign, full cap, ends canceled", mods(canceled, capFull), end(outreach.ReasonCanceled, "")},
		{"canceled transactional campaign ends canceled", mods(canceled, transactional), end(outreach.ReasonCanceled, "")},

		// No tier to decide by: a marketing delivery ends, never uncapped;
		// the campaign's status and the blocks still come first.
		{"no tier ends no_tier", mods(noTier), end(outreach.ReasonNoTier, "")},
		{"no tier, paused campaign holds", mods(noTier, paused), hold},
		{"no tier, unsubscribed says unsubscribed", mods(noTier, status(outreach.StatusUnsubscribed)), end(outreach.ReasonUnsubscribed, "")},
		{"no tier, transactional: send", mods(noTier, transactional), send},

		// Marketing: every block.
		{"bounced status", mods(status(outreach.StatusBounced)), end(outreach.ReasonSuppressedBounce, "")},
		{"hard bounce suppression", mods(suppressed(outreach.SuppressBounce)), end(outreach.ReasonSuppressedBounce, "")},
		{"complained status", mods(status(outreach.StatusComplained)), end(outreach.ReasonSuppressedComplaint, "")},
		{"complaint suppression", mods(suppressed(outreach.SuppressComplaint)), end(outreach.ReasonSuppressedComplaint, "")},
		{"manual suppression", mods(suppressed(outreach.SuppressManual)), end(outreach.ReasonUnsubscribed, "")},
		{"erased address", mods(suppressed(outreach.SuppressErased)), end(outreach.ReasonUnsubscribed, "")},
		{"unsubscribed status", mods(status(outreach.StatusUnsubscribed)), end(outreach.ReasonUnsubscribed, "")},
		{"unsubscribe suppression", mods(suppressed(outreach.SuppressUnsubscribe)), end(outreach.ReasonUnsubscribed, "")},
		{"opted out of the campaign's topic", mods(optedOut("deals", "news")), end(outreach.ReasonTopicOptOut, "")},
		{"opted out of another topic only: send", mods(optedOut("deals")), send},
		{"no topic: opt-outs do not apply", mods(optedOut("news", ""), func(in *sendcheck.Input) { in.Campaign.Topic = "" }), send},
		{"pause in force", mods(pausedUntil(checkNow.Add(time.Nanosecond))), end(outreach.ReasonPaused, "")},
		{"pause ending exactly now is over", mods(pausedUntil(checkNow)), send},
		{"pause over", mods(pausedUntil(checkNow.Add(-day))), send},

		// Precedence among the blocks.
		{"bounce before complaint", mods(status(outreach.StatusBounced), suppressed(outreach.SuppressComplaint)), end(outreach.ReasonSuppressedBounce, "")},
		{"bounce suppression before complained status", mods(status(outreach.StatusComplained), suppressed(outreach.SuppressBounce)), end(outreach.ReasonSuppressedBounce, "")},
		{"complaint before manual", mods(status(outreach.StatusComplained), suppressed(outreach.SuppressManual)), end(outreach.ReasonSuppressedComplaint, "")},
		{"bounce before unsubscribe", mods(status(outreach.StatusUnsubscribed), suppressed(outreach.SuppressBounce)), end(outreach.ReasonSuppressedBounce, "")},
		{"unsubscribe before topic and pause", mods(status(outreach.StatusUnsubscribed), optedOut("news"), pausedUntil(checkNow.Add(day))), end(outreach.ReasonUnsubscribed, "")},
		{"topic before pause", mods(optedOut("news"), pausedUntil(checkNow.Add(day))), end(outreach.ReasonTopicOptOut, "")},
		{"a block before expiry", mods(status(outreach.StatusBounced), expired), end(outreach.ReasonSuppressedBounce, "")},
		{"a pause before expiry", mods(pausedUntil(checkNow.Add(day)), expired), end(outreach.ReasonPaused, "")},
		{"a block before a full cap", mods(suppressed(outreach.SuppressUnsubscribe), capFull), end(outreach.ReasonUnsubscribed, "")},
		{"a block before a closed window", mods(optedOut("news"), zone(tokyo)), end(outreach.ReasonTopicOptOut, "")},

		// Transactional mail: only bounces, complaints, manual and erasure.
		{"transactional, clean contact: send", mods(transactional), send},
		{"transactional to an unsubscribed contact sends", mods(transactional, status(outreach.StatusUnsubscribed)), send},
		{"transactional to an unsubscribe suppression sends", mods(transactional, suppressed(outreach.SuppressUnsubscribe)), send},
		{"transactional ignores topic opt-outs", mods(transactional, func(in *sendcheck.Input) { in.Campaign.Topic = "news" }, optedOut("news")), send},
		{"transactional ignores a pause", mods(transactional, pausedUntil(checkNow.Add(30*day))), send},
		{"transactional ignores a full cap", mods(transactional, capFull), send},
		{"transactional ignores the min gap", mods(transactional, gapShort), send},
		{"transactional ignores a closed window", mods(transactional, zone(tokyo)), send},
		{"transactional to a bounced contact", mods(transactional, status(outreach.StatusBounced)), end(outreach.ReasonSuppressedBounce, "")},
		{"transactional to a hard bounce suppression", mods(transactional, suppressed(outreach.SuppressBounce)), end(outreach.ReasonSuppressedBounce, "")},
		{"transactional to a complained contact", mods(transactional, status(outreach.StatusComplained)), end(outreach.ReasonSuppressedComplaint, "")},
		{"transactional to a complaint suppression", mods(transactional, suppressed(outreach.SuppressComplaint)), end(outreach.ReasonSuppressedComplaint, "")},
		{"transactional to a manual suppression", mods(transactional, suppressed(outreach.SuppressManual)), end(outreach.ReasonUnsubscribed, "")},
		{"transactional to an erased address", mods(transactional, suppressed(outreach.SuppressErased)), end(outreach.ReasonUnsubscribed, "")},
		{"transactional to an erased contact", mods(transactional, status(outreach.StatusErased)), end(outreach.ReasonUnsubscribed, "")},
		{"marketing to an erased contact", mods(status(outreach.StatusErased)), end(outreach.ReasonUnsubscribed, "")},
		{"transactional expires", mods(transactional, expired), endExpired},

		// Expiry.
		{"expired a nanosecond ago", mods(expired), endExpired},
		{"expiring exactly now still goes", mods(expiresAt(checkNow)), send},
		{"expiring later goes", mods(expiresAt(checkNow.Add(time.Hour))), send},
		{"expired with a full cap ends expired, not later", mods(expired, capFull), endExpired},
		{"expired with a short gap ends expired", mods(expired, gapShort), endExpired},
		{"expired outside the window ends expired", mods(expired, zone(tokyo)), endExpired},

		// The cadence rule against what was really sent.
		{"full cap: later", mods(capFull), later(outreach.ReasonDeferredCap, ruleCap)},
		{"cap: the oldest exactly a window ago no longer counts", mods(sent(checkNow.Add(-7*day), checkNow.Add(-4*day), checkNow.Add(-2*day))), send},
		{"cap: the oldest a nanosecond inside the window counts", mods(sent(checkNow.Add(-7*day+1), checkNow.Add(-4*day), checkNow.Add(-2*day))), later(outreach.ReasonDeferredCap, ruleCap)},
		{"cap: two of three is fine", mods(sent(checkNow.Add(-6*day), checkNow.Add(-2*day))), send},
		{"min gap: sent 12h ago", mods(gapShort), later(outreach.ReasonDeferredMinGap, ruleGap)},
		{"min gap: sent exactly a day ago", mods(sent(checkNow.Add(-day))), send},
		{"min gap: claimed by this batch at now", mods(sent(checkNow)), later(outreach.ReasonDeferredMinGap, ruleGap)},
		{"window open in New York (10:00)", nil, send},
		{"window open in Berlin (15:00)", mods(zone(berlin)), send},
		{"window open in Kolkata (19:30)", mods(zone(kolkata)), send},
		{"window open in UTC (nil zone, 14:00)", mods(zone(nil)), send},
		{"window closed in Tokyo (23:00) though open in UTC: later", mods(zone(tokyo)), later(outreach.ReasonDeferredSendWindow, ruleWindow+"Asia/Tokyo")},
		{"window closes at 20:00 New York", mods(at(time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC))), later(outreach.ReasonDeferredSendWindow, ruleWindow+"America/New_York")},
		{"window open at 19:59 New York", mods(at(time.Date(2026, 3, 10, 23, 59, 0, 0, time.UTC))), send},
		{"window opens at 09:00 New York", mods(at(time.Date(2026, 3, 10, 13, 0, 0, 0, time.UTC))), send},
		{"08:59:59 New York is closed", mods(at(time.Date(2026, 3, 10, 12, 59, 59, 0, time.UTC))), later(outreach.ReasonDeferredSendWindow, ruleWindow+"America/New_York")},
		{"Saturday in UTC, Friday evening in New York: send", mods(rule(weekdaysAllDay), at(satUTC)), send},
		{"Saturday in UTC and in Berlin: later", mods(rule(weekdaysAllDay), at(satUTC), zone(berlin)), later(outreach.ReasonDeferredSendWindow, "send_window mon,tue,wed,thu,fri 00:00-24:00 Europe/Berlin")},
		{"Sunday in UTC, Monday in Tokyo: send", mods(rule(weekdaysAllDay), at(sunUTC), zone(tokyo)), send},
		{"Sunday in UTC and in New York: later", mods(rule(weekdaysAllDay), at(sunUTC)), later(outreach.ReasonDeferredSendWindow, "send_window mon,tue,wed,thu,fri 00:00-24:00 America/New_York")},
		{"always-open window never defers", mods(rule(outreach.Rule{Caps: checkRule.Caps, SendWindow: outreach.AlwaysOpen}), zone(tokyo)), send},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			for _, m := range tc.mods {
				m(&in)
			}
			if got := sendcheck.Check(in); got != tc.want {
				t.Errorf("Check = %+v, want %+v\ninput %+v", got, tc.want, in)
			}
		})
	}
}

func mods(fs ...func(*sendcheck.Input)) []func(*sendcheck.Input) { return fs }

// TestCheckDoesNotTouchItsInput: Check is pure; the caller's Sent slice
// (shared with the rest of the batch) is neither reordered nor modified.
func TestCheckDoesNotTouchItsInput(t *testing.T) {
	sent := sentAt(checkNow.Add(-2*day), checkNow.Add(-6*day), checkNow.Add(-4*day))
	want := append([]cadence.Event(nil), sent...)
	in := sendcheck.Input{
		Campaign: outreach.Campaign{Category: outreach.Marketing, Status: outreach.CampaignRunning},
		Delivery: outreach.Delivery{Marketing: true},
		Tier:     outreach.Tier{Rule: checkRule},
		Sent:     sent,
		Now:      checkNow,
	}
	for range 2 {
		if got := sendcheck.Check(in); got.Action != sendcheck.Later {
			t.Fatalf("Check = %+v, want Later", got)
		}
	}
	for i := range sent {
		if sent[i] != want[i] {
			t.Fatalf("Sent changed: %+v, was %+v", sent, want)
		}
	}
}

// TestCheckMonotonicClock: a Now read from time.Now (with a monotonic
// reading) is judged by its wall clock like a stored time.
func TestCheckMonotonicClock(t *testing.T) {
	now := time.Now()
	in := sendcheck.Input{
		Campaign: outreach.Campaign{Category: outreach.Marketing, Status: outreach.CampaignRunning},
		Delivery: outreach.Delivery{Marketing: true, ExpiresAt: ptr(now.Round(0))},
		Tier:     outreach.Tier{Rule: outreach.Rule{Caps: []outreach.Cap{capOf(1, day)}, SendWindow: outreach.AlwaysOpen}},
		Sent:     sentAt(now.Round(0).Add(-day)),
		Now:      now,
	}
	if got := sendcheck.Check(in); got.Action != sendcheck.Send {
		t.Fatalf("Check = %+v, want Send", got)
	}
}
