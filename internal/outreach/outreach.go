package outreach

import (
	"encoding/json"
	"slices"
	"time"
)

// Tier is a relationship level and its cadence rule.
type Tier struct {
	Key         string
	Name        string
	Description string
	Rank        int // higher means a closer relationship
	Selectable  bool
	Rule        Rule
	Version     int
	UpdatedAt   time.Time
}

// ContactStatus is whether a contact may receive marketing mail at all.
type ContactStatus string

// Contact statuses.
const (
	StatusActive       ContactStatus = "active"
	StatusUnsubscribed ContactStatus = "unsubscribed"
	StatusBounced      ContactStatus = "bounced"
	StatusComplained   ContactStatus = "complained"
	// StatusErased is a contact whose personal data was erased: the row
	// stays for its deliveries, and is never mailed, opened through a link
	// or changed again.
	StatusErased ContactStatus = "erased"
)

// Valid reports whether s is a known status.
func (s ContactStatus) Valid() bool {
	switch s {
	case StatusActive, StatusUnsubscribed, StatusBounced, StatusComplained, StatusErased:
		return true
	}
	return false
}

// Contact is a customer rapport may write to.
type Contact struct {
	ID             int64
	Email          string
	ExternalID     string
	Name           string
	Locale         string
	Timezone       string
	Tier           string
	PreferredTier  string
	TopicsOptedOut []string
	PausedUntil    *time.Time
	Attributes     map[string]any
	Status         ContactStatus
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// OptedOut reports whether the contact opted out of topic.
func (c Contact) OptedOut(topic string) bool {
	for _, t := range c.TopicsOptedOut {
		if t == topic {
			return true
		}
	}
	return false
}

// Topic is what a campaign is about; customers opt out per topic.
type Topic struct {
	Key  string
	Name string
}

// Category separates marketing from transactional mail.
type Category string

// Campaign categories.
const (
	Marketing     Category = "marketing"
	Transactional Category = "transactional"
)

// CampaignStatus is where a campaign is in its lifecycle.
type CampaignStatus string

// Campaign statuses.
const (
	CampaignDraft     CampaignStatus = "draft"
	CampaignScheduled CampaignStatus = "scheduled"
	CampaignRunning   CampaignStatus = "running"
	CampaignPaused    CampaignStatus = "paused"
	CampaignCompleted CampaignStatus = "completed"
	CampaignCanceled  CampaignStatus = "canceled"
)

// Content is a message's templates: subject, plain text and HTML, each a Go
// template.
type Content struct {
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
}

// Audience selects a campaign's contacts. Empty lists select everyone; the
// parts combine with AND.
type Audience struct {
	Tiers      []string          `json:"tiers"`
	Topics     []string          `json:"topics"`
	Attributes map[string]string `json:"attributes"`
	ContactIDs []int64           `json:"contact_ids"`
}

// Campaign is something marketers want to say to an audience.
type Campaign struct {
	ID           int64
	Name         string
	Topic        string
	Category     Category
	Priority     int
	Content      Content
	Variants     map[string]Content
	Audience     Audience
	SendAt       *time.Time
	Cron         string
	Timezone     string
	ExpiresAfter time.Duration
	Status       CampaignStatus
	// NextFireAt is a recurring campaign's next firing while it is
	// scheduled; nil otherwise.
	NextFireAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ContentFor picks the content for a contact's effective tier.
func (c Campaign) ContentFor(tier string) Content {
	if v, ok := c.Variants[tier]; ok {
		return v
	}
	return c.Content
}

// DeliveryState is where one message is on its way.
type DeliveryState string

// Delivery states. Sent, skipped, failed and unknown are terminal.
const (
	DeliveryScheduled DeliveryState = "scheduled"
	DeliverySending   DeliveryState = "sending"
	DeliverySent      DeliveryState = "sent"
	DeliverySkipped   DeliveryState = "skipped"
	DeliveryFailed    DeliveryState = "failed"
	DeliveryUnknown   DeliveryState = "unknown"
)

// Terminal reports whether nothing more will happen to a delivery.
func (s DeliveryState) Terminal() bool {
	switch s {
	case DeliverySent, DeliverySkipped, DeliveryFailed, DeliveryUnknown:
		return true
	}
	return false
}

// Reason is a stable decision code, shown in the API, timelines and metrics.
type Reason string

// Decision reasons. ReasonFailedLocal is a message that could not be made
// here (its template failed or ran over its bounds, or a header could not
// be built): no server saw it, so it says nothing about the address and is
// never a bounce or a suppression. ReasonNoTier is a marketing delivery
// not planned or sent because the contact's assigned tier is not among the
// tiers the decision was made with: without its rule there are no caps to
// keep, and sending uncapped would break the promise (the jobs reload the
// tiers before deciding, so this takes a tier that no longer exists).
const (
	ReasonScheduled           Reason = "scheduled"
	ReasonDeferredCap         Reason = "deferred_cap"
	ReasonDeferredMinGap      Reason = "deferred_min_gap"
	ReasonDeferredSendWindow  Reason = "deferred_send_window"
	ReasonExpired             Reason = "expired"
	ReasonPreempted           Reason = "preempted"
	ReasonUnsubscribed        Reason = "unsubscribed"
	ReasonTopicOptOut         Reason = "topic_opt_out"
	ReasonPaused              Reason = "paused"
	ReasonSuppressedBounce    Reason = "suppressed_bounce"
	ReasonSuppressedComplaint Reason = "suppressed_complaint"
	ReasonInvalidAddress      Reason = "invalid_address"
	ReasonFailedPermanent     Reason = "failed_permanent"
	ReasonFailedLocal         Reason = "failed_local" // could not be made here (template, header): never a bounce
	ReasonCanceled            Reason = "canceled"
	ReasonNoTier              Reason = "no_tier"
	ReasonUnknown             Reason = "unknown"
	ReasonSent                Reason = "sent"
)

// Delivery is one (campaign run, contact) pair and its decision.
type Delivery struct {
	ID         int64
	RunID      int64
	CampaignID int64
	ContactID  int64
	// Marketing and Priority are the campaign's, copied when planned: caps
	// count marketing deliveries, arbitration compares priorities.
	Marketing bool
	Priority  int
	// Tier is the contact's effective tier when planned, whose content
	// variant is sent.
	Tier       string
	State      DeliveryState
	Reason     Reason
	Rule       string
	PlannedFor time.Time
	ExpiresAt  *time.Time
	Attempts   int
	MessageID  string
	SentAt     *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// SuppressionReason says why an address must never be mailed.
type SuppressionReason string

// Suppression reasons.
const (
	SuppressUnsubscribe SuppressionReason = "unsubscribe"
	SuppressBounce      SuppressionReason = "hard_bounce"
	SuppressComplaint   SuppressionReason = "complaint"
	SuppressManual      SuppressionReason = "manual"
	SuppressErased      SuppressionReason = "erased"
)

// SettableReasons are the reasons a person may give a suppression by hand
// (the API and the console); erasure only ever comes from erasing a contact.
var SettableReasons = []SuppressionReason{SuppressManual, SuppressBounce, SuppressComplaint, SuppressUnsubscribe}

// Settable reports whether a person may give a suppression reason r.
func (r SuppressionReason) Settable() bool { return slices.Contains(SettableReasons, r) }

// Role is what an API key may do.
type Role string

// Roles, from most to least powerful.
const (
	RoleAdmin    Role = "admin"
	RoleMarketer Role = "marketer"
	RoleViewer   Role = "viewer"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleMarketer || r == RoleViewer }

// Includes reports whether a key of role r may act as role want: admin
// includes marketer, marketer includes viewer.
func (r Role) Includes(want Role) bool { return r.level() >= want.level() }

func (r Role) level() int {
	switch r {
	case RoleAdmin:
		return 3
	case RoleMarketer:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// AuditEntry records who changed what, when, with the before and after.
type AuditEntry struct {
	ID        int64
	Actor     string
	Action    string
	Entity    string
	EntityID  string
	Before    json.RawMessage
	After     json.RawMessage
	CreatedAt time.Time
}
