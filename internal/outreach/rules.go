package outreach

import (
	"math"
	"strconv"
)

// Catalog is what a campaign may refer to: the tiers and topics that exist
// when it is validated.
type Catalog struct {
	Tiers  map[string]bool
	Topics map[string]bool
}

// MaxAudienceIDs bounds an explicit audience list; larger audiences are
// chosen by tier, topic or attribute.
const MaxAudienceIDs = 100000

// Validate checks a campaign's own fields against the catalog and returns
// every problem, each under its API field name. It knows nothing of
// template syntax or cron expressions: the campaign service checks those
// with the packages that parse them.
func (c Campaign) Validate(known Catalog) []FieldError {
	var errs []FieldError
	add := func(f, m string) { errs = append(errs, FieldError{Field: f, Message: m}) }
	if f := LineFault(c.Name); f != "" {
		add("name", f)
	} else if c.Name == "" || len(c.Name) > 200 {
		add("name", "is required (at most 200 characters)")
	}
	if c.Category != Marketing && c.Category != Transactional {
		add("category", "must be marketing or transactional")
	}
	if c.Priority < 0 || c.Priority > 100 {
		add("priority", "must be from 0 to 100")
	}
	switch {
	case c.Topic != "" && !known.Topics[c.Topic]:
		add("topic", "no such topic: "+c.Topic)
	case c.Topic == "" && c.Category == Marketing:
		add("topic", "is required for marketing campaigns, so customers can opt out of it")
	}
	for i, t := range c.Audience.Tiers {
		if !known.Tiers[t] {
			add("audience.tiers["+strconv.Itoa(i)+"]", "no such tier: "+t)
		}
	}
	for i, t := range c.Audience.Topics {
		if !known.Topics[t] {
			add("audience.topics["+strconv.Itoa(i)+"]", "no such topic: "+t)
		}
	}
	for k, v := range c.Audience.Attributes {
		if f := LineFault(k + v); f != "" {
			add("audience.attributes."+k, f)
		}
	}
	if len(c.Audience.ContactIDs) > MaxAudienceIDs {
		add("audience.contact_ids", "at most 100000 ids; use tiers, topics or attributes for larger audiences")
	}
	for key := range c.Variants {
		if !known.Tiers[key] {
			add("variants."+key, "no such tier: "+key)
		}
	}
	if c.Cron != "" && c.SendAt != nil {
		add("cron", "give either send_at or cron, not both")
	}
	if c.Cron == "" && c.Timezone != "" {
		if _, ok := LoadZone(c.Timezone); !ok {
			add("timezone", "unknown time zone: "+c.Timezone)
		}
	}
	return errs
}

// Validate checks a tier's own fields and its rule.
func (t Tier) Validate() []FieldError {
	var errs []FieldError
	if !ValidKey(t.Key) {
		errs = append(errs, FieldError{Field: "key", Message: "must be a lower-case slug (a-z, 0-9, - and _), at most 63 characters"})
	}
	if f := LineFault(t.Name); f != "" {
		errs = append(errs, FieldError{Field: "name", Message: f})
	} else if t.Name == "" || len(t.Name) > 200 {
		errs = append(errs, FieldError{Field: "name", Message: "is required (at most 200 characters)"})
	}
	if f := TextFault(t.Description); f != "" {
		errs = append(errs, FieldError{Field: "description", Message: f})
	} else if len(t.Description) > 2000 {
		errs = append(errs, FieldError{Field: "description", Message: "must be at most 2000 characters"})
	}
	if t.Rank < 0 || t.Rank > math.MaxInt32 {
		errs = append(errs, FieldError{Field: "rank", Message: "must be a whole number of at least 0"})
	}
	return append(errs, t.Rule.Validate()...)
}

// Validate checks a topic.
func (t Topic) Validate() []FieldError {
	var errs []FieldError
	if !ValidKey(t.Key) {
		errs = append(errs, FieldError{Field: "key", Message: "must be a lower-case slug (a-z, 0-9, - and _)"})
	}
	if f := LineFault(t.Name); f != "" {
		errs = append(errs, FieldError{Field: "name", Message: f})
	} else if t.Name == "" || len(t.Name) > 200 {
		errs = append(errs, FieldError{Field: "name", Message: "is required (at most 200 characters)"})
	}
	return errs
}

// CanResubscribe reports whether a contact may lift their own suppression:
// only an unsubscribe is theirs to undo. Bounces, complaints, manual
// suppressions and erasure are the company's to lift.
func CanResubscribe(status ContactStatus, sup SuppressionReason) bool {
	return (status == StatusActive || status == StatusUnsubscribed) &&
		(sup == "" || sup == SuppressUnsubscribe)
}

// StatusFor is the contact status a suppression reason implies ("" for
// none: an erased address's contact is anonymised, not re-labelled).
func StatusFor(r SuppressionReason) ContactStatus {
	switch r {
	case SuppressBounce:
		return StatusBounced
	case SuppressComplaint:
		return StatusComplained
	case SuppressUnsubscribe, SuppressManual:
		return StatusUnsubscribed
	}
	return ""
}
