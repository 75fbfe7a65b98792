package outreach

import (
	"fmt"
	"strings"
)

// Normalize checks a contact's fields and puts them in stored form (email
// lower-cased, topics de-duplicated), returning every problem found.
// Whether tiers and topics exist is the store's to check.
func (c *Contact) Normalize() []FieldError {
	var errs []FieldError
	c.Name = strings.TrimSpace(c.Name)
	// Text that is not clean (invalid UTF-8, NUL, a line break in a name)
	// is reported alone for its field: it can be neither stored nor put in
	// a header, so nothing else about it matters.
	bad := map[string]bool{}
	for _, f := range []struct{ name, value string }{{"email", strings.TrimSpace(c.Email)}, {"name", c.Name},
		{"external_id", c.ExternalID}, {"tier", c.Tier}, {"preferred_tier", c.PreferredTier}, {"timezone", c.Timezone},
		{"locale", c.Locale}} {
		if fault := LineFault(f.value); fault != "" {
			errs = append(errs, FieldError{Field: f.name, Message: fault})
			bad[f.name] = true
		}
	}
	if fault := attributesFault(map[string]any(c.Attributes)); fault != "" {
		errs = append(errs, FieldError{Field: "attributes", Message: fault})
	}
	if e, ok := NormalizeEmail(c.Email); ok {
		c.Email = e
	} else if !bad["email"] {
		errs = append(errs, FieldError{Field: "email", Message: "must be a valid email address such as ada@example.com"})
	}
	if len(c.Name) > 200 {
		errs = append(errs, FieldError{Field: "name", Message: "must be at most 200 characters"})
	}
	if len(c.ExternalID) > 200 {
		errs = append(errs, FieldError{Field: "external_id", Message: "must be at most 200 characters"})
	}
	if c.Timezone != "" && !bad["timezone"] {
		if _, ok := LoadZone(c.Timezone); !ok {
			errs = append(errs, FieldError{Field: "timezone", Message: fmt.Sprintf("unknown time zone %q: use an IANA name such as Europe/Berlin", c.Timezone)})
		}
	}
	if c.Locale == "" {
		c.Locale = "en"
	} else if !bad["locale"] && (len(c.Locale) > 35 || strings.ContainsAny(c.Locale, " /\\")) {
		errs = append(errs, FieldError{Field: "locale", Message: "must be a language tag such as en or de-CH"})
	}
	if c.Tier == "" {
		errs = append(errs, FieldError{Field: "tier", Message: "is required"})
	}
	if c.Status == "" {
		c.Status = StatusActive
	} else if !c.Status.Valid() {
		errs = append(errs, FieldError{Field: "status", Message: "must be active, unsubscribed, bounced, complained or erased"})
	}
	seen := map[string]bool{}
	topics := make([]string, 0, len(c.TopicsOptedOut))
	for _, t := range c.TopicsOptedOut {
		if !ValidKey(t) {
			errs = append(errs, FieldError{Field: "topics_opted_out", Message: fmt.Sprintf("%q is not a topic key", t)})
			continue
		}
		if !seen[t] {
			seen[t] = true
			topics = append(topics, t)
		}
	}
	c.TopicsOptedOut = topics
	if c.Attributes == nil {
		c.Attributes = map[string]any{}
	}
	return errs
}
